// Package load is the relay's own load generator: a pion WHIP publisher, N
// pion WHEP viewers and optional caption sockets in one process, measuring
// what delegates would feel (loss, frame latency, time to first frame) and
// what the relay pays (CPU and memory of its process).
package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// Config is one load run.
type Config struct {
	URL      string // relay base URL, e.g. http://127.0.0.1:8080
	Room     string
	Token    string // publisher token for Room
	Clip     *clip.Clip
	Viewers  int
	Ramp     time.Duration // viewers join evenly over this; 0 means all at once
	Settle   time.Duration // wait after the ramp before measuring; 0 means 2 s
	Duration time.Duration // measured window; 0 means 10 s
	NoAudio  bool          // viewers take video only
	// FullViewers runs every packet through pion's whole receive path
	// (decrypted, handed through its goroutines). By default viewers are
	// header-only after their first keyframe (peer.ViewConfig.HeaderOnly),
	// which costs the tool several times less per packet.
	FullViewers bool

	CaptionViewers int
	CueRate        float64 // captioner finals per second; 0 means no captioner
	CaptionToken   string  // captioner token for Room and Lang
	Lang           string  // caption language; "" means "en"

	PID      int       // relay process to measure; 0 means not measured
	Progress io.Writer // progress lines while running; nil means none
}

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

// JSON is the machine-readable summary.
func (s *Summary) JSON() string {
	b, _ := json.MarshalIndent(s, "", "  ")
	return string(b)
}

// Run performs one load run and returns its summary.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.Clip == nil {
		return nil, errors.New("load: no clip")
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Lang == "" {
		cfg.Lang = "en"
	}
	progress := func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}
	base := strings.TrimRight(cfg.URL, "/")
	// Every client peer has its own UDP socket: the relay tells peers apart
	// by address once ICE is done, so peers cannot share one.
	opts := peer.Options{Loopback: true}

	pid := ""
	if cfg.PID > 0 {
		pid = strconv.Itoa(cfg.PID)
	}
	// The relay's memory before any of our peers exist is the baseline for
	// memory per viewer.
	srvStart, _ := sampleOr(pid)

	sent := newSendTimes(4096)
	pub, err := peer.Publish(ctx, peer.PublishConfig{
		URL: base + "/whip/" + cfg.Room, Token: cfg.Token, Clip: cfg.Clip, Options: opts,
		OnPacket: func(p clip.Packet, at time.Time) { sent.sent(p.Timestamp, at) },
	})
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	defer pub.Close(true)
	progress("publisher connected to %s/whip/%s; waiting 1 s for the room to go live", base, cfg.Room)
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	var measuring atomic.Bool
	hists := make([]*histMu, 8)
	for i := range hists {
		hists[i] = &histMu{}
	}
	sum := &Summary{Viewers: cfg.Viewers, CaptionViewers: cfg.CaptionViewers}

	// Captions first: their sockets are cheap and the cue stream runs
	// throughout the video ramp.
	capRun := newCaptionLoad(base, cfg)
	capCtx, capCancel := context.WithCancel(ctx)
	capDone := make(chan struct{})
	go func() {
		defer close(capDone)
		capRun.run(capCtx, &measuring, progress)
	}()
	defer func() { capCancel(); <-capDone }()

	viewers := make([]*peer.Viewer, cfg.Viewers)
	var failMu sync.Mutex
	var wg sync.WaitGroup
	interval := time.Duration(0)
	if cfg.Viewers > 1 {
		interval = cfg.Ramp / time.Duration(cfg.Viewers)
	}
	rampStart := time.Now()
	for i := 0; i < cfg.Viewers; i++ {
		if ctx.Err() != nil {
			break
		}
		h := hists[i%len(hists)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			vctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			defer cancel()
			v, err := peer.View(vctx, peer.ViewConfig{
				URL: base + "/whep/" + cfg.Room, Options: opts, NoAudio: cfg.NoAudio, HeaderOnly: !cfg.FullViewers,
				OnPacket: func(kind webrtc.RTPCodecType, hd *rtp.Header, _ []byte, at time.Time) {
					if kind != webrtc.RTPCodecTypeVideo || !hd.Marker || !measuring.Load() {
						return
					}
					if d, ok := sent.latency(hd.Timestamp, at); ok {
						h.add(d)
					}
				},
			})
			if err != nil {
				failMu.Lock()
				sum.ViewersFailed++
				if len(sum.FailReasons) < 5 {
					sum.FailReasons = append(sum.FailReasons, err.Error())
				}
				failMu.Unlock()
				return
			}
			viewers[i] = v
		}()
		if (i+1)%50 == 0 {
			progress("t=%4.1fs  %d/%d viewers started", time.Since(rampStart).Seconds(), i+1, cfg.Viewers)
		}
		if interval > 0 {
			time.Sleep(interval)
		}
	}
	wg.Wait()
	defer func() {
		for _, v := range viewers {
			if v != nil {
				v.Close(true)
			}
		}
	}()
	progress("t=%4.1fs  ramp done: %d viewers, %d failed; settling %v", time.Since(rampStart).Seconds(), cfg.Viewers-sum.ViewersFailed, sum.ViewersFailed, cfg.Settle)
	time.Sleep(cfg.Settle)

	// Measured window.
	srvA, srvErr := sampleOr(pid)
	selfA, _ := readProc("self")
	machA, _ := readMachine()
	peakRSS := srvA.rss
	startPkts := packetsReceived(viewers)
	startSent := pub.Packets()
	measuring.Store(true)
	ticker := time.NewTicker(time.Second)
	end := time.Now().Add(cfg.Duration)
	for now := time.Now(); now.Before(end); now = time.Now() {
		select {
		case <-ctx.Done():
			ticker.Stop()
			return nil, ctx.Err()
		case <-ticker.C:
		}
		if s, err := sampleOr(pid); err == nil && s.rss > peakRSS {
			peakRSS = s.rss
		}
		progress("t=%4.1fs  measuring: %d packets received by viewers, %d cues delivered",
			time.Since(rampStart).Seconds(), packetsReceived(viewers)-startPkts, capRun.received.Load())
	}
	ticker.Stop()
	measuring.Store(false)
	srvB, _ := sampleOr(pid)
	selfB, _ := readProc("self")
	machB, _ := readMachine()
	window := srvB.at.Sub(srvA.at)
	if pid == "" {
		window = selfB.at.Sub(selfA.at)
	}
	sum.WindowSeconds = window.Seconds()
	sum.PacketsSent = pub.Packets() - startSent
	sum.FramesSent = pub.VideoFrames()
	sum.PLIs = pub.PLIs()

	var ttfp, ttfk []time.Duration
	var missing, received uint64
	for _, v := range viewers {
		if v == nil {
			continue
		}
		sum.ViewersOK++
		vs := v.Stats(webrtc.RTPCodecTypeVideo)
		as := v.Stats(webrtc.RTPCodecTypeAudio)
		received += vs.Packets + as.Packets
		missing += vs.MissingTotal + as.MissingTotal
		sum.FramesReceived += vs.Frames
		if !vs.FirstAt.IsZero() {
			ttfp = append(ttfp, vs.FirstAt.Sub(v.Started()))
		}
		if !vs.FirstKeyAt.IsZero() {
			ttfk = append(ttfk, vs.FirstKeyAt.Sub(v.Started()))
		}
	}
	sum.PacketsReceived = received
	sum.LossPercent = lossPercent(received, missing)
	total := &histogram{}
	for _, h := range hists {
		h.mu.Lock()
		total.merge(&h.h)
		h.mu.Unlock()
	}
	sum.LatencySamples = total.n
	sum.LatencyP50, sum.LatencyP95, sum.LatencyP99 = ms(total.quantile(.5)), ms(total.quantile(.95)), ms(total.quantile(.99))
	sum.LatencyMax = ms(total.max)
	sum.FirstPacketP50, sum.FirstPacketP95 = ms(percentile(ttfp, .5)), ms(percentile(ttfp, .95))
	sum.FirstKeyP50, sum.FirstKeyP95 = ms(percentile(ttfk, .5)), ms(percentile(ttfk, .95))
	capRun.summarise(sum)

	sum.ToolCores = cores(selfA, selfB)
	sum.MachineBusy = machB.busySince(machA)
	if pid != "" && srvErr == nil {
		sum.serverFigures(srvStart.rss, srvA, srvB, peakRSS)
	}
	sum.judge()
	return sum, nil
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

type histMu struct {
	mu sync.Mutex
	h  histogram
}

func (h *histMu) add(d time.Duration) {
	h.mu.Lock()
	h.h.add(d)
	h.mu.Unlock()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func packetsReceived(vs []*peer.Viewer) uint64 {
	var n uint64
	for _, v := range vs {
		if v != nil {
			n += v.Stats(webrtc.RTPCodecTypeVideo).Packets + v.Stats(webrtc.RTPCodecTypeAudio).Packets
		}
	}
	return n
}

func sampleOr(pid string) (procSample, error) {
	if pid == "" {
		return procSample{at: time.Now()}, errors.New("no pid")
	}
	return readProc(pid)
}

// machine is the whole machine's CPU time from /proc/stat.
type machine struct{ busy, total uint64 }

func readMachine() (machine, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return machine{}, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return machine{}, errors.New("proc stat: no cpu line")
	}
	var m machine
	for i, s := range f[1:] {
		v, _ := strconv.ParseUint(s, 10, 64)
		m.total += v
		if i != 3 && i != 4 { // idle, iowait
			m.busy += v
		}
	}
	return m, nil
}

func (m machine) busySince(a machine) float64 {
	if m.total <= a.total {
		return 0
	}
	return float64(m.busy-a.busy) / float64(m.total-a.total)
}
