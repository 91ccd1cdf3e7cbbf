package relay

import (
	"errors"
	"sort"
	"sync"
	"sync/atomic"
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

// Room is one session's stream: its floor, its language channels and its
// viewers.
type Room struct {
	cfg RoomConfig
	srv *Server
	// floor is the program feed. groups are its track groups, the ones
	// every viewer's floor video (and floor audio) forwarder lives in.
	floor  *channel
	groups map[webrtc.RTPCodecType]*trackGroup

	mu sync.Mutex
	// channels are the language channels that have had a publisher, by
	// canonical language tag; they are never removed while the room lives,
	// so a delegate's choice survives a booth going down.
	channels map[string]*channel
	viewers  map[string]*viewer
	taps     map[*Tap]struct{} // HLS taps: listeners without a PeerConnection
	started  time.Time         // first publish, for transcripts and the lobby
	// retired holds the forwarding counts of viewers that left, per kind,
	// so the room's totals never go down.
	retired map[webrtc.RTPCodecType]*KindStats
	// switches counts track moves between sources (selections, booths
	// going live or down); layerUp and layerDown the video moves between
	// layers.
	switches, layerUp, layerDown atomic.Uint64
}

func newRoom(cfg RoomConfig, srv *Server) *Room {
	floor := newChannel("")
	return &Room{
		cfg: cfg, srv: srv, floor: floor, groups: floor.groups, channels: map[string]*channel{},
		viewers: map[string]*viewer{}, taps: map[*Tap]struct{}{},
		retired: map[webrtc.RTPCodecType]*KindStats{webrtc.RTPCodecTypeVideo: {}, webrtc.RTPCodecTypeAudio: {}},
	}
}

// setState sets ch's state; a language channel's listeners then follow
// it (to the booth when it is live, the floor when not).
func (r *Room) setState(ch *channel, st State) {
	r.mu.Lock()
	changed := r.setStateLocked(ch, st)
	r.mu.Unlock()
	if changed {
		r.channelChanged(ch)
	}
}

func (r *Room) setStateLocked(ch *channel, st State) bool {
	if ch.state == st {
		return false
	}
	ch.state, ch.since = st, time.Now()
	if st == StateLive && ch == r.floor && r.started.IsZero() {
		r.started = ch.since
	}
	return true
}

// liveSources returns the room's current sources when it is live. A
// publisher's tracks arrive one by one right after it connects; a viewer
// joining in that moment waits (up to wait) for every kind the publisher
// offered, so it does not end up with audio and no video.
func (r *Room) liveSources(wait time.Duration) []*source {
	deadline := time.Now().Add(wait)
	for {
		r.mu.Lock()
		live := r.floor.state == StateLive
		var expect []webrtc.RTPCodecType
		if p := r.floor.publisher; p != nil {
			expect = p.expect
		}
		var out []*source
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if s := r.floor.mainSource(k); s != nil {
				out = append(out, s)
			}
		}
		r.mu.Unlock()
		if !live {
			return nil
		}
		if len(out) >= len(expect) || time.Now().After(deadline) {
			return out
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// addPending records p as a publisher that takes its channel over when its
// first media arrives (promote).
func (r *Room) addPending(p *publisher) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p.ch.pending[p] = struct{}{}
}

// promote makes p its channel's publisher, if it is not already, and
// returns the one it replaces, which the caller closes. ok is false when p
// is neither pending nor the publisher any more (it was closed meanwhile).
func (r *Room) promote(p *publisher) (old *publisher, ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	ch := p.ch
	if ch.publisher == p {
		return nil, true
	}
	if _, pending := ch.pending[p]; !pending {
		return nil, false
	}
	delete(ch.pending, p)
	old, ch.publisher = ch.publisher, p
	ch.everLive = true
	return old, true
}

// publisherByID finds a current or pending publisher of any channel by
// session id.
func (r *Room) publisherByID(id string) *publisher {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range r.allChannelsLocked() {
		if p := ch.publisher; p != nil && p.id == id {
			return p
		}
		for p := range ch.pending {
			if p.id == id {
				return p
			}
		}
	}
	return nil
}

// publisherGone clears p if it is still its channel's publisher, and
// forgets it if it was pending.
func (r *Room) publisherGone(p *publisher, st State) {
	r.mu.Lock()
	ch := p.ch
	delete(ch.pending, p)
	if ch.publisher != p {
		r.mu.Unlock()
		return
	}
	if st == StateIdle {
		ch.publisher = nil
	}
	changed := r.setStateLocked(ch, st)
	r.mu.Unlock()
	if changed {
		r.channelChanged(ch)
	}
}

func (r *Room) isPublisher(p *publisher) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return p.ch.publisher == p
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
	if v.ready.Load() {
		for _, t := range v.tracks {
			if f := t.forwarder(); f != nil {
				f.addTo(r.retired[t.kind])
			}
		}
	}
	return true
}

func (r *Room) viewer(id string) *viewer {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.viewers[id]
}

func (r *Room) close() {
	r.mu.Lock()
	var ps []*publisher
	for _, ch := range r.allChannelsLocked() {
		if ch.publisher != nil {
			ps = append(ps, ch.publisher)
		}
		for p := range ch.pending {
			ps = append(ps, p)
		}
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

// currentPublisher is the floor's publisher, or nil.
func (r *Room) currentPublisher() *publisher {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.floor.publisher
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
	// channels are the language channels that have been live, one per
	// language and kind, by language; floor is the floor's audio.
	channels []channelSnapshot
	floor    channelSnapshot
	// kinds are the room's totals per kind of media: every channel's
	// sources, every viewer's forwarders, and those that left.
	kinds map[webrtc.RTPCodecType]KindStats
	// main is the floor's source of each kind (the best video layer).
	main map[webrtc.RTPCodecType]*source
	// layers are the floor's video layers with a source, best first.
	layers []layerSnapshot
}

type layerSnapshot struct {
	rid           string
	width, height int
	bitrate       uint64
	viewers       int
}

type viewerSnapshot struct {
	tag     string
	since   time.Time
	quality Quality
	sel     selection
	// playingAudio and playingSign are the channels the viewer's first
	// audio and second video tracks carry now ("" the floor / none).
	playingAudio, playingSign string
	layer                     string // the floor video layer it receives
	estimate                  uint64 // bits/s; 0 unknown
	paused                    bool   // video paused: the estimate is under the lowest layer
	path                      string // how its media flows ("" until connected)
}

type channelSnapshot struct {
	lang, kind  string
	live        bool
	since       time.Time
	interpreter string
	listeners   int
	level       float64
	silent      time.Duration
	hasLevel    bool
}

func (r *Room) snapshot() roomSnapshot {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	fl := r.floor
	snap := roomSnapshot{state: fl.state, since: fl.since, started: r.started, viewers: make([]viewerSnapshot, 0, len(r.viewers)),
		kinds: map[webrtc.RTPCodecType]KindStats{}, main: map[webrtc.RTPCodecType]*source{}}
	if p := fl.publisher; p != nil {
		snap.publisher = &PubInfo{Tag: p.tag, Since: p.since}
	}
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		st := *r.retired[k]
		for _, ch := range r.allChannelsLocked() {
			for _, g := range ch.kindGroups(k) {
				g.addSourceStats(&st)
			}
		}
		st.Codec = fl.groups[k].codecCap().MimeType
		if s := fl.mainSource(k); s != nil {
			st.Codec = s.codec.MimeType
			snap.main[k] = s
		}
		snap.kinds[k] = st
	}
	listeners := map[string]int{}
	signers := map[string]int{}
	layerViewers := map[*trackGroup]int{}
	for _, v := range r.viewers {
		vs := viewerSnapshot{tag: v.tag, since: v.since, quality: v.quality.snapshot()}
		if v.bwe != nil {
			vs.estimate = v.bwe.estimate.Load()
		}
		if pk := v.chooser.current(); pk != nil && pk.paused {
			vs.paused = true
		}
		if p := v.path.Load(); p != nil {
			vs.path = *p
		}
		if sel := v.sel.Load(); sel != nil {
			vs.sel = *sel
		}
		listeners[vs.sel.audio]++
		if vs.sel.sign != "" {
			signers[vs.sel.sign]++
		}
		if v.ready.Load() {
			seen := map[webrtc.RTPCodecType]bool{}
			for _, t := range v.tracks {
				f := t.forwarder()
				if f == nil {
					continue
				}
				st := snap.kinds[t.kind]
				f.addTo(&st)
				if !seen[t.kind] {
					st.Viewers++
					seen[t.kind] = true
				}
				snap.kinds[t.kind] = st
				switch g := t.group.Load(); {
				case g == nil:
				case t.role == roleAudio:
					vs.playingAudio = g.lang
				case t.role == roleSign:
					vs.playingSign = g.lang
				case t.role == roleVideo:
					vs.layer = g.rid
					layerViewers[g]++
				}
			}
		}
		snap.viewers = append(snap.viewers, vs)
	}
	for _, g := range fl.orderedLayers(true) {
		s := g.current.Load()
		snap.layers = append(snap.layers, layerSnapshot{rid: g.rid, width: int(s.width.Load()), height: int(s.height.Load()),
			bitrate: fl.bitrate(g.rid), viewers: layerViewers[g]})
	}
	snap.floor = channelSnapshot{lang: FloorLang, kind: KindAudio, live: fl.state == StateLive, since: fl.since, listeners: listeners[""]}
	snap.floor.readLevel(fl, now)
	for _, ch := range r.channels {
		if !ch.everLive {
			continue
		}
		tag := ""
		if ch.publisher != nil {
			tag = ch.publisher.tag
		}
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
			had := false
			for _, g := range ch.kindGroups(k) {
				had = had || g.codecCap().MimeType != ""
			}
			if !had {
				continue // never had this kind
			}
			cs := channelSnapshot{lang: ch.lang, kind: KindAudio, live: ch.flowing[k], since: ch.flowSince[k], interpreter: tag, listeners: listeners[ch.lang]}
			if k == webrtc.RTPCodecTypeVideo {
				cs.kind, cs.listeners = KindSign, signers[ch.lang]
			} else {
				cs.readLevel(ch, now)
			}
			snap.channels = append(snap.channels, cs)
		}
	}
	sort.Slice(snap.channels, func(i, j int) bool {
		a, b := snap.channels[i], snap.channels[j]
		return a.lang < b.lang || a.lang == b.lang && a.kind < b.kind
	})
	return snap
}

// readLevel reads the audio level of ch's current audio source.
func (cs *channelSnapshot) readLevel(ch *channel, now time.Time) {
	if s := ch.groups[webrtc.RTPCodecTypeAudio].current.Load(); s != nil {
		cs.level, cs.silent, cs.hasLevel = s.levels.reading(now)
	}
}
