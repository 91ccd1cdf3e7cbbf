package hls

import (
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode/utf8"
)

// Cue is a final caption as the packager reads it: seq identifies it
// (a correction keeps it), Start is when it began on the server clock.
type Cue struct {
	Seq   uint64
	Text  string
	Start time.Time
}

// subTrack is a WebVTT subtitle rendition. It has no parts: WebVTT in
// partial segments is fragile in players. Each time the lead completes
// a segment, the subtitle track writes the same span: the finals that
// arrived since the last one (partials are not in HLS), placed no
// earlier than the segment's start, and corrections of finals it wrote
// before, re-issued with their new text.
type subTrack struct {
	media
	sess    *session
	lang    string
	written map[uint64]string // seq -> text written, for corrections (the newest maxCorrectable)
	top     uint64            // the highest seq written
	since   time.Time         // cues older than the session are not its
}

func newSubTrack(s *session, lang string) *subTrack {
	return &subTrack{sess: s, lang: lang, written: map[uint64]string{}, since: s.start.Add(-cueSlack)}
}

// cueSlack admits finals that began a little before the session did.
const cueSlack = 5 * time.Second

func (st *subTrack) name() string { return "s-" + st.lang }

// vttCue is one cue of a WebVTT segment, on the media timeline.
type vttCue struct {
	id       string
	from, to time.Duration
	text     string
}

// segment writes the subtitle segment for the lead's seg.
func (st *subTrack) segment(seg *segment) {
	var cues []Cue
	if c := st.sess.cfg.Captions; c != nil {
		cues = c.Finals(st.sess.room, st.lang)
	}
	start, end := seg.start, seg.start+seg.dur
	var out []vttCue
	top := st.top
	for _, c := range cues {
		if c.Start.Before(st.since) {
			continue
		}
		// Seqs only grow (the captions hub numbers finals in order): one
		// above the last written is new; one below is a correction if its
		// text changed since it was written (finals older than the last
		// maxCorrectable are no longer followed).
		prev, seen := st.written[c.Seq]
		switch {
		case c.Seq > st.top:
			top = max(top, c.Seq)
		case seen && prev != c.Text:
		default:
			continue
		}
		st.written[c.Seq] = c.Text
		from := max(st.mediaOf(c.Start), start)
		id := fmt.Sprint(c.Seq)
		if seen {
			id += "-corrected"
			from = start
		}
		out = append(out, vttCue{id: id, from: from, to: from + readingTime(c.Text), text: c.Text})
		st.sess.record.cue(st, c, st.mediaOf(c.Start))
	}
	st.top = top
	for seq := range st.written {
		if seq+maxCorrectable < top {
			delete(st.written, seq)
		}
	}
	spreadCues(out)
	st.complete(&segment{msn: seg.msn, start: start, pdt: seg.pdt, independent: true, dur: end - start,
		data: writeVTT(out)}, st.sess.cfg.window())
}

// maxCorrectable is how many of the newest finals a correction is
// followed for.
const maxCorrectable = 512

func (st *subTrack) mediaOf(t time.Time) time.Duration {
	return t.Sub(st.sess.start) + mediaBase
}

// readingTime is how long a cue stays up when the next one does not
// replace it: long enough to read, at most seven seconds.
func readingTime(text string) time.Duration {
	d := 1500*time.Millisecond + time.Duration(utf8.RuneCountInString(text))*60*time.Millisecond
	return min(max(d, 2*time.Second), 7*time.Second)
}

// spreadCues sorts cues and ends each where the next begins, when that
// comes first: one line at a time, as in the WebRTC player.
func spreadCues(cues []vttCue) {
	sort.SliceStable(cues, func(i, j int) bool { return cues[i].from < cues[j].from })
	for i := range cues {
		if i+1 < len(cues) && cues[i+1].from > cues[i].from && cues[i+1].from < cues[i].to {
			cues[i].to = cues[i+1].from
		}
	}
}

// timestampMap maps WebVTT time 0 onto the media timeline: media time
// mediaBase in 90 kHz units (RFC 8216bis §3.1.4), so cue times are times
// since the session began.
var timestampMap = fmt.Sprintf("X-TIMESTAMP-MAP=MPEGTS:%d,LOCAL:00:00:00.000", int64(mediaBase/time.Microsecond)*90/1000)

// writeVTT writes a WebVTT segment. Text is sanitised as the transcript
// exports are: "-->" cannot start a timing line, blank lines cannot end
// a cue early, and markup characters are escaped.
func writeVTT(cues []vttCue) []byte {
	var b strings.Builder
	b.WriteString("WEBVTT\n" + timestampMap + "\n")
	for _, c := range cues {
		lines := cueLines(c.text)
		if len(lines) == 0 {
			continue
		}
		fmt.Fprintf(&b, "\n%s\n%s --> %s\n%s\n", c.id, vttTime(c.from-mediaBase), vttTime(c.to-mediaBase), strings.Join(lines, "\n"))
	}
	return []byte(b.String())
}

var vttEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "-->", "→")

func cueLines(text string) []string {
	var lines []string
	// A lone CR ends a line in WebVTT too: it must not end the cue.
	text = strings.ReplaceAll(strings.ReplaceAll(text, "\r\n", "\n"), "\r", "\n")
	for l := range strings.SplitSeq(vttEscaper.Replace(text), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return lines
}

// vttTime formats d as a WebVTT timestamp (hours may exceed 99).
func vttTime(d time.Duration) string {
	d = max(d, 0)
	ms := d.Milliseconds()
	return fmt.Sprintf("%02d:%02d:%02d.%03d", ms/3600000, ms/60000%60, ms/1000%60, ms%1000)
}
