package relay

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
)

// trackGroup is one kind of media (video or audio) of one channel of a room.
// It outlives publishers: viewers' forwarders stay in it while publishers
// come and go, so a replacement publisher resumes every viewer without
// renegotiation; a viewer's selection moves its forwarder between groups.
type trackGroup struct {
	kind webrtc.RTPCodecType
	lang string // the channel's: "" for the floor
	rid  string // the simulcast layer's (video): "" without simulcast

	// fanMu serialises fan-out: while a replaced source finishes a packet
	// the new one waits, so a forwarder is only ever written by one goroutine.
	// Only the sources of this group take it.
	fanMu   sync.Mutex
	current atomic.Pointer[source]

	mu      sync.Mutex // guards codec, changes to fwd, sources and retired
	codec   webrtc.RTPCodecCapability
	fwd     atomic.Pointer[[]*forwarder] // copy on write; read without a lock
	sources []*source                    // attached and still running
	// retired holds the counts of sources that are gone, so the group's
	// totals never go down when publishers leave. (Forwarders move between
	// groups: the room counts them, per viewer.)
	retired KindStats
}

func newTrackGroup(kind webrtc.RTPCodecType) *trackGroup {
	g := &trackGroup{kind: kind}
	g.fwd.Store(&[]*forwarder{})
	return g
}

// forward hands ps from s to the forwarders, unless s has been replaced.
func (g *trackGroup) forward(s *source, ps []*packet) {
	g.fanMu.Lock()
	if g.current.Load() == s {
		if fs := *g.fwd.Load(); len(fs) > 0 {
			s.fanOut(ps, fs)
		}
	}
	g.fanMu.Unlock()
}

// attach makes s the group's source. Forwarders negotiated for another codec
// cannot play it: they are returned so their viewers can be closed (their
// players reconnect and negotiate the new codec).
func (g *trackGroup) attach(s *source) (stale []*forwarder) {
	g.mu.Lock()
	defer g.mu.Unlock()
	keep := make([]*forwarder, 0, len(*g.fwd.Load()))
	for _, f := range *g.fwd.Load() {
		if f.canPlay(s.codec) {
			keep = append(keep, f)
		} else {
			stale = append(stale, f)
		}
	}
	if len(stale) > 0 {
		g.fwd.Store(&keep)
	}
	g.codec = s.codec
	g.sources = append(g.sources, s)
	g.current.Store(s)
	if len(*g.fwd.Load()) > 0 {
		s.requestKeyframe()
	}
	return stale
}

// detach clears s as the group's source if it still is.
func (g *trackGroup) detach(s *source) {
	g.current.CompareAndSwap(s, nil)
}

// height is the picture height of the group's current source, 0 when not
// known (yet).
func (g *trackGroup) height() int {
	if s := g.current.Load(); s != nil {
		return int(s.height.Load())
	}
	return 0
}

// codecCapOrNone is codecCap of a group that may be nil.
func (g *trackGroup) codecCapOrNone() webrtc.RTPCodecCapability {
	if g == nil {
		return webrtc.RTPCodecCapability{}
	}
	return g.codecCap()
}

func (g *trackGroup) codecCap() webrtc.RTPCodecCapability {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.codec
}

func (g *trackGroup) add(f *forwarder) {
	g.mu.Lock()
	fs := append(slices.Clip(*g.fwd.Load()), f)
	g.fwd.Store(&fs)
	g.mu.Unlock()
	// No keyframe request here: the forwarder asks only if it can neither
	// start on a keyframe nor catch up from the GOP in the history.
}

func (g *trackGroup) remove(f *forwarder) {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := *g.fwd.Load()
	i := slices.Index(old, f)
	if i < 0 {
		return
	}
	fs := make([]*forwarder, 0, len(old)-1)
	fs = append(fs, old[:i]...)
	fs = append(fs, old[i+1:]...)
	g.fwd.Store(&fs)
}

// settle waits for the fan-out in progress, if any: a forwarder just
// removed may still be written by it, and after settle it no longer is.
func (g *trackGroup) settle() {
	g.fanMu.Lock()
	defer g.fanMu.Unlock() // nothing to do inside: taking the lock is the barrier
}

// retire moves a finished source's counts into the group's totals.
func (g *trackGroup) retire(s *source) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := slices.Index(g.sources, s); i >= 0 {
		g.sources = slices.Delete(g.sources, i, i+1)
		s.addTo(&g.retired)
	}
}

// addSourceStats adds the group's ingest totals to st: retired counts
// plus every live source, read under the lock that moves counts into
// retired.
func (g *trackGroup) addSourceStats(st *KindStats) {
	g.mu.Lock()
	defer g.mu.Unlock()
	st.add(g.retired)
	for _, s := range g.sources {
		s.addTo(st)
	}
}
