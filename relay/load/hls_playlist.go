package load

import (
	"errors"
	"strconv"
	"strings"
	"time"
)

// The few playlist tags an LL-HLS player needs, read by hand: the
// multivariant playlist's variants and renditions, and a live media
// playlist's segments, parts, dates, map and server control. Unknown tags
// are ignored, as players do.

// hlsMultivariant is what a player reads of a multivariant playlist.
type hlsMultivariant struct {
	variants   []hlsVariant
	renditions []hlsRendition
}

type hlsVariant struct {
	uri, audio, subtitles string // audio and subtitles are group ids
}

type hlsRendition struct {
	kind, group, lang, uri string // kind: AUDIO, SUBTITLES
	def                    bool
}

// parseMultivariant reads a multivariant playlist.
func parseMultivariant(body string) (*hlsMultivariant, error) {
	lines, err := playlistLines(body)
	if err != nil {
		return nil, err
	}
	mv := &hlsMultivariant{}
	for i := 0; i < len(lines); i++ {
		tag, val, _ := strings.Cut(lines[i], ":")
		switch tag {
		case "#EXT-X-MEDIA":
			a := attrList(val)
			mv.renditions = append(mv.renditions, hlsRendition{kind: a["TYPE"], group: a["GROUP-ID"], lang: a["LANGUAGE"], uri: a["URI"], def: a["DEFAULT"] == "YES"})
		case "#EXT-X-STREAM-INF":
			a := attrList(val)
			// The variant's URI is the next line that is not a tag.
			for i++; i < len(lines) && strings.HasPrefix(lines[i], "#"); i++ {
			}
			if i < len(lines) {
				mv.variants = append(mv.variants, hlsVariant{uri: lines[i], audio: a["AUDIO"], subtitles: a["SUBTITLES"]})
			}
		}
	}
	if len(mv.variants) == 0 {
		return nil, errors.New("multivariant playlist: no variant")
	}
	return mv, nil
}

// pick chooses what hls.js plays by default: the first variant, the
// default rendition of its audio group (else the group's first), and the
// subtitle rendition of language subs ("*": the group's first; "": none).
// It returns the URIs to follow, the variant's first.
func (mv *hlsMultivariant) pick(subs string) []string {
	v := mv.variants[0]
	uris := []string{v.uri}
	if a := mv.rendition("AUDIO", v.audio, func(r hlsRendition) bool { return r.def }); a != "" && a != v.uri {
		uris = append(uris, a)
	}
	if subs != "" {
		if s := mv.rendition("SUBTITLES", v.subtitles, func(r hlsRendition) bool { return subs == "*" || r.lang == subs }); s != "" {
			uris = append(uris, s)
		}
	}
	return uris
}

// rendition returns the URI of group's first rendition of kind that
// wanted accepts, or for audio the group's first; "" when none.
func (mv *hlsMultivariant) rendition(kind, group string, wanted func(hlsRendition) bool) string {
	if group == "" {
		return ""
	}
	first := ""
	for _, r := range mv.renditions {
		if r.kind != kind || r.group != group || r.uri == "" {
			continue
		}
		if wanted(r) {
			return r.uri
		}
		if first == "" {
			first = r.uri
		}
	}
	if kind == "AUDIO" {
		return first
	}
	return ""
}

// hlsMedia is a live media playlist.
type hlsMedia struct {
	target       time.Duration
	partTarget   time.Duration // 0: no parts (subtitles)
	partHoldBack time.Duration
	canBlock     bool
	ended        bool
	segs         []hlsSegment // oldest first; the last may be in progress
}

// hlsSegment is one segment: complete (uri set) or in progress.
type hlsSegment struct {
	msn    uint64
	pdt    time.Time // zero when the playlist gives none
	uri    string    // "" while in progress
	mapURI string
	parts  []hlsPart
}

type hlsPart struct {
	uri         string
	dur, offset time.Duration // offset: from the segment's start
	independent bool
}

// parseMedia reads a media playlist.
func parseMedia(body string) (*hlsMedia, error) {
	lines, err := playlistLines(body)
	if err != nil {
		return nil, err
	}
	m := &hlsMedia{}
	var msn uint64
	var mapURI string
	cur := hlsSegment{}
	open := false // cur has a date or parts
	for _, line := range lines {
		tag, val, _ := strings.Cut(line, ":")
		switch tag {
		case "#EXT-X-TARGETDURATION":
			m.target = seconds(val)
		case "#EXT-X-PART-INF":
			m.partTarget = seconds(attrList(val)["PART-TARGET"])
		case "#EXT-X-SERVER-CONTROL":
			a := attrList(val)
			m.canBlock = a["CAN-BLOCK-RELOAD"] == "YES"
			m.partHoldBack = seconds(a["PART-HOLD-BACK"])
		case "#EXT-X-MEDIA-SEQUENCE":
			if msn, err = strconv.ParseUint(val, 10, 63); err != nil {
				return nil, errors.New("media playlist: bad EXT-X-MEDIA-SEQUENCE")
			}
		case "#EXT-X-SKIP":
			n, _ := strconv.ParseUint(attrList(val)["SKIPPED-SEGMENTS"], 10, 32)
			msn += n
		case "#EXT-X-MAP":
			mapURI = attrList(val)["URI"]
		case "#EXT-X-PROGRAM-DATE-TIME":
			cur.pdt, _ = time.Parse(time.RFC3339Nano, val)
			open = true
		case "#EXT-X-PART":
			a := attrList(val)
			p := hlsPart{uri: a["URI"], dur: seconds(a["DURATION"]), independent: a["INDEPENDENT"] == "YES"}
			if n := len(cur.parts); n > 0 {
				p.offset = cur.parts[n-1].offset + cur.parts[n-1].dur
			}
			cur.parts = append(cur.parts, p)
			open = true
		case "#EXT-X-ENDLIST":
			m.ended = true
		default:
			if strings.HasPrefix(line, "#") {
				continue
			}
			cur.msn, cur.uri, cur.mapURI = msn, line, mapURI
			m.segs = append(m.segs, cur)
			msn++
			cur, open = hlsSegment{}, false
		}
	}
	if open {
		cur.msn, cur.mapURI = msn, mapURI
		m.segs = append(m.segs, cur)
	}
	if m.target <= 0 {
		return nil, errors.New("media playlist: no EXT-X-TARGETDURATION")
	}
	return m, nil
}

// cursor is the next file a follower wants: part part of segment msn
// (with parts), or segment msn (without).
type cursor struct {
	msn  uint64
	part int
}

// start is where a player joins: with parts, the last independent part
// at least PART-HOLD-BACK (3 part targets when not given) before the live
// edge, as hls.js does in low-latency mode; without, the last complete
// segment. false when the playlist has nothing to start on yet.
func (m *hlsMedia) start() (cursor, bool) {
	if m.partTarget == 0 {
		for i := len(m.segs) - 1; i >= 0; i-- {
			if m.segs[i].uri != "" {
				return cursor{msn: m.segs[i].msn}, true
			}
		}
		return cursor{}, false
	}
	hold := m.partHoldBack
	if hold <= 0 {
		hold = 3 * m.partTarget
	}
	var back time.Duration
	var fallback *cursor
	for i := len(m.segs) - 1; i >= 0; i-- {
		s := m.segs[i]
		for j := len(s.parts) - 1; j >= 0; j-- {
			back += s.parts[j].dur
			if back >= hold && (s.parts[j].independent || j == 0) {
				return cursor{msn: s.msn, part: j}, true
			}
			if s.parts[j].independent {
				fallback = &cursor{msn: s.msn, part: j} // the oldest, in the end
			}
		}
	}
	if fallback != nil { // a playlist shorter than the hold-back
		return *fallback, true
	}
	return cursor{}, false
}

// playlistLines checks the header and returns the playlist's lines,
// trimmed, without blanks.
func playlistLines(body string) ([]string, error) {
	var out []string
	for line := range strings.SplitSeq(body, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	if len(out) == 0 || out[0] != "#EXTM3U" {
		return nil, errors.New("playlist: no #EXTM3U header")
	}
	return out[1:], nil
}

// attrList reads an attribute list: KEY=value,KEY="quoted, value".
func attrList(s string) map[string]string {
	a := map[string]string{}
	for s != "" {
		key, rest, ok := strings.Cut(s, "=")
		if !ok {
			break
		}
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				val, rest = rest[1:], ""
			} else {
				val, rest = rest[1:end+1], rest[end+2:]
			}
			rest = strings.TrimPrefix(rest, ",")
		} else {
			val, rest, _ = strings.Cut(rest, ",")
		}
		a[strings.TrimSpace(key)] = val
		s = rest
	}
	return a
}

// seconds reads a decimal number of seconds; 0 when it is not one.
func seconds(s string) time.Duration {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e6 {
		return 0
	}
	return time.Duration(f * float64(time.Second))
}
