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
		}
		rs.Video = r.groups[webrtc.RTPCodecTypeVideo].stats()
		rs.Audio = r.groups[webrtc.RTPCodecTypeAudio].stats()
		if src := r.groups[webrtc.RTPCodecTypeVideo].current.Load(); src != nil {
			if at := src.lastKeyAt.Load(); at > 0 {
				rs.LastKeyframe = time.Unix(0, at)
			}
		}
		out = append(out, rs)
	}
	return out
}
