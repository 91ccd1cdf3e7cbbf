package captions

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astisub"
)

func readBack(t *testing.T, format string, data []byte) *astisub.Subtitles {
	t.Helper()
	var subs *astisub.Subtitles
	var err error
	switch format {
	case "srt":
		subs, err = astisub.ReadFromSRT(bytes.NewReader(data))
	case "vtt":
		subs, err = astisub.ReadFromWebVTT(bytes.NewReader(data))
	case "ttml":
		subs, err = astisub.ReadFromTTML(bytes.NewReader(data))
	case "ssa":
		subs, err = astisub.ReadFromSSA(bytes.NewReader(data))
	}
	if err != nil {
		t.Fatalf("re-read %s: %v\n%s", format, err, data)
	}
	return subs
}

func itemText(it *astisub.Item) string {
	var lines []string
	for _, l := range it.Lines {
		lines = append(lines, strings.TrimSpace(l.String()))
	}
	return strings.Join(lines, "\n")
}

// TestExportRoundTrip exports tricky cues in every format, re-reads them
// with astisub and compares cue by cue: text, order, times.
func TestExportRoundTrip(t *testing.T) {
	base := time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	cues := []Cue{
		{Seq: 1, Text: "Welcome --> to the session", Start: base.Add(2 * time.Second)},
		{Seq: 2, Text: "First line\n\n\nafter a blank line", Start: base.Add(5 * time.Second)},
		// Out of order: captioning software sent an earlier timestamp later.
		{Seq: 3, Text: "Earlier cue", Start: base.Add(1 * time.Second)},
		{Seq: 4, Text: "Long pause after this one", Start: base.Add(6 * time.Second)},
		{Seq: 5, Text: "مرحبا بكم", Start: base.Add(60 * time.Second)},
		{Seq: 6, Text: "12\n00:00:01,000 --> 00:00:02,000", Start: base.Add(61 * time.Second)},
	}
	want := []struct {
		text     string
		from, to time.Duration
	}{
		{"Earlier cue", 1 * time.Second, 2 * time.Second},
		{"Welcome → to the session", 2 * time.Second, 2*time.Second + readingTime("Welcome --> to the session")},
		{"First line\nafter a blank line", 5 * time.Second, 6 * time.Second},
		{"Long pause after this one", 6 * time.Second, 6*time.Second + readingTime("Long pause after this one")},
		{"مرحبا بكم", 60 * time.Second, 61 * time.Second},
		{"12\n00:00:01,000 → 00:00:02,000", 61 * time.Second, 61*time.Second + readingTime("12\n00:00:01,000 --> 00:00:02,000")},
	}
	for _, format := range []string{"srt", "vtt", "ttml", "ssa"} {
		t.Run(format, func(t *testing.T) {
			data, err := writeTranscript(cues, base, "ar", format)
			if err != nil {
				t.Fatal(err)
			}
			subs := readBack(t, format, data)
			if len(subs.Items) != len(want) {
				t.Fatalf("%d items, want %d:\n%s", len(subs.Items), len(want), data)
			}
			for i, w := range want {
				it := subs.Items[i]
				got := itemText(it)
				if format == "ssa" {
					got = strings.ReplaceAll(got, `\N`, "\n")
				}
				if got != w.text {
					t.Errorf("item %d text %q, want %q", i, got, w.text)
				}
				tol := 10 * time.Millisecond
				if format == "ssa" {
					tol = 10 * time.Millisecond // centiseconds
				}
				if d := it.StartAt - w.from; d > tol || d < -tol {
					t.Errorf("item %d start %v, want %v", i, it.StartAt, w.from)
				}
				if d := it.EndAt - w.to; d > tol || d < -tol {
					t.Errorf("item %d end %v, want %v", i, it.EndAt, w.to)
				}
			}
		})
	}
}

func TestExportEmptyLanguage(t *testing.T) {
	for _, format := range []string{"srt", "vtt", "ttml", "ssa"} {
		t.Run(format, func(t *testing.T) {
			data, err := writeTranscript(nil, time.Time{}, "fr", format)
			if err != nil {
				t.Fatal(err)
			}
			if subs := readBack(t, format, data); len(subs.Items) != 0 {
				t.Fatalf("%d items", len(subs.Items))
			}
		})
	}
}

func TestExportHTTP(t *testing.T) {
	e := newEnv(t, "", nil)
	cp := e.captioner("r1", "fr")
	cp.final("Bonjour --> tout le monde", "")
	cp.final("Et <b>bienvenue</b> & merci", "")
	for format, ctype := range map[string]string{"srt": "application/x-subrip", "vtt": "text/vtt", "ttml": "application/ttml+xml"} {
		t.Run(format, func(t *testing.T) {
			resp, body := e.do(t, http.MethodGet, "/captions/r1/transcript."+format+"?lang=fr", "", "")
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ctype) {
				t.Fatalf("%d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="r1-fr.`+format+`"` {
				t.Fatalf("Content-Disposition %q", cd)
			}
			subs := readBack(t, format, []byte(body))
			if len(subs.Items) != 2 || itemText(subs.Items[0]) != "Bonjour → tout le monde" {
				t.Fatalf("%+v\n%s", subs.Items, body)
			}
			if format != "srt" { // SRT reads <b> as markup
				if got := itemText(subs.Items[1]); got != "Et <b>bienvenue</b> & merci" {
					t.Errorf("second item %q\n%s", got, body)
				}
			}
		})
	}
	// A language without cues is an empty but valid file.
	if body := e.get(t, "/captions/r1/transcript.vtt?lang=de", 200); !strings.HasPrefix(body, "WEBVTT") {
		t.Fatalf("empty vtt %q", body)
	}
	// With a single language, lang may be left out.
	e.get(t, "/captions/r1/transcript.srt", 200)
	e.get(t, "/captions/r1/transcript.doc?lang=fr", 404)
	e.get(t, "/captions/r1/notes.srt?lang=fr", 404)
	e.get(t, "/captions/r1/transcript.srt?lang=zz-invalid-", 400)
	e.get(t, "/captions/nope/transcript.srt", 400) // no room, no lang
}
