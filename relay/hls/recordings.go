package hls

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io/fs"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/relay"
)

// Recording is one recorded session as GET /recordings/ lists it.
type Recording struct {
	Room      string    `json:"room"`
	ID        string    `json:"id"`
	Start     time.Time `json:"start"`
	Duration  float64   `json:"duration"` // seconds of media recorded
	Complete  bool      `json:"complete"` // false: still recording, or the relay stopped mid-session
	Recording bool      `json:"recording"`
	Languages []string  `json:"languages"` // audio channels besides the floor
	Subtitles []string  `json:"subtitles"`
	Bytes     int64     `json:"bytes"`
	Stopped   string    `json:"stopped,omitempty"` // why recording stopped early
	Playlist  string    `json:"playlist"`          // the VOD multivariant playlist
	Watch     string    `json:"watch"`             // the watch page
	// Downloads are one MP4 per audio channel ("floor" and each
	// language): the best video layer with that audio.
	Downloads map[string]string `json:"downloads"`
}

// entry is one segment line of a recorded playlist body.
type entry struct {
	init int
	pdt  time.Time
	dur  time.Duration
	uri  string
	msn  uint64
}

// readBody parses a rendition's segments.m3u8 lines.
func readBody(path string) ([]entry, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []entry
	var cur entry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#EXT-X-MAP:URI=\"init"):
			fmt.Sscanf(strings.TrimPrefix(line, "#EXT-X-MAP:URI=\"init"), "%d", &cur.init)
		case strings.HasPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"):
			cur.pdt, _ = time.Parse("2006-01-02T15:04:05.000Z", strings.TrimPrefix(line, "#EXT-X-PROGRAM-DATE-TIME:"))
		case strings.HasPrefix(line, "#EXTINF:"):
			var secs float64
			fmt.Sscanf(strings.TrimPrefix(line, "#EXTINF:"), "%f", &secs)
			cur.dur = time.Duration(secs * float64(time.Second))
		case strings.HasPrefix(line, "seg"):
			cur.uri = line
			fmt.Sscanf(line, "seg%d.", &cur.msn)
			out = append(out, cur)
			cur.pdt, cur.dur = time.Time{}, 0
		}
	}
	return out, sc.Err()
}

// readMeta reads a recording's session.json.
func (s *Server) readMeta(room, id string) (sessionMeta, error) {
	var m sessionMeta
	if s.cfg.Dir == "" || !relay.ValidRoomName(room) || !validName(id) {
		return m, errBadPath
	}
	data, err := os.ReadFile(filepath.Join(s.cfg.Dir, room, id, "session.json"))
	if err != nil {
		return m, err
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, err
	}
	// The files read are the path's, whatever the file says; the names it
	// gives become paths, so they are checked like a request's.
	m.Room, m.ID = room, id
	for _, name := range append(append([]string{m.Lead}, m.Renditions...), m.Subtitles...) {
		if !validName(name) {
			return m, fmt.Errorf("recording %s/%s: bad name %q in session.json", room, id, name)
		}
	}
	return m, nil
}

// recordings lists every recording, newest first.
func (s *Server) recordings() []Recording {
	if s.cfg.Dir == "" {
		return nil
	}
	var out []Recording
	rooms, _ := os.ReadDir(s.cfg.Dir)
	for _, rd := range rooms {
		if !rd.IsDir() || !relay.ValidRoomName(rd.Name()) {
			continue
		}
		ids, _ := os.ReadDir(filepath.Join(s.cfg.Dir, rd.Name()))
		for _, idd := range ids {
			if rec, ok := s.recording(rd.Name(), idd.Name()); ok {
				out = append(out, rec)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.After(out[j].Start) })
	return out
}

// recording describes one recording; ok is false when it is not one.
func (s *Server) recording(room, id string) (Recording, bool) {
	m, err := s.readMeta(room, id)
	if err != nil {
		return Recording{}, false
	}
	dir := filepath.Join(s.cfg.Dir, room, id)
	lead, _ := readBody(filepath.Join(dir, m.Lead, "segments.m3u8"))
	var dur time.Duration
	for _, e := range lead {
		dur += e.dur
	}
	live := s.session(room)
	rec := Recording{Room: room, ID: id, Start: m.Start, Duration: math.Round(dur.Seconds()*1000) / 1000,
		Complete: !m.End.IsZero(), Subtitles: m.Subtitles, Stopped: m.Stopped, Languages: []string{},
		Playlist: fmt.Sprintf("/recordings/%s/%s/index.m3u8", room, id),
		Watch:    fmt.Sprintf("/watch/%s/recordings/%s", room, id), Downloads: map[string]string{}}
	if live != nil && live.id == id && !live.over.Load() {
		rec.Recording, _, _ = live.record.state()
	}
	if rec.Subtitles == nil {
		rec.Subtitles = []string{}
	}
	for _, r := range m.Renditions {
		if r == "a" {
			rec.Downloads["floor"] = fmt.Sprintf("/recordings/%s/%s/floor.mp4", room, id)
		} else if lang, ok := strings.CutPrefix(r, "a-"); ok && m.offered(lang) {
			rec.Languages = append(rec.Languages, lang)
			rec.Downloads[lang] = fmt.Sprintf("/recordings/%s/%s/%s.mp4", room, id, lang)
		}
	}
	rec.Bytes = dirSize(dir)
	return rec, true
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}

// handleRecordings serves GET /recordings/: the list, as JSON. A private
// room's recordings are listed only to a request that may watch it.
func (s *Server) handleRecordings(w http.ResponseWriter, r *http.Request) {
	cors(w.Header())
	list := []Recording{}
	for _, rec := range s.recordings() {
		if s.cfg.Allow != nil && s.cfg.Allow(r, rec.Room) != nil {
			continue
		}
		list = append(list, rec)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	_ = json.NewEncoder(w).Encode(map[string]any{"recordings": list})
}

// admitRecording checks a request for a recording ({room}, {id}) and
// reads its session.json; it has answered when ok is false.
func (s *Server) admitRecording(w http.ResponseWriter, r *http.Request) (m sessionMeta, ok bool) {
	room, id := r.PathValue("room"), r.PathValue("id")
	if !s.admit(w, r, room) {
		return m, false
	}
	m, err := s.readMeta(room, id)
	if err != nil {
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no recording %s of room %s", id, room))
		return m, false
	}
	return m, true
}

// handleRecording serves a recording's multivariant playlist and its
// per-language MP4 downloads.
func (s *Server) handleRecording(w http.ResponseWriter, r *http.Request) {
	file := r.PathValue("file")
	m, ok := s.admitRecording(w, r)
	if !ok {
		return
	}
	room := m.Room
	if file == "index.m3u8" {
		s.writePlaylist(w, r, room, s.vodMultivariant(m, tokenQuery(r)), "public, max-age=5")
		return
	}
	if lang, ok := strings.CutSuffix(file, ".mp4"); ok {
		s.serveMP4(w, r, m, lang)
		return
	}
	httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no file %q", file))
}

// handleRecordingFile serves a recording's media playlists, init
// segments, segments and subtitle segments.
func (s *Server) handleRecordingFile(w http.ResponseWriter, r *http.Request) {
	rend, file := r.PathValue("rend"), r.PathValue("file")
	m, ok := s.admitRecording(w, r)
	if !ok {
		return
	}
	room, id := m.Room, m.ID
	lang, isSub := strings.CutPrefix(rend, "s-")
	switch {
	case isSub && file == "index.m3u8":
		s.serveVODSubtitles(w, r, m, lang, tokenQuery(r))
	case isSub:
		s.serveVODCues(w, r, m, lang, file)
	case file == "index.m3u8":
		body, err := s.vodPlaylist(m, rend, tokenQuery(r))
		if err != nil {
			httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no rendition %q in recording %s", rend, id))
			return
		}
		s.writePlaylist(w, r, room, body, "public, max-age=5")
	default:
		s.serveRecorded(w, r, room, id, rend, file)
	}
}

// vodPlaylist writes a rendition's VOD playlist from its recorded body:
// every complete segment, then EXT-X-ENDLIST (also for a recording the
// relay did not finish: it plays up to its last complete segment).
func (s *Server) vodPlaylist(m sessionMeta, rend, query string) ([]byte, error) {
	if !validName(rend) {
		return nil, errBadPath
	}
	entries, err := readBody(filepath.Join(s.cfg.Dir, m.Room, m.ID, rend, "segments.m3u8"))
	if err != nil {
		return nil, err
	}
	var b strings.Builder
	writeVODHeader(&b, entries)
	mapN := -1
	for _, e := range entries {
		if e.init != mapN {
			mapN = e.init
			fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"init%d.mp4%s\"\n", e.init, query)
		}
		fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%s,\n%s%s\n", e.pdt.UTC().Format("2006-01-02T15:04:05.000Z"), secs(e.dur), e.uri, query)
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	return []byte(b.String()), nil
}

func writeVODHeader(b *strings.Builder, entries []entry) {
	target := 1
	for _, e := range entries {
		target = max(target, int(math.Round(e.dur.Seconds())))
	}
	first := uint64(0)
	if len(entries) > 0 {
		first = entries[0].msn
	}
	fmt.Fprintf(b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:%d\n#EXT-X-MEDIA-SEQUENCE:%d\n", target, first)
}
