package hls

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/pion/webrtc/v4"
	"golang.org/x/text/language"
	"golang.org/x/text/language/display"

	"github.com/relay-av/relay/relay"
)

// session is one live session of a room: from the floor going live to it
// being gone for longer than Config.SessionGap. Publisher replacements
// inside it are source switches of its taps: the timeline goes on.
type session struct {
	cfg    *Config
	room   string
	id     string // public: names the recording and the URIs of its files
	start  time.Time
	log    *slog.Logger
	tracks []*track    // video layers best first, then the floor, then languages
	subs   []*subTrack // one per caption language
	lead   *track
	record *recorder // nil when not recorded
	// recordFailed says why a session meant to be recorded is not.
	recordFailed string

	mu         sync.Mutex
	boundaries []boundary // the lead's segment starts, newest last
	clockAt    time.Duration
	clockWall  time.Time
	keyAsked   time.Time
	liveBooths map[string]bool // audio channels whose booth has been live in the session
	endAt      time.Time       // when the room was last seen not live; zero while live (poll's)
	over       atomic.Bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// boundary is where the lead started segment msn.
type boundary struct {
	msn uint64
	at  time.Duration
}

// maxBoundaries is how many boundaries a session remembers: followers
// need the last few.
const maxBoundaries = 64

// renditionName is a track's name in URIs: v (one layer) or v-<rid>,
// a (the floor) or a-<lang>, s-<lang> for subtitles.
func renditionName(kind webrtc.RTPCodecType, lang, rid string) string {
	if kind == webrtc.RTPCodecTypeVideo {
		if rid == "" {
			return "v"
		}
		return "v-" + rid
	}
	if lang == "" {
		return "a"
	}
	return "a-" + lang
}

// newSession starts packaging room as it is now: a video track per layer,
// an audio track for the floor and for each language channel the room
// declares or has had live, a subtitle track per caption language.
func newSession(parent context.Context, cfg *Config, info relay.RoomInfo, langs []string) (*session, error) {
	now := time.Now()
	s := &session{cfg: cfg, room: info.Name, start: now, id: now.UTC().Format("20060102T150405Z")}
	s.log = cfg.Log.With("room", info.Name, "hls", s.id)
	s.ctx, s.cancel = context.WithCancel(parent)
	if cfg.Record != nil && cfg.Record(info.Name) {
		rec, err := newRecorder(cfg, s)
		if err != nil {
			s.recordFailed = "could not start: " + err.Error()
			s.log.Error("hls: not recording; the live stream goes on", "err", err)
			cfg.stats.recordingStopped(info.Name)
		} else {
			s.record = rec
		}
	}
	// Video renditions only for a codec HLS carries: a VP8 floor makes an
	// audio-only session (the floor audio leads) rather than none.
	hasVideo := false
	for _, t := range info.Tracks {
		hasVideo = hasVideo || t.Kind == "video" && packaged(t.Codec)
	}
	if hasVideo {
		rids := []string{""}
		if len(info.Layers) > 0 {
			rids = rids[:0]
			for _, l := range info.Layers {
				rids = append(rids, l.RID)
			}
		}
		for _, rid := range rids {
			s.addTrack(webrtc.RTPCodecTypeVideo, "", rid)
		}
	}
	s.addTrack(webrtc.RTPCodecTypeAudio, "", "")
	for _, lang := range audioLanguages(info) {
		s.addTrack(webrtc.RTPCodecTypeAudio, lang, "")
	}
	s.lead = s.tracks[0]
	s.lead.lead = true
	for _, lang := range langs {
		s.subs = append(s.subs, newSubTrack(s, lang))
	}
	for _, t := range s.tracks {
		tap, err := cfg.Media.Tap(info.Name, t.kind, t.lang, t.rid, t)
		if err != nil {
			for _, t := range s.tracks {
				if t.tap != nil {
					t.tap.Close() // no goroutine owns them yet
				}
			}
			s.cancel()
			s.record.finish()
			return nil, fmt.Errorf("tapping %s of room %s: %w", t.name(), info.Name, err)
		}
		t.tap = tap
	}
	s.record.writeMeta()
	for _, t := range s.tracks {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			t.run(s.ctx)
		}()
	}
	s.log.Info("hls: session started", "renditions", len(s.tracks), "subtitles", len(s.subs), "recording", s.record != nil)
	return s, nil
}

// audioLanguages are the audio channels of a room: those it declares and
// those that have been live, sorted.
func audioLanguages(info relay.RoomInfo) []string {
	langs := append([]string(nil), info.Languages...)
	for _, ch := range info.Channels {
		if ch.Kind == relay.KindAudio {
			langs = append(langs, ch.Lang)
		}
	}
	slices.Sort(langs)
	return slices.Compact(langs)
}

func (s *session) addTrack(kind webrtc.RTPCodecType, lang, rid string) {
	t := &track{sess: s, kind: kind, lang: lang, rid: rid, timescale: 48000, in: make(chan rtpIn, inQueue)}
	if kind == webrtc.RTPCodecTypeVideo {
		t.timescale = 90000
	}
	t.log = s.log.With("rendition", t.name())
	s.tracks = append(s.tracks, t)
}

func (t *track) name() string { return renditionName(t.kind, t.lang, t.rid) }

// run is the track's goroutine.
func (t *track) run(ctx context.Context) {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			t.tap.Close()
			for {
				select {
				case p := <-t.in:
					t.order.push(p, time.Now(), t.ordered)
					continue
				default:
				}
				break
			}
			t.order.flushAll(t.ordered)
			t.finish()
			return
		case p := <-t.in:
			t.order.push(p, time.Now(), t.ordered)
		case now := <-tick.C:
			t.order.expire(now, t.ordered)
			t.drain()
		}
	}
}

// close ends the session: taps stop, tracks write what they hold, the
// recording is finalised.
func (s *session) close() {
	s.cancel()
	s.wg.Wait() // each track's goroutine closes its tap and writes what it holds
	for _, st := range s.subs {
		st.end()
	}
	s.record.finish()
	s.over.Store(true)
	s.log.Info("hls: session ended", "duration", time.Since(s.start).Round(time.Second).String())
}

// noteBooths records the booths live now; a new one goes into the
// recording's session.json at once.
func (s *session) noteBooths(info relay.RoomInfo) {
	added := false
	s.mu.Lock()
	for _, ch := range info.Channels {
		if ch.Kind == relay.KindAudio && ch.Live && !s.liveBooths[ch.Lang] {
			if s.liveBooths == nil {
				s.liveBooths = map[string]bool{}
			}
			s.liveBooths[ch.Lang], added = true, true
		}
	}
	s.mu.Unlock()
	if added {
		s.record.writeMeta()
	}
}

// booths are the channels noteBooths saw live, sorted.
func (s *session) booths() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{}
	for lang := range s.liveBooths {
		out = append(out, lang)
	}
	slices.Sort(out)
	return out
}

// clock is the lead's media time and whether it is alive (committed a
// sample within the last two seconds).
func (s *session) clock() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.clockAt, !s.clockWall.IsZero() && time.Since(s.clockWall) < 2*time.Second
}

// advance moves the lead's clock.
func (s *session) advance(at time.Duration) {
	s.mu.Lock()
	s.clockAt, s.clockWall = at, time.Now()
	s.mu.Unlock()
}

// addBoundary records the lead's new segment.
func (s *session) addBoundary(msn uint64, at time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.boundaries = append(s.boundaries, boundary{msn, at})
	if n := len(s.boundaries) - maxBoundaries; n > 0 {
		s.boundaries = append(s.boundaries[:0], s.boundaries[n:]...)
	}
}

// firstBoundary is where the lead's first segment began.
func (s *session) firstBoundary() (time.Duration, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.boundaries) == 0 {
		return 0, false
	}
	return s.boundaries[0].at, true
}

// nextBoundary is where a track whose segment started at start cuts
// next: the lead's next segment start for a follower while the lead is
// alive; otherwise one segment target on (an audio lead, or a follower
// whose lead stalled).
func (s *session) nextBoundary(start time.Duration, lead bool) time.Duration {
	if !lead {
		_, alive := s.clock()
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, b := range s.boundaries {
			if b.at > start+time.Millisecond {
				return b.at
			}
		}
		if alive {
			return 1<<62 - 1
		}
	}
	return start + s.cfg.SegmentTarget
}

// msnAt is the number a track gives its first segment, starting at at:
// the lead's segment that holds at, so that renditions' numbers agree.
func (s *session) msnAt(at time.Duration) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	var msn uint64
	for _, b := range s.boundaries {
		if b.at <= at+time.Millisecond {
			msn = b.msn
		}
	}
	return msn
}

// maxSegment is the longest a segment may be: EXT-X-TARGETDURATION less
// a margin for rounding.
func (s *session) maxSegment() time.Duration {
	return s.cfg.targetDuration() - 100*time.Millisecond
}

// requestKeyframes asks every video source for a keyframe, at most once
// per half segment.
func (s *session) requestKeyframes() {
	s.mu.Lock()
	if time.Since(s.keyAsked) < s.cfg.SegmentTarget/2 {
		s.mu.Unlock()
		return
	}
	s.keyAsked = time.Now()
	s.mu.Unlock()
	for _, t := range s.tracks {
		if t.kind == webrtc.RTPCodecTypeVideo {
			t.tap.RequestKeyframe()
		}
	}
}

// leadSegment is called by the lead when it completes a segment: the
// subtitle tracks write theirs for the same span.
func (s *session) leadSegment(seg *segment) {
	for _, st := range s.subs {
		st.segment(seg)
	}
}

// track finds a rendition by name.
func (s *session) track(name string) *track {
	for _, t := range s.tracks {
		if t.name() == name {
			return t
		}
	}
	return nil
}

func (s *session) sub(name string) *subTrack {
	for _, st := range s.subs {
		if st.name() == name {
			return st
		}
	}
	return nil
}

// wallAt is the wall-clock time of media time at.
func (s *session) wallAt(at time.Duration) time.Time {
	return s.start.Add(at - mediaBase)
}

// languageName is a language's name in itself ("Français", "中文"), for
// NAME attributes.
func languageName(tag string) string {
	t, err := language.Parse(tag)
	if err != nil {
		return tag
	}
	name := display.Self.Name(t)
	if name == "" {
		return tag
	}
	r := []rune(name)
	return string(append([]rune{unicode.ToUpper(r[0])}, r[1:]...))
}
