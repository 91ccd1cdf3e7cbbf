package turnserver

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/pion/turn/v5"
)

var errNoTCPRelay = errors.New("turn: TCP allocations (RFC 6062) are not offered: media is relayed over UDP")

// relayAddrs opens each allocation's socket on the relay's media address
// and wraps it: counted, rate-limited, and relaying to the relay only.
type relayAddrs struct {
	s         *Server
	transport Transport
}

func (g *relayAddrs) Validate() error { return nil }

func (g *relayAddrs) AllocatePacketConn(conf turn.AllocateListenerConfig) (net.PacketConn, net.Addr, error) {
	if conf.Network != "udp4" && conf.Network != "udp" {
		return nil, nil, errors.New("turn: IPv4 relays only")
	}
	cfg := g.s.cfg
	pc, err := net.ListenPacket("udp4", net.JoinHostPort(cfg.RelayIP.String(), "0"))
	if err != nil {
		return nil, nil, err
	}
	local := pc.LocalAddr().(*net.UDPAddr)
	advertised := &net.UDPAddr{IP: local.IP, Port: local.Port}
	if cfg.AdvertiseIP != nil {
		advertised.IP = cfg.AdvertiseIP
	}
	_, room, _ := parseUsername(conf.UserID)
	c := &relayConn{PacketConn: pc, s: g.s, key: local.AddrPort(), a: &allocation{room: room, transport: g.transport, bytes: &roomBytes{}},
		bucket: newBucket(cfg.MaxBitrate)}
	c.key = netip.AddrPortFrom(c.key.Addr().Unmap(), c.key.Port())
	g.s.mu.Lock()
	g.s.relayed[c.key] = c.a
	g.s.mu.Unlock()
	return c, advertised, nil
}

func (g *relayAddrs) AllocateListener(turn.AllocateListenerConfig) (net.Listener, net.Addr, error) {
	return nil, nil, errNoTCPRelay
}

func (g *relayAddrs) AllocateConn(turn.AllocateConnConfig) (net.Conn, error) {
	return nil, errNoTCPRelay
}

// relayConn is one allocation's socket toward the relay.
type relayConn struct {
	net.PacketConn
	s      *Server
	key    netip.AddrPort
	a      *allocation
	bucket *bucket
	once   sync.Once
}

// WriteTo relays a client's datagram: to the relay's media sockets only,
// within the allocation's bitrate. Anything else is dropped quietly, as a
// network drops it.
func (c *relayConn) WriteTo(p []byte, to net.Addr) (int, error) {
	if !c.s.allowed(to) {
		c.s.mu.Lock()
		c.s.roomLocked(c.a.room).RefusedDatagrams++
		c.s.mu.Unlock()
		return len(p), nil
	}
	if !c.bucket.take(len(p), time.Now()) {
		return len(p), nil
	}
	n, err := c.PacketConn.WriteTo(p, to)
	c.count(n)
	return n, err
}

// ReadFrom takes the relay's datagrams for the client (pion/turn drops
// those from peers without a permission).
func (c *relayConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.PacketConn.ReadFrom(p)
		if err != nil {
			return n, from, err
		}
		if !c.bucket.take(n, time.Now()) {
			continue // over the allocation's bitrate: dropped
		}
		c.count(n)
		return n, from, nil
	}
}

func (c *relayConn) count(n int) {
	c.a.bytes.mu.Lock()
	c.a.bytes.n += uint64(n)
	c.a.bytes.mu.Unlock()
}

// Close ends the allocation: its bytes stay in the room's total.
func (c *relayConn) Close() error {
	c.once.Do(func() {
		c.s.mu.Lock()
		delete(c.s.relayed, c.key)
		c.a.bytes.mu.Lock()
		c.s.roomLocked(c.a.room).BytesRelayed += c.a.bytes.n
		c.a.bytes.mu.Unlock()
		c.s.mu.Unlock()
	})
	return c.PacketConn.Close()
}

// bucket is a token bucket in bytes: a quarter of a second of burst.
type bucket struct {
	mu     sync.Mutex
	rate   float64 // bytes per second
	burst  float64
	tokens float64
	at     time.Time
}

func newBucket(bitsPerSecond int64) *bucket {
	r := float64(bitsPerSecond) / 8
	return &bucket{rate: r, burst: r / 4, tokens: r / 4}
}

func (b *bucket) take(n int, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.at.IsZero() {
		b.tokens = min(b.burst, b.tokens+b.rate*now.Sub(b.at).Seconds())
	}
	b.at = now
	if b.tokens < float64(n) {
		return false
	}
	b.tokens -= float64(n)
	return true
}
