package hls

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
)

// waitRecording polls GET /recordings/ until the room's newest recording
// satisfies ok.
func (h *harness) waitRecording(ok func(Recording) bool) Recording {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		_, _, b := h.get("/recordings/")
		var list struct{ Recordings []Recording }
		if err := json.Unmarshal(b, &list); err != nil {
			h.t.Fatalf("GET /recordings/: %v\n%s", err, b)
		}
		if len(list.Recordings) > 0 && ok(list.Recordings[0]) {
			return list.Recordings[0]
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no such recording in %s", b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestRecordingVOD records a session, ends it, and plays the recording
// back from start to end: every audio channel and subtitle language, the
// subtitles with their corrections, and one MP4 per language.
func TestRecordingVOD(t *testing.T) {
	h := startHarness(t, harnessOpts{booths: []string{"fr"}})
	_, body := h.multivariant("demo")
	uris := renditionURIs("demo", body)
	h.waitSegments(uris["v"], 2)
	seq := h.caps.push("fr", "Premier jet", time.Now())
	h.caps.push("en", "An English line", time.Now())
	h.findCue(uris["s-fr"], "Premier jet")
	h.caps.correct("fr", seq, "Version corrigée")
	h.findCue(uris["s-fr"], "Version corrigée")
	h.waitSegments(uris["v"], 4)
	h.stopPublishing()
	rec := h.waitRecording(func(r Recording) bool { return r.Complete })

	if rec.Room != "demo" || rec.Duration < 3 || strings.Join(rec.Languages, ",") != "fr" || strings.Join(rec.Subtitles, ",") != "en,fr" ||
		rec.Downloads["floor"] == "" || rec.Downloads["fr"] == "" || rec.Recording {
		t.Fatalf("recording %+v", rec)
	}
	code, _, b := h.get(rec.Playlist)
	if code != http.StatusOK {
		t.Fatalf("%s: %d %s", rec.Playlist, code, b)
	}
	pl, err := playlist.Unmarshal(b)
	if err != nil {
		t.Fatalf("VOD multivariant does not parse: %v\n%s", err, b)
	}
	mv := pl.(*playlist.Multivariant)
	// The floor and the French booth: Arabic is declared, but its booth
	// never went live, so its rendition carried the floor only.
	if len(mv.Variants) != 1 || len(mv.Renditions) != 4 {
		t.Fatalf("VOD multivariant: %d variants, %d renditions\n%s", len(mv.Variants), len(mv.Renditions), b)
	}
	base := strings.TrimSuffix(rec.Playlist, "index.m3u8")
	for _, uri := range append([]string{mv.Variants[0].URI}, renditionURIsOf(mv)...) {
		m, body := h.media(base + uri)
		if m.PlaylistType == nil || *m.PlaylistType != playlist.MediaPlaylistTypeVOD || !m.Endlist {
			t.Errorf("%s is not a finished VOD playlist:\n%s", uri, body)
		}
		var total time.Duration
		for _, s := range m.Segments {
			total += s.Duration
			code, _, data := h.get(base + filepath.Dir(uri) + "/" + s.URI)
			if code != http.StatusOK {
				t.Fatalf("%s %s: %d", uri, s.URI, code)
			}
			if strings.HasSuffix(s.URI, ".mp4") {
				var parts fmp4.Parts
				if err := parts.Unmarshal(data); err != nil {
					t.Errorf("%s %s: %v", uri, s.URI, err)
				}
			}
		}
		if d := total.Seconds() - rec.Duration; d > 1.1 || d < -1.1 {
			t.Errorf("%s lasts %.1f s, the recording %.1f s", uri, total.Seconds(), rec.Duration)
		}
	}
	// The French subtitles hold the corrected line, not the first draft.
	m, _ := h.media(base + "s-fr/index.m3u8")
	var all strings.Builder
	for _, s := range m.Segments {
		_, _, data := h.get(base + "s-fr/" + s.URI)
		all.Write(data)
	}
	if !strings.Contains(all.String(), "Version corrigée") || strings.Contains(all.String(), "Premier jet") {
		t.Errorf("recorded French subtitles:\n%s", all.String())
	}

	// One MP4 per language: video and that channel's audio.
	code, hdr, data := h.get(rec.Downloads["fr"])
	if code != http.StatusOK || !strings.Contains(hdr.Get("Content-Disposition"), "attachment") {
		t.Fatalf("download: %d %v", code, hdr)
	}
	// Read back by ffmpeg's reader (mediacommon's progressive reader only
	// takes the layouts it writes itself).
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Log("ffprobe not installed (Debian: ffmpeg): the MP4 download was not read back")
	} else {
		path := filepath.Join(t.TempDir(), "fr.mp4")
		_ = os.WriteFile(path, data, 0o644)
		out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name,duration", "-of", "csv=p=0", path).CombinedOutput()
		if err != nil {
			t.Fatalf("ffprobe of the download: %v %s", err, out)
		}
		streams := strings.Fields(string(out))
		if len(streams) != 2 || !strings.HasPrefix(streams[0], "h264,") || !strings.HasPrefix(streams[1], "opus,") {
			t.Errorf("the download holds %q, want h264 and opus", streams)
		}
		for _, st := range streams {
			var secs float64
			fmt.Sscanf(st[strings.Index(st, ",")+1:], "%f", &secs)
			if secs < rec.Duration-1.1 || secs > rec.Duration+1.1 {
				t.Errorf("MP4 stream %s lasts %.1f s, the recording %.1f s", st, secs, rec.Duration)
			}
		}
	}
	for _, lang := range []string{"de", "ar"} {
		if code, _, _ := h.get(strings.Replace(rec.Downloads["fr"], "fr.mp4", lang+".mp4", 1)); code != http.StatusNotFound {
			t.Errorf("%s, a language not recorded or never live: %d, want 404", lang, code)
		}
	}
}

func renditionURIsOf(mv *playlist.Multivariant) []string {
	var out []string
	for _, r := range mv.Renditions {
		if r.URI != nil {
			out = append(out, *r.URI)
		}
	}
	return out
}

// TestRecordingStopsWhenDiskIsFull: under the free-space floor recording
// stops, says why, and the live stream goes on.
func TestRecordingStopsWhenDiskIsFull(t *testing.T) {
	h := startHarness(t, harnessOpts{config: func(c *Config) { c.MinFree = 1 << 62 }})
	_, body := h.multivariant("demo")
	uris := renditionURIs("demo", body)
	h.waitSegments(uris["v"], 3)
	var st RoomStats
	for _, s := range h.hls.Stats() {
		if s.Room == "demo" {
			st = s
		}
	}
	if !st.Live || st.Recording || st.RecordingStops != 1 || !strings.Contains(st.RecordingStopped, "nearly full") {
		t.Errorf("stats %+v", st)
	}
	rec := h.waitRecording(func(Recording) bool { return true })
	if !strings.Contains(rec.Stopped, "nearly full") || rec.Recording {
		t.Errorf("the recording does not say why it stopped: %+v", rec)
	}
}

// TestRetention deletes recordings older than KeepDays, then the oldest
// beyond KeepBytes.
func TestRetention(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	mk := func(id string, age time.Duration, size int) {
		d := filepath.Join(dir, "hall", id)
		if err := os.MkdirAll(filepath.Join(d, "v"), 0o755); err != nil {
			t.Fatal(err)
		}
		meta, _ := json.Marshal(sessionMeta{Room: "hall", ID: id, Start: now.Add(-age), End: now.Add(-age + time.Hour), Lead: "v", Renditions: []string{"v", "a"}})
		_ = os.WriteFile(filepath.Join(d, "session.json"), meta, 0o644)
		_ = os.WriteFile(filepath.Join(d, "v", "seg0.mp4"), make([]byte, size), 0o644)
	}
	mk("old", 40*24*time.Hour, 1000)
	mk("a", 3*24*time.Hour, 5000)
	mk("b", 2*24*time.Hour, 5000)
	mk("c", time.Hour, 5000)
	s := New(Config{Media: nil, Dir: dir, KeepDays: 30, KeepBytes: 11000})
	s.retainOnce(now)
	var left []string
	for _, r := range s.recordings() {
		left = append(left, r.ID)
	}
	if strings.Join(left, ",") != "c,b" {
		t.Errorf("left %v, want c,b (old is past 30 days, a the oldest beyond 11000 bytes)", left)
	}
}
