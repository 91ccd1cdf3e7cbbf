package hls

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"

	"github.com/relay-av/relay/internal/httperr"
)

// vodMultivariant writes a recording's multivariant playlist: the same
// renditions as live, read from what was recorded.
func (s *Server) vodMultivariant(m sessionMeta, query string) []byte {
	dir := filepath.Join(s.cfg.Dir, m.Room, m.ID)
	var b strings.Builder
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:7\n")
	var videos []string
	audio := ""
	var audioPeak int64 = audioBandwidth
	for _, r := range m.Renditions {
		if strings.HasPrefix(r, "v") {
			videos = append(videos, r)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, r, "segments.m3u8")); err != nil {
			continue // nothing recorded of it
		}
		if l, ok := strings.CutPrefix(r, "a-"); ok && !m.offered(l) {
			continue // its booth never went live: the floor again
		}
		audioPeak = max(audioPeak, peakRate(filepath.Join(dir, r)))
		name, lang, def := "Floor", "", "YES"
		if l, ok := strings.CutPrefix(r, "a-"); ok {
			name, lang, def = languageName(l), fmt.Sprintf(",LANGUAGE=%q", l), "NO"
		} else {
			audio = r
		}
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=%q%s,DEFAULT=%s,AUTOSELECT=YES,CHANNELS=\"2\",URI=\"%s/index.m3u8%s\"\n",
			name, lang, def, r, query)
	}
	subs := ""
	if len(m.Subtitles) > 0 {
		subs = `,SUBTITLES="subs"`
	}
	for _, l := range m.Subtitles {
		fmt.Fprintf(&b, "#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID=\"subs\",NAME=%q,LANGUAGE=%q,DEFAULT=NO,AUTOSELECT=YES,FORCED=NO,URI=\"s-%s/index.m3u8%s\"\n",
			languageName(l), l, l, query)
	}
	wrote := false
	for _, v := range videos {
		codecs, w, h, ok := readVideoInit(filepath.Join(dir, v, "init0.mp4"))
		if !ok {
			continue
		}
		res := ""
		if w > 0 && h > 0 {
			res = fmt.Sprintf(",RESOLUTION=%dx%d", w, h)
		}
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"%s,opus\"%s,AUDIO=\"audio\"%s\n%s/index.m3u8%s\n",
			peakRate(filepath.Join(dir, v))+audioPeak, codecs, res, subs, v, query)
		wrote = true
	}
	if !wrote && audio != "" {
		fmt.Fprintf(&b, "#EXT-X-STREAM-INF:BANDWIDTH=%d,CODECS=\"opus\",AUDIO=\"audio\"%s\n%s/index.m3u8%s\n", audioPeak, subs, audio, query)
	}
	return []byte(b.String())
}

// readVideoInit reads the codec string and picture size of an H.264 init
// segment.
func readVideoInit(path string) (codecs string, width, height int, ok bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, 0, false
	}
	defer f.Close()
	var in fmp4.Init
	if err := in.Unmarshal(f); err != nil || len(in.Tracks) != 1 {
		return "", 0, 0, false
	}
	c, isH264 := in.Tracks[0].Codec.(*mp4codecs.H264)
	if !isH264 || len(c.SPS) < 4 {
		return "", 0, 0, false
	}
	var sps h264.SPS
	if err := sps.Unmarshal(c.SPS); err == nil {
		width, height = sps.Width(), sps.Height()
	}
	return fmt.Sprintf("avc1.%02x%02x%02x", c.SPS[1], c.SPS[2], c.SPS[3]), width, height, true
}

// peakRate is the highest bitrate of a recorded rendition's segments.
func peakRate(dir string) int64 {
	entries, _ := readBody(filepath.Join(dir, "segments.m3u8"))
	var peak int64
	for _, e := range entries {
		if st, err := os.Stat(filepath.Join(dir, e.uri)); err == nil && e.dur > 0 {
			peak = max(peak, st.Size()*8*int64(time.Second)/int64(e.dur))
		}
	}
	return peak
}

// readCues reads a subtitle language's cue log with corrections applied
// (the last text of each seq wins), in order of time.
func (s *Server) readCues(m sessionMeta, lang string) []vttCue {
	f, err := os.Open(filepath.Join(s.cfg.Dir, m.Room, m.ID, "s-"+lang, "cues.jsonl"))
	if err != nil {
		return nil
	}
	defer f.Close()
	bySeq := map[uint64]int{}
	var out []vttCue
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var c cueRecord
		if json.Unmarshal(sc.Bytes(), &c) != nil {
			continue // a torn last line after a crash
		}
		if i, ok := bySeq[c.Seq]; ok {
			out[i].text = c.Text
			continue
		}
		bySeq[c.Seq] = len(out)
		out = append(out, vttCue{id: fmt.Sprint(c.Seq), from: c.At, to: c.At + readingTime(c.Text), text: c.Text})
	}
	spreadCues(out)
	return out
}

// serveVODSubtitles writes a recorded subtitle playlist: one WebVTT
// segment per segment of the lead, corrections applied.
func (s *Server) serveVODSubtitles(w http.ResponseWriter, r *http.Request, m sessionMeta, lang, query string) {
	if !hasString(m.Subtitles, lang) {
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no subtitles %q in this recording", lang))
		return
	}
	entries, _ := readBody(filepath.Join(s.cfg.Dir, m.Room, m.ID, m.Lead, "segments.m3u8"))
	var b strings.Builder
	writeVODHeader(&b, entries)
	for _, e := range entries {
		fmt.Fprintf(&b, "#EXTINF:%s,\nseg%d.vtt%s\n", secs(e.dur), e.msn, query)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	s.writePlaylist(w, r, m.Room, []byte(b.String()), "public, max-age=5")
}

// serveVODCues writes one recorded WebVTT segment: the cues that begin
// within the lead's segment of the same number.
func (s *Server) serveVODCues(w http.ResponseWriter, r *http.Request, m sessionMeta, lang, file string) {
	var msn uint64
	if _, err := fmt.Sscanf(file, "seg%d.vtt", &msn); err != nil || !hasString(m.Subtitles, lang) || fmt.Sprintf("seg%d.vtt", msn) != file {
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no file %q", file))
		return
	}
	entries, _ := readBody(filepath.Join(s.cfg.Dir, m.Room, m.ID, m.Lead, "segments.m3u8"))
	for i, e := range entries {
		if e.msn != msn {
			continue
		}
		from := e.pdt.Sub(m.Start) + mediaBase
		to := from + e.dur
		last := i == len(entries)-1
		var in []vttCue
		for _, c := range s.readCues(m, lang) {
			if c.from >= from && (c.from < to || last) || i == 0 && c.from < from {
				in = append(in, c)
			}
		}
		body := writeVTT(in)
		w.Header().Set("Content-Type", "text/vtt; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=60")
		s.cfg.stats.request(m.Room, "recorded")
		s.cfg.stats.sent(m.Room, len(body))
		_, _ = w.Write(body)
		return
	}
	httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no file %q", file))
}

func hasString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
