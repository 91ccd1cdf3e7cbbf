package relay

import (
	"sort"
	"time"

	"github.com/pion/webrtc/v4"
)

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
	// Floor is the floor audio as the channels see it: who listens to it
	// and how loud it is.
	Floor FloorInfo `json:"floor"`
	// Channels are the room's language channels that have been live, one
	// entry per language and kind, by language.
	Channels []ChannelInfo `json:"channels"`
	// Languages are the channel languages the room declares (config
	// languages): a viewer may select one before its booth is live.
	Languages []string `json:"languages"`
	// Layers are the floor video's layers, best first: several with
	// simulcast, one (rid "") without.
	Layers []LayerInfo `json:"layers"`
	// Paths counts the connected viewers by how their media reaches them:
	// "udp" or "tcp" straight, "turn-udp", "turn-tcp", "turn-tls" through
	// the built-in TURN server.
	Paths map[string]int `json:"paths"`
}

// LayerInfo describes one video layer of a room.
type LayerInfo struct {
	RID     string `json:"rid"`
	Width   int    `json:"width"`   // 0 until a keyframe's size was read
	Height  int    `json:"height"`  // 0 until a keyframe's size was read
	Bitrate uint64 `json:"bitrate"` // bits per second, measured over the last second
	Viewers int    `json:"viewers"` // viewers receiving it now
}

// Channel kinds.
const (
	KindAudio = "audio" // an interpreter booth
	KindSign  = "sign"  // a sign-language interpreter's video
)

// ChannelInfo describes one language channel of a room.
type ChannelInfo struct {
	Lang string `json:"lang"`
	Kind string `json:"kind"` // KindAudio or KindSign
	Live bool   `json:"live"` // media is flowing now
	// Viewers selected the channel: they hear (or see) it while it is
	// live, and the floor meanwhile.
	Viewers     int       `json:"viewers"`
	Since       time.Time `json:"since"`                 // when it last went live or down
	Interpreter string    `json:"interpreter,omitempty"` // public tag of the publishing session
	Level
}

// FloorInfo is the floor's audio as a channel.
type FloorInfo struct {
	Listeners int `json:"listeners"` // viewers whose audio selection is the floor
	Level
}

// Level is what an audio source's RFC 6464 levels say; both fields are
// absent when the publisher sends no levels (or no audio).
type Level struct {
	// DBov is the loudest level of the last 2 s: 0 is the loudest, -127
	// silence.
	DBov *float64 `json:"levelDbov,omitempty"`
	// SilentSeconds is how long no packet has been louder than
	// SilenceDBov.
	SilentSeconds *float64 `json:"silentSeconds,omitempty"`
}

// SilenceDBov is the level under which a booth counts as silent: quieter
// than speech at any sensible microphone gain.
const SilenceDBov = -50

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
	snap := r.snapshot()
	ri := RoomInfo{Name: r.cfg.Name, Title: r.cfg.Title, Private: r.cfg.Private, State: snap.state, Since: snap.since,
		Viewers: len(snap.viewers), Publisher: snap.publisher}
	if !snap.started.IsZero() {
		ri.Started = &snap.started
	}
	qs := make([]Quality, 0, len(snap.viewers))
	ri.Paths = map[string]int{}
	for _, v := range snap.viewers {
		qs = append(qs, v.quality)
		if v.path != "" {
			ri.Paths[v.path]++
		}
	}
	ri.Quality = summarise(qs)
	ri.Floor = FloorInfo{Listeners: snap.floor.listeners, Level: snap.floor.levelJSON()}
	ri.Channels = make([]ChannelInfo, 0, len(snap.channels))
	for _, cs := range snap.channels {
		ri.Channels = append(ri.Channels, ChannelInfo{Lang: cs.lang, Kind: cs.kind, Live: cs.live, Viewers: cs.listeners,
			Since: cs.since, Interpreter: cs.interpreter, Level: cs.levelJSON()})
	}
	ri.Languages = append([]string{}, r.cfg.Languages...)
	ri.Layers = make([]LayerInfo, 0, len(snap.layers))
	for _, l := range snap.layers {
		ri.Layers = append(ri.Layers, LayerInfo{RID: l.rid, Width: l.width, Height: l.height, Bitrate: l.bitrate, Viewers: l.viewers})
	}
	if ri.Title == "" {
		ri.Title = ri.Name
	}
	now := time.Now().UnixNano()
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		s := snap.main[k]
		if s == nil {
			continue
		}
		ti := TrackInfo{Kind: k.String(), Codec: s.codec.MimeType, Packets: s.packets.Load(), Bytes: s.bytes.Load(),
			Keyframes: s.keyCount.Load(), PLIs: s.keyframes.count(), Viewers: snap.kinds[k].Viewers}
		if at := s.lastReadAt.Load(); at > 0 {
			ti.LastPacketMs = float64(now-at) / 1e6
		}
		ri.Tracks = append(ri.Tracks, ti)
	}
	return ri
}

func (cs channelSnapshot) levelJSON() Level {
	if !cs.hasLevel {
		return Level{}
	}
	db, silent := cs.level, cs.silent.Seconds()
	return Level{DBov: &db, SilentSeconds: &silent}
}
