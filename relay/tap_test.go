package relay

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// tapRecorder is a TapWriter that keeps what it was given, as a listener
// would have received it.
type tapRecorder struct {
	mu   sync.Mutex
	pkts []rxPkt
}

func (w *tapRecorder) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	p := rxPkt{at: time.Now(), ssrc: h.SSRC, seq: h.SequenceNumber, ts: h.Timestamp}
	if len(payload) >= 3 {
		p.mark, p.n = payload[0], binary.BigEndian.Uint16(payload[1:])
	}
	w.mu.Lock()
	w.pkts = append(w.pkts, p)
	w.mu.Unlock()
	return len(payload), nil
}

func (w *tapRecorder) since(from time.Time, mark byte) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, p := range w.pkts {
		if !p.at.Before(from) && p.mark == mark {
			n++
		}
	}
	return n
}

func (w *tapRecorder) snapshot() []rxPkt {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]rxPkt(nil), w.pkts...)
}

// TestTapFollowsChannel: an HLS tap on the French channel follows it the
// way a listener's forwarder does: the booth while it is live, the floor
// when it goes down, the second interpreter after a handover, on one
// continuous timeline; Close stops it.
func TestTapFollowsChannel(t *testing.T) {
	r := newTestRelay(t, nil)
	const room = "hall"
	floorBooth(t, r, room)
	first := interpreter(t, r, room, "fr", markFR, false)
	waitChannelLive(t, r, room, "fr", KindAudio, true, 10*time.Second)

	w := &tapRecorder{}
	tap, err := r.srv.Tap(room, webrtc.RTPCodecTypeAudio, "fr", "", w)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.srv.Tap("nowhere", webrtc.RTPCodecTypeAudio, "", "", w); err == nil {
		t.Error("a tap on a room that does not exist")
	}
	waitFor(t, 5*time.Second, "the booth at the tap", func() bool { return w.since(time.Time{}, markFR) >= 25 })

	handover := time.Now()
	second := interpreter(t, r, room, "fr", markFR2, false)
	waitFor(t, 10*time.Second, "the second interpreter at the tap", func() bool { return w.since(handover, markFR2) >= 25 })
	first.close(true)

	down := time.Now()
	second.close(true)
	waitFor(t, 5*time.Second, "the floor at the tap once the booth is down", func() bool { return w.since(down, markFloor) >= 25 })

	pkts := w.snapshot()
	checkChannelSources(t, "tap", pkts, []plannedSwitch{{mark: markFR}, {at: handover, mark: markFR2}, {at: down, mark: markFloor}})
	checkTrackContinuous(t, "tap", pkts, false)

	tap.Close()
	closed := time.Now()
	time.Sleep(300 * time.Millisecond)
	if n := len(w.snapshot()) - len(pkts); w.since(closed, markFloor) > 0 {
		t.Errorf("%d packets written after Close", n)
	}
}
