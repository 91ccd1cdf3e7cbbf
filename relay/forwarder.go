package relay

import (
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// forwarder sends one group's media to one viewer. It rewrites SSRC, sequence
// number and timestamp into its own header (the shared packet is never
// touched) so the viewer's track stays continuous when the source changes.
type forwarder struct {
	writer    webrtc.TrackLocalWriter
	ssrc      uint32
	pt        uint8
	clockRate uint32
	viewer    *viewer

	// Hot-path state: written only by the goroutine doing this group's
	// fan-out (one at a time, see trackGroup.fanMu).
	hdr      rtp.Header
	srcID    uint64 // source the offsets belong to; 0 before the first keyframe
	startSeq uint16 // first source sequence number forwarded from srcID
	seqOff   uint16
	tsOff    uint32
	lastSeq  uint16
	lastTS   uint32
	sent     bool

	// Shared with the viewer's RTCP goroutine.
	mapping   atomic.Pointer[seqMapping]
	packets   atomic.Uint64
	bytes     atomic.Uint64
	lastTSAt  atomic.Uint64 // lastTS, for sender reports
	lastAt    atomic.Int64  // unix nanoseconds of the last packet sent
	waitDrops atomic.Uint64 // packets dropped while waiting for a keyframe
	errors    atomic.Uint64 // write errors
	nacked    atomic.Uint64 // packets resent after a NACK
	nackMiss  atomic.Uint64 // NACKed packets no longer in the history
}

// seqMapping lets NACK answers map a viewer's sequence number back to the
// source's. It is replaced (not mutated) on every source change.
type seqMapping struct {
	src      *source
	startSeq uint16
	seqOff   uint16
	tsOff    uint32
}

func newForwarder(v *viewer, w webrtc.TrackLocalWriter, ssrc uint32, pt uint8, clockRate uint32) *forwarder {
	f := &forwarder{writer: w, ssrc: ssrc, pt: pt, clockRate: clockRate, viewer: v}
	f.hdr = rtp.Header{Version: 2, PayloadType: pt, SSRC: ssrc}
	return f
}

// write forwards p from s. It allocates nothing and takes no lock.
func (f *forwarder) write(p *packet, s *source) {
	if s.id != f.srcID {
		// New viewer, or the publisher was replaced: start on a keyframe and
		// continue our sequence and timeline from where they were.
		if !p.keyStart {
			f.waitDrops.Add(1)
			return
		}
		if f.sent {
			elapsed := min(max(p.at-f.lastAt.Load(), 0), int64(time.Hour))
			step := uint32(max(1, elapsed*int64(f.clockRate)/int64(time.Second)))
			f.seqOff = f.lastSeq + 1 - p.seq
			f.tsOff = f.lastTS + step - p.ts
		} else {
			f.seqOff, f.tsOff = 0, 0
		}
		f.srcID, f.startSeq = s.id, p.seq
		f.mapping.Store(&seqMapping{src: s, startSeq: p.seq, seqOff: f.seqOff, tsOff: f.tsOff})
	} else if int16(p.seq-f.startSeq) < 0 {
		return // older than where this viewer started
	}
	seq, ts := p.seq+f.seqOff, p.ts+f.tsOff
	f.hdr.SequenceNumber, f.hdr.Timestamp = seq, ts
	f.hdr.Marker, f.hdr.Padding = p.marker, p.padding
	if _, err := f.writer.WriteRTP(&f.hdr, p.payload()); err != nil {
		f.errors.Add(1)
		return
	}
	if !f.sent || int16(seq-f.lastSeq) > 0 {
		f.lastSeq = seq
	}
	if !f.sent || int32(ts-f.lastTS) > 0 {
		f.lastTS = ts
		f.lastTSAt.Store(uint64(ts))
		f.lastAt.Store(p.at)
	}
	f.sent = true
	f.packets.Add(1)
	f.bytes.Add(uint64(p.n - p.hdrLen))
}

// resend answers a NACK for the viewer's sequence number seq from the shared
// history. It runs on the viewer's RTCP goroutine with its own header and
// buffer.
func (f *forwarder) resend(seq uint16, scratch *packet, hdr *rtp.Header) {
	m := f.mapping.Load()
	if m == nil {
		return
	}
	srcSeq := seq - m.seqOff
	if int16(srcSeq-m.startSeq) < 0 || !m.src.hist.copyOut(srcSeq, scratch) {
		f.nackMiss.Add(1)
		return
	}
	*hdr = rtp.Header{Version: 2, PayloadType: f.pt, SSRC: f.ssrc, SequenceNumber: seq,
		Timestamp: scratch.ts + m.tsOff, Marker: scratch.marker, Padding: scratch.padding}
	if _, err := f.writer.WriteRTP(hdr, scratch.payload()); err != nil {
		f.errors.Add(1)
		return
	}
	f.nacked.Add(1)
}

// senderClock returns the RTP timestamp that corresponds to now on this
// viewer's timeline, for sender reports.
func (f *forwarder) senderClock(now time.Time) (uint32, bool) {
	at := f.lastAt.Load()
	if at == 0 {
		return 0, false
	}
	ts := uint32(f.lastTSAt.Load())
	elapsed := min(max(now.UnixNano()-at, 0), int64(time.Hour))
	return ts + uint32(elapsed*int64(f.clockRate)/int64(time.Second)), true
}

func (f *forwarder) addTo(st *KindStats) {
	st.ForwardedPackets += f.packets.Load()
	st.ForwardedBytes += f.bytes.Load()
	st.NACKed += f.nacked.Load()
	st.NACKMisses += f.nackMiss.Load()
	st.WaitKeyframeDrops += f.waitDrops.Load()
	st.WriteErrors += f.errors.Load()
}
