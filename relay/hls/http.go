package hls

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/relay"
)

// Register adds the live and recording routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /hls/{room}/index.m3u8", s.handleMultivariant)
	mux.HandleFunc("GET /hls/{room}/{session}/{rend}/{file}", s.handleFile)
	mux.HandleFunc("OPTIONS /hls/", s.handlePreflight)
	mux.HandleFunc("GET /recordings/{$}", s.handleRecordings)
	mux.HandleFunc("GET /recordings/{room}/{id}/{file}", s.handleRecording)
	mux.HandleFunc("GET /recordings/{room}/{id}/{rend}/{file}", s.handleRecordingFile)
	mux.HandleFunc("OPTIONS /recordings/", s.handlePreflight)
}

// Cache lifetimes. Every file URI names its session, so files never
// change: a CDN keeps them. Playlists change with every part.
const (
	cacheImmutable = "public, max-age=31536000, immutable"
	cachePlaylist  = "public, max-age=1"
	// A blocking reload answers for one part: later requests carry other
	// query values, so the answer may be kept a little longer.
	cacheBlocking    = "public, max-age=6"
	cacheMultivarint = "public, max-age=2"
	cacheEnded       = "public, max-age=60"
)

// cors lets players on other origins read the files.
func cors(h http.Header) {
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Access-Control-Expose-Headers", "ETag, Content-Length, Age")
}

func (s *Server) handlePreflight(w http.ResponseWriter, r *http.Request) {
	cors(w.Header())
	w.Header().Set("Access-Control-Allow-Methods", "GET, HEAD, OPTIONS")
	w.Header().Set("Access-Control-Allow-Headers", "Range")
	w.Header().Set("Access-Control-Max-Age", "86400")
	w.WriteHeader(http.StatusNoContent)
}

// admit checks the room name and, for a private room, the viewer token.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, room string) bool {
	cors(w.Header())
	if !relay.ValidRoomName(room) {
		httperr.Write(w, r, s.log, httperr.New(http.StatusBadRequest, "bad room name"))
		return false
	}
	if s.cfg.Allow != nil {
		if err := s.cfg.Allow(r, room); err != nil {
			httperr.Write(w, r, s.log, err)
			return false
		}
	}
	return true
}

// tokenQuery is what playlists append to their URIs: the viewer token a
// private room's player came with, so that every request carries it and
// a CDN keys its cache on it.
func tokenQuery(r *http.Request) string {
	if t := r.URL.Query().Get("token"); t != "" {
		return "?token=" + url.QueryEscape(t)
	}
	return ""
}

func (s *Server) handleMultivariant(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !s.admit(w, r, room) {
		return
	}
	sess := s.session(room)
	if sess == nil {
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "room %s is not on air", room))
		return
	}
	// The variants' codecs, sizes and bitrates are known once the lead
	// has a complete segment: a first player waits for it.
	lead := sess.lead
	if !lead.wait(r.Context(), 3*sess.cfg.targetDuration(), func() bool { return len(lead.segs) > 0 || lead.ended }) {
		httperr.Write(w, r, s.log, httperr.Retry(http.StatusServiceUnavailable, time.Second, "room %s is starting: try again in a second", room))
		return
	}
	s.cfg.stats.request(room, "multivariant")
	s.writePlaylist(w, r, room, sess.multivariant(sess.id+"/", tokenQuery(r)), cacheMultivarint)
}

// handleFile serves a live session's playlists, init segments, segments
// and parts.
func (s *Server) handleFile(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if !s.admit(w, r, room) {
		return
	}
	sess := s.session(room)
	id, rend, file := r.PathValue("session"), r.PathValue("rend"), r.PathValue("file")
	if sess == nil || sess.id != id {
		// An old session: what was recorded of it is still there.
		s.serveRecorded(w, r, room, id, rend, file)
		return
	}
	m, ext := sess.media(rend)
	if m == nil {
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no rendition %q in this session", rend))
		return
	}
	if file == "index.m3u8" {
		s.handleMediaPlaylist(w, r, sess, rend, m, ext)
		return
	}
	name, data, wait, ok := parseFileName(file, ext)
	if !ok {
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no file %q", file))
		return
	}
	var body []byte
	find := func() bool {
		body = m.fileLocked(name)
		return body != nil || m.ended || !m.mayComeLocked(name)
	}
	if wait {
		m.wait(r.Context(), sess.cfg.targetDuration(), find)
	} else {
		m.mu.Lock()
		find()
		m.mu.Unlock()
	}
	if body == nil {
		if data {
			s.serveRecorded(w, r, room, id, rend, file) // older than the live window
			return
		}
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no file %q (yet)", file))
		return
	}
	s.cfg.stats.request(room, name.kind)
	s.cfg.stats.sent(room, len(body))
	h := w.Header()
	h.Set("Content-Type", contentType(file))
	h.Set("Cache-Control", cacheImmutable)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

// fileName is a parsed segment, part or init file name.
type fileName struct {
	kind      string // "init", "segment", "part"
	msn       uint64
	part      int
	initIndex int
}

// parseFileName reads init<n>.mp4, seg<msn>.<ext>, part<msn>.<i>.<ext>.
// data says whether the file may be on disk (a segment or init); wait
// whether a request for it may be held until it exists (RFC 8216bis
// §6.2.6: a preload hint's part, or a segment in progress).
func parseFileName(file, ext string) (n fileName, data, wait, ok bool) {
	base, found := strings.CutSuffix(file, "."+ext)
	if !found && ext != "mp4" {
		base, found = strings.CutSuffix(file, ".mp4")
		if !found || !strings.HasPrefix(base, "init") {
			return n, false, false, false
		}
	}
	if !found {
		return n, false, false, false
	}
	switch {
	case strings.HasPrefix(base, "init"):
		i, err := strconv.Atoi(base[4:])
		return fileName{kind: "init", initIndex: i}, true, false, err == nil && i >= 0 && i < 1000
	case strings.HasPrefix(base, "seg"):
		msn, err := strconv.ParseUint(base[3:], 10, 63)
		return fileName{kind: "segment", msn: msn}, true, true, err == nil
	case strings.HasPrefix(base, "part"):
		a, b, cut := strings.Cut(base[4:], ".")
		msn, err1 := strconv.ParseUint(a, 10, 63)
		i, err2 := strconv.Atoi(b)
		return fileName{kind: "part", msn: msn, part: i}, false, true, cut && err1 == nil && err2 == nil && i >= 0 && i < 10000
	}
	return n, false, false, false
}

// fileLocked returns the bytes of a file in the live window, or nil.
func (m *media) fileLocked(n fileName) []byte {
	switch n.kind {
	case "init":
		if n.initIndex < len(m.inits) {
			return m.inits[n.initIndex].data
		}
	case "segment":
		if s := m.segmentLocked(n.msn); s != nil {
			return s.data
		}
	case "part":
		if s := m.segmentLocked(n.msn); s != nil && n.part < len(s.parts) {
			return s.parts[n.part].data
		}
	}
	return nil
}

// mayComeLocked says whether a file not there yet is worth waiting for:
// the segment in progress, or the next part of it (the preload hint).
func (m *media) mayComeLocked(n fileName) bool {
	if m.cur == nil {
		return n.msn == m.nextMSN && n.part == 0
	}
	switch n.kind {
	case "segment":
		return n.msn == m.cur.msn
	case "part":
		return n.msn == m.cur.msn && n.part <= len(m.cur.parts) || n.msn == m.cur.msn+1 && n.part == 0
	}
	return false
}

// handleMediaPlaylist answers a media playlist request, blocking while
// the client asks for a part that is not there yet (RFC 8216bis §6.2.5.2).
func (s *Server) handleMediaPlaylist(w http.ResponseWriter, r *http.Request, sess *session, rend string, m *media, ext string) {
	q := r.URL.Query()
	cache := cachePlaylist
	if q.Has("_HLS_msn") {
		msn, err := strconv.ParseUint(q.Get("_HLS_msn"), 10, 63)
		if err != nil {
			httperr.Write(w, r, s.log, httperr.New(http.StatusBadRequest, "_HLS_msn is not a number"))
			return
		}
		part := -1
		if q.Has("_HLS_part") {
			if part, err = strconv.Atoi(q.Get("_HLS_part")); err != nil || part < 0 || part > 10000 {
				httperr.Write(w, r, s.log, httperr.New(http.StatusBadRequest, "_HLS_part is not a part number"))
				return
			}
		}
		m.mu.Lock()
		last := max(m.nextMSN, 1) - 1 // the segment in progress: the playlist's last
		m.mu.Unlock()
		if msn > last+2 {
			httperr.Write(w, r, s.log, httperr.New(http.StatusBadRequest, "_HLS_msn %d is too far ahead of the playlist (%d)", msn, last))
			return
		}
		began := time.Now()
		ok := m.wait(r.Context(), 3*sess.cfg.targetDuration(), func() bool { return m.hasLocked(msn, part) })
		s.cfg.stats.blocked(sess.room, time.Since(began))
		if !ok {
			if r.Context().Err() != nil {
				return
			}
			httperr.Write(w, r, s.log, httperr.Retry(http.StatusServiceUnavailable, time.Second, "segment %d part %d did not come in time", msn, part))
			return
		}
		cache = cacheBlocking
	} else if q.Has("_HLS_part") {
		httperr.Write(w, r, s.log, httperr.New(http.StatusBadRequest, "_HLS_part needs _HLS_msn"))
		return
	}
	skip := q.Get("_HLS_skip") == "YES" || q.Get("_HLS_skip") == "v2"
	p := playlistParams{target: sess.cfg.targetDuration(), skip: skip, query: tokenQuery(r), ext: ext,
		reports: sess.reports(rend)}
	if ext == "mp4" {
		p.partTarget = sess.cfg.PartTarget
	}
	m.mu.Lock()
	body := m.playlistLocked(p)
	if m.ended {
		cache = cacheEnded
	}
	m.mu.Unlock()
	s.cfg.stats.request(sess.room, "playlist")
	s.writePlaylist(w, r, sess.room, body, cache)
}

// writePlaylist writes a playlist with its ETag, or 304.
func (s *Server) writePlaylist(w http.ResponseWriter, r *http.Request, room string, body []byte, cache string) {
	h := fnv.New64a()
	h.Write(body)
	etag := fmt.Sprintf(`"%x"`, h.Sum64())
	hd := w.Header()
	hd.Set("Content-Type", "application/vnd.apple.mpegurl")
	hd.Set("Cache-Control", cache)
	hd.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	s.cfg.stats.sent(room, len(body))
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
}

func contentType(file string) string {
	switch filepath.Ext(file) {
	case ".m3u8":
		return "application/vnd.apple.mpegurl"
	case ".vtt":
		return "text/vtt; charset=utf-8"
	case ".mp4":
		if strings.HasPrefix(file, "init") {
			return "video/mp4"
		}
		return "video/iso.segment"
	}
	return "application/octet-stream"
}

// serveRecorded serves a file of a session from its recording: a session
// that ended, or a segment older than the live window.
func (s *Server) serveRecorded(w http.ResponseWriter, r *http.Request, room, id, rend, file string) {
	path, err := s.recordedPath(room, id, rend, file)
	if err == nil {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			defer f.Close()
			st, _ := f.Stat()
			w.Header().Set("Content-Type", contentType(file))
			w.Header().Set("Cache-Control", cacheImmutable)
			s.cfg.stats.request(room, "recorded")
			s.cfg.stats.sent(room, int(st.Size()))
			http.ServeContent(w, r, "", st.ModTime(), f)
			return
		}
	}
	httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no file %q in session %q", file, id))
}

var errBadPath = errors.New("bad path")

// recordedPath is the path of a recorded file, checked: names only, no
// traversal.
func (s *Server) recordedPath(room, id, rend, file string) (string, error) {
	if s.cfg.Dir == "" || !relay.ValidRoomName(room) || !validName(id) || !validName(rend) || !validName(file) {
		return "", errBadPath
	}
	return filepath.Join(s.cfg.Dir, room, id, rend, file), nil
}

// validName allows letters, digits, '-', '_' and single dots inside.
func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || strings.Contains(s, "..") {
		return false
	}
	return strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") == ""
}
