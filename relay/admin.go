package relay

import (
	"errors"
	"sort"
	"time"
)

// ErrNotFound is returned by admin actions on a room, publisher or viewer
// that does not exist.
var ErrNotFound = errors.New("not found")

// ViewerInfo describes one viewer for the AV team: its public tag (never the
// secret session id), since when it watches, and its reception.
type ViewerInfo struct {
	Tag     string        `json:"tag"`
	Since   time.Time     `json:"since"`
	Loss    float64       `json:"loss"`
	Jitter  time.Duration `json:"jitterNs"`
	RTT     time.Duration `json:"rttNs"`
	Reports uint64        `json:"reports"`
	// Audio, Sign and Video are the viewer's selection ("floor" or a
	// language; "" for no sign channel; "auto" or a layer); PlayingAudio
	// is what its first audio track carries now (the floor while the
	// selected booth is down) and PlayingSign the sign channel it sees.
	Audio        string `json:"audio"`
	Sign         string `json:"sign"`
	Video        string `json:"video"`
	PlayingAudio string `json:"playingAudio"`
	PlayingSign  string `json:"playingSign"`
	// Layer is the floor video layer it receives now ("" without
	// simulcast); EstimateBps what its path carries by its congestion
	// feedback (0 while unknown).
	Layer       string `json:"layer"`
	EstimateBps uint64 `json:"estimateBps"`
	// Path is how its media flows: "udp" or "tcp" straight to the relay,
	// "turn-udp", "turn-tcp" or "turn-tls" through the built-in TURN
	// server ("" until connected).
	Path string `json:"path"`
}

// Viewers lists a room's viewers, oldest first.
func (s *Server) Viewers(room string) ([]ViewerInfo, error) {
	r, err := s.room(room, false)
	if err != nil {
		return nil, ErrNotFound
	}
	snap := r.snapshot()
	out := make([]ViewerInfo, 0, len(snap.viewers))
	for _, v := range snap.viewers {
		q := v.quality
		out = append(out, ViewerInfo{Tag: v.tag, Since: v.since, Loss: q.Loss, Jitter: q.Jitter, RTT: q.RTT, Reports: q.Reports,
			Audio: orFloor(v.sel.audio), Sign: v.sel.sign, Video: v.sel.video,
			PlayingAudio: orFloor(v.playingAudio), PlayingSign: v.playingSign, Layer: v.layer, EstimateBps: v.estimate, Path: v.path})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Since.Before(out[j].Since) })
	return out, nil
}

// DisconnectPublisher ends a room's publisher session (the encoder will
// usually reconnect; a token revocation is the way to keep it out).
func (s *Server) DisconnectPublisher(room string) error {
	r, err := s.room(room, false)
	if err != nil {
		return ErrNotFound
	}
	p := r.currentPublisher()
	if p == nil {
		return ErrNotFound
	}
	p.close("disconnected by the AV team")
	return nil
}

// DisconnectViewer ends the viewer session with public tag in room.
func (s *Server) DisconnectViewer(room, tag string) error {
	r, err := s.room(room, false)
	if err != nil {
		return ErrNotFound
	}
	found := r.viewerByTag(tag)
	if found == nil {
		return ErrNotFound
	}
	found.close("disconnected by the AV team")
	return nil
}
