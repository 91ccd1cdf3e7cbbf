package relay

import (
	"testing"
	"time"

	"github.com/pion/rtcp"
)

var testLayers = []layerRank{{"h", 1_500_000}, {"m", 500_000}, {"l", 150_000}}

// The choice moves down at once, up only after the estimate held, waits
// longer after a move up that failed, and pauses the video under the
// lowest layer.
func TestLayerChooser(t *testing.T) {
	type step struct {
		s    float64
		est  uint64
		want string
	}
	run := func(name string, steps []step) {
		var c layerChooser
		for _, st := range steps {
			p, _ := c.choose(st.est, testLayers, int64((1000+st.s)*float64(time.Second)))
			got := p.rid
			if p.paused {
				got = "paused"
			}
			if got != st.want {
				t.Fatalf("%s: at %v s with %d bit/s: %s, want %s", name, st.s, st.est, got, st.want)
			}
		}
	}
	run("probe waits", []step{
		{0, 10_000_000, "h"},    // optimistic start
		{1, 700_000, "m"},       // down at once: the start failed
		{2, 3_000_000, "m"},     // a failed start makes the next probe wait
		{20, 3_000_000, "m"},    // still waiting (30 s)
		{35, 3_000_000, "h"},    // the estimate held, the wait is over
		{36, 600_000, "m"},      // the probe failed: down
		{37, 100_000, "paused"}, // under the lowest layer: no video
		{38, 190_000, "paused"}, // resuming needs 2 s above the lowest × 1.2
		{40, 190_000, "l"},
		{41, 400_000, "l"}, // not yet above m × 1.25
	})
	run("resume waits", []step{
		{0, 150_000, "l"},
		{1, 100_000, "paused"},
		{3, 200_000, "paused"},  // resuming needs 2 s above the lowest × 1.2
		{5, 200_000, "l"},       // video back
		{6, 100_000, "paused"},  // it did not hold
		{9, 200_000, "paused"},  // the next resume waits 15 s after the pause
		{20, 200_000, "paused"}, // 14 s
		{21, 200_000, "l"},      // 15 s
		{22, 100_000, "paused"}, // failed again: 30 s
		{50, 200_000, "paused"},
		{52, 200_000, "l"},
		{70, 200_000, "l"}, // this one held
	})
	run("link changes", []step{
		{0, 700_000, "m"},
		{1, 2_000_000, "m"},
		{4, 2_000_000, "h"}, // held 3 s: probe up
		{5, 200_000, "l"},   // the link fell past m: not the probe failing
		{6, 2_500_000, "l"}, // the estimate recovers ...
		{9, 2_500_000, "h"}, // ... and held 3 s: up, no 30 s wait
	})
	// A single layer (or none): nothing to choose.
	var one layerChooser
	if p, changed := one.choose(100_000, testLayers[:1], 0); p != nil || changed {
		t.Errorf("one layer: %v %v, want no choice", p, changed)
	}
}

// Feedback the relay did not send, or that does not add up, changes
// nothing and breaks nothing.
func TestBWEHostileFeedback(t *testing.T) {
	b := newBWE(time.Unix(0, 0))
	now := time.Unix(10, 0)
	for _, fb := range []*rtcp.TransportLayerCC{
		{BaseSequenceNumber: 100, PacketStatusCount: 65535, PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 8191}}},
		{BaseSequenceNumber: 1, PacketStatusCount: 3, PacketChunks: []rtcp.PacketStatusChunk{&rtcp.StatusVectorChunk{SymbolList: []uint16{1, 1, 1}}}, RecvDeltas: []*rtcp.RecvDelta{{Delta: -1 << 40}}},
		{PacketStatusCount: 0},
	} {
		b.onFeedback(fb, now)
	}
	if est := b.estimate.Load(); est != 0 && est < bweStart {
		t.Errorf("feedback on packets never sent cut the estimate to %d", est)
	}
	// Stamped packets all reported lost, over a whole window: a cut.
	for i := 0; i < 40; i++ {
		b.stamp(now.UnixNano(), 1200)
	}
	lostAll := &rtcp.TransportLayerCC{BaseSequenceNumber: 1, PacketStatusCount: 40,
		PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketNotReceived, RunLength: 40}}}
	b.onFeedback(lostAll, now.Add(time.Second))
	b.onFeedback(lostAll, now.Add(2*time.Second))
	if est := b.estimate.Load(); est >= bweStart {
		t.Errorf("all lost: estimate %d, want a cut", est)
	}
	if !b.allowResend(now) {
		t.Error("a first resend refused")
	}
	var nilBWE *bwe
	if !nilBWE.allowResend(now) {
		t.Error("a viewer without feedback has no resend limit")
	}
}

// A receiver report's loss counts as the second signal: a path whose
// congestion feedback shows no loss but whose receiver reports do is cut.
func TestBWEReceiverReportLoss(t *testing.T) {
	b := newBWE(time.Unix(0, 0))
	now := time.Unix(10, 0)
	report := func(at time.Time) {
		for i := 0; i < 10; i++ {
			b.stamp(at.UnixNano(), 1200)
		}
		seq := uint16(b.seq.Load()) - 9
		deltas := make([]*rtcp.RecvDelta, 10)
		for i := range deltas {
			deltas[i] = &rtcp.RecvDelta{Type: rtcp.TypeTCCPacketReceivedSmallDelta, Delta: 1000}
		}
		b.onFeedback(&rtcp.TransportLayerCC{BaseSequenceNumber: seq, PacketStatusCount: 10, ReferenceTime: uint32(at.Sub(time.Unix(0, 0)) / (64 * time.Millisecond)),
			PacketChunks: []rtcp.PacketStatusChunk{&rtcp.RunLengthChunk{PacketStatusSymbol: rtcp.TypeTCCPacketReceivedSmallDelta, RunLength: 10}},
			RecvDeltas:   deltas}, at)
	}
	report(now)
	report(now.Add(600 * time.Millisecond))
	clean := b.estimate.Load()
	if clean < bweStart {
		t.Fatalf("no loss anywhere, yet the estimate fell to %d", clean)
	}
	b.noteReceiverLoss(0.3, now.Add(time.Second))
	report(now.Add(1200 * time.Millisecond))
	if est := b.estimate.Load(); est >= clean {
		t.Errorf("30 %% lost by receiver report: estimate %d, want a cut from %d", est, clean)
	}
}
