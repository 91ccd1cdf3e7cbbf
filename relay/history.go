package relay

import (
	"sync"

	"github.com/relay-av/relay/relay/keyframe"
)

// maxPacketSize bounds one stored RTP packet; larger ones are dropped.
const maxPacketSize = 1500

// packet is one RTP packet as received from a publisher, kept in the source's
// history. Only the source's reader writes it; forwarders read it while the
// reader waits for them, and NACK answers copy it out under the history lock.
type packet struct {
	buf      [maxPacketSize]byte
	n        int
	hdrLen   int
	seq      uint16
	ts       uint32
	pt       uint8
	marker   bool
	padding  bool
	keyStart bool  // first packet of a keyframe
	at       int64 // arrival, unix nanoseconds
	valid    bool
}

func (p *packet) payload() []byte { return p.buf[p.hdrLen:p.n] }

// history is a ring of recent packets indexed by sequence number, shared by
// every viewer of a source: NACKs are answered from it rather than from a
// per-viewer copy of the stream.
type history struct {
	mu    sync.RWMutex
	codec codecKind
	slots []packet
}

func newHistory(size int, codec codecKind) *history {
	return &history{slots: make([]packet, size), codec: codec}
}

// store parses raw into the slot for its sequence number and returns it, or
// nil when raw is not a valid RTP packet. dup reports a packet already held
// (a network duplicate, or a resend of one that was not lost): it is kept
// as it was and should not be forwarded again.
func (h *history) store(raw []byte, at int64) (p *packet, dup bool) {
	if len(raw) > maxPacketSize {
		return nil, false
	}
	seq, ok := rtpSeq(raw)
	if !ok {
		return nil, false
	}
	p = &h.slots[int(seq)%len(h.slots)]
	// Only the reader goroutine writes slots, so reading this one without
	// the lock is safe here. A slot is reused every len(slots) packets, long
	// before sequence numbers wrap, so an equal seq is this very packet.
	if p.valid && p.seq == seq {
		return p, true
	}
	h.mu.Lock()
	p.n = copy(p.buf[:], raw)
	p.at = at
	ok = p.parse()
	if ok {
		key, known := keyframe.IsStart(h.codec, p.media())
		p.keyStart = key && known
	}
	p.valid = ok
	h.mu.Unlock()
	if !ok {
		return nil, false
	}
	return p, false
}

// copyOut copies the packet with sequence number seq into dst, if it is
// still in the history.
func (h *history) copyOut(seq uint16, dst *packet) bool {
	p := &h.slots[int(seq)%len(h.slots)]
	h.mu.RLock()
	defer h.mu.RUnlock()
	if !p.valid || p.seq != seq {
		return false
	}
	*dst = *p
	return true
}

// rtpSeq reads the sequence number of an RTP packet.
func rtpSeq(b []byte) (uint16, bool) {
	if len(b) < 12 || b[0]>>6 != 2 {
		return 0, false
	}
	return uint16(b[2])<<8 | uint16(b[3]), true
}

// parse reads the fixed header, CSRCs, extension and padding of p.buf[:p.n]
// without allocating.
func (p *packet) parse() bool {
	b := p.buf[:p.n]
	if len(b) < 12 || b[0]>>6 != 2 {
		return false
	}
	p.padding = b[0]&0x20 != 0
	ext := b[0]&0x10 != 0
	cc := int(b[0] & 0x0f)
	p.marker = b[1]&0x80 != 0
	p.pt = b[1] & 0x7f
	p.seq = uint16(b[2])<<8 | uint16(b[3])
	p.ts = uint32(b[4])<<24 | uint32(b[5])<<16 | uint32(b[6])<<8 | uint32(b[7])
	off := 12 + 4*cc
	if ext {
		if len(b) < off+4 {
			return false
		}
		off += 4 + 4*(int(b[off+2])<<8|int(b[off+3]))
	}
	if off > len(b) {
		return false
	}
	p.hdrLen = off
	if p.padding {
		pad := int(b[len(b)-1])
		if pad == 0 || off+pad > len(b) {
			return false
		}
	}
	return true
}

// media returns the payload without padding, for keyframe detection.
func (p *packet) media() []byte {
	b := p.payload()
	if p.padding && len(b) > 0 {
		b = b[:len(b)-int(b[len(b)-1])]
	}
	return b
}
