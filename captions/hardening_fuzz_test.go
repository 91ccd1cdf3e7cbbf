package captions

// Fuzz targets of the parsers and writers the "Hardening" issue changed:
// the Zoom running text (its cue cap), the seq query, and the transcript
// writers (caption text stays text in every format).

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

func FuzzZoomPostCap(f *testing.F) {
	f.Add("", strings.Repeat("abcde\n", 10_000))
	f.Add("", strings.Repeat("x\n", maxPostCues))
	f.Add("", strings.Repeat("x. ", maxPostCues+1))
	f.Add("Half a", " sentence. And 你好。再见")
	f.Fuzz(func(t *testing.T, running, post string) {
		if r, err := cleanText(running); err != nil || r != running {
			return // running text is always clean
		}
		finals, _, err := splitRunning(running, post)
		if errors.Is(err, errTooLarge) {
			if !errors.Is(err, errTooManyCues) {
				t.Fatalf("413 for another reason: %v", err)
			}
			return
		}
		if len(finals) > maxPostCues {
			t.Fatalf("%d finals from one post", len(finals))
		}
	})
}

func FuzzSeqQuery(f *testing.F) {
	for _, s := range []string{"", "1", "007", "9007199254740992", "9007199254740993", "18446744073709551615",
		"18446744073709551616", "-1", "1e3", " 1", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		r := httptest.NewRequest("POST", "/closedcaption?seq="+url.QueryEscape(v), nil)
		n, err := seqOf(r)
		if err != nil {
			if !errors.Is(err, errBadQuery) {
				t.Fatalf("seq %q: %v is not a 400", v, err)
			}
			return
		}
		if n > maxSeq {
			t.Fatalf("seq %q taken as %d, above 2^53", v, n)
		}
	})
}

var vttEntityRE = regexp.MustCompile(`&(amp|lt|nbsp);`)

// ttmlElements are the elements astisub writes; any other came from text.
var ttmlElements = map[string]bool{"tt": true, "head": true, "metadata": true, "title": true, "styling": true,
	"style": true, "layout": true, "body": true, "div": true, "p": true, "span": true, "br": true}

// FuzzTranscriptText: whatever a captioner typed, each transcript holds it
// as text: SRT the lines verbatim, WebVTT no "<" and only its entities, TTML
// well-formed XML with no element from the text, SSA no override block and
// one Dialogue line per cue.
func FuzzTranscriptText(f *testing.F) {
	for _, s := range []string{markupCue, "a < b & c <b>x</b>", "fish &amp; chips", "{\\an8}", "x --> y\n\nz",
		"<c.yellow>v</c> <00:00:01.000> &lt;", "a\u00a0b", "]]> <![CDATA[", "{ open", "close }"} {
		f.Add(s)
	}
	start := time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, text string) {
		text, err := cleanText(text)
		lines := sanitizeCueText(text)
		if err != nil || len(lines) == 0 {
			return
		}
		cues := []Cue{{Seq: 1, Text: text, Start: start.Add(time.Second)}, {Seq: 2, Text: "next", Start: start.Add(20 * time.Second)}}
		write := func(format string) string {
			data, err := writeTranscript(cues, start, "en", format)
			if err != nil {
				t.Fatalf("%s: %v", format, err)
			}
			return string(data)
		}
		end := (time.Second + readingTime(text)).Milliseconds()
		want := fmt.Sprintf("\ufeff1\n00:00:01,000 --> 00:00:%02d,%03d\n%s\n\n2\n", end/1000, end%1000, strings.Join(lines, "\n"))
		if srt := write("srt"); !strings.HasPrefix(srt, want) {
			t.Fatalf("SRT does not hold the lines verbatim:\n%s", srt)
		}
		vtt := write("vtt")
		if _, body, _ := strings.Cut(vtt, "\n\n"); strings.Contains(body, "<") ||
			strings.Count(body, "&") != len(vttEntityRE.FindAllString(body, -1)) {
			t.Fatalf("WebVTT text is not escaped:\n%s", vtt)
		}
		d := xml.NewDecoder(strings.NewReader(write("ttml")))
		for {
			tok, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("TTML is not well-formed: %v", err)
			}
			if se, ok := tok.(xml.StartElement); ok && !ttmlElements[se.Name.Local] {
				t.Fatalf("TTML element <%s> from the text", se.Name.Local)
			}
		}
		_, events, _ := strings.Cut(write("ass"), "[Events]\n")
		rows := strings.Split(strings.TrimSuffix(events, "\n"), "\n")[1:]
		if len(rows) < 1 || len(rows) > 2 {
			t.Fatalf("%d Dialogue rows for 2 cues:\n%s", len(rows), events)
		}
		for _, row := range rows {
			i := strings.Index(row, "{")
			if !strings.HasPrefix(row, "Dialogue: 0,") || i >= 0 && strings.Contains(row[i:], "}") {
				t.Fatalf("SSA row %q", row)
			}
		}
	})
}
