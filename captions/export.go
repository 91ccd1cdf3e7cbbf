package captions

import (
	"bytes"
	"fmt"
	"net/http"
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
	subs.Metadata = &astisub.Metadata{Title: "relay transcript (" + lang + ")"} // WriteToSSA needs metadata
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
	if len(subs.Items) == 0 {
		return emptyTranscript(lang, format)
	}
	var err error
	switch format {
	case "srt":
		err = subs.WriteToSRT(&buf)
	case "vtt":
		err = subs.WriteToWebVTT(&buf)
	case "ttml":
		err = subs.WriteToTTML(&buf)
	case "ssa", "ass":
		err = subs.WriteToSSA(&buf)
	default:
		return nil, fmt.Errorf("%w: unknown transcript format %q", errBadQuery, format)
	}
	if err != nil {
		return nil, fmt.Errorf("write %s transcript: %w", format, err)
	}
	return buf.Bytes(), nil
}

func emptyTranscript(lang, format string) ([]byte, error) {
	switch format {
	case "srt":
		return []byte{}, nil
	case "vtt":
		return []byte("WEBVTT\n"), nil
	case "ttml":
		return fmt.Appendf(nil, `<?xml version="1.0" encoding="UTF-8"?>`+"\n"+
			`<tt xmlns="http://www.w3.org/ns/ttml" xml:lang="%s"><body><div></div></body></tt>`+"\n", lang), nil
	case "ssa", "ass":
		return []byte("[Script Info]\nScriptType: v4.00+\n\n[V4+ Styles]\nFormat: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n"), nil
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
