package hls

import (
	"fmt"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
)

// checkMedia checks a live media playlist against RFC 8216bis: what
// gohlslib's parser does not enforce. others is how many other media
// renditions the session has (each gets a rendition report).
func checkMedia(t *testing.T, name string, m *playlist.Media, body string, parts bool, others int) {
	t.Helper()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Errorf("%s: %s\n%s", name, fmt.Sprintf(format, args...), body)
	}
	if m.ServerControl == nil || !m.ServerControl.CanBlockReload {
		fail("no CAN-BLOCK-RELOAD=YES")
	}
	target := time.Duration(m.TargetDuration) * time.Second
	if m.ServerControl != nil && (m.ServerControl.CanSkipUntil == nil || *m.ServerControl.CanSkipUntil < 6*target) {
		fail("CAN-SKIP-UNTIL must be at least six target durations (§4.4.3.8)")
	}
	for i, s := range m.Segments {
		if int(math.Round(s.Duration.Seconds())) > m.TargetDuration {
			fail("segment %d lasts %v, over EXT-X-TARGETDURATION (§4.4.3.1)", i, s.Duration)
		}
		if s.DateTime == nil {
			fail("segment %d has no EXT-X-PROGRAM-DATE-TIME", i)
		} else if i > 0 && m.Segments[i-1].DateTime != nil {
			gap := s.DateTime.Sub(*m.Segments[i-1].DateTime) - m.Segments[i-1].Duration
			if gap < -20*time.Millisecond || gap > 20*time.Millisecond {
				fail("segment %d's date is %v off its predecessor's end", i, gap)
			}
		}
	}
	if !parts {
		if m.PartInf != nil || len(m.Parts) > 0 || m.PreloadHint != nil {
			fail("parts in a playlist that has none")
		}
		return
	}
	if m.PartInf == nil {
		fail("no EXT-X-PART-INF")
		return
	}
	pt := m.PartInf.PartTarget
	if m.ServerControl.PartHoldBack == nil || *m.ServerControl.PartHoldBack < 2*pt {
		fail("PART-HOLD-BACK must be at least twice PART-TARGET (§4.4.3.8)")
	}
	if m.PreloadHint == nil || !strings.HasPrefix(m.PreloadHint.URI, "part") {
		fail("no EXT-X-PRELOAD-HINT for the next part")
	}
	withParts := 0
	all := append([]*playlist.MediaSegment(nil), m.Segments...)
	all = append(all, &playlist.MediaSegment{Parts: m.Parts}) // the segment in progress
	for i, s := range all {
		if len(s.Parts) == 0 {
			if withParts > 0 && i < len(all)-1 {
				fail("segment %d has no parts after one that had (parts are listed for the newest segments)", i)
			}
			continue
		}
		withParts++
		var sum time.Duration
		for j, p := range s.Parts {
			if p.Duration > pt+time.Millisecond {
				fail("part %d of segment %d lasts %v, over PART-TARGET %v (§4.4.4.9)", j, i, p.Duration, pt)
			}
			sum += p.Duration
		}
		if i < len(all)-1 && (sum-s.Duration > time.Duration(len(s.Parts))*time.Millisecond || s.Duration-sum > time.Duration(len(s.Parts))*time.Millisecond) {
			fail("segment %d lasts %v but its parts %v", i, s.Duration, sum)
		}
		if strings.HasPrefix(name, "v") && i < len(all)-1 && !s.Parts[0].Independent {
			fail("video segment %d does not start with an independent part", i)
		}
	}
	if len(m.RenditionReport) != others {
		fail("%d rendition reports, want %d (one per other rendition)", len(m.RenditionReport), others)
	}
}

func TestLivePlaylists(t *testing.T) {
	h := startHarness(t, harnessOpts{booths: []string{"fr"}})
	mv, body := h.multivariant("demo")

	// Renditions: the floor (default), each declared channel named in
	// its own language, each caption language.
	want := map[string]string{"audio/Floor/": "YES", "audio/Français/fr": "NO", "audio/العربية/ar": "NO",
		"subs/English/en": "NO", "subs/Français/fr": "NO"}
	for _, r := range mv.Renditions {
		key := fmt.Sprintf("%s/%s/%s", r.GroupID, r.Name, r.Language)
		def := "NO"
		if r.Default {
			def = "YES"
		}
		if want[key] != def {
			t.Errorf("unexpected rendition %s DEFAULT=%s", key, def)
		}
		delete(want, key)
	}
	if len(want) > 0 {
		t.Errorf("missing renditions %v in\n%s", want, body)
	}
	if len(mv.Variants) != 1 {
		t.Fatalf("%d variants, want one (no simulcast)\n%s", len(mv.Variants), body)
	}
	v := mv.Variants[0]
	if v.Resolution != "640x360" || len(v.Codecs) != 2 || !strings.HasPrefix(v.Codecs[0], "avc1.") || v.Codecs[1] != "opus" ||
		v.Audio != "audio" || v.Subtitles != "subs" || v.Bandwidth < 300_000 || v.Bandwidth > 3_000_000 {
		t.Errorf("variant %+v", v)
	}

	uris := renditionURIs("demo", body)
	media := 0
	for name := range uris {
		if !strings.HasPrefix(name, "s-") {
			media++
		}
	}
	seqs := map[string]*playlist.Media{}
	for name, uri := range uris {
		m, mbody := h.waitSegments(uri, 3)
		checkMedia(t, name, m, mbody, !strings.HasPrefix(name, "s-"), map[bool]int{true: 0, false: media - 1}[strings.HasPrefix(name, "s-")])
		seqs[name] = m
	}
	// Every rendition numbers its segments like the lead: segment n
	// covers the same span everywhere.
	lead := seqs["v"]
	for name, m := range seqs {
		for i, s := range m.Segments {
			n := m.MediaSequence + i
			j := n - lead.MediaSequence
			if j < 0 || j >= len(lead.Segments) {
				continue
			}
			if d := s.DateTime.Sub(*lead.Segments[j].DateTime); d < -50*time.Millisecond || d > 50*time.Millisecond {
				t.Errorf("%s segment %d starts %v from the video's", name, n, d)
			}
		}
	}
}

// TestBlockingReload asks for the part the preload hint names, again and
// again: the answer must hold that part and not wait for a later one
// (RFC 8216bis §6.2.5.2: answered as soon as it exists).
func TestBlockingReload(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	_, body := h.multivariant("demo")
	uri := renditionURIs("demo", body)["v"]
	m, _ := h.waitSegments(uri, 1)
	late, waits := 0, []time.Duration{}
	for range 20 {
		msn, part := nextPart(m)
		began := time.Now()
		var mbody string
		m, mbody = h.media(fmt.Sprintf("%s?_HLS_msn=%d&_HLS_part=%d", uri, msn, part))
		waits = append(waits, time.Since(began))
		gotMSN, gotPart := lastPart(m)
		switch {
		case gotMSN == msn && gotPart == part, gotMSN == msn+1 && gotPart == 0 && part > 0:
			// the part itself, or the next segment's first when the
			// hinted part never came (the segment ended before it)
		case gotMSN == msn && gotPart == part+1, gotMSN == msn+1 && gotPart <= 1:
			late++ // one part later: the machine was slow to answer
		default:
			t.Fatalf("asked for part %d.%d, got a playlist ending at %d.%d:\n%s", msn, part, gotMSN, gotPart, mbody)
		}
	}
	t.Logf("blocking reload waits: %v", waits)
	if late > 4 {
		t.Errorf("%d of 20 blocking reloads came a part late", late)
	}
	// Bad requests; a segment more than two past the one in progress is
	// one the server will not hold for (§6.2.5.2).
	msn, _ := nextPart(m)
	for _, q := range []string{"_HLS_msn=x", "_HLS_part=1", "_HLS_msn=1&_HLS_part=-1", "_HLS_msn=99999", fmt.Sprintf("_HLS_msn=%d", msn+3)} {
		if code, _, b := h.get(uri + "?" + q); code != http.StatusBadRequest {
			t.Errorf("?%s: %d %s, want 400", q, code, b)
		}
	}
}

// nextPart is the part the preload hint names.
func nextPart(m *playlist.Media) (msn, part int) {
	fmt.Sscanf(m.PreloadHint.URI, "part%d.%d.mp4", &msn, &part)
	return msn, part
}

// lastPart is the newest part the playlist lists.
func lastPart(m *playlist.Media) (msn, part int) {
	if n := len(m.Parts); n > 0 {
		fmt.Sscanf(m.Parts[n-1].URI, "part%d.%d.mp4", &msn, &part)
		return msn, part
	}
	s := m.Segments[len(m.Segments)-1]
	fmt.Sscanf(s.Parts[len(s.Parts)-1].URI, "part%d.%d.mp4", &msn, &part)
	return msn, part
}

// TestDeltaUpdate asks for a delta playlist (_HLS_skip=YES) once the
// window is longer than CAN-SKIP-UNTIL.
func TestDeltaUpdate(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	_, body := h.multivariant("demo")
	uri := renditionURIs("demo", body)["a"]
	full, _ := h.waitSegments(uri, 15) // 15 s > CAN-SKIP-UNTIL (12 s with 1 s segments)
	code, _, b := h.get(uri + "?_HLS_skip=YES")
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, b)
	}
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		t.Fatalf("delta playlist does not parse: %v\n%s", err, b)
	}
	delta := pl.(*playlist.Media)
	if delta.Skip == nil || delta.Skip.SkippedSegments == 0 {
		t.Fatalf("no EXT-X-SKIP in\n%s", b)
	}
	if delta.MediaSequence != full.MediaSequence {
		t.Errorf("media sequence %d, full playlist %d", delta.MediaSequence, full.MediaSequence)
	}
	var kept time.Duration
	for _, s := range delta.Segments {
		kept += s.Duration
	}
	if kept > 13*time.Second || kept < 11*time.Second {
		t.Errorf("the delta playlist keeps %v, want about CAN-SKIP-UNTIL (12 s)", kept)
	}
	if len(b) >= len(h.get2(uri)) {
		t.Errorf("the delta playlist is no shorter than the full one")
	}
}

func (h *harness) get2(path string) []byte {
	_, _, b := h.get(path)
	return b
}
