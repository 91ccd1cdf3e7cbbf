package hls

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// recorder keeps a session on disk as it is muxed, under
// <Dir>/<room>/<session>/: session.json, and per rendition its init
// segments, its complete segments and the body of its VOD playlist
// (index.m3u8 lines without the header, appended after each segment is
// in place), per subtitle language the finals and corrections as JSON
// lines. A relay killed mid-session leaves a recording that plays up to
// its last complete segment: each file is complete before the playlist
// names it.
type recorder struct {
	dir  string
	sess *session

	mu      sync.Mutex
	stopped string // why recording stopped; "" while it goes on
	maps    map[string]int
	bytes   int64
	files   map[string]*os.File // append-only: playlist bodies, cue logs
}

// sessionMeta is session.json.
type sessionMeta struct {
	Room       string    `json:"room"`
	ID         string    `json:"id"`
	Start      time.Time `json:"start"`
	End        time.Time `json:"end,omitzero"` // zero: the relay stopped without finishing it
	Renditions []string  `json:"renditions"`   // video layers best first, then audio
	Subtitles  []string  `json:"subtitles"`    // caption languages
	Lead       string    `json:"lead"`         // the rendition whose segments subtitles follow
	Stopped    string    `json:"stopped,omitempty"`
	// Booths are the language channels whose booth was live at some time
	// in the session (Version 2 on): the others' renditions carry only
	// the floor, and a recording does not offer them.
	Booths  []string `json:"booths"`
	Version int      `json:"version"`
}

// metaVersion 2 adds Booths.
const metaVersion = 2

// offered says whether a recording offers audio channel lang: every one
// before Version 2, the booths that were live since.
func (m sessionMeta) offered(lang string) bool {
	return m.Version < 2 || hasString(m.Booths, lang)
}

func newRecorder(cfg *Config, s *session) (*recorder, error) {
	if cfg.Dir == "" {
		return nil, errors.New("no recordings directory")
	}
	dir := filepath.Join(cfg.Dir, s.room, s.id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	return &recorder{dir: dir, sess: s, maps: map[string]int{}, files: map[string]*os.File{}}, nil
}

func (r *recorder) meta() sessionMeta {
	m := sessionMeta{Room: r.sess.room, ID: r.sess.id, Start: r.sess.start, Lead: r.sess.lead.name(), Stopped: r.stopped,
		Booths: r.sess.booths(), Version: metaVersion}
	for _, t := range r.sess.tracks {
		m.Renditions = append(m.Renditions, t.name())
	}
	for _, st := range r.sess.subs {
		m.Subtitles = append(m.Subtitles, st.lang)
	}
	return m
}

// writeMeta writes session.json as the session is now: at its start,
// and when a booth goes live.
func (r *recorder) writeMeta() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped == "" {
		r.writeMetaLocked(r.meta())
	}
}

func (r *recorder) writeMetaLocked(m sessionMeta) {
	data, _ := json.MarshalIndent(m, "", "  ")
	if err := writeFileAtomic(filepath.Join(r.dir, "session.json"), data); err != nil {
		r.failLocked(err)
	}
}

// ok says whether recording goes on; it checks the disk first.
func (r *recorder) okLocked() bool {
	if r.stopped != "" {
		return false
	}
	if g := r.sess.cfg.guard; g != nil {
		if err := g.check(); err != nil {
			r.stopLocked(err.Error())
			return false
		}
	}
	return true
}

func (r *recorder) failLocked(err error) {
	r.stopLocked("writing the recording: " + err.Error())
}

// stopLocked stops recording; the live path goes on.
func (r *recorder) stopLocked(why string) {
	if r.stopped != "" {
		return
	}
	r.stopped = why
	r.sess.log.Error("hls: recording stopped; the live stream goes on", "why", why)
	r.sess.cfg.stats.recordingStopped(r.sess.room)
	r.closeFilesLocked()
	r.writeMetaLocked(r.meta())
}

// init writes a rendition's init segment.
func (r *recorder) init(rend string, info initInfo) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.okLocked() {
		return
	}
	if err := os.MkdirAll(filepath.Join(r.dir, rend), 0o755); err != nil {
		r.failLocked(err)
		return
	}
	if err := writeFileAtomic(filepath.Join(r.dir, rend, fmt.Sprintf("init%d.mp4", info.n)), info.data); err != nil {
		r.failLocked(err)
	}
	r.bytes += int64(len(info.data))
}

// segment writes a complete segment, then its playlist lines.
func (r *recorder) segment(rend string, seg *segment, inits []initInfo) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.okLocked() {
		return
	}
	name := fmt.Sprintf("seg%d.mp4", seg.msn)
	if err := writeFileAtomic(filepath.Join(r.dir, rend, name), seg.data); err != nil {
		r.failLocked(err)
		return
	}
	var b strings.Builder
	if n, ok := r.maps[rend]; (!ok || n != seg.init) && seg.init >= 0 {
		r.maps[rend] = seg.init
		fmt.Fprintf(&b, "#EXT-X-MAP:URI=\"init%d.mp4\"\n", seg.init)
	}
	fmt.Fprintf(&b, "#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%s,\n%s\n", seg.pdt.UTC().Format("2006-01-02T15:04:05.000Z"), secs(seg.dur), name)
	if err := r.appendLocked(filepath.Join(rend, "segments.m3u8"), b.String()); err != nil {
		r.failLocked(err)
	}
	r.bytes += int64(len(seg.data))
	r.sess.cfg.stats.segmentRecorded(r.sess.room, len(seg.data))
}

// cueRecord is one line of a subtitle language's cues.jsonl: a final, or
// a later correction of it (the same seq).
type cueRecord struct {
	Seq  uint64        `json:"seq"`
	At   time.Duration `json:"at"` // on the media timeline, nanoseconds
	Text string        `json:"text"`
}

// cue appends a final (or its correction) to the language's cue log.
func (r *recorder) cue(st *subTrack, c Cue, at time.Duration) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.okLocked() {
		return
	}
	line, _ := json.Marshal(cueRecord{Seq: c.Seq, At: at, Text: c.Text})
	if err := os.MkdirAll(filepath.Join(r.dir, st.name()), 0o755); err != nil {
		r.failLocked(err)
		return
	}
	if err := r.appendLocked(filepath.Join(st.name(), "cues.jsonl"), string(line)+"\n"); err != nil {
		r.failLocked(err)
	}
}

func (r *recorder) appendLocked(rel, text string) error {
	f := r.files[rel]
	if f == nil {
		var err error
		f, err = os.OpenFile(filepath.Join(r.dir, rel), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		r.files[rel] = f
	}
	_, err := f.WriteString(text)
	return err
}

// closeFilesLocked closes the append-only files (playlist bodies, cue
// logs); appendLocked opens them again if writing goes on.
func (r *recorder) closeFilesLocked() {
	for _, f := range r.files {
		_ = f.Close()
	}
	r.files = map[string]*os.File{}
}

// finish closes the recording: session.json gets its end.
func (r *recorder) finish() {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closeFilesLocked()
	m := r.meta()
	m.End = time.Now()
	r.writeMetaLocked(m)
}

// state is the recording's state for the monitor.
func (r *recorder) state() (recording bool, stopped string, bytes int64) {
	if r == nil {
		return false, "", 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped == "", r.stopped, r.bytes
}

// writeFileAtomic writes data to path through a temporary file and a
// rename, so that path is either absent or complete.
func writeFileAtomic(path string, data []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
