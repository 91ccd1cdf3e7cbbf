package relay

import (
	"slices"
	"sync"
	"sync/atomic"

	"github.com/pion/webrtc/v4"
)

// trackGroup is one kind of media (video or audio) of a room. It outlives
// publishers: viewers' forwarders stay in it while publishers come and go, so
// a replacement publisher resumes every viewer without renegotiation.
type trackGroup struct {
	kind webrtc.RTPCodecType

	// fanMu serialises fan-out: while a replaced source finishes a packet
	// the new one waits, so a forwarder is only ever written by one goroutine.
	// Only the sources of this group take it.
	fanMu   sync.Mutex
	current atomic.Pointer[source]

	mu      sync.Mutex // guards codec, changes to fwd, sources and retired
	codec   webrtc.RTPCodecCapability
	fwd     atomic.Pointer[[]*forwarder] // copy on write; read without a lock
	sources []*source                    // attached and still running
	// retired holds the counts of forwarders and sources that are gone, so
	// the group's totals never go down when viewers or publishers leave.
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
	if g.codec.MimeType != "" && !sameCodec(g.codec, s.codec) {
		stale = *g.fwd.Load()
		g.fwd.Store(&[]*forwarder{})
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
	f.addTo(&g.retired)
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

// stats totals the group: retired counts plus every live forwarder and
// source, read under the lock that moves counts into retired.
func (g *trackGroup) stats() KindStats {
	g.mu.Lock()
	defer g.mu.Unlock()
	st := g.retired
	for _, f := range *g.fwd.Load() {
		f.addTo(&st)
	}
	for _, s := range g.sources {
		s.addTo(&st)
	}
	st.Viewers = len(*g.fwd.Load())
	st.Codec = g.codec.MimeType
	return st
}

func (g *trackGroup) viewers() int { return len(*g.fwd.Load()) }

// sameCodec says whether a viewer negotiated for a can play b.
func sameCodec(a, b webrtc.RTPCodecCapability) bool {
	if codecOf(a.MimeType) != codecOf(b.MimeType) {
		return false
	}
	return codecOf(a.MimeType) != codecUnknown
}
