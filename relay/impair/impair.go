// Package impair is a UDP proxy that damages traffic on purpose: seeded,
// deterministic loss, reordering, duplication and delay, for tests of how
// the relay and its peers cope with bad networks. It serves one client (the
// first address that sends to it) and one upstream address, on loopback.
package impair

import (
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
	Delay     time.Duration // fixed delay
	Jitter    time.Duration // extra random delay, up to this
}

// Config sets up a Proxy.
type Config struct {
	Upstream *net.UDPAddr // where the client's packets go
	Up       Damage       // client -> upstream
	Down     Damage       // upstream -> client
	Seed     int64        // same seed, same damage
}

// Stats counts what the proxy did.
type Stats struct {
	Forwarded, Dropped, Duplicated, Reordered uint64
}

// Proxy is a running impairment proxy.
type Proxy struct {
	cfg    Config
	conn   *net.UDPConn // the client talks to this
	up     *net.UDPConn // this talks to the upstream
	client atomic.Pointer[net.UDPAddr]

	mu   sync.Mutex
	rnd  *rand.Rand
	held [2][]byte // a packet held back per direction for reordering

	forwarded, dropped, duplicated, reordered atomic.Uint64
	wg                                        sync.WaitGroup
	timers                                    sync.WaitGroup
	closed                                    atomic.Bool
}

// New starts a proxy on 127.0.0.1 with a free port.
func New(cfg Config) (*Proxy, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	up, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		conn.Close()
		return nil, err
	}
	p := &Proxy{cfg: cfg, conn: conn, up: up, rnd: rand.New(rand.NewSource(cfg.Seed))}
	p.wg.Add(2)
	go p.pump(conn, 0)
	go p.pump(up, 1)
	return p, nil
}

// Addr is where the client should send.
func (p *Proxy) Addr() *net.UDPAddr { return p.conn.LocalAddr().(*net.UDPAddr) }

// Stats returns the counts so far.
func (p *Proxy) Stats() Stats {
	return Stats{p.forwarded.Load(), p.dropped.Load(), p.duplicated.Load(), p.reordered.Load()}
}

// Close stops the proxy and waits for its goroutines and pending sends.
func (p *Proxy) Close() error {
	p.closed.Store(true)
	p.conn.Close()
	p.up.Close()
	p.wg.Wait()
	p.timers.Wait()
	return nil
}

// pump reads one side: dir 0 is client -> upstream, 1 is upstream -> client.
func (p *Proxy) pump(from *net.UDPConn, dir int) {
	defer p.wg.Done()
	buf := make([]byte, 2048)
	for {
		n, addr, err := from.ReadFromUDP(buf)
		if err != nil {
			return
		}
		var to *net.UDPConn
		var dst *net.UDPAddr
		var d Damage
		if dir == 0 {
			p.client.Store(addr)
			to, dst, d = p.up, p.cfg.Upstream, p.cfg.Up
		} else {
			to, dst, d = p.conn, p.client.Load(), p.cfg.Down
			if dst == nil {
				continue
			}
		}
		pkt := append([]byte(nil), buf[:n]...)
		p.handle(pkt, to, dst, d, dir)
	}
}

func (p *Proxy) handle(pkt []byte, to *net.UDPConn, dst *net.UDPAddr, d Damage, dir int) {
	p.mu.Lock()
	drop := p.rnd.Float64() < d.Loss
	dup := p.rnd.Float64() < d.Duplicate
	hold := p.rnd.Float64() < d.Reorder
	delay := d.Delay
	if d.Jitter > 0 {
		delay += time.Duration(p.rnd.Int63n(int64(d.Jitter)))
	}
	var send [][]byte
	switch {
	case drop:
		p.dropped.Add(1)
	case hold && p.held[dir] == nil:
		p.held[dir] = pkt
		p.reordered.Add(1)
	default:
		send = append(send, pkt)
		if dup {
			send = append(send, pkt)
			p.duplicated.Add(1)
		}
		if h := p.held[dir]; h != nil {
			send = append(send, h) // the held packet goes after this one
			p.held[dir] = nil
		}
	}
	p.mu.Unlock()
	for _, s := range send {
		p.forward(s, to, dst, delay)
	}
}

func (p *Proxy) forward(pkt []byte, to *net.UDPConn, dst *net.UDPAddr, delay time.Duration) {
	if delay <= 0 {
		if _, err := to.WriteToUDP(pkt, dst); err == nil {
			p.forwarded.Add(1)
		}
		return
	}
	if p.closed.Load() {
		return
	}
	p.timers.Add(1)
	time.AfterFunc(delay, func() {
		defer p.timers.Done()
		if _, err := to.WriteToUDP(pkt, dst); err == nil {
			p.forwarded.Add(1)
		}
	})
}
