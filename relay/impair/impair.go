// Package impair is a UDP proxy that damages traffic on purpose: seeded,
// deterministic loss, reordering, duplication, delay and jitter, for tests of
// how the relay and its peers cope with bad networks. It serves one client
// (the last address that sent to it) and one upstream address, on loopback.
//
// Each direction has its own random source, seeded from Config.Seed: the
// n-th packet going one way meets the same fate on every run, whatever the
// other direction carries. Delayed packets wait in a bounded queue served
// by one goroutine per direction; Close ends every goroutine the proxy
// started and drops what is still waiting.
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
}

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
// held-back packet and delay queue.
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
	wake  chan struct{}

	received, forwarded, dropped, duplicated, reordered, delayed, overflow atomic.Uint64
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
	p.dirs[0] = &direction{d: cfg.Up, to: up, dst: func() *net.UDPAddr { return upstream }, max: cfg.MaxQueued,
		rnd: rand.New(rand.NewSource(cfg.Seed)), wake: make(chan struct{}, 1)}
	p.dirs[1] = &direction{d: cfg.Down, to: conn, dst: p.client.Load, max: cfg.MaxQueued,
		rnd: rand.New(rand.NewSource(cfg.Seed ^ 0x5eed)), wake: make(chan struct{}, 1)}
	p.wg.Add(4)
	go p.pump(conn, 0)
	go p.pump(up, 1)
	go p.delayLine(p.dirs[0])
	go p.delayLine(p.dirs[1])
	return p, nil
}

// Addr is where the client should send.
func (p *Proxy) Addr() *net.UDPAddr { return p.conn.LocalAddr().(*net.UDPAddr) }

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	return Stats{Up: p.dirs[0].counts(), Down: p.dirs[1].counts()}
}

func (d *direction) counts() Counts {
	return Counts{d.received.Load(), d.forwarded.Load(), d.dropped.Load(), d.duplicated.Load(),
		d.reordered.Load(), d.delayed.Load(), d.overflow.Load()}
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

// pump reads one side: dir 0 is client -> upstream, 1 is upstream -> client.
func (p *Proxy) pump(from *net.UDPConn, dir int) {
	defer p.wg.Done()
	d := p.dirs[dir]
	buf := make([]byte, 2048)
	for {
		n, addr, err := from.ReadFromUDP(buf)
		if err != nil {
			return
		}
		if dir == 0 {
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

func (d *direction) send(pkt []byte, delay time.Duration) {
	if delay <= 0 {
		d.write(pkt)
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
	}
}

// delayLine sends the direction's delayed packets when they are due.
func (p *Proxy) delayLine(d *direction) {
	defer p.wg.Done()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		d.mu.Lock()
		wait := time.Hour
		var due []byte
		if len(d.queue) > 0 {
			if w := time.Until(d.queue[0].due); w > 0 {
				wait = w
			} else {
				due = heap.Pop(&d.queue).(delayed).pkt
			}
		}
		d.mu.Unlock()
		if due != nil {
			d.write(due)
			continue
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
