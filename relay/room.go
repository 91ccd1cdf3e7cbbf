package relay

import (
	"errors"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

var (
	errNoRoom       = errors.New("no such room")
	errTooManyRooms = errors.New("too many rooms")
)

// State is a room's publishing state.
type State string

// Room states as the lobby and monitor show them.
const (
	StateIdle State = "idle" // never published, or the publisher left cleanly
	StateLive State = "live"
	StateLost State = "lost" // the publisher vanished without saying goodbye
)

// Room is one session's stream: its current publisher, its track groups and
// its viewers.
type Room struct {
	cfg    RoomConfig
	srv    *Server
	groups map[webrtc.RTPCodecType]*trackGroup

	mu        sync.Mutex
	state     State
	since     time.Time
	publisher *publisher
	// pending are publishers that have been answered but have sent no
	// media yet: the first of them to send takes the room over. Until then
	// the current publisher keeps the room on air, so an encoder that
	// never connects (or a stolen token) cannot take a room off air.
	pending map[*publisher]struct{}
	viewers map[string]*viewer
	started time.Time // first publish, for transcripts and the lobby
}

func newRoom(cfg RoomConfig, srv *Server) *Room {
	return &Room{
		cfg: cfg, srv: srv, state: StateIdle, since: time.Now(), viewers: map[string]*viewer{}, pending: map[*publisher]struct{}{},
		groups: map[webrtc.RTPCodecType]*trackGroup{
			webrtc.RTPCodecTypeVideo: newTrackGroup(webrtc.RTPCodecTypeVideo),
			webrtc.RTPCodecTypeAudio: newTrackGroup(webrtc.RTPCodecTypeAudio),
		},
	}
}

func (r *Room) setState(st State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.setStateLocked(st)
}

func (r *Room) setStateLocked(st State) {
	if r.state != st {
		r.state, r.since = st, time.Now()
		if st == StateLive && r.started.IsZero() {
			r.started = r.since
		}
	}
}

// liveSources returns the room's current sources when it is live. A
// publisher's tracks arrive one by one right after it connects; a viewer
// joining in that moment waits (up to wait) for every kind the publisher
// offered, so it does not end up with audio and no video.
func (r *Room) liveSources(wait time.Duration) []*source {
	deadline := time.Now().Add(wait)
	for {
		r.mu.Lock()
		live := r.state == StateLive
		var expect []webrtc.RTPCodecType
		if r.publisher != nil {
			expect = r.publisher.expect
		}
		r.mu.Unlock()
		if !live {
			return nil
		}
		var out []*source
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if s := r.groups[k].current.Load(); s != nil {
				out = append(out, s)
			}
		}
		if len(out) >= len(expect) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addPending records p as a publisher that takes the room over when its
// first media arrives (promote).
func (r *Room) addPending(p *publisher) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending[p] = struct{}{}
}

// promote makes p the room's publisher, if it is not already, and returns
// the one it replaces, which the caller closes. ok is false when p is
// neither pending nor the publisher any more (it was closed meanwhile).
func (r *Room) promote(p *publisher) (old *publisher, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.publisher == p {
		return nil, true
	}
	if _, pending := r.pending[p]; !pending {
		return nil, false
	}
	delete(r.pending, p)
	old, r.publisher = r.publisher, p
	return old, true
}

// publisherByID finds the current or a pending publisher by session id.
func (r *Room) publisherByID(id string) *publisher {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p := r.publisher; p != nil && p.id == id {
		return p
	}
	for p := range r.pending {
		if p.id == id {
			return p
		}
	}
	return nil
}

// publisherGone clears p if it is still the room's publisher, and forgets
// it if it was pending.
func (r *Room) publisherGone(p *publisher, st State) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.pending, p)
	if r.publisher != p {
		return
	}
	if st == StateIdle {
		r.publisher = nil
	}
	r.setStateLocked(st)
}

func (r *Room) isPublisher(p *publisher) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publisher == p
}

func (r *Room) addViewer(v *viewer) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.viewers) >= r.srv.cfg.MaxViewersPerRoom {
		return errRoomFull
	}
	r.viewers[v.id] = v
	return nil
}

func (r *Room) removeViewer(v *viewer) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.viewers[v.id] != v {
		return false
	}
	delete(r.viewers, v.id)
	return true
}

func (r *Room) viewer(id string) *viewer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.viewers[id]
}

func (r *Room) close() {
	r.mu.Lock()
	ps := make([]*publisher, 0, 1+len(r.pending))
	if r.publisher != nil {
		ps = append(ps, r.publisher)
	}
	for p := range r.pending {
		ps = append(ps, p)
	}
	vs := make([]*viewer, 0, len(r.viewers))
	for _, v := range r.viewers {
		vs = append(vs, v)
	}
	r.mu.Unlock()
	for _, p := range ps {
		p.close("relay shutting down")
	}
	for _, v := range vs {
		v.close("relay shutting down")
	}
}

// currentPublisher is the room's publisher, or nil.
func (r *Room) currentPublisher() *publisher {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.publisher
}

// viewerByTag finds a viewer by its public tag.
func (r *Room) viewerByTag(tag string) *viewer {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.viewers {
		if v.tag == tag {
			return v
		}
	}
	return nil
}

// appendViewers appends the room's viewers to dst: the report loop walks
// them without holding the room's lock.
func (r *Room) appendViewers(dst []*viewer) []*viewer {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, v := range r.viewers {
		dst = append(dst, v)
	}
	return dst
}

// roomSnapshot is a room's state at one moment, taken under its lock: the
// API's RoomInfo, the metrics' RoomStats and the admin viewer list are all
// built from it.
type roomSnapshot struct {
	state     State
	since     time.Time
	started   time.Time // zero until the first publish
	publisher *PubInfo  // nil when there is none
	viewers   []viewerSnapshot
}

type viewerSnapshot struct {
	tag     string
	since   time.Time
	quality Quality
}

func (r *Room) snapshot() roomSnapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	snap := roomSnapshot{state: r.state, since: r.since, started: r.started, viewers: make([]viewerSnapshot, 0, len(r.viewers))}
	if p := r.publisher; p != nil {
		snap.publisher = &PubInfo{Tag: p.tag, Since: p.since}
	}
	for _, v := range r.viewers {
		snap.viewers = append(snap.viewers, viewerSnapshot{tag: v.tag, since: v.since, quality: v.quality.snapshot()})
	}
	return snap
}
