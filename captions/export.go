package captions

import (
	"bytes"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/asticode/go-astisub"
)

// Transcript formats: file extension -> content type.
var transcriptTypes = map[string]string{
	"srt":  "application/x-subrip; charset=utf-8",
	"vtt":  "text/vtt; charset=utf-8",
	"ttml": "application/ttml+xml; charset=utf-8",
	"ssa":  "text/x-ssa; charset=utf-8",
	"ass":  "text/x-ssa; charset=utf-8",
}

// sanitizeCueText makes text safe for line-based subtitle formats: "-->"
// would read as a timing line and a blank line ends a cue in SRT and WebVTT.
// It returns the non-blank lines.
func sanitizeCueText(text string) []string {
	text = strings.ReplaceAll(text, "-->", "→")
	var lines []string
	for l := range strings.SplitSeq(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// buildSubtitles turns finals into astisub items relative to session start,
// ordered by start then seq. A cue ends where the next begins, or after its
// reading time if that comes first.
func buildSubtitles(cues []Cue, start time.Time, lang string) *astisub.Subtitles {
	cues = append([]Cue(nil), cues...)
	sort.SliceStable(cues, func(i, j int) bool {
		if !cues[i].Start.Equal(cues[j].Start) {
			return cues[i].Start.Before(cues[j].Start)
		}
		return cues[i].Seq < cues[j].Seq
	})
	subs := astisub.NewSubtitles()
	subs.Metadata = &astisub.Metadata{Title: "relay transcript (" + lang + ")"} // TTML's title
	for i, c := range cues {
		lines := sanitizeCueText(c.Text)
		if len(lines) == 0 {
			continue
		}
		from := max(c.Start.Sub(start), 0)
		to := from + readingTime(c.Text)
		if i+1 < len(cues) {
			if next := max(cues[i+1].Start.Sub(start), 0); next > from && next < to {
				to = next
			}
		}
		if to <= from {
			to = from + time.Millisecond
		}
		item := &astisub.Item{StartAt: from, EndAt: to}
		for _, l := range lines {
			item.Lines = append(item.Lines, astisub.Line{Items: []astisub.LineItem{{Text: l}}})
		}
		subs.Items = append(subs.Items, item)
	}
	return subs
}

// writeTranscript writes cues in format (an extension of transcriptTypes).
// No cues is a valid empty file, where astisub would refuse to write.
func writeTranscript(cues []Cue, start time.Time, lang, format string) ([]byte, error) {
	subs := buildSubtitles(cues, start, lang)
	var buf bytes.Buffer
	var err error
	switch {
	case format == "srt":
		writeSRT(&buf, subs)
	case format == "ssa" || format == "ass":
		writeSSA(&buf, subs, lang)
	case len(subs.Items) == 0:
		return emptyTranscript(lang, format)
	case format == "vtt":
		err = subs.WriteToWebVTT(&buf) // escapes & and <, the only markup characters of WebVTT text
	case format == "ttml":
		err = subs.WriteToTTML(&buf) // XML-escapes the text
	default:
		return nil, fmt.Errorf("%w: unknown transcript format %q", errBadQuery, format)
	}
	if err != nil {
		return nil, fmt.Errorf("write %s transcript: %w", format, err)
	}
	return buf.Bytes(), nil
}

// writeSRT writes plain SRT. astisub's writer HTML-escapes the text ("&" ->
// "&amp;"), but SRT has no escapes: players would show the entity. Plain SRT
// is a counter, a timing line and the text lines, cues apart by a blank
// line (none after the last: astisub, which replay reads SRT with, would
// take it for an empty text line). Like astisub's, the file starts with a
// BOM: players on Windows read an SRT without one in the local code page.
func writeSRT(w *bytes.Buffer, subs *astisub.Subtitles) {
	stamp := func(d time.Duration) string {
		ms := d.Milliseconds()
		return fmt.Sprintf("%02d:%02d:%02d,%03d", ms/3_600_000, ms/60_000%60, ms/1000%60, ms%1000)
	}
	for i, it := range subs.Items {
		if i == 0 {
			w.WriteString("\ufeff")
		} else {
			w.WriteString("\n")
		}
		fmt.Fprintf(w, "%d\n%s --> %s\n", i+1, stamp(it.StartAt), stamp(it.EndAt))
		for _, l := range it.Lines {
			w.WriteString(l.String() + "\n")
		}
	}
}

// ssaHeader is the script info and the one Default style every line uses.
// It is written here, not through astisub, whose style section lists the
// fields in its own order: Aegisub and VSFilter ignore the Format line and
// read style fields by their standard position (go-astisub PR #133).
const ssaHeader = `[Script Info]
Title: relay transcript (%s)
ScriptType: v4.00+
WrapStyle: 0

[V4+ Styles]
Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding
Style: Default,Arial,20,&H00FFFFFF,&H000000FF,&H00000000,&H80000000,0,0,0,0,100,100,0,0,1,2,1,2,10,10,10,1

[Events]
Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text
`

// ssaOverrideRE is an override block: in SSA/ASS "{\an8}" moves the line and
// "{\fs80}" restyles it. A captioner's text must stay text, and ASS has no
// escape for "{", so blocks are removed; a "{" left has no "}" after it and
// is shown as is.
var ssaOverrideRE = regexp.MustCompile(`\{[^}]*\}`)

// writeSSA writes an ASS (v4.00+) script: every line in the Default style,
// override blocks removed, lines joined with the hard break \N.
func writeSSA(w *bytes.Buffer, subs *astisub.Subtitles, lang string) {
	stamp := func(d time.Duration) string {
		cs := d.Milliseconds() / 10
		return fmt.Sprintf("%d:%02d:%02d.%02d", cs/360_000, cs/6000%60, cs/100%60, cs%100)
	}
	fmt.Fprintf(w, ssaHeader, lang)
	for _, it := range subs.Items {
		var lines []string
		for _, l := range it.Lines {
			if t := strings.TrimSpace(ssaOverrideRE.ReplaceAllString(l.String(), "")); t != "" {
				lines = append(lines, t)
			}
		}
		// Joining can make a block of a "{" ending one line and a "}"
		// starting the next: those go too, until none is left.
		text := strings.Join(lines, `\N`)
		for ssaOverrideRE.MatchString(text) {
			text = ssaOverrideRE.ReplaceAllString(text, "")
		}
		for strings.HasPrefix(text, `\N`) || strings.HasSuffix(text, `\N`) {
			text = strings.TrimSuffix(strings.TrimPrefix(text, `\N`), `\N`)
		}
		text = strings.TrimSpace(text)
		if text != "" {
			fmt.Fprintf(w, "Dialogue: 0,%s,%s,Default,,0,0,0,,%s\n", stamp(it.StartAt), stamp(it.EndAt), text)
		}
	}
}

func emptyTranscript(lang, format string) ([]byte, error) {
	switch format {
	case "vtt":
		return []byte("WEBVTT\n"), nil
	case "ttml":
		return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="%s"><body><div></div></body></tt>`+"\n", lang), nil
	}
	return nil, fmt.Errorf("%w: unknown transcript format %q", errBadQuery, format)
}

// handleTranscript serves GET /captions/{room}/transcript.{srt,vtt,ttml}?lang=fr
// (also .ssa/.ass). Without lang, a room with exactly one language exports it.
func (s *Service) handleTranscript(w http.ResponseWriter, r *http.Request) {
	roomName := r.PathValue("room")
	if err := validRoom(roomName); err != nil {
		s.writeError(w, r, err)
		return
	}
	base, format, ok := strings.Cut(r.PathValue("file"), ".")
	ctype, known := transcriptTypes[format]
	if !ok || base != "transcript" || !known {
		http.NotFound(w, r)
		return
	}
	if err := s.checkViewer(r, roomName); err != nil {
		s.writeError(w, r, err)
		return
	}
	rm := s.existingRoom(roomName)
	lang := r.URL.Query().Get("lang")
	if lang == "" && rm != nil {
		if ls := rm.languages(); len(ls) == 1 {
			lang = ls[0]
		}
	}
	if lang == "" {
		s.writeError(w, r, fmt.Errorf("%w: lang is required, e.g. ?lang=fr", errBadQuery))
		return
	}
	lang, err := CanonicalLang(lang)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var cues []Cue
	var start time.Time
	if rm != nil {
		start = rm.sessionStart()
		if h := rm.existing(lang); h != nil {
			cues = h.transcript()
		}
	}
	body, err := writeTranscript(cues, start, lang, format)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.%s"`, roomName, lang, format))
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	_, _ = w.Write(body)
}

// Finals returns the finals of a room's language in the current session,
// corrections applied, in seq order; nil when there are none. The HLS
// packager reads them for its subtitle renditions.
func (s *Service) Finals(roomName, lang string) []Cue {
	rm := s.existingRoom(roomName)
	if rm == nil {
		return nil
	}
	if h := rm.existing(lang); h != nil {
		return h.transcript()
	}
	return nil
}

// Languages returns, sorted, the caption languages a room offers: the
// declared ones and those used.
func (s *Service) Languages(roomName string) []string { return s.offered(roomName) }
