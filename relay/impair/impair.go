// Package impair is a UDP proxy that damages traffic on purpose: seeded,
// deterministic loss, reordering, duplication, delay and jitter, and a
// bandwidth cap, for tests of how the relay and its peers cope with bad
// networks. It serves one client (the last address that sent to it) and
// one upstream address, on loopback.
//
// Each direction has its own random source, seeded from Config.Seed: the
// n-th packet going one way meets the same fate on every run, whatever the
// other direction carries. Delayed packets wait in a bounded queue served
// by one goroutine per direction; Close ends every goroutine the proxy
// started and drops what is still waiting.
//
// # Bandwidth cap
//
// Damage.Rate makes a direction a bottleneck link, the last hop before the
// receiver (after loss, duplication, reordering and delay): a token bucket
// (Damage.Burst bytes deep, one full-size packet by default) lets packets
// through at Rate, and those it cannot pass yet wait in a FIFO queue bounded
// in bytes: Damage.Queue worth of the rate, 100 ms by default and never less
// than three full-size packets. A packet arriving at a full queue is dropped
// (tail drop), as a router does: offered more than the rate, the link first
// delays (the queue fills, up to about Queue), then drops what does not fit,
// and delivers the rate. Proxy.SetRate changes the cap while the proxy runs,
// so a test can degrade a link and restore it: the packet at the head of the
// queue is timed at the new rate from the moment of the change, the queue's
// bound follows the rate, and 0 lifts the cap and sends what waits at once.
// Counts report the packets and bytes the queue dropped, what it holds, the
// delay a packet arriving now would meet and the longest any packet waited.
//
// The queue is served by the same goroutine as the delays, on exact
// timing: each packet leaves at the instant the bucket holds enough tokens
// for it and the next is timed from that instant, so a goroutine waking
// late on a loaded machine sends late but does not lower the rate.
package impair

import (
	"container/heap"
	"errors"
	"math/rand"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Damage says what happens to packets going one way.
type Damage struct {
	Loss      float64       // probability a packet is dropped
	Duplicate float64       // probability a packet is sent twice
	Reorder   float64       // probability a packet is held back and sent after the next one
	Delay     time.Duration // fixed delay added to every packet
	Jitter    time.Duration // extra random delay in [0, Jitter); packets may overtake each other

	// Rate caps the bandwidth in bits per second, as a bottleneck link
	// does (see the package comment); 0 means unlimited. Proxy.SetRate
	// changes it while the proxy runs.
	Rate int64
	// Queue is how much the bottleneck's queue holds, as delay at Rate:
	// past it arriving packets are dropped. 0 means 100 ms; the queue
	// holds at least 4 500 bytes (three full-size packets) at any rate.
	Queue time.Duration
	// Burst is the token bucket's depth in bytes: what may pass at once
	// after the link was idle. 0 means 1 500 (one full-size packet).
	Burst int
}

// Dir names a direction through the proxy.
type Dir int

// The two directions.
const (
	Up   Dir = iota // client -> upstream
	Down            // upstream -> client
)

// Config sets up a Proxy.
type Config struct {
	Upstream *net.UDPAddr // where the client's packets go
	Up       Damage       // client -> upstream
	Down     Damage       // upstream -> client
	Seed     int64        // same seed, same damage
	// MaxQueued bounds the packets waiting out a delay in each direction;
	// past it a packet is dropped and counted as Overflow. 0 means 4096.
	MaxQueued int
}

// Counts are what the proxy did to the packets going one way.
type Counts struct {
	Received   uint64 // packets read from the sender
	Forwarded  uint64 // packets written on (duplicates included)
	Dropped    uint64 // lost on purpose
	Duplicated uint64 // sent twice
	Reordered  uint64 // held back behind the next packet
	Delayed    uint64 // went through the delay queue
	Overflow   uint64 // dropped because the delay queue was full

	ForwardedBytes    uint64        // bytes written on
	Queued            uint64        // waited in the bottleneck's queue (Damage.Rate)
	QueueDropped      uint64        // dropped because the bottleneck's queue was full
	QueueDroppedBytes uint64        // bytes of those
	QueueBytes        int           // in the bottleneck's queue now
	QueueDelay        time.Duration // what a packet arriving now would wait in it, at the current rate
	// MaxQueueDelay is the longest a packet waited in the bottleneck's
	// queue, by the bucket's timing: the proxy's own lateness in sending
	// on a loaded machine is not counted.
	MaxQueueDelay time.Duration
}

// Stats counts what the proxy did, per direction.
type Stats struct {
	Up, Down Counts
}

// Proxy is a running impairment proxy.
type Proxy struct {
	cfg    Config
	conn   *net.UDPConn // the client talks to this
	up     *net.UDPConn // this talks to the upstream
	client atomic.Pointer[net.UDPAddr]
	dirs   [2]*direction
	done   chan struct{}
	once   sync.Once
	wg     sync.WaitGroup
}

// direction is one way through the proxy: its damage, random source,
// held-back packet, delay queue and bottleneck.
type direction struct {
	d     Damage
	to    *net.UDPConn
	dst   func() *net.UDPAddr
	max   int
	rnd   *rand.Rand // used by the direction's reader goroutine only
	held  []byte
	mu    sync.Mutex
	queue delayQueue // guarded by mu
	next  uint64     // insertion order, keeps equal due times in order
	link  bottleneck // guarded by mu
	// sending is set (under mu) while the line goroutine writes packets
	// it took from the queues; the reader does not pass them meanwhile.
	sending bool
	wake    chan struct{}

	received, forwarded, dropped, duplicated, reordered, delayed, overflow atomic.Uint64
	forwardedBytes, queued, queueDropped, queueDroppedBytes                atomic.Uint64
}

// New starts a proxy on 127.0.0.1 with a free port.
func New(cfg Config) (*Proxy, error) {
	if cfg.Upstream == nil {
		return nil, errors.New("impair: no upstream address")
	}
	if cfg.MaxQueued <= 0 {
		cfg.MaxQueued = 4096
	}
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	up, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		conn.Close()
		return nil, err
	}
	p := &Proxy{cfg: cfg, conn: conn, up: up, done: make(chan struct{})}
	upstream := cfg.Upstream
	now := time.Now()
	p.dirs[Up] = &direction{d: cfg.Up, to: up, dst: func() *net.UDPAddr { return upstream }, max: cfg.MaxQueued,
		rnd: rand.New(rand.NewSource(cfg.Seed)), link: newBottleneck(cfg.Up, now), wake: make(chan struct{}, 1)}
	p.dirs[Down] = &direction{d: cfg.Down, to: conn, dst: p.client.Load, max: cfg.MaxQueued,
		rnd: rand.New(rand.NewSource(cfg.Seed ^ 0x5eed)), link: newBottleneck(cfg.Down, now), wake: make(chan struct{}, 1)}
	p.wg.Add(4)
	go p.pump(conn, Up)
	go p.pump(up, Down)
	go p.line(p.dirs[Up])
	go p.line(p.dirs[Down])
	return p, nil
}

// Addr is where the client should send.
func (p *Proxy) Addr() *net.UDPAddr { return p.conn.LocalAddr().(*net.UDPAddr) }

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	return Stats{Up: p.dirs[Up].counts(), Down: p.dirs[Down].counts()}
}

func (d *direction) counts() Counts {
	d.mu.Lock()
	qbytes, qdelay, maxDelay := d.link.bytes, d.link.delay(), d.link.maxWait
	d.mu.Unlock()
	return Counts{
		Received:          d.received.Load(),
		Forwarded:         d.forwarded.Load(),
		Dropped:           d.dropped.Load(),
		Duplicated:        d.duplicated.Load(),
		Reordered:         d.reordered.Load(),
		Delayed:           d.delayed.Load(),
		Overflow:          d.overflow.Load(),
		ForwardedBytes:    d.forwardedBytes.Load(),
		Queued:            d.queued.Load(),
		QueueDropped:      d.queueDropped.Load(),
		QueueDroppedBytes: d.queueDroppedBytes.Load(),
		QueueBytes:        qbytes,
		QueueDelay:        qdelay,
		MaxQueueDelay:     maxDelay,
	}
}

// Close stops the proxy: its sockets close, packets still waiting are
// dropped, and every goroutine it started has returned when Close does.
func (p *Proxy) Close() error {
	p.once.Do(func() {
		close(p.done)
		p.conn.Close()
		p.up.Close()
	})
	p.wg.Wait()
	return nil
}

// pump reads one side of the proxy for packets going dir.
func (p *Proxy) pump(from *net.UDPConn, dir Dir) {
	defer p.wg.Done()
	d := p.dirs[dir]
	buf := make([]byte, 2048)
	for {
		n, addr, err := from.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if dir == Up {
			p.client.Store(addr)
		} else if p.client.Load() == nil {
			continue // nobody to send to yet
		}
		d.received.Add(1)
		d.handle(append([]byte(nil), buf[:n]...))
	}
}

// handle decides a packet's fate. Every packet takes the same number of
// random draws, so fates depend only on the packet's place in its direction.
func (d *direction) handle(pkt []byte) {
	drop := d.rnd.Float64() < d.d.Loss
	dup := d.rnd.Float64() < d.d.Duplicate
	hold := d.rnd.Float64() < d.d.Reorder
	jitter := d.rnd.Float64()
	switch {
	case drop:
		d.dropped.Add(1)
		return
	case hold && d.held == nil:
		d.held = pkt
		d.reordered.Add(1)
		return
	}
	delay := d.d.Delay + time.Duration(jitter*float64(d.d.Jitter))
	d.send(pkt, delay)
	if dup {
		d.duplicated.Add(1)
		d.send(pkt, delay)
	}
	if h := d.held; h != nil { // the held packet goes after this one
		d.held = nil
		d.send(h, delay)
	}
}

// send passes a packet on after delay: at once to the bottleneck, or
// through the delay queue.
func (d *direction) send(pkt []byte, delay time.Duration) {
	if delay <= 0 {
		d.forward(pkt)
		return
	}
	d.mu.Lock()
	if len(d.queue) >= d.max {
		d.mu.Unlock()
		d.overflow.Add(1)
		return
	}
	heap.Push(&d.queue, delayed{due: time.Now().Add(delay), n: d.next, pkt: pkt})
	d.next++
	d.mu.Unlock()
	d.delayed.Add(1)
	d.poke()
}

// poke wakes the direction's line goroutine.
func (d *direction) poke() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *direction) write(pkt []byte) {
	dst := d.dst()
	if dst == nil {
		return
	}
	if _, err := d.to.WriteToUDP(pkt, dst); err == nil {
		d.forwarded.Add(1)
		d.forwardedBytes.Add(uint64(len(pkt)))
	}
}

// line is the direction's one goroutine for waiting packets: it moves
// delayed packets to the bottleneck when they are due and sends the
// bottleneck's queue at its rate.
func (p *Proxy) line(d *direction) {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var out [][]byte
	var next time.Time
	for {
		now := time.Now()
		d.mu.Lock()
		out = out[:0]
		for len(d.queue) > 0 && !d.queue[0].due.After(now) {
			pkt := heap.Pop(&d.queue).(delayed).pkt
			if d.link.pass(now, len(pkt)) {
				out = append(out, pkt)
			} else {
				d.enqueue(now, pkt)
			}
		}
		out, next = d.link.release(now, out)
		if len(d.queue) > 0 && (next.IsZero() || d.queue[0].due.Before(next)) {
			next = d.queue[0].due
		}
		d.sending = len(out) > 0
		d.mu.Unlock()
		if len(out) > 0 {
			for i, pkt := range out {
				d.write(pkt)
				out[i] = nil
			}
			d.mu.Lock()
			d.sending = false
			d.mu.Unlock()
			continue
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = next.Sub(now)
		}
		timer.Reset(wait) // since Go 1.23 a Reset timer delivers no stale tick
		select {
		case <-p.done:
			return
		case <-d.wake:
		case <-timer.C:
		}
	}
}

type delayed struct {
	due time.Time
	n   uint64
	pkt []byte
}

// delayQueue is a min-heap of delayed packets by due time, then arrival.
type delayQueue []delayed

func (q delayQueue) Len() int { return len(q) }
func (q delayQueue) Less(i, j int) bool {
	if q[i].due.Equal(q[j].due) {
		return q[i].n < q[j].n
	}
	return q[i].due.Before(q[j].due)
}
func (q delayQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *delayQueue) Push(x any)   { *q = append(*q, x.(delayed)) }
func (q *delayQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}
