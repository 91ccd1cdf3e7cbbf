package relay

import (
	"io"
	"testing"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// seqRecorder records what a forwarder writes.
type seqRecorder struct {
	n    int
	last rtp.Header
}

func (w *seqRecorder) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.n++
	w.last = *h
	return len(payload), nil
}
func (w *seqRecorder) Write(b []byte) (int, error) { return len(b), nil }

func rawPacket(seq uint16, ts uint32, key bool) []byte {
	nal := byte(0x41) // P slice
	if key {
		nal = 0x65 // IDR
	}
	b, _ := (&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: seq, Timestamp: ts, SSRC: 7, Marker: true},
		Payload: []byte{nal, 0x88, 0x80}}).Marshal()
	return b
}

// A forwarder keeps sending, and answers NACKs, across sequence-number
// wrap-arounds: nothing may be judged "older than the start" by a 16-bit
// comparison once the viewer has been watching for a while.
func TestForwarderAcrossSequenceWrap(t *testing.T) {
	g, src, f, w := oneVideoForwarder()
	const total = 200_000 // three wraps
	seq, ts := uint16(65000), uint32(1)
	for i := 0; i < total; i++ {
		p, _ := src.hist.store(rawPacket(seq, ts, i == 0), int64(i+1))
		g.forward(src, []*packet{p})
		seq++
		ts += 3000
	}
	if w.n != total {
		t.Fatalf("forwarded %d of %d packets", w.n, total)
	}
	// NACK the packet sent 10 packets ago: it is in the shared history.
	want := w.last.SequenceNumber - 10
	var scratch packet
	var hdr rtp.Header
	f.resend(want, &scratch, &hdr)
	if f.nacked.Load() != 1 || w.last.SequenceNumber != want {
		t.Fatalf("NACK after wraps: nacked %d, last sent seq %d, want %d", f.nacked.Load(), w.last.SequenceNumber, want)
	}
	// A NACK for something long gone is a miss, not a wrong packet.
	f.resend(want-5000, &scratch, &hdr)
	if f.nackMiss.Load() != 1 {
		t.Errorf("stale NACK not counted as a miss")
	}
}

// A packet that arrives twice is stored once and forwarded once.
func TestDuplicateNotForwarded(t *testing.T) {
	g := newTrackGroup(webrtc.RTPCodecTypeVideo)
	src := newSource(sourceParams{id: 1, kind: webrtc.RTPCodecTypeVideo, codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, group: g})
	g.attach(src)
	w := &seqRecorder{}
	f := newForwarder(nil, w, 9, testH264)
	f.notBefore = 0
	g.add(f)
	r := newScriptedReader(rawPacket(10, 0, true), rawPacket(11, 3000, false), rawPacket(11, 3000, false), rawPacket(12, 6000, false))
	src.run(r)
	if w.n != 3 || src.duplicates.Load() != 1 {
		t.Fatalf("forwarded %d, duplicates %d; want 3 and 1", w.n, src.duplicates.Load())
	}
}

// scriptedReader plays fixed packets, then fails (the publisher left).
type scriptedReader struct{ pkts [][]byte }

func newScriptedReader(p ...[]byte) *scriptedReader { return &scriptedReader{pkts: p} }

func (r *scriptedReader) ReadPacket(b []byte) (int, error) {
	if len(r.pkts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, r.pkts[0])
	r.pkts = r.pkts[1:]
	return n, nil
}

// A viewer whose first fan-out batch holds the end of one GOP and the
// keyframe of the next starts on that keyframe without asking the
// publisher for another.
func TestJoinOnKeyframeInsideABatch(t *testing.T) {
	g, src, f, w := oneVideoForwarder()
	src.batch = src.batch[:0]
	src.take(rawPacket(10, 3000, false)) // the old GOP's last frame
	src.take(rawPacket(11, 6000, true))  // the new GOP
	src.take(rawPacket(12, 9000, false))
	g.forward(src, src.batch)
	if w.n != 2 || !f.firstKey.Load() || w.last.SequenceNumber != 12 {
		t.Errorf("sent %d packets, first a keyframe start: %v, last seq %d", w.n, f.firstKey.Load(), w.last.SequenceNumber)
	}
	if f.askedSrc != 0 {
		t.Error("asked the publisher for a keyframe that was in the batch")
	}
	src.stopWorkers()
}

// oneVideoForwarder is an H.264 source with one forwarder that records what
// it sends, no viewer and no start delay.
func oneVideoForwarder() (*trackGroup, *source, *forwarder, *seqRecorder) {
	g := newTrackGroup(webrtc.RTPCodecTypeVideo)
	src := newSource(sourceParams{id: 1, kind: webrtc.RTPCodecTypeVideo, codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, group: g})
	g.attach(src)
	w := &seqRecorder{}
	f := newForwarder(nil, w, 99, testH264)
	f.notBefore = 0 // packet times here are synthetic
	g.add(f)
	return g, src, f, w
}

// testH264 is the codec test forwarders are bound with.
var testH264 = webrtc.RTPCodecParameters{
	RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "packetization-mode=1"},
	PayloadType:        102,
}

// Padding-only packets (a sender probing its bandwidth on a layer it
// paused) are forwarded but neither keep the source "flowing" nor count
// in its bitrate: viewers of a paused layer move to one with media.
func TestPaddingOnlyIsNotMedia(t *testing.T) {
	_, src, _, w := oneVideoForwarder()
	pad := make([]byte, 12+200)
	pad[0], pad[1] = 0xa0, 96 // version 2, padding bit; payload type 96
	pad[3] = 2                // sequence number 2
	pad[len(pad)-1] = 200     // the whole payload is padding
	src.run(newScriptedReader(rawPacket(1, 0, true), pad))
	if w.n != 2 {
		t.Fatalf("forwarded %d packets, want both (padding keeps sequence numbers whole)", w.n)
	}
	if b := src.bytes.Load(); b != uint64(len(rawPacket(1, 0, true))) {
		t.Errorf("bitrate bytes %d: the padding was counted", b)
	}
	if src.padding.Load() != uint64(len(pad)) {
		t.Errorf("padding bytes %d, want %d", src.padding.Load(), len(pad))
	}
}
