package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/relay-av/relay/internal/testkit"
)

const crashDataEnv = "RELAY_TEST_CRASH_DATA"

// TestRecordingCrashHelper is the relay TestRecordingSurvivesSIGKILL
// kills: the demo room, recorded, on the data directory it is given.
func TestRecordingCrashHelper(t *testing.T) {
	dir := os.Getenv(crashDataEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	demo := os.Getenv(crashDataEnv+"_DEMO") != ""
	serveChild(serveConfig{Addr: "127.0.0.1:0", DataDir: dir, Demo: demo, Record: true, Shutdown: 2 * time.Second})
}

type recordingJSON struct {
	Room, ID, Playlist string
	Duration           float64
	Complete           bool
	Subtitles          []string
}

func crashRecordings(t *testing.T, base string) []recordingJSON {
	t.Helper()
	code, body := testkit.HTTPGet(t, base+"/recordings/")
	var list struct{ Recordings []recordingJSON }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil {
		t.Fatalf("GET /recordings/: %d %s", code, body)
	}
	return list.Recordings
}

// TestRecordingSurvivesSIGKILL kills a recording relay with SIGKILL
// mid-session: started again on the same data, it lists the recording as
// incomplete and plays it up to its last complete segment, every
// rendition and subtitle language.
func TestRecordingSurvivesSIGKILL(t *testing.T) {
	dir := t.TempDir()
	c := testkit.StartChild(t, "TestRecordingCrashHelper", crashDataEnv+"="+dir, crashDataEnv+"_DEMO=1")
	base := "http://" + c.Addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		if recs := crashRecordings(t, base); len(recs) == 1 && recs[0].Duration >= 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording of 5 s: %+v", crashRecordings(t, base))
		}
		time.Sleep(250 * time.Millisecond)
	}
	c.Kill() // SIGKILL: no shutdown, no finished playlist

	c = testkit.StartChild(t, "TestRecordingCrashHelper", crashDataEnv+"="+dir)
	base = "http://" + c.Addr
	recs := crashRecordings(t, base)
	if len(recs) != 1 || recs[0].Complete || recs[0].Duration < 5 {
		t.Fatalf("after the crash: %+v", recs)
	}
	rec := recs[0]
	code, body := testkit.HTTPGet(t, base+rec.Playlist)
	pl, err := playlist.Unmarshal([]byte(body))
	if code != http.StatusOK || err != nil {
		t.Fatalf("%s: %d %v\n%s", rec.Playlist, code, err, body)
	}
	mv := pl.(*playlist.Multivariant)
	uris := []string{mv.Variants[0].URI}
	for _, r := range mv.Renditions {
		uris = append(uris, *r.URI)
	}
	// The floor and the demo's two booths; English is declared but has
	// no booth, so its rendition (the floor again) is not offered.
	if got := strings.Join(uris, " "); len(uris) != 1+3+len(rec.Subtitles) || !strings.Contains(got, "a-fr/") || !strings.Contains(got, "a-ar/") || strings.Contains(got, "a-en/") {
		t.Errorf("renditions %v", uris)
	}
	prefix := strings.TrimSuffix(base+rec.Playlist, "index.m3u8")
	for _, uri := range uris {
		code, body := testkit.HTTPGet(t, prefix+uri)
		pl, err := playlist.Unmarshal([]byte(body))
		if code != http.StatusOK || err != nil {
			t.Fatalf("%s: %d %v\n%s", uri, code, err, body)
		}
		m := pl.(*playlist.Media)
		if !m.Endlist || len(m.Segments) == 0 {
			t.Errorf("%s does not end, or is empty:\n%s", uri, body)
		}
		var total time.Duration
		for _, s := range m.Segments {
			total += s.Duration
			segURL := prefix + filepath.Dir(uri) + "/" + s.URI
			code, data := testkit.HTTPGet(t, segURL)
			if code != http.StatusOK {
				t.Fatalf("%s: %d", segURL, code)
			}
			if strings.HasSuffix(s.URI, ".mp4") {
				var parts fmp4.Parts
				if err := parts.Unmarshal([]byte(data)); err != nil {
					t.Errorf("%s is not a whole segment: %v", segURL, err)
				}
			} else if !strings.HasPrefix(data, "WEBVTT") {
				t.Errorf("%s: %.40q", segURL, data)
			}
		}
		t.Logf("%s plays %.1f s after the crash", uri, total.Seconds())
	}
	_ = c.Stdin.Close()
	_ = c.Cmd.Wait()
}
