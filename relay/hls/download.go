package hls

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/relay-av/relay/internal/httperr"
)

// serveMP4 writes a recording as one progressive MP4 for one audio
// channel ("floor" or a language): the best video layer and that audio,
// remuxed from the recorded segments, not transcoded. Payloads are read
// segment by segment while the file is written.
func (s *Server) serveMP4(w http.ResponseWriter, r *http.Request, m sessionMeta, lang string) {
	// Each download holds its sample table in memory and reads the whole
	// recording: a few at a time.
	select {
	case s.downloads <- struct{}{}:
		defer func() { <-s.downloads }()
	default:
		httperr.Write(w, r, s.log, httperr.Retry(http.StatusServiceUnavailable, 30*time.Second, "%d downloads are being written: try again in a minute", cap(s.downloads)))
		return
	}
	audio := "a"
	if lang != "floor" {
		audio = "a-" + lang
	}
	if !hasString(m.Renditions, audio) || lang != "floor" && !m.offered(lang) {
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no audio %q in this recording", lang))
		return
	}
	dir := filepath.Join(s.cfg.Dir, m.Room, m.ID)
	var rends []string
	for _, rend := range m.Renditions {
		if strings.HasPrefix(rend, "v") {
			rends = append(rends, rend) // the best layer comes first
			break
		}
	}
	rends = append(rends, audio)
	var pres pmp4.Presentation
	var starts []uint64
	for i, rend := range rends {
		t, start, err := readTrack(filepath.Join(dir, rend), i+1)
		if err != nil {
			if strings.HasPrefix(rend, "v") {
				continue // no video recorded: audio only
			}
			httperr.Write(w, r, s.log, fmt.Errorf("reading the recording: %w", err))
			return
		}
		pres.Tracks = append(pres.Tracks, t)
		starts = append(starts, start)
	}
	if len(pres.Tracks) == 0 {
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "nothing recorded"))
		return
	}
	// The progressive MP4 writer keeps offsets in 32 bits: refuse what it
	// would silently wrap.
	var size uint64
	for _, t := range pres.Tracks {
		for _, sa := range t.Samples {
			size += uint64(sa.PayloadSize)
		}
	}
	if size > maxDownload {
		httperr.Write(w, r, s.log, httperr.New(http.StatusRequestEntityTooLarge,
			"this recording is %d MiB of media, too long for one MP4 (4 GiB at most): play or fetch it through %s", size>>20, "index.m3u8"))
		return
	}
	// Line the tracks up: the later one starts with a pause.
	var first float64 = -1
	for i, t := range pres.Tracks {
		at := float64(starts[i]) / float64(t.TimeScale)
		if first < 0 || at < first {
			first = at
		}
	}
	for i, t := range pres.Tracks {
		t.TimeOffset = int32((float64(starts[i])/float64(t.TimeScale) - first) * float64(t.TimeScale))
	}
	name := fmt.Sprintf("%s-%s-%s.mp4", m.Room, m.ID, lang)
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", name))
	w.Header().Set("Cache-Control", "public, max-age=60")
	s.cfg.stats.request(m.Room, "download")
	if err := pres.Marshal(w); err != nil {
		s.log.Warn("hls: writing an MP4 download", "room", m.Room, "recording", m.ID, "err", err)
	}
}

// Download limits.
const (
	maxDownload         = 4<<30 - 64<<20 // media bytes; the rest is for the boxes
	concurrentDownloads = 2
)

// readTrack reads a recorded rendition's samples (their sizes and
// times; payloads are read again when written) as track id. It returns
// the media time of its first sample.
func readTrack(dir string, id int) (*pmp4.Track, uint64, error) {
	entries, err := readBody(filepath.Join(dir, "segments.m3u8"))
	if err != nil {
		return nil, 0, err
	}
	f, err := os.Open(filepath.Join(dir, "init0.mp4"))
	if err != nil {
		return nil, 0, err
	}
	var in fmp4.Init
	err = in.Unmarshal(f)
	f.Close()
	if err != nil || len(in.Tracks) != 1 {
		return nil, 0, fmt.Errorf("init segment of %s: %v", dir, err)
	}
	t := &pmp4.Track{ID: id, TimeScale: in.Tracks[0].TimeScale, Codec: in.Tracks[0].Codec}
	cache := &segmentCache{}
	var start, next uint64
	for _, e := range entries {
		if e.init != 0 {
			// The picture's parameters changed (a new size, another
			// encoder): one sample entry cannot describe what follows.
			// The VOD playlist plays it all; the download stops here.
			break
		}
		parts, err := readParts(filepath.Join(dir, e.uri))
		if err != nil {
			break // the rest was not written whole
		}
		path := filepath.Join(dir, e.uri)
		n := 0
		for _, p := range parts {
			for _, pt := range p.Tracks {
				if len(t.Samples) == 0 {
					start, next = pt.BaseTime, pt.BaseTime
				}
				if pt.BaseTime > next && len(t.Samples) > 0 {
					// A pause in the recording: the sample before it
					// lasts until the next, so the tracks stay in step.
					t.Samples[len(t.Samples)-1].Duration += uint32(pt.BaseTime - next)
				}
				next = pt.BaseTime
				for _, sa := range pt.Samples {
					idx := n
					t.Samples = append(t.Samples, &pmp4.Sample{Duration: sa.Duration, PTSOffset: sa.PTSOffset,
						IsNonSyncSample: sa.IsNonSyncSample, PayloadSize: uint32(len(sa.Payload)),
						GetPayload: func() ([]byte, error) { return cache.payload(path, idx) }})
					next += uint64(sa.Duration)
					n++
				}
			}
		}
	}
	if len(t.Samples) == 0 {
		return nil, 0, fmt.Errorf("no samples in %s", dir)
	}
	return t, start, nil
}

func readParts(path string) (fmp4.Parts, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var parts fmp4.Parts
	return parts, parts.Unmarshal(data)
}

// segmentCache holds the payloads of the segment file last read: the MP4
// writer asks for a track's samples in order.
type segmentCache struct {
	path     string
	payloads [][]byte
}

func (c *segmentCache) payload(path string, i int) ([]byte, error) {
	if c.path != path {
		parts, err := readParts(path)
		if err != nil {
			return nil, err
		}
		c.path, c.payloads = path, c.payloads[:0]
		for _, p := range parts {
			for _, pt := range p.Tracks {
				for _, sa := range pt.Samples {
					c.payloads = append(c.payloads, sa.Payload)
				}
			}
		}
	}
	if i >= len(c.payloads) {
		return nil, fmt.Errorf("sample %d of %s is gone", i, path)
	}
	return c.payloads[i], nil
}
