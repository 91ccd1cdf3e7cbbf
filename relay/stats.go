package relay

import (
	"time"

	"github.com/pion/webrtc/v4"
)

// KindStats are a room's running totals for one kind of media. Counters
// only grow: the counts of viewers and publishers that left are kept.
type KindStats struct {
	Codec             string
	Viewers           int
	IngestPackets     uint64 // received from publishers
	IngestBytes       uint64
	Keyframes         uint64
	PLIs              uint64 // keyframe requests sent to publishers
	Malformed         uint64 // publisher packets that were not RTP
	Duplicates        uint64 // publisher packets already held, not forwarded again
	ForwardedPackets  uint64 // sent to viewers, resends not included
	ForwardedBytes    uint64 // payload bytes sent to viewers
	NACKed            uint64 // packets resent to viewers after a NACK
	NACKMisses        uint64 // NACKed packets no longer in the history
	WaitKeyframeDrops uint64 // not sent: the viewer was waiting for a keyframe
	WriteErrors       uint64 // writes to a viewer's transport that failed
}

// add adds o's counters to st (not Codec or Viewers).
func (st *KindStats) add(o KindStats) {
	st.IngestPackets += o.IngestPackets
	st.IngestBytes += o.IngestBytes
	st.Keyframes += o.Keyframes
	st.PLIs += o.PLIs
	st.Malformed += o.Malformed
	st.Duplicates += o.Duplicates
	st.ForwardedPackets += o.ForwardedPackets
	st.ForwardedBytes += o.ForwardedBytes
	st.NACKed += o.NACKed
	st.NACKMisses += o.NACKMisses
	st.WaitKeyframeDrops += o.WaitKeyframeDrops
	st.WriteErrors += o.WriteErrors
}

// RoomStats is a room's state and counters for monitoring.
type RoomStats struct {
	Room       string
	State      State
	Publishers int
	Viewers    int
	Video      KindStats
	Audio      KindStats
	// Quality has one entry per viewer that has sent receiver reports.
	Quality []Quality
	// PublisherSince is when the current publisher joined; zero when none.
	PublisherSince time.Time
	// LastKeyframe is when the current video source last sent a keyframe.
	LastKeyframe time.Time
	// Channels are the floor's audio (Lang "floor", Kind KindAudio) and
	// then every language channel by language and kind.
	Channels []ChannelStats
	// ChannelSwitches counts viewers' tracks moved to another source or to
	// none (after a /select, or a booth going live or down).
	ChannelSwitches uint64
	// Layers are the floor video's layers flowing now, best first, with
	// the viewers receiving each.
	Layers []LayerInfo
	// LayerSwitchesUp and LayerSwitchesDown count viewers moved to a
	// better or a worse layer (by the estimate, a pin, a layer stopping).
	LayerSwitchesUp, LayerSwitchesDown uint64
	// Estimates are the bandwidth estimates of the viewers that have one,
	// in bits per second (for a histogram at scrape time).
	Estimates []float64
	// VideoPaused counts viewers whose estimate is below the lowest layer:
	// they get audio and captions, no video, until it recovers.
	VideoPaused int
	// Paths counts connected viewers by how their media flows (PathUDP,
	// PathTCP, PathTURNUDP ...).
	Paths map[string]int
}

// FloorLang names the floor where a language is expected.
const FloorLang = "floor"

// ChannelStats is one channel's state for monitoring.
type ChannelStats struct {
	Lang      string
	Kind      string // KindAudio or KindSign
	Live      bool
	Listeners int // viewers that selected it
	// Level is the loudest RFC 6464 level of the last 2 s in dBov and
	// Silent how long no packet was louder than SilenceDBov; both are
	// known only when HasLevel is set.
	Level    float64
	Silent   time.Duration
	HasLevel bool
}

// Stats returns every room's counters. It reads per-track and per-viewer
// counters at call time: nothing on the packet path is shared.
func (s *Server) Stats() []RoomStats {
	rooms := s.roomList()
	out := make([]RoomStats, 0, len(rooms))
	for _, r := range rooms {
		snap := r.snapshot()
		rs := RoomStats{Room: r.cfg.Name, State: snap.state, Viewers: len(snap.viewers)}
		if snap.publisher != nil {
			rs.Publishers = 1
			rs.PublisherSince = snap.publisher.Since
		}
		for _, v := range snap.viewers {
			if v.quality.Reports > 0 {
				rs.Quality = append(rs.Quality, v.quality)
			}
			if v.estimate > 0 {
				rs.Estimates = append(rs.Estimates, float64(v.estimate))
			}
			if v.paused {
				rs.VideoPaused++
			}
			if v.path != "" {
				if rs.Paths == nil {
					rs.Paths = map[string]int{}
				}
				rs.Paths[v.path]++
			}
		}
		rs.Video = snap.kinds[webrtc.RTPCodecTypeVideo]
		rs.Audio = snap.kinds[webrtc.RTPCodecTypeAudio]
		if src := snap.main[webrtc.RTPCodecTypeVideo]; src != nil {
			if at := src.lastKeyAt.Load(); at > 0 {
				rs.LastKeyframe = time.Unix(0, at)
			}
		}
		for _, cs := range append([]channelSnapshot{snap.floor}, snap.channels...) {
			rs.Channels = append(rs.Channels, ChannelStats{Lang: cs.lang, Kind: cs.kind, Live: cs.live, Listeners: cs.listeners,
				Level: cs.level, Silent: cs.silent, HasLevel: cs.hasLevel})
		}
		rs.ChannelSwitches = r.switches.Load()
		rs.LayerSwitchesUp, rs.LayerSwitchesDown = r.layerUp.Load(), r.layerDown.Load()
		for _, l := range snap.layers {
			rs.Layers = append(rs.Layers, LayerInfo{RID: l.rid, Width: l.width, Height: l.height, Bitrate: l.bitrate, Viewers: l.viewers})
		}
		out = append(out, rs)
	}
	return out
}
