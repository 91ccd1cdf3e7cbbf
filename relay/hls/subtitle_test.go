package hls

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

var cueTiming = regexp.MustCompile(`(\d+):(\d\d):(\d\d)\.(\d\d\d) --> `)

// vttStart is the start of the cue whose text holds text, in VTT time.
func vttStart(vtt, text string) (time.Duration, bool) {
	for _, block := range strings.Split(vtt, "\n\n") {
		if !strings.Contains(block, text) {
			continue
		}
		m := cueTiming.FindStringSubmatch(block)
		if m == nil {
			return 0, false
		}
		var h, mi, s, ms int
		fmt.Sscan(m[1], &h)
		fmt.Sscan(m[2], &mi)
		fmt.Sscan(m[3], &s)
		fmt.Sscan(m[4], &ms)
		return time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute + time.Duration(s)*time.Second + time.Duration(ms)*time.Millisecond, true
	}
	return 0, false
}

// findCue polls a subtitle playlist until a segment holds text; it
// returns the segment and its body.
func (h *harness) findCue(uri, text string) (*playlist.MediaSegment, string) {
	h.t.Helper()
	base := strings.TrimSuffix(uri, "index.m3u8")
	seen := map[string]bool{}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		m, _ := h.media(uri)
		for _, s := range m.Segments {
			if seen[s.URI] {
				continue
			}
			seen[s.URI] = true
			_, _, b := h.get(base + s.URI)
			if strings.Contains(string(b), text) {
				return s, string(b)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	h.t.Fatalf("no subtitle segment of %s holds %q", uri, text)
	return nil, ""
}

// TestSubtitlesLive pushes finals while the room is live: each appears
// in the subtitle playlist within two segment durations, at the media
// time of the video that played when it was pushed (±0.5 s), escaped;
// a correction is re-issued in a later segment.
func TestSubtitlesLive(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	_, body := h.multivariant("demo")
	uris := renditionURIs("demo", body)
	h.waitSegments(uris["s-fr"], 2)

	pushed := time.Now()
	seq := h.caps.push("fr", "Bonjour à tous", pushed)
	seg, vtt := h.findCue(uris["s-fr"], "Bonjour à tous")
	if !strings.Contains(vtt, "X-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000") {
		t.Errorf("no X-TIMESTAMP-MAP in\n%s", vtt)
	}
	// Within two segment durations of the push, on the media timeline.
	if late := seg.DateTime.Add(seg.Duration).Sub(pushed); late > 2*time.Second+100*time.Millisecond {
		t.Errorf("the cue came in a segment ending %v after it was pushed, more than two segments", late)
	}
	cueAt, ok := vttStart(vtt, "Bonjour à tous")
	if !ok {
		t.Fatalf("no timing line for the cue in\n%s", vtt)
	}
	// The media time of the push, from the video: the segment that holds
	// it, its first sample's timestamp, and its date.
	vm, _ := h.waitSegments(uris["v"], 1)
	var videoAt time.Duration
	found := false
	for _, s := range vm.Segments {
		if !s.DateTime.After(pushed) && s.DateTime.Add(s.Duration).After(pushed) {
			_, _, data := h.get(strings.TrimSuffix(uris["v"], "index.m3u8") + s.URI)
			var parts fmp4.Parts
			if err := parts.Unmarshal(data); err != nil {
				t.Fatal(err)
			}
			videoAt = time.Duration(parts[0].Tracks[0].BaseTime)*time.Second/90000 + pushed.Sub(*s.DateTime)
			found = true
		}
	}
	if !found {
		t.Fatalf("no video segment holds the moment of the push")
	}
	if d := cueAt + mediaBase - videoAt; d > 500*time.Millisecond || d < -500*time.Millisecond {
		t.Errorf("the cue is at %v on the media timeline, the video played %v then: %v apart", cueAt+mediaBase, videoAt, d)
	} else {
		t.Logf("cue vs video at the push: %v apart", d)
	}

	// Hostile text: markup, a timing arrow, blank lines.
	h.caps.push("fr", "a --> b <i>x</i> & y\n\n\nz", time.Now())
	_, vtt = h.findCue(uris["s-fr"], "a → b")
	if !strings.Contains(vtt, "a → b &lt;i&gt;x&lt;/i&gt; &amp; y\nz\n") {
		t.Errorf("cue text not sanitised:\n%s", vtt)
	}

	// A correction comes again, with its new text.
	h.caps.correct("fr", seq, "Bonsoir à tous")
	_, vtt = h.findCue(uris["s-fr"], "Bonsoir à tous")
	if !strings.Contains(vtt, fmt.Sprintf("%d-corrected\n", seq)) {
		t.Errorf("the correction is not marked as one:\n%s", vtt)
	}
}

// TestWriteVTT checks the WebVTT writer on its own: times past 99 hours,
// cues that overlap, nothing left that could end a cue early.
func TestWriteVTT(t *testing.T) {
	cues := []vttCue{
		{id: "2", from: mediaBase + 3*time.Second, to: mediaBase + 9*time.Second, text: "second"},
		{id: "1", from: mediaBase + time.Second, to: mediaBase + 6*time.Second, text: "first\n\nline"},
		{id: "3", from: mediaBase + 100*time.Hour, to: mediaBase + 100*time.Hour + time.Second, text: "  \n "},
	}
	spreadCues(cues)
	got := string(writeVTT(cues))
	want := "WEBVTT\n" + timestampMap + "\n\n1\n00:00:01.000 --> 00:00:03.000\nfirst\nline\n\n2\n00:00:03.000 --> 00:00:09.000\nsecond\n"
	if got != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	if !bytes.HasPrefix([]byte(vttTime(100*time.Hour)), []byte("100:00:00.000")) {
		t.Errorf("vttTime(100h) = %s", vttTime(100*time.Hour))
	}
}
