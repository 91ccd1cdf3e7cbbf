package relay

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/keyframe"
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
	tap       bool // an HLS tap's: no catch-up, it starts at a keyframe
	// pts are the viewer's payload types per codec, from the codecs its
	// section negotiated: a source in another negotiated codec (a sign
	// interpreter's VP8 beside an H.264 floor) plays under that codec's
	// payload type, switched at the source change; 0 where the viewer
	// cannot play the codec. Set before the forwarder joins a group.
	pts [codecCount]uint8
	// tw stamps each packet for the viewer's congestion feedback (nil when
	// it negotiated none); twBuf is the header extension's payload.
	tw     *bwe
	twBuf  [2]byte
	twSize int // the header's size on the wire with the extension

	// Hot-path state: written only by the goroutine doing this group's
	// fan-out (one at a time, see trackGroup.fanMu).
	hdr       rtp.Header
	srcID     uint64 // source the offsets belong to; 0 before the first keyframe
	startSeq  uint16 // first source sequence number forwarded from srcID
	seqOff    uint16
	tsOff     uint32
	lastSeq   uint16
	lastTS    uint32
	sent      bool
	notBefore int64       // unix nanoseconds; see startDelay
	askedSrc  uint64      // source asked for a keyframe on this viewer's behalf
	firstKey  atomic.Bool // the first packet sent started a keyframe (tests check it)
	catching  bool        // sending the GOP from history to a new viewer
	cursor    uint16      // next history packet to send while catching up
	syncSeq   uint16      // the live packet when catch-up began
	syncTS    uint32
	tokens    int   // catch-up pacing
	refilled  int64 // when tokens were last added, unix nanoseconds
	guard     int   // packets left to check against startSeq; see startGuard

	// Shared with the viewer's RTCP goroutine.
	mapping        atomic.Pointer[seqMapping]
	packets        atomic.Uint64
	bytes          atomic.Uint64
	lastTSAt       atomic.Uint64 // lastTS, for sender reports
	lastAt         atomic.Int64  // unix nanoseconds of the last packet sent
	waitDrops      atomic.Uint64 // packets dropped while waiting for a keyframe
	errors         atomic.Uint64 // write errors
	nacked         atomic.Uint64 // packets resent after a NACK
	nackMiss       atomic.Uint64 // NACKed packets no longer in the history
	resendsDropped atomic.Uint64 // NACKed packets not resent: over the viewer's resend budget
}

// seqMapping lets NACK answers map a viewer's sequence number back to the
// source's. It is replaced (not mutated) on every source change.
type seqMapping struct {
	src     *source
	startAt int64 // arrival of the first packet sent from src; older ones were not
	seqOff  uint16
	tsOff   uint32
	pt      uint8 // the payload type the run from src is sent with
	// compress marks a catch-up start: packets that arrived before the sync
	// packet were sent with squeezed timestamps (see compressTS).
	compress bool
	syncSeq  uint16
	syncTS   uint32
	syncAt   int64
}

// startGuard is how many packets after a (re)start are checked for being
// older than the start point.
const startGuard = 256

// codecCount sizes per-codec tables.
const codecCount = int(keyframe.Opus) + 1

// newForwarder writes to w as ssrc, in codec c (the one the viewer's track
// was bound with). negotiated adds the section's other codecs.
func newForwarder(v *viewer, w webrtc.TrackLocalWriter, ssrc uint32, c webrtc.RTPCodecParameters) *forwarder {
	pt := uint8(c.PayloadType)
	f := &forwarder{writer: w, ssrc: ssrc, pt: pt, clockRate: c.ClockRate, viewer: v,
		notBefore: time.Now().Add(startDelay).UnixNano()}
	f.hdr = rtp.Header{Version: 2, PayloadType: pt, SSRC: ssrc}
	if k := codecOf(c.MimeType); k != codecUnknown {
		f.pts[k] = pt
	}
	return f
}

// negotiated records the payload type of every other codec of the viewer's
// section that the relay forwards and that keeps the clock rate (a source
// switch keeps the viewer's timeline).
func (f *forwarder) negotiated(params []webrtc.RTPCodecParameters) {
	for _, c := range params {
		k := codecOf(c.MimeType)
		if k == codecUnknown || f.pts[k] != 0 || c.ClockRate != f.clockRate || !supported(c.RTPCodecCapability) {
			continue
		}
		f.pts[k] = uint8(c.PayloadType)
	}
}

// canPlay says whether the viewer negotiated a codec that plays c.
func (f *forwarder) canPlay(c webrtc.RTPCodecCapability) bool {
	k := codecOf(c.MimeType)
	return k != codecUnknown && f.pts[k] != 0
}

// write forwards p from s. It allocates nothing and takes no lock.
func (f *forwarder) write(p *packet, s *source) {
	if s.id != f.srcID {
		if p.at < f.notBefore {
			return
		}
		if !p.keyStart {
			// A new viewer joining mid-GOP starts from the GOP's keyframe in
			// the shared history instead of waiting for the next one.
			if !f.sent && f.startCatchUp(p, s) {
				return
			}
			if f.askedSrc != s.id {
				f.askedSrc = s.id // once per source: the requester collapses the rest
				s.requestKeyframe()
			}
			f.waitDrops.Add(1)
			return
		}
		pt := f.pts[s.ck]
		if pt == 0 {
			f.waitDrops.Add(1) // a codec this viewer did not negotiate: nothing to send
			return
		}
		f.hdr.PayloadType = pt
		// New viewer on a keyframe, or the publisher was replaced: continue
		// our sequence and timeline from where they were.
		if f.sent {
			elapsed := min(max(p.at-f.lastAt.Load(), 0), int64(time.Hour))
			step := uint32(max(1, elapsed*int64(f.clockRate)/int64(time.Second)))
			f.seqOff = f.lastSeq + 1 - p.seq
			f.tsOff = f.lastTS + step - p.ts
		} else {
			f.seqOff, f.tsOff = 0, 0
		}
		f.srcID, f.startSeq, f.catching, f.guard = s.id, p.seq, false, startGuard
		f.mapping.Store(&seqMapping{src: s, startAt: p.at, seqOff: f.seqOff, tsOff: f.tsOff, pt: pt})
	} else if f.catching {
		f.catchUp(p, s)
		return
	} else if f.guard > 0 {
		// Just after a (re)start, a late packet from before the start point
		// is not sent. Only then: sequence numbers wrap every 65536 packets,
		// so "before" means nothing once the viewer has been going a while.
		f.guard--
		if int16(p.seq-f.startSeq) < 0 {
			return
		}
	}
	f.send(p, p.seq+f.seqOff, p.ts+f.tsOff, p.at)
}

// destination is the viewer's UDP address for send batching, or the zero
// address (no batching) before ICE has chosen one or over ICE-TCP.
func (f *forwarder) destination() netip.AddrPort {
	if f.viewer == nil {
		return netip.AddrPort{}
	}
	if a := f.viewer.remote.Load(); a != nil {
		return *a
	}
	return netip.AddrPort{}
}

// startDelay holds a new viewer's first packet back briefly. The relay's
// side of DTLS finishes before the viewer's; a pion client drops SRTP that
// arrives before its receivers start (it probes it as an undeclared
// stream), and losing the head of a keyframe costs a whole GOP. Browsers
// are ready earlier; the delay is a cheap margin for both.
const startDelay = 50 * time.Millisecond

// Catch-up pacing: a token bucket refilled by packet arrival times. At
// 3000 packets/s a 2 s GOP of a 1.6 Mbit/s stream is replayed in a few
// hundred milliseconds, while bursts stay well under a socket's receive
// buffer (live frames arrive as bursts, so pacing per live packet is not
// pacing at all).
const (
	catchUpRate  = 3000 // packets per second
	catchUpBurst = 48   // packets
)

// catchUpCompress is how much catch-up frames' timestamps are squeezed: the
// player sees them as a short fast-forward, then live frames at their real
// pace, so its jitter buffer does not settle a whole GOP behind live.
const catchUpCompress = 16

// startCatchUp begins sending the current GOP from the history, when it is
// all still there. Only for a viewer that has never been sent anything.
func (f *forwarder) startCatchUp(p *packet, s *source) bool {
	if f.tap || !s.gopValid || s.kind != webrtc.RTPCodecTypeVideo || f.pts[s.ck] == 0 {
		return false
	}
	gop := s.gopStart
	if int16(p.seq-gop) < 0 {
		// A keyframe later in this fan-out batch already started a new
		// GOP: the viewer starts on it in a moment, no need to ask.
		return true
	}
	span := int(uint16(p.seq - gop))
	if p.seq == gop || span >= len(s.hist.slots)-64 {
		return false
	}
	if k := &s.hist.slots[int(gop)%len(s.hist.slots)]; !k.valid || k.seq != gop || !k.keyStart {
		return false
	}
	f.srcID, f.startSeq, f.seqOff, f.tsOff, f.guard = s.id, gop, 0, 0, startGuard
	f.catching, f.cursor, f.syncSeq, f.syncTS = true, gop, p.seq, p.ts
	f.tokens, f.refilled = catchUpBurst, p.at
	f.hdr.PayloadType = f.pts[s.ck]
	key := &s.hist.slots[int(gop)%len(s.hist.slots)]
	f.mapping.Store(&seqMapping{src: s, startAt: key.at, compress: true, syncSeq: p.seq, syncTS: p.ts, syncAt: p.at, pt: f.hdr.PayloadType})
	f.catchUp(p, s)
	return true
}

// catchUp sends what the token bucket allows from the history cursor, up to
// and including the live packet p; when p is sent the viewer is live.
func (f *forwarder) catchUp(p *packet, s *source) {
	if d := p.at - f.refilled; d > 0 {
		f.tokens = min(catchUpBurst, f.tokens+int(d*catchUpRate/int64(time.Second)))
		if f.tokens > 0 {
			f.refilled = p.at
		}
	}
	slots := s.hist.slots
	for ; f.tokens > 0 && int16(p.seq-f.cursor) >= 0; f.cursor++ {
		h := &slots[int(f.cursor)%len(slots)]
		if !h.valid || h.seq != f.cursor {
			continue // lost on the way in; the viewer may NACK it
		}
		f.send(h, h.seq, compressTS(h.seq, h.ts, f.syncSeq, f.syncTS), p.at) // sent now, with the live packet p
		f.tokens--
	}
	if int16(f.cursor-p.seq) > 0 {
		f.catching = false
	}
}

// compressTS maps a catch-up packet's timestamp: packets before the sync
// point (the live packet when the viewer joined) are squeezed towards it.
func compressTS(seq uint16, ts uint32, syncSeq uint16, syncTS uint32) uint32 {
	if int16(seq-syncSeq) >= 0 {
		return ts
	}
	return syncTS - (syncTS-ts)/catchUpCompress
}

// send writes one packet with the viewer's sequence number and timestamp;
// at is when the packet that caused the send arrived (the send time for
// congestion feedback: a catch-up packet from the history goes out now).
func (f *forwarder) send(p *packet, seq uint16, ts uint32, at int64) {
	f.hdr.SequenceNumber, f.hdr.Timestamp = seq, ts
	if f.tw != nil {
		// The arrival time stands for the send time: this viewer's share of
		// the fan-out follows it by a near-constant delay, which drops out of
		// the delay differences the estimator reads.
		n := f.tw.stamp(at, p.n-p.hdrLen+f.twSize)
		f.twBuf[0], f.twBuf[1] = byte(n>>8), byte(n)
	}
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
	if !f.sent {
		f.firstKey.Store(p.keyStart)
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
	// Arrival times, not sequence numbers, say whether this viewer was sent
	// the packet: sequence numbers wrap.
	if !m.src.hist.copyOut(srcSeq, scratch) || scratch.at < m.startAt {
		f.nackMiss.Add(1)
		return
	}
	ts := scratch.ts + m.tsOff
	if m.compress && scratch.at < m.syncAt {
		ts = compressTS(srcSeq, scratch.ts, m.syncSeq, m.syncTS)
	}
	*hdr = rtp.Header{Version: 2, PayloadType: m.pt, SSRC: f.ssrc, SequenceNumber: seq,
		Timestamp: ts, Marker: scratch.marker, Padding: scratch.padding}
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
