package relay

import (
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/httperr"
)

// Simulcast: a publisher may send its video as several layers (RFC 8853),
// each with its own RTP stream id (rid). Each layer is a source of its
// own track group, so a viewer's video forwarder moves between layers the
// way it moves between channels: one mechanism. A publisher without
// simulcast sends one layer, rid "".

// maxLayers bounds a channel's video layers (browsers and OBS send three).
const maxLayers = 4

// maxRIDBytes bounds a layer's name; RFC 8851 allows more, nobody uses it.
const maxRIDBytes = 16

// layerGroup returns ch's video group for layer rid, creating it for a
// publisher; nil when ch has maxLayers already or rid is not a name.
func (r *Room) layerGroup(ch *channel, rid string) *trackGroup {
	r.mu.Lock()
	defer r.mu.Unlock()
	if g := ch.layers[rid]; g != nil {
		return g
	}
	if len(ch.layers) >= maxLayers || !validRID(rid) {
		return nil
	}
	g := newTrackGroup(webrtc.RTPCodecTypeVideo)
	g.lang, g.rid = ch.lang, rid
	ch.layers[rid] = g
	return g
}

// validRID says whether rid is a token RFC 8851 allows (alphanumerics,
// '-' and '_'), short enough to show.
func validRID(rid string) bool {
	if rid == "" || len(rid) > maxRIDBytes {
		return false
	}
	return strings.Trim(rid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_") == ""
}

// layerRate is a layer's measured bitrate, updated by refresh (under
// Room.mu) at most once a second.
type layerRate struct {
	at    int64  // unix nanoseconds of the last sample
	bytes uint64 // the source's byte count then
	bps   uint64
	src   *source
}

// measureLayers samples each layer source's bitrate (ch's fields are
// guarded by Room.mu, which the caller holds).
func (ch *channel) measureLayers(now int64) {
	for rid, g := range ch.layers {
		s := g.current.Load()
		lr := ch.rates[rid]
		if s == nil {
			delete(ch.rates, rid)
			continue
		}
		if lr == nil || lr.src != s {
			ch.rates[rid] = &layerRate{at: now, bytes: s.bytes.Load(), src: s}
			continue
		}
		if d := now - lr.at; d >= int64(time.Second) {
			b := s.bytes.Load()
			lr.bps = (b - lr.bytes) * 8 * uint64(time.Second) / uint64(d)
			lr.at, lr.bytes = now, b
		}
	}
}

// layerRank orders layers best first: by picture height when both are
// known, else by measured bitrate, else by name.
func (ch *channel) better(a, b *trackGroup) bool {
	ha, hb := a.height(), b.height()
	if ha != hb && ha > 0 && hb > 0 {
		return ha > hb
	}
	ra, rb := ch.bitrate(a.rid), ch.bitrate(b.rid)
	if ra != rb {
		return ra > rb
	}
	return a.rid < b.rid
}

func (ch *channel) bitrate(rid string) uint64 {
	if lr := ch.rates[rid]; lr != nil {
		return lr.bps
	}
	return 0
}

// pickLayer is the layer a viewer wanting want ("auto" or a rid) gets:
// that layer while it flows, else the best one flowing, else the layer
// auto viewers had last (viewers stay put while the publisher is away, so
// a replacement resumes them). Room.mu is held.
func (ch *channel) pickLayer(want string) *trackGroup {
	if g := ch.layers[want]; g != nil && want != "auto" && ch.layerFlowing[want] {
		return g
	}
	var best *trackGroup
	for rid, g := range ch.layers {
		if ch.layerFlowing[rid] && (best == nil || ch.better(g, best)) {
			best = g
		}
	}
	if best == nil {
		return ch.layers[ch.lastBest]
	}
	ch.lastBest = best.rid
	return best
}

// orderedLayers lists ch's layers that have a source, best first; with
// flowing, only those whose media arrives now (the choice). Room.mu is
// held.
func (ch *channel) orderedLayers(flowing bool) []*trackGroup {
	var out []*trackGroup
	for rid, g := range ch.layers {
		if g.current.Load() != nil && (!flowing || ch.layerFlowing[rid]) {
			out = append(out, g)
		}
	}
	sort.Slice(out, func(i, j int) bool { return ch.better(out[i], out[j]) })
	return out
}

// selectLayer checks a video selection: "auto" (or "") or a layer the
// floor has had.
func (r *Room) selectLayer(value string) (string, error) {
	if value == "" || value == "auto" {
		return "auto", nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.floor.layers[value]; ok && value != "" {
		return value, nil
	}
	var names []string
	for rid := range r.floor.layers {
		if rid != "" {
			names = append(names, rid)
		}
	}
	sort.Strings(names)
	has := "one layer"
	if len(names) > 0 {
		has = "layers " + strings.Join(names, ", ")
	}
	return "", httperr.New(http.StatusUnprocessableEntity, "unknown video layer %q: this room's video has %s; \"auto\" picks one", value, has)
}

// kindGroups are ch's groups of kind: its audio group, or every video
// layer's. Room.mu is held.
func (ch *channel) kindGroups(kind webrtc.RTPCodecType) []*trackGroup {
	if kind != webrtc.RTPCodecTypeVideo {
		return []*trackGroup{ch.groups[kind]}
	}
	out := make([]*trackGroup, 0, len(ch.layers))
	for _, g := range ch.layers {
		out = append(out, g)
	}
	return out
}

// mainSource is ch's source of kind that stands for it in reports and
// codec checks: the audio, or the best video layer with a source. Room.mu
// is held.
func (ch *channel) mainSource(kind webrtc.RTPCodecType) *source {
	if kind != webrtc.RTPCodecTypeVideo {
		return ch.groups[kind].current.Load()
	}
	if ls := ch.orderedLayers(true); len(ls) > 0 {
		return ls[0].current.Load()
	}
	if ls := ch.orderedLayers(false); len(ls) > 0 {
		return ls[0].current.Load() // stalled: still the floor's, for reports and codecs
	}
	return nil
}

// floorCodec is the codec of the floor's media of kind ("" before any).
func (r *Room) floorCodec(kind webrtc.RTPCodecType) webrtc.RTPCodecCapability {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.floor.mainSource(kind); s != nil {
		return s.codec
	}
	return r.floor.groups[kind].codecCap()
}

// countLayerSwitch counts a viewer's video moved from one floor layer to a
// taller or a shorter one.
func (r *Room) countLayerSwitch(from, to *trackGroup) {
	if from == nil || to == nil {
		return
	}
	switch hf, ht := from.height(), to.height(); {
	case ht > hf:
		r.layerUp.Add(1)
	case ht < hf:
		r.layerDown.Add(1)
	}
}

// floorLayerRanks lists the floor's layers flowing now, best first, with
// their measured bitrates, for the viewers' layer choice.
func (r *Room) floorLayerRanks() []layerRank {
	r.mu.Lock()
	defer r.mu.Unlock()
	ls := r.floor.orderedLayers(true)
	out := make([]layerRank, 0, len(ls))
	for _, g := range ls {
		out = append(out, layerRank{rid: g.rid, bps: r.floor.bitrate(g.rid)})
	}
	return out
}
