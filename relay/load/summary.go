package load

import (
	"encoding/json"
	"fmt"
	"strings"
)

// Summary is what a run measured. Durations are in milliseconds.
type Summary struct {
	Viewers         int      `json:"viewers"`
	ViewersOK       int      `json:"viewers_connected"`
	ViewersFailed   int      `json:"viewers_failed"`
	FailReasons     []string `json:"fail_reasons,omitempty"`
	WindowSeconds   float64  `json:"window_s"`
	PacketsSent     uint64   `json:"packets_sent"`
	FramesSent      uint64   `json:"frames_sent"`
	PacketsReceived uint64   `json:"packets_received"`
	FramesReceived  uint64   `json:"frames_received"`
	LossPercent     float64  `json:"loss_pct"`
	LatencyP50      float64  `json:"frame_latency_p50_ms"`
	LatencyP95      float64  `json:"frame_latency_p95_ms"`
	LatencyP99      float64  `json:"frame_latency_p99_ms"`
	LatencyMax      float64  `json:"frame_latency_max_ms"`
	LatencySamples  uint64   `json:"frame_latency_samples"`
	FirstPacketP50  float64  `json:"first_packet_p50_ms"`
	FirstPacketP95  float64  `json:"first_packet_p95_ms"`
	FirstKeyP50     float64  `json:"first_keyframe_p50_ms"`
	FirstKeyP95     float64  `json:"first_keyframe_p95_ms"`
	PLIs            uint64   `json:"plis_to_publisher"`

	// Layers, in a simulcast run, are the published layers best first, with
	// the viewers on each and the loss of each; ViewersLayerUnknown counts
	// connected viewers on none of them by their frames nor by the relay's
	// answer.
	Layers              []LayerSummary `json:"layers,omitempty"`
	ViewersLayerUnknown int            `json:"viewers_layer_unknown,omitempty"`

	CaptionViewers   int     `json:"caption_viewers"`
	CaptionViewersOK int     `json:"caption_viewers_connected"`
	CuesSent         uint64  `json:"cues_sent"`
	CuesReceived     uint64  `json:"cues_received"`
	CaptionP50       float64 `json:"caption_delivery_p50_ms"`
	CaptionP99       float64 `json:"caption_delivery_p99_ms"`

	ServerCores        float64 `json:"server_cores,omitempty"`
	ServerMsPerViewerS float64 `json:"server_cpu_ms_per_viewer_s,omitempty"`
	ServerRSSStartMB   float64 `json:"server_rss_start_mb,omitempty"`
	ServerRSSPeakMB    float64 `json:"server_rss_peak_mb,omitempty"`
	ServerKBPerViewer  float64 `json:"server_rss_kb_per_viewer,omitempty"`
	ToolCores          float64 `json:"tool_cores"`
	MachineBusy        float64 `json:"machine_busy_fraction"`
	Valid              bool    `json:"valid"`
	InvalidReason      string  `json:"invalid_reason,omitempty"`
}

// Line is the one-line human summary.
func (s *Summary) Line() string {
	b := &strings.Builder{}
	fmt.Fprintf(b, "viewers %d/%d ok, loss %.2f%%, frame latency p50/p95/p99 %.1f/%.1f/%.1f ms, first keyframe p50/p95 %.0f/%.0f ms, PLIs %d",
		s.ViewersOK, s.Viewers, s.LossPercent, s.LatencyP50, s.LatencyP95, s.LatencyP99, s.FirstKeyP50, s.FirstKeyP95, s.PLIs)
	if len(s.Layers) > 0 {
		s.layersLine(b)
	}
	if s.CaptionViewers > 0 {
		fmt.Fprintf(b, ", captions %d/%d ok p50/p99 %.1f/%.1f ms", s.CaptionViewersOK, s.CaptionViewers, s.CaptionP50, s.CaptionP99)
	}
	if s.ServerCores > 0 {
		fmt.Fprintf(b, ", server %.2f cores = %.3f ms/viewer-s, RSS %.0f->%.0f MB (%.0f KB/viewer)",
			s.ServerCores, s.ServerMsPerViewerS, s.ServerRSSStartMB, s.ServerRSSPeakMB, s.ServerKBPerViewer)
	}
	fmt.Fprintf(b, ", tool %.2f cores", s.ToolCores)
	if !s.Valid {
		fmt.Fprintf(b, " [INVALID: %s]", s.InvalidReason)
	}
	return b.String()
}

// layersLine adds, e.g., ", layers h 198 / m 1 / l 1 (1 moved), layer
// loss 0.00/0.00/0.00%".
func (s *Summary) layersLine(b *strings.Builder) {
	b.WriteString(", layers")
	for i, l := range s.Layers {
		if i > 0 {
			b.WriteString(" /")
		}
		fmt.Fprintf(b, " %s %d", l.RID, l.Viewers)
		if l.Moved > 0 {
			fmt.Fprintf(b, " (%d moved)", l.Moved)
		}
	}
	if s.ViewersLayerUnknown > 0 {
		fmt.Fprintf(b, " / unknown %d", s.ViewersLayerUnknown)
	}
	b.WriteString(", layer loss ")
	for i, l := range s.Layers {
		if i > 0 {
			b.WriteString("/")
		}
		fmt.Fprintf(b, "%.2f", l.LossPercent)
	}
	b.WriteString("%")
}

// JSON is the machine-readable summary.
func (s *Summary) JSON() string {
	b, _ := json.MarshalIndent(s, "", "  ")
	return string(b)
}

// lossPercent is the share of packets the viewers never got: sequence
// numbers skipped over, against those received plus those.
func lossPercent(received, missing uint64) float64 {
	if received+missing == 0 {
		return 0
	}
	return 100 * float64(missing) / float64(received+missing)
}

// serverFigures sets the relay's CPU (between a and b, the measured
// window) and memory (start: before any peer; peak: the highest RSS seen),
// per connected viewer.
func (sum *Summary) serverFigures(startRSS int64, a, b procSample, peakRSS int64) {
	sum.ServerCores = cores(a, b)
	if sum.ViewersOK > 0 {
		sum.ServerMsPerViewerS = sum.ServerCores * 1000 / float64(sum.ViewersOK)
		sum.ServerKBPerViewer = float64(peakRSS-startRSS) / 1024 / float64(sum.ViewersOK)
	}
	sum.ServerRSSStartMB = float64(startRSS) / (1 << 20)
	sum.ServerRSSPeakMB = float64(peakRSS) / (1 << 20)
}

// judge marks a run invalid when its figures cannot be trusted.
func (sum *Summary) judge() {
	sum.Valid, sum.InvalidReason = true, ""
	switch {
	case sum.MachineBusy > 0.95:
		sum.Valid, sum.InvalidReason = false, fmt.Sprintf("machine %.0f%% busy: the tool and the relay were fighting for CPU", 100*sum.MachineBusy)
	case sum.ViewersOK == 0:
		sum.Valid, sum.InvalidReason = false, "no viewer connected"
	}
}
