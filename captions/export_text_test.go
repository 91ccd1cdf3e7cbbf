package captions

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/asticode/go-astisub"
)

// markupCue is caption text that every subtitle format could misread: an
// entity-worthy "&", an HTML tag, an SSA override block.
const markupCue = `Tom & Jerry <b>bold</b> {\an8}top`

// ssaStyleFormat is the standard [V4+ Styles] field order, the one Aegisub
// and VSFilter read regardless of the Format line.
const ssaStyleFormat = "Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding"

// TestExportMarkupIsText: a captioner's text is text in every transcript.
// SRT has no escapes: it carried "&amp;", which players show. SSA/ASS let
// "{\an8}" move and restyle the line and had no style section. WebVTT and
// TTML escape what their formats need.
func TestExportMarkupIsText(t *testing.T) {
	base := time.Date(2025, 5, 1, 9, 0, 0, 0, time.UTC)
	cues := []Cue{
		{Seq: 1, Text: markupCue, Start: base.Add(time.Second)},
		{Seq: 2, Text: "fish &amp; chips\n{\\fs80}second line", Start: base.Add(3 * time.Second)},
	}
	export := func(t *testing.T, format string) string {
		t.Helper()
		data, err := writeTranscript(cues, base, "en", format)
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}
	t.Run("srt", func(t *testing.T) {
		data := export(t, "srt")
		want := "\ufeff1\n00:00:01,000 --> 00:00:03,000\n" + markupCue + "\n\n" +
			"2\n00:00:03,000 --> 00:00:06,100\nfish &amp; chips\n{\\fs80}second line\n"
		if data != want {
			t.Fatalf("SRT\n%s\nwant exactly\n%s", data, want)
		}
		readBack(t, "srt", []byte(data)) // and it parses
	})
	t.Run("vtt", func(t *testing.T) {
		data := export(t, "vtt")
		if strings.Contains(data, "<b>") || !strings.Contains(data, "Tom &amp; Jerry &lt;b>") || !strings.Contains(data, "fish &amp;amp; chips") {
			t.Fatalf("WebVTT markup not escaped:\n%s", data)
		}
		subs := readBack(t, "vtt", []byte(data))
		if got := itemText(subs.Items[0]); got != markupCue {
			t.Errorf("WebVTT reads back %q, want %q", got, markupCue)
		}
		if got := itemText(subs.Items[1]); got != "fish &amp; chips\n{\\fs80}second line" {
			t.Errorf("WebVTT second cue %q", got)
		}
	})
	t.Run("ttml", func(t *testing.T) {
		data := export(t, "ttml")
		if strings.Contains(data, "<b>") || !strings.Contains(data, "Tom &amp; Jerry &lt;b&gt;bold&lt;/b&gt;") {
			t.Fatalf("TTML markup not escaped:\n%s", data)
		}
		if got := itemText(readBack(t, "ttml", []byte(data)).Items[0]); got != markupCue {
			t.Errorf("TTML reads back %q, want %q", got, markupCue)
		}
	})
	for _, format := range []string{"ssa", "ass"} {
		t.Run(format, func(t *testing.T) {
			data := export(t, format)
			for _, want := range []string{"ScriptType: v4.00+", "\n[V4+ Styles]\n" + ssaStyleFormat + "\nStyle: Default,"} {
				if !strings.Contains(data, want) {
					t.Errorf("no %q in\n%s", want, data)
				}
			}
			if strings.Contains(data, `\an8`) || strings.Contains(data, `\fs80`) {
				t.Fatalf("override block written:\n%s", data)
			}
			subs := readBack(t, "ssa", []byte(data))
			if _, ok := subs.Styles["Default"]; !ok || len(subs.Styles) != 1 {
				t.Fatalf("styles %v, want one Default", subs.Styles)
			}
			want := []string{`Tom & Jerry <b>bold</b> top`, `fish &amp; chips` + "\n" + `second line`}
			for i, it := range subs.Items {
				if it.Style == nil || it.Style.ID != "Default" {
					t.Errorf("line %d style %+v, want Default", i, it.Style)
				}
				if got := itemText(it); got != want[i] {
					t.Errorf("line %d text %q, want %q", i, got, want[i])
				}
			}
		})
	}
}

// TestSSAOverrideStripping: no text left can open an override block, and a
// line that was only override codes is not written.
func TestSSAOverrideStripping(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{\an8}top`, "top"},
		{`a {b} c`, "a  c"},
		{`{{\an8}}x`, "}x"},
		{`{a{b}c}`, "c}"},
		{`brace { left open`, "brace { left open"},
		{`} first`, "} first"},
		{`{\an8}`, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			data, err := writeTranscript([]Cue{{Seq: 1, Text: tc.in, Start: time.Unix(10, 0)}}, time.Unix(10, 0), "en", "ass")
			if err != nil {
				t.Fatal(err)
			}
			_, events, _ := strings.Cut(string(data), "[Events]\n")
			var got string
			if _, line, ok := strings.Cut(events, "\nDialogue: "); ok {
				got = strings.TrimSuffix(strings.SplitN(line, ",", 10)[9], "\n")
			}
			if got != tc.want {
				t.Fatalf("%q written as %q, want %q", tc.in, got, tc.want)
			}
			if i := strings.Index(got, "{"); i >= 0 && strings.Contains(got[i:], "}") {
				t.Fatalf("%q still has an override block", got)
			}
		})
	}
}

// A "{" ending one line and a "}" starting the next make an override
// block once the lines are joined with \N: it is removed like any other,
// and text ending in N keeps its N.
func TestSSABlockAcrossLines(t *testing.T) {
	var b bytes.Buffer
	subs := astisub.NewSubtitles()
	for _, text := range []string{"{\n}", "a {\n} b", "RUN"} {
		item := &astisub.Item{StartAt: time.Second, EndAt: 2 * time.Second}
		for _, l := range strings.Split(text, "\n") {
			item.Lines = append(item.Lines, astisub.Line{Items: []astisub.LineItem{{Text: l}}})
		}
		subs.Items = append(subs.Items, item)
	}
	writeSSA(&b, subs, "en")
	_, events, _ := strings.Cut(b.String(), "[Events]\n")
	rows := strings.Split(strings.TrimSuffix(events, "\n"), "\n")[1:]
	want := []string{"a  b", "RUN"}
	if len(rows) != len(want) {
		t.Fatalf("rows %q, want texts %q", rows, want)
	}
	for i, row := range rows {
		if !strings.HasSuffix(row, ",,"+want[i]) {
			t.Errorf("row %q, want text %q", row, want[i])
		}
	}
}
