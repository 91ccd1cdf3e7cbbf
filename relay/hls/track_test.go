package hls

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"
)

type nopTap struct{ keyframes int }

func (t *nopTap) RequestKeyframe() { t.keyframes++ }
func (t *nopTap) Close()           {}

// testTrack is a lead track of a session that has no relay behind it:
// samples and packets are fed by hand.
func testTrack(t *testing.T, kind webrtc.RTPCodecType) *track {
	t.Helper()
	cfg := &Config{SegmentTarget: time.Second, PartTarget: 200 * time.Millisecond, Window: time.Minute, Log: slog.New(slog.DiscardHandler), stats: newStats()}
	s := &session{cfg: cfg, room: "r", start: time.Now(), log: cfg.Log}
	s.addTrack(kind, "", "")
	tr := s.tracks[0]
	tr.tap = &nopTap{}
	s.lead, tr.lead = tr, true
	return tr
}

// TestTimelineBeyondADay: the conversions hold past 28 hours, where
// units × 1e9 would overflow.
func TestTimelineBeyondADay(t *testing.T) {
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		tr := testTrack(t, kind)
		for _, d := range []time.Duration{0, time.Second + 7*time.Millisecond, 29 * time.Hour, 100*time.Hour + 333*time.Millisecond} {
			units := tr.fromDuration(d)
			if diff := d - tr.toDuration(units); diff < 0 || diff > time.Millisecond {
				t.Errorf("%v round-trips to %v", d, tr.toDuration(units))
			}
		}
		if at := tr.mediaTime(tr.sess.start.Add(30 * time.Hour)); at <= 0 {
			t.Errorf("30 h into the session: media time %d", at)
		}
	}
}

// TestGapStartsSegment: after a pause longer than maxSampleGap the new
// segment starts with the first sample after it (not the last before),
// and the sample before keeps its own length.
func TestGapStartsSegment(t *testing.T) {
	tr := testTrack(t, webrtc.RTPCodecTypeVideo)
	frame := int64(3000) // 30 fps at 90 kHz
	pts := int64(900000)
	for i := range 45 {
		tr.addSample(&sample{pts: pts, key: i%30 == 0, payload: []byte{1}})
		pts += frame
	}
	pts += 5 * 90000 // the encoder was away 5 s
	tr.addSample(&sample{pts: pts, key: true, payload: []byte{2}})
	for i := 1; i < 40; i++ {
		tr.addSample(&sample{pts: pts + int64(i)*frame, key: i%30 == 0, payload: []byte{3}})
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for i, s := range tr.segs {
		if !s.independent {
			t.Errorf("segment %d does not start on a keyframe", i)
		}
		if s.dur > 2*time.Second {
			t.Errorf("segment %d lasts %v: it holds the gap", i, s.dur)
		}
	}
	var after *segment
	for _, s := range append(append([]*segment(nil), tr.segs...), tr.cur) {
		if s != nil && s.start == tr.toDuration(pts) {
			after = s
		}
	}
	if after == nil {
		var starts []string
		for _, s := range tr.segs {
			starts = append(starts, s.start.String())
		}
		t.Fatalf("no segment starts at the sample after the gap (%v); starts %s", tr.toDuration(pts), strings.Join(starts, " "))
	}
}

// TestCodecNotPackagedKeepsSequence: a long run of VP8 (a backup encoder)
// then Opus again: the Opus packets are not taken for late ones.
func TestCodecNotPackagedKeepsSequence(t *testing.T) {
	tr := testTrack(t, webrtc.RTPCodecTypeAudio)
	opus := []byte{0xfc, 1, 2, 3} // a 20 ms CELT frame
	seq, ts := uint16(0), uint32(0)
	at := time.Now()
	feed := func(n int, pt uint8) {
		for range n {
			tr.handle(rtpIn{seq: seq, ts: ts, pt: pt, payload: opus, at: at})
			seq++
			ts += 960
			at = at.Add(20 * time.Millisecond)
		}
	}
	feed(10, 111)
	feed(40000, 96) // VP8's payload type: not packaged
	feed(200, 111)  // 4 s of Opus: segments of 1 s
	tr.mu.Lock()
	n := len(tr.segs)
	tr.mu.Unlock()
	if n < 3 {
		t.Errorf("after the VP8 run, 4 s of Opus made %d segments: its packets were dropped as late", n)
	}
}

// TestSubtitlesDoNotRepeat: with more finals than a correction is followed
// for, old finals are not written again; a recent one's correction is.
func TestSubtitlesDoNotRepeat(t *testing.T) {
	caps := newFakeCaptions("en")
	tr := testTrack(t, webrtc.RTPCodecTypeAudio)
	tr.sess.cfg.Captions = caps
	st := newSubTrack(tr.sess, "en")
	for i := range 600 {
		caps.push("en", fmt.Sprintf("line %d", i), tr.sess.start)
	}
	seg := func(msn uint64) string {
		st.segment(&segment{msn: msn, start: mediaBase + time.Duration(msn)*time.Second, dur: time.Second, pdt: tr.sess.start})
		st.mu.Lock()
		defer st.mu.Unlock()
		return string(st.segs[len(st.segs)-1].data)
	}
	if got := strings.Count(seg(0), " --> "); got != 600 {
		t.Fatalf("first segment: %d cues, want 600", got)
	}
	for msn := uint64(1); msn < 4; msn++ {
		if got := strings.Count(seg(msn), " --> "); got != 0 {
			t.Fatalf("segment %d repeats %d old cues", msn, got)
		}
	}
	caps.correct("en", 600, "line 599, corrected")
	caps.correct("en", 3, "line 2, corrected") // older than maxCorrectable
	out := seg(4)
	if !strings.Contains(out, "600-corrected") || strings.Contains(out, "line 2, corrected") || strings.Count(out, " --> ") != 1 {
		t.Errorf("segment after corrections:\n%s", out)
	}
}
