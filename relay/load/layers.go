package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// How viewers are placed on simulcast layers. Each layer is its own RTP
// stream with its own random timestamp base, and the relay's forwarder
// passes a viewer's first stream's timestamps through unchanged (it offsets
// them only when it moves the viewer to another source). So the tool tells
// a viewer's layer from its frames' timestamps alone: the layer whose
// sendTimes knows them. That costs no request per viewer (the relay limits
// requests per address to 20/s, which a poll of hundreds of viewers would
// hit) and gives each viewer a window bounded by two frame ends whose
// packet counts on both sides are exact, so loss is what the layer sent
// between them against what the viewer got. A viewer the relay moved to
// another layer (its timestamps no longer match) is placed by asking the
// relay which layer it plays now (POST {session}/select with {}, the
// session's status poll); its packets are then left out of its layer's
// loss.

// stream is one published video stream: a simulcast layer or, without
// simulcast, the one video stream (rid "").
type stream struct {
	rid           string
	width, height int // of its clip's picture; 0 unknown
	sent          *sendTimes
}

// newStreams returns the streams of a run publishing layers, or one stream
// without them.
func newStreams(layers []peer.Layer) []*stream {
	const keep = 4096 // frames: over two minutes at 30 fps
	if len(layers) == 0 {
		return []*stream{{sent: newSendTimes(keep)}}
	}
	out := make([]*stream, len(layers))
	for i, l := range layers {
		out[i] = &stream{rid: l.RID, sent: newSendTimes(keep)}
		out[i].width, out[i].height = pictureSize(l.Clip.Video)
	}
	return out
}

// noteSent is the publisher's packet hook: it notes the packet in its
// stream.
func (r *runner) noteSent(rid string, p clip.Packet, at time.Time) {
	for _, s := range r.streams {
		if s.rid == rid {
			s.sent.sent(p.Timestamp, at, p.Last)
			return
		}
	}
}

// reception is what one viewer's video hook saw: packets counted, and the
// frame ends that bound its measured window, on the stream they belong to.
type reception struct {
	mu       sync.Mutex
	packets  uint64  // video packets received
	on       *stream // stream of the window's first frame end; nil until one matched
	startGot uint64  // packets received up to that frame end
	startUp  uint64  // packets the stream had sent up to it
	endTS    uint32  // the window's last frame end so far
	endGot   uint64
	ended    bool
}

// packet counts a video packet with header h; at a frame's end while
// measuring it moves the window's bounds. It returns the stream the
// window is on, nil while unknown.
func (rx *reception) packet(h *rtp.Header, measuring bool, streams []*stream) *stream {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	rx.packets++
	if !h.Marker || !measuring {
		return rx.on
	}
	if rx.on == nil {
		// The frame's last packet may reach the viewer before the
		// publisher has noted it sent: then the next frame end starts.
		for _, s := range streams {
			if upTo, ok := s.sent.through(h.Timestamp); ok {
				rx.on, rx.startGot, rx.startUp = s, rx.packets, upTo
				break
			}
		}
		return rx.on
	}
	rx.endTS, rx.endGot, rx.ended = h.Timestamp, rx.packets, true
	return rx.on
}

// window returns the stream the viewer's measured window was on, and the
// packets that stream sent and the viewer got between the window's first
// and last frame ends. ok is false when the viewer's frames were not on one
// stream's timeline throughout (the relay moved it), or no two frame ends
// came.
func (rx *reception) window() (s *stream, expected, got uint64, ok bool) {
	rx.mu.Lock()
	defer rx.mu.Unlock()
	if rx.on == nil || !rx.ended {
		return nil, 0, 0, false
	}
	upTo, ok := rx.on.sent.through(rx.endTS)
	if !ok {
		return nil, 0, 0, false
	}
	return rx.on, upTo - rx.startUp, rx.endGot - rx.startGot, true
}

// watch is a viewer's packet hook: it counts the viewer's video and, during
// the measured window, adds each frame's latency to h.
func (r *runner) watch(rx *reception, h *histMu) func(webrtc.RTPCodecType, *rtp.Header, []byte, time.Time) {
	return func(kind webrtc.RTPCodecType, hd *rtp.Header, _ []byte, at time.Time) {
		if kind != webrtc.RTPCodecTypeVideo {
			return
		}
		measuring := r.measuring.Load()
		s := rx.packet(hd, measuring, r.streams)
		if s == nil || !hd.Marker || !measuring {
			return
		}
		if d, ok := s.sent.latency(hd.Timestamp, at); ok {
			h.add(d)
		}
	}
}

// LayerSummary is one simulcast layer in a run's summary.
type LayerSummary struct {
	RID    string `json:"rid"`
	Width  int    `json:"width"`  // of the layer's clip; 0 unknown
	Height int    `json:"height"` // of the layer's clip; 0 unknown
	// Viewers receive the layer at the window's end (connected viewers
	// only). Moved counts those of them whose frames left another layer's
	// timeline during the run: the relay moved them (they were placed by
	// asking it), and their packets are not in the figures below.
	Viewers int `json:"viewers"`
	Moved   int `json:"viewers_moved,omitempty"`
	// PacketsSent is what the publisher sent of the layer in the window.
	PacketsSent uint64 `json:"packets_sent"`
	PLIs        uint64 `json:"plis"` // keyframe requests naming the layer, whole run
	// Expected and Received add up the layer's viewers: the packets the
	// layer sent between the first and the last frame end each viewer got
	// in the window, and how many of them it got.
	Expected    uint64  `json:"viewer_packets_expected"`
	Received    uint64  `json:"viewer_packets_received"`
	LossPercent float64 `json:"loss_pct"`
}

// layerFigures places each connected viewer on a layer and sets the
// summary's layers from the publisher's per-layer counts at the window's
// start and end.
func (r *runner) layerFigures(ctx context.Context, sum *Summary, start, end []peer.LayerStats) {
	if len(r.cfg.Layers) == 0 {
		return
	}
	sum.Layers = make([]LayerSummary, len(r.streams))
	byRID := map[string]*LayerSummary{}
	for i, s := range r.streams {
		l := &sum.Layers[i]
		l.RID, l.Width, l.Height = s.rid, s.width, s.height
		byRID[s.rid] = l
	}
	for i, e := range end {
		if l := byRID[e.RID]; l != nil {
			l.PLIs = e.PLIs
			if i < len(start) {
				l.PacketsSent = e.Packets - start[i].Packets
			}
		}
	}
	asked := 0
	for i, v := range r.viewers {
		if v == nil {
			continue
		}
		if s, expected, got, ok := r.rx[i].window(); ok {
			l := byRID[s.rid]
			l.Viewers++
			l.Expected += expected
			l.Received += got
			continue
		}
		// Moved by the relay: ask it, a bounded number of times (its
		// per-address request limit).
		var l *LayerSummary
		if asked < maxLayerQuestions {
			asked++
			if rid, err := r.playingLayer(ctx, v.Session()); err == nil {
				l = byRID[rid]
			}
		}
		if l == nil {
			sum.ViewersLayerUnknown++
			continue
		}
		l.Viewers++
		l.Moved++
	}
	for i := range sum.Layers {
		l := &sum.Layers[i]
		if l.Expected > l.Received {
			l.LossPercent = 100 * float64(l.Expected-l.Received) / float64(l.Expected)
		}
	}
}

// maxLayerQuestions bounds the /select polls of one run, under the relay's
// default burst of 100 requests per address.
const maxLayerQuestions = 50

// playingLayer asks the relay which layer a viewer's video carries now.
func (r *runner) playingLayer(ctx context.Context, session string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, session+"/select", bytes.NewReader([]byte("{}")))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	client := r.opts.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("select: relay answered %d", resp.StatusCode)
	}
	var ans struct {
		Playing struct {
			Video string `json:"video"`
		} `json:"playing"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil {
		return "", fmt.Errorf("select: %w", err)
	}
	return ans.Playing.Video, nil
}
