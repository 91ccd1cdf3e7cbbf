package relay

import (
	"errors"
	"sort"
	"sync"
	"time"

	"github.com/pion/webrtc/v4"
)

var (
	errNoRoom       = errors.New("no such room")
	errTooManyRooms = errors.New("too many rooms")
	errNotLive      = errors.New("room is not live")
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
	viewers   map[string]*viewer
	started   time.Time // first publish, for transcripts and the lobby
}

func newRoom(cfg RoomConfig, srv *Server) *Room {
	return &Room{
		cfg: cfg, srv: srv, state: StateIdle, since: time.Now(), viewers: map[string]*viewer{},
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

// replacePublisher makes p the room's publisher and returns the one it
// replaces, which the caller closes.
func (r *Room) replacePublisher(p *publisher) *publisher {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.publisher
	r.publisher = p
	return old
}

// publisherGone clears p if it is still the room's publisher.
func (r *Room) publisherGone(p *publisher, st State) {
	r.mu.Lock()
	defer r.mu.Unlock()
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
	p := r.publisher
	vs := make([]*viewer, 0, len(r.viewers))
	for _, v := range r.viewers {
		vs = append(vs, v)
	}
	r.mu.Unlock()
	if p != nil {
		p.close("relay shutting down")
	}
	for _, v := range vs {
		v.close("relay shutting down")
	}
}

// RoomInfo is a snapshot of a room for the lobby, the API and monitoring.
type RoomInfo struct {
	Name      string         `json:"name"`
	Title     string         `json:"title"`
	Private   bool           `json:"private"`
	State     State          `json:"state"`
	Since     time.Time      `json:"since"`
	Started   *time.Time     `json:"started,omitempty"`
	Viewers   int            `json:"viewers"`
	Publisher *PubInfo       `json:"publisher,omitempty"`
	Tracks    []TrackInfo    `json:"tracks"`
	Quality   QualitySummary `json:"quality"`
}

// QualitySummary sums up the receiver reports of a room's viewers.
type QualitySummary struct {
	Reporting  int     `json:"reporting"` // viewers that have sent receiver reports
	LossMedian float64 `json:"lossMedian"`
	LossMax    float64 `json:"lossMax"`
	RTTMedian  float64 `json:"rttMedianMs"`
	RTTMax     float64 `json:"rttMaxMs"`
}

func summarise(qs []Quality) QualitySummary {
	var s QualitySummary
	var loss, rtt []float64
	for _, q := range qs {
		if q.Reports == 0 {
			continue
		}
		s.Reporting++
		loss = append(loss, q.Loss)
		if q.RTT > 0 {
			rtt = append(rtt, float64(q.RTT.Microseconds())/1000)
		}
	}
	s.LossMedian, s.LossMax = medianMax(loss)
	s.RTTMedian, s.RTTMax = medianMax(rtt)
	return s
}

func medianMax(v []float64) (median, maxV float64) {
	if len(v) == 0 {
		return 0, 0
	}
	sort.Float64s(v)
	return v[len(v)/2], v[len(v)-1]
}

// PubInfo describes a room's publisher.
type PubInfo struct {
	Tag   string    `json:"tag"` // public name, not the session id
	Since time.Time `json:"since"`
}

// TrackInfo describes one of a room's tracks.
type TrackInfo struct {
	Kind         string  `json:"kind"`
	Codec        string  `json:"codec"`
	Packets      uint64  `json:"packets"`
	Bytes        uint64  `json:"bytes"`
	Keyframes    uint64  `json:"keyframes"`
	PLIs         uint64  `json:"plis"`
	Viewers      int     `json:"viewers"`
	LastPacketMs float64 `json:"lastPacketMs"` // since the last packet arrived
}

func (r *Room) info() RoomInfo {
	r.mu.Lock()
	ri := RoomInfo{Name: r.cfg.Name, Title: r.cfg.Title, Private: r.cfg.Private, State: r.state, Since: r.since, Viewers: len(r.viewers)}
	if !r.started.IsZero() {
		t := r.started
		ri.Started = &t
	}
	if r.publisher != nil {
		ri.Publisher = &PubInfo{Tag: r.publisher.tag, Since: r.publisher.since}
	}
	qs := make([]Quality, 0, len(r.viewers))
	for _, v := range r.viewers {
		qs = append(qs, v.quality.snapshot())
	}
	r.mu.Unlock()
	ri.Quality = summarise(qs)
	if ri.Title == "" {
		ri.Title = ri.Name
	}
	now := time.Now().UnixNano()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		g := r.groups[k]
		s := g.current.Load()
		if s == nil {
			continue
		}
		ti := TrackInfo{Kind: k.String(), Codec: s.codec.MimeType, Packets: s.packets.Load(), Bytes: s.bytes.Load(),
			Keyframes: s.keyCount.Load(), PLIs: s.keyframes.count(), Viewers: g.viewers()}
		if at := s.lastReadAt.Load(); at > 0 {
			ti.LastPacketMs = float64(now-at) / 1e6
		}
		ri.Tracks = append(ri.Tracks, ti)
	}
	return ri
}
