package relay

import (
	"errors"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
)

// batchConn is the relay's ICE UDP socket. Most of the relay's CPU under
// load is the kernel's work per sent packet (one sendto per packet per
// viewer, through pion's write path). When the fan-out has several packets
// for one viewer (a video frame's packets arrive together), it opens a batch
// for the viewer's address: pion's writes to that address are gathered, and
// flush sends each run of equal-sized packets with one sendmsg carrying
// UDP_SEGMENT (UDP segmentation offload): the kernel splits it into the same
// datagrams, for a fraction of the per-packet cost. Writes to addresses
// without an open batch (STUN, DTLS, RTCP, other viewers) go straight out.
type batchConn struct {
	*net.UDPConn
	open  sync.Map     // netip.AddrPort -> *sendBatch
	nopen atomic.Int32 // open batches: none is the common case of a lone packet
	noGSO atomic.Bool  // the kernel refused UDP_SEGMENT once: send one by one
	pool  sync.Pool
	// what went out offloaded (tests read them)
	gsoSends, gsoPackets atomic.Uint64
}

// maxBatchPackets and maxBatchBytes bound what one batch holds: the kernel takes at most 64
// segments and 64 KiB in one UDP_SEGMENT send.
const (
	maxBatchPackets = 64
	maxBatchBytes   = 60 << 10
)

// sendBatch gathers one viewer's packets. Other goroutines may write to the
// same address meanwhile (a resend after a NACK, a STUN check): mu orders
// them, and a writer that finds the batch flushed (or already reused for
// another address) sends directly.
type sendBatch struct {
	mu    sync.Mutex
	to    netip.AddrPort
	open  bool
	buf   []byte
	sizes []int
	oob   []byte
}

func newBatchConn(c *net.UDPConn) *batchConn {
	b := &batchConn{UDPConn: c}
	b.pool.New = func() any {
		return &sendBatch{buf: make([]byte, 0, maxBatchBytes), sizes: make([]int, 0, maxBatchPackets), oob: make([]byte, gsoControlLen)}
	}
	return b
}

// begin opens a batch for to; the caller writes (through pion) and then
// calls flush with what begin returned. One batch per address at a time:
// a second begin for the same address returns nil and writes go straight
// out. An invalid address (a viewer on ICE-TCP, or not connected yet)
// returns nil.
func (c *batchConn) begin(to netip.AddrPort) *sendBatch {
	if !to.IsValid() {
		return nil
	}
	b := c.pool.Get().(*sendBatch)
	b.mu.Lock()
	b.to, b.open = to, true
	b.mu.Unlock()
	if _, loaded := c.open.LoadOrStore(to, b); loaded {
		b.mu.Lock()
		b.open = false
		b.mu.Unlock()
		c.pool.Put(b)
		return nil
	}
	c.nopen.Add(1)
	return b
}

// flush sends what b gathered and closes it.
func (c *batchConn) flush(b *sendBatch) {
	if b == nil {
		return
	}
	b.mu.Lock()
	// Send before the batch leaves the map: a writer to the same address
	// meanwhile (the viewer's audio, a resend) then waits for b.mu and
	// writes after the batch, instead of finding no batch and overtaking
	// the packets in it (its own earlier ones among them).
	c.send(b)
	b.buf, b.sizes = b.buf[:0], b.sizes[:0]
	c.open.Delete(b.to)
	c.nopen.Add(-1)
	b.open = false
	b.mu.Unlock()
	c.pool.Put(b)
}

// WriteToAddrPort is pion's write path (ice.AddrPortReaderWriter).
func (c *batchConn) WriteToAddrPort(p []byte, to netip.AddrPort) (int, error) {
	if c.nopen.Load() > 0 {
		if v, ok := c.open.Load(to); ok {
			b := v.(*sendBatch)
			b.mu.Lock()
			if b.open && b.to == to {
				if len(b.sizes) == maxBatchPackets || len(b.buf)+len(p) > maxBatchBytes {
					c.send(b) // full: send what is there, keep gathering
					b.buf, b.sizes = b.buf[:0], b.sizes[:0]
				}
				b.buf = append(b.buf, p...)
				b.sizes = append(b.sizes, len(p))
				b.mu.Unlock()
				return len(p), nil
			}
			b.mu.Unlock()
		}
	}
	return c.UDPConn.WriteToUDPAddrPort(p, to)
}

// ReadFromAddrPort completes ice.AddrPortReaderWriter.
func (c *batchConn) ReadFromAddrPort(p []byte) (int, netip.AddrPort, error) {
	return c.UDPConn.ReadFromUDPAddrPort(p)
}

// WriteTo serves writers that do not use the AddrPort interface.
func (c *batchConn) WriteTo(p []byte, to net.Addr) (int, error) {
	if u, ok := to.(*net.UDPAddr); ok {
		return c.WriteToAddrPort(p, u.AddrPort())
	}
	return c.UDPConn.WriteTo(p, to)
}

// send writes b's packets (b.mu held): each run of equal-sized packets (the last of a
// run may be shorter, as UDP_SEGMENT allows) in one sendmsg, a lone packet
// with a plain send. Errors are dropped: a lost UDP packet is NACKed like
// any other.
func (c *batchConn) send(b *sendBatch) {
	off := 0
	for i := 0; i < len(b.sizes); {
		seg := b.sizes[i]
		j, n := i+1, seg
		for j < len(b.sizes) && b.sizes[j] <= seg {
			n += b.sizes[j]
			j++
			if b.sizes[j-1] < seg {
				break // a shorter packet ends the run
			}
		}
		if j-i == 1 || c.noGSO.Load() {
			for k, o := i, off; k < j; k++ {
				_, _ = c.UDPConn.WriteToUDPAddrPort(b.buf[o:o+b.sizes[k]], b.to)
				o += b.sizes[k]
			}
		} else if err := c.sendGSO(b, b.buf[off:off+n], seg); err != nil {
			if errors.Is(err, syscall.EINVAL) || errors.Is(err, syscall.EIO) || errors.Is(err, syscall.ENOPROTOOPT) {
				c.noGSO.Store(true) // no segmentation offload here: resend one by one
			}
			for k, o := i, off; k < j; k++ {
				_, _ = c.UDPConn.WriteToUDPAddrPort(b.buf[o:o+b.sizes[k]], b.to)
				o += b.sizes[k]
			}
		} else {
			c.gsoSends.Add(1)
			c.gsoPackets.Add(uint64(j - i))
		}
		off += n
		i = j
	}
}
