package hls

import (
	"fmt"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"
)

// media finds a rendition's live window and its files' extension.
func (s *session) media(rend string) (*media, string) {
	if t := s.track(rend); t != nil {
		return &t.media, "mp4"
	}
	if st := s.sub(rend); st != nil {
		return &st.media, "vtt"
	}
	return nil, ""
}

// reports are the rendition reports of every media rendition but rend.
func (s *session) reports(rend string) []report {
	var out []report
	for _, t := range s.tracks {
		if t.name() == rend {
			continue
		}
		t.mu.Lock()
		msn, part, ok := t.lastLocked()
		t.mu.Unlock()
		out = append(out, report{uri: "../" + t.name() + "/index.m3u8", msn: msn, part: part, available: ok})
	}
	return out
}

// variant is what the multivariant playlist says of a video rendition.
type variant struct {
	t             *track
	codecs        string
	width, height int
	peak          int64 // bits per second, the highest segment's
}

// variantLocked reads t's init and segments (t.mu held).
func (t *track) variantLocked() variant {
	v := variant{t: t}
	if n := len(t.inits); n > 0 {
		in := t.inits[n-1]
		v.codecs, v.width, v.height = in.codecs, in.width, in.height
	}
	for _, s := range t.segs {
		if s.dur > 0 {
			v.peak = max(v.peak, int64(len(s.data))*8*int64(time.Second)/int64(s.dur))
		}
	}
	return v
}

// audioBandwidth is what an Opus rendition adds to a variant's BANDWIDTH
// when nothing was measured.
const audioBandwidth = 64000

// multivariant writes the multivariant playlist; prefix leads every URI
// (the session's directory), query follows it (a token).
func (s *session) multivariant(prefix, query string) []byte {
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n")
	var audioPeak int64 = audioBandwidth
	for _, t := range s.tracks {
		if t.kind != webrtc.RTPCodecTypeAudio {
			continue
		}
		t.mu.Lock()
		v := t.variantLocked()
		t.mu.Unlock()
		audioPeak = max(audioPeak, v.peak)
		name, lang, def := "Floor", "", "YES"
		if t.lang != "" {
			name, lang, def = languageName(t.lang), fmt.Sprintf(",LANGUAGE=%q", t.lang), "NO"
		}
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=%q%s,DEFAULT=%s,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"%s%s/index.m3u8%s\"\n",
			name, lang, def, prefix, t.name(), query)
	}
	subs := ""
	if len(s.subs) > 0 {
		subs = `,SUBTITLES="subs"`
	}
	for _, st := range s.subs {
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=%q,LANGUAGE=%q,DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI=\"%s%s/index.m3u8%s\"\n",
			languageName(st.lang), st.lang, prefix, st.name(), query)
	}
	var variants []variant
	for _, t := range s.tracks {
		if t.kind == webrtc.RTPCodecTypeVideo {
			t.mu.Lock()
			if v := t.variantLocked(); v.codecs != "" {
				variants = append(variants, v)
			}
			t.mu.Unlock()
		}
	}
	if len(variants) == 0 {
		// Audio only (no video, or a codec HLS does not carry): the floor
		// is the variant, the channels its alternatives.
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"opus\",AUDIO=\"audio\"%s\n%s%s/index.m3u8%s\n",
			audioPeak, subs, prefix, s.tracks[len(s.tracks)-len(audioTracks(s.tracks))].name(), query)
		return []byte(b.String())
	}
	lead := variants[0]
	for _, v := range variants {
		peak := v.peak
		if peak == 0 && lead.peak > 0 && lead.width*lead.height > 0 {
			// Not measured yet: scale the lead's by the picture size.
			peak = lead.peak * int64(v.width*v.height) / int64(lead.width*lead.height)
		}
		if peak == 0 {
			peak = 1_500_000
		}
		res := ""
		if v.width > 0 && v.height > 0 {
			res = fmt.Sprintf(",RESOLUTION=%dx%d", v.width, v.height)
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"%s,opus\"%s,AUDIO=\"audio\"%s\n%s%s/index.m3u8%s\n",
			peak+audioPeak, v.codecs, res, subs, prefix, v.t.name(), query)
	}
	return []byte(b.String())
}

func audioTracks(ts []*track) []*track {
	var out []*track
	for _, t := range ts {
		if t.kind == webrtc.RTPCodecTypeAudio {
			out = append(out, t)
		}
	}
	return out
}
