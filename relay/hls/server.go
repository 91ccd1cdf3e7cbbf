// Package hls packages each live room as Low-Latency HLS (RFC 8216bis)
// in fMP4 segments, without transcoding: a video rendition per quality
// layer, an audio rendition per language channel, a WebVTT rendition per
// caption language. It records each session as it muxes it and serves
// the recordings as HLS VOD. See README.md for the decisions.
package hls

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay"
)

// Media is what the packager reads from the relay: the rooms, and taps on
// their channels and layers. *relay.Server meets it through RelayMedia.
type Media interface {
	Rooms() []relay.RoomInfo
	Tap(room string, kind webrtc.RTPCodecType, lang, rid string, w relay.TapWriter) (Tap, error)
}

// Tap is a relay tap as the packager uses it.
type Tap interface {
	RequestKeyframe()
	Close()
}

// RelayMedia adapts the relay's server to Media.
func RelayMedia(s *relay.Server) Media { return relayMedia{s} }

type relayMedia struct{ s *relay.Server }

func (m relayMedia) Rooms() []relay.RoomInfo { return m.s.Rooms() }
func (m relayMedia) Tap(room string, kind webrtc.RTPCodecType, lang, rid string, w relay.TapWriter) (Tap, error) {
	return m.s.Tap(room, kind, lang, rid, w)
}

// Captions is what the packager reads from the captions service.
type Captions interface {
	// Languages are the caption languages a room offers.
	Languages(room string) []string
	// Finals are the finals of a room's language, corrections applied.
	Finals(room, lang string) []Cue
}

// Config is what New needs. Zero values are documented per field.
type Config struct {
	Media    Media
	Captions Captions     // nil: no subtitle renditions
	Log      *slog.Logger // nil: slog.Default()
	// Allow checks a request for a room's media (a private room's viewer
	// token, from the token query parameter); nil allows all.
	Allow func(r *http.Request, room string) error

	// SegmentTarget is the segment length aimed at (0 means 2 s); video
	// segments start at keyframes, asked for in time.
	SegmentTarget time.Duration
	// PartTarget is the partial segment length (0 means 200 ms).
	PartTarget time.Duration
	// Window is how much of the live stream the playlists keep (0 means
	// 60 s): the DVR a player can seek back in.
	Window time.Duration
	// SessionGap is how long a room may be off air before its session
	// ends (0 means 15 s): an encoder reconnecting within it continues
	// the session and its recording.
	SessionGap time.Duration

	// Dir is where recordings go ("" means none are made).
	Dir string
	// Record says whether a room's sessions are recorded (nil: none).
	Record func(room string) bool
	// MinFree is the free disk space under which recording stops (the
	// live path goes on); 0 means 1 GiB or 5 % of the disk, the larger.
	MinFree int64
	// KeepDays and KeepBytes bound the recordings kept: older ones, then
	// the oldest beyond the size, are deleted (0 means no bound).
	KeepDays  int
	KeepBytes int64

	stats *stats
	guard *diskGuard
}

func (c *Config) targetDuration() time.Duration { return 2 * c.SegmentTarget }

// window is the live window in segments.
func (c *Config) window() int { return max(int(c.Window/c.SegmentTarget), 8) }

// Server runs the packager: a session per live room, its HTTP files, the
// recordings.
type Server struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	sessions map[string]*session // the current session of each room

	downloads chan struct{} // one token per MP4 being written

	useMu sync.Mutex // guards use, useAt: DiskUse's last reading
	use   map[string]int64
	useAt time.Time

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// New builds a packager; Run starts it.
func New(cfg Config) *Server {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SegmentTarget <= 0 {
		cfg.SegmentTarget = 2 * time.Second
	}
	if cfg.PartTarget <= 0 {
		cfg.PartTarget = 200 * time.Millisecond
	}
	if cfg.Window <= 0 {
		cfg.Window = time.Minute
	}
	if cfg.SessionGap <= 0 {
		cfg.SessionGap = 15 * time.Second
	}
	cfg.stats = newStats()
	if cfg.Dir != "" {
		cfg.guard = &diskGuard{dir: cfg.Dir, minFree: cfg.MinFree}
	}
	s := &Server{cfg: cfg, log: cfg.Log, sessions: map[string]*session{}, downloads: make(chan struct{}, concurrentDownloads)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s
}

// pollEvery is how often the packager looks at the rooms; settle is how
// long a room is live before its session starts, so that its publisher's
// tracks and layers have all arrived.
const (
	pollEvery = 200 * time.Millisecond
	settle    = 700 * time.Millisecond
)

// Start packages rooms until Close: a session per live room, and the
// deletion of old recordings.
func (s *Server) Start() {
	if s.cfg.Dir != "" {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.retain(s.ctx)
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			select {
			case <-s.ctx.Done():
				s.endAll()
				return
			case <-tick.C:
				s.poll()
			}
		}
	}()
}

// Close ends every session (finalising its recording) and waits for the
// packager's goroutines.
func (s *Server) Close() {
	s.cancel()
	s.wg.Wait()
}

func (s *Server) poll() {
	now := time.Now()
	for _, info := range s.cfg.Media.Rooms() {
		live := info.State == relay.StateLive
		s.mu.Lock()
		sess := s.sessions[info.Name]
		s.mu.Unlock()
		switch {
		case (sess == nil || sess.over.Load()) && live && now.Sub(info.Since) >= settle:
			var langs []string
			if s.cfg.Captions != nil {
				langs = s.cfg.Captions.Languages(info.Name)
			}
			sess, err := newSession(s.ctx, &s.cfg, info, langs)
			if err != nil {
				s.log.Warn("hls: session not started", "room", info.Name, "err", err)
				continue
			}
			s.mu.Lock()
			s.sessions[info.Name] = sess
			s.mu.Unlock()
		case sess == nil || sess.over.Load():
		case live:
			sess.endAt = time.Time{}
			sess.noteBooths(info)
		default:
			if sess.endAt.IsZero() {
				sess.endAt = now
			} else if now.Sub(sess.endAt) >= s.cfg.SessionGap {
				s.end(info.Name, sess)
			}
		}
	}
}

// end finishes a room's session; its playlists (now with EXT-X-ENDLIST)
// and files stay served until the next session replaces it.
func (s *Server) end(room string, sess *session) {
	sess.close()
}

func (s *Server) endAll() {
	s.mu.Lock()
	all := s.sessions
	s.sessions = map[string]*session{}
	s.mu.Unlock()
	for _, sess := range all {
		if !sess.over.Load() {
			sess.close()
		}
	}
}

// session is the room's current session, or nil.
func (s *Server) session(room string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions[room]
}
