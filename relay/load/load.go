// Package load is the relay's own load generator: a pion WHIP publisher, N
// pion WHEP viewers and optional caption sockets in one process, measuring
// what delegates would feel (loss, frame latency, time to first frame) and
// what the relay pays (CPU and memory of its process).
package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// Config is one load run.
type Config struct {
	URL   string // relay base URL, e.g. http://127.0.0.1:8080
	Room  string
	Token string // publisher token for Room
	// Clip is published looping: its video and its audio; with Layers only
	// its audio (nil: none).
	Clip *clip.Clip
	// Layers, when set, publishes the video as simulcast, one layer per
	// entry, best first (LoadLayers), instead of Clip's video. Viewers stay
	// on video=auto; the summary says how they spread over the layers and
	// the loss on each (see layers.go).
	Layers   []peer.Layer
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
	// Feedback gives full viewers pion's interceptors, TWCC feedback among
	// them, as browsers send: the relay then estimates each viewer's
	// bandwidth (what that costs is what it measures).
	Feedback bool
	// TURN, when "udp", "tcp" or "tls", makes full viewers reach the relay
	// only through its TURN server over that transport (the ICE servers
	// its OPTIONS gives, relay-only ICE), to measure what TURN costs.
	TURN string

	// CaptionViewers connect after the captioner (which creates their
	// language: viewers create none), from several loopback addresses when
	// URL is one (at most 400 from each: a relay's default cap of caption
	// sockets per address is 500).
	CaptionViewers int
	CueRate        float64 // captioner finals per second; 0 means no finals
	// CaptionToken is a captioner token for Room and Lang; "" means no
	// captioner (then Lang must be declared in the relay's config).
	CaptionToken string
	Lang         string // caption language; "" means "en"

	PID      int       // relay process to measure; 0 means not measured
	Progress io.Writer // progress lines while running; nil means none
}

// Run performs one load run and returns its summary.
func Run(ctx context.Context, cfg Config) (*Summary, error) {
	if cfg.Clip == nil && len(cfg.Layers) == 0 {
		return nil, errors.New("load: no clip")
	}
	r := newRunner(cfg)
	// The relay's memory before any of our peers exist is the baseline for
	// memory per viewer.
	r.srvStart, _ = sampleOr(r.pid)

	if err := r.publish(ctx); err != nil {
		return nil, err
	}
	defer r.pub.Close(true)
	if err := r.waitLive(ctx); err != nil {
		return nil, err
	}
	// Captions first: their sockets are cheap and the cue stream runs
	// throughout the video ramp.
	stopCaptions := r.startCaptions(ctx)
	defer stopCaptions()
	r.rampViewers(ctx)
	defer r.closeViewers()
	r.settle()

	w, err := r.measure(ctx)
	if err != nil {
		return nil, err
	}
	return r.summarise(ctx, w), nil
}

// runner is the state of one Run, shared by its steps.
type runner struct {
	cfg      Config
	base     string // relay URL without a trailing slash
	pid      string // relay process; "" when not measured
	opts     peer.Options
	progress func(format string, args ...any)

	srvStart  procSample // the relay before any peer
	streams   []*stream  // the published video: one, or a simulcast layer each
	pub       *peer.Publisher
	captions  *captionLoad
	viewers   []*peer.Viewer // nil where a viewer failed to connect
	rx        []*reception   // each viewer's video, by the viewer's index
	rampStart time.Time
	measuring atomic.Bool // frame and cue latencies count only in the window
	hists     []*histMu   // frame latencies, each shared by a few viewers
	failMu    sync.Mutex  // guards sum's failure fields during the ramp
	sum       *Summary
}

// newRunner fills in cfg's defaults.
func newRunner(cfg Config) *runner {
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Lang == "" {
		cfg.Lang = "en"
	}
	r := &runner{
		cfg:  cfg,
		base: strings.TrimRight(cfg.URL, "/"),
		// Every client peer has its own UDP socket: the relay tells peers
		// apart by address once ICE is done, so peers cannot share one.
		opts:  peer.Options{Loopback: true},
		hists: make([]*histMu, 8),
		sum:   &Summary{Viewers: cfg.Viewers, CaptionViewers: cfg.CaptionViewers},
	}
	r.progress = func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}
	if cfg.PID > 0 {
		r.pid = strconv.Itoa(cfg.PID)
	}
	for i := range r.hists {
		r.hists[i] = &histMu{}
	}
	r.streams = newStreams(cfg.Layers)
	return r
}

// publish connects the publisher, noting when each frame of each video
// stream leaves and after how many packets, so that viewers can tell its
// latency and what they should have received.
func (r *runner) publish(ctx context.Context) error {
	pc := peer.PublishConfig{
		URL: r.base + "/whip/" + r.cfg.Room, Token: r.cfg.Token, Clip: r.cfg.Clip, Options: r.opts,
		OnPacket: r.noteSent,
	}
	if len(r.cfg.Layers) > 0 {
		pc.Layers, pc.Clip = r.cfg.Layers, nil
		if r.cfg.Clip != nil && r.cfg.Clip.Audio != nil {
			pc.Clip = &clip.Clip{Audio: r.cfg.Clip.Audio}
		}
	}
	pub, err := peer.Publish(ctx, pc)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	r.pub = pub
	return nil
}

// waitLive gives the relay a second to announce the room before viewers ask
// for it.
func (r *runner) waitLive(ctx context.Context) error {
	r.progress("publisher connected to %s/whip/%s; waiting 1 s for the room to go live", r.base, r.cfg.Room)
	select {
	case <-time.After(time.Second):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startCaptions runs the caption viewers and the captioner until the
// returned stop is called.
func (r *runner) startCaptions(ctx context.Context) (stop func()) {
	r.captions = newCaptionLoad(r.base, r.cfg)
	capCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.captions.run(capCtx, &r.measuring, r.progress)
	}()
	return func() { cancel(); <-done }
}

// rampViewers starts the viewers evenly over cfg.Ramp, as delegates arrive,
// and returns once each has connected or failed.
func (r *runner) rampViewers(ctx context.Context) {
	r.viewers = make([]*peer.Viewer, r.cfg.Viewers)
	r.rx = make([]*reception, r.cfg.Viewers)
	for i := range r.rx {
		r.rx[i] = &reception{}
	}
	interval := time.Duration(0)
	if r.cfg.Viewers > 1 {
		interval = r.cfg.Ramp / time.Duration(r.cfg.Viewers)
	}
	var wg sync.WaitGroup
	r.rampStart = time.Now()
	for i := 0; i < r.cfg.Viewers; i++ {
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.startViewer(ctx, i)
		}()
		if (i+1)%50 == 0 {
			r.progress("t=%4.1fs  %d/%d viewers started", time.Since(r.rampStart).Seconds(), i+1, r.cfg.Viewers)
		}
		if interval > 0 {
			time.Sleep(interval)
		}
	}
	wg.Wait()
}

// startViewer connects viewer i, or counts its failure.
func (r *runner) startViewer(ctx context.Context, i int) {
	vctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	opts := r.opts
	var err error
	if r.cfg.TURN != "" {
		if opts, err = r.turnOptions(vctx); err != nil {
			r.fail(err)
			return
		}
	}
	v, err := peer.View(vctx, peer.ViewConfig{
		URL: r.base + "/whep/" + r.cfg.Room, Options: opts, NoAudio: r.cfg.NoAudio, HeaderOnly: !r.cfg.FullViewers,
		Interceptors: r.cfg.Feedback,
		OnPacket:     r.watch(r.rx[i], r.hists[i%len(r.hists)]),
	})
	if err != nil {
		r.fail(err)
		return
	}
	r.viewers[i] = v
}

// fail counts a viewer that did not connect, and keeps a few reasons.
func (r *runner) fail(err error) {
	r.failMu.Lock()
	defer r.failMu.Unlock()
	r.sum.ViewersFailed++
	if len(r.sum.FailReasons) < 5 {
		r.sum.FailReasons = append(r.sum.FailReasons, err.Error())
	}
}

// turnOptions are a viewer's options for reaching the relay only through
// its TURN server over cfg.TURN: the relay's ICE servers of that
// transport, with fresh credentials.
func (r *runner) turnOptions(ctx context.Context) (peer.Options, error) {
	servers, err := peer.FetchICEServers(ctx, r.opts, r.base+"/whep/"+r.cfg.Room, "")
	if err != nil {
		return r.opts, fmt.Errorf("ICE servers: %w", err)
	}
	o := r.opts
	o.RelayOnly = true
	for _, s := range servers {
		u := s.URLs[0]
		tls := strings.HasPrefix(u, "turns:")
		tcp := strings.Contains(u, "transport=tcp")
		if (r.cfg.TURN == "tls" && tls) || (r.cfg.TURN == "tcp" && tcp && !tls) || (r.cfg.TURN == "udp" && !tcp && !tls) {
			o.ICEServers = append(o.ICEServers, s)
		}
	}
	if len(o.ICEServers) == 0 {
		return o, fmt.Errorf("the relay offers no TURN over %s (start it with --turn-port or --turns-port)", r.cfg.TURN)
	}
	return o, nil
}

func (r *runner) closeViewers() {
	for _, v := range r.viewers {
		if v != nil {
			v.Close(true)
		}
	}
}

// settle lets the last viewers' first keyframes and retransmissions pass
// before anything is measured.
func (r *runner) settle() {
	failed := r.sum.ViewersFailed
	r.progress("t=%4.1fs  ramp done: %d viewers, %d failed; settling %v", time.Since(r.rampStart).Seconds(), r.cfg.Viewers-failed, failed, r.cfg.Settle)
	time.Sleep(r.cfg.Settle)
}

// snapshot is the CPU time of the relay, of this process and of the whole
// machine at one moment.
type snapshot struct {
	srv, self procSample
	mach      machine
}

// takeSnapshot's error is the relay's: not measured, or not readable.
func takeSnapshot(pid string) (snapshot, error) {
	var s snapshot
	var err error
	s.srv, err = sampleOr(pid)
	s.self, _ = readProc("self")
	s.mach, _ = readMachine()
	return s, err
}

// window is what measure saw.
type window struct {
	start, end snapshot
	srvErr     error // from the start snapshot
	peakRSS    int64 // the relay's highest RSS seen
	startSent  uint64
	startLayer []peer.LayerStats // the publisher's per-layer counts
}

// measure runs the measured window, sampling its two ends and, every
// second in between, the relay's memory.
func (r *runner) measure(ctx context.Context) (window, error) {
	var w window
	w.start, w.srvErr = takeSnapshot(r.pid)
	w.peakRSS = w.start.srv.rss
	startPkts := packetsReceived(r.viewers)
	w.startSent = r.pub.Packets()
	w.startLayer = r.pub.Layers()
	r.measuring.Store(true)
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	end := time.Now().Add(r.cfg.Duration)
	for now := time.Now(); now.Before(end); now = time.Now() {
		select {
		case <-ctx.Done():
			return window{}, ctx.Err()
		case <-ticker.C:
		}
		if s, err := sampleOr(r.pid); err == nil && s.rss > w.peakRSS {
			w.peakRSS = s.rss
		}
		r.progress("t=%4.1fs  measuring: %d packets received by viewers, %d cues delivered",
			time.Since(r.rampStart).Seconds(), packetsReceived(r.viewers)-startPkts, r.captions.received.Load())
	}
	r.measuring.Store(false)
	w.end, _ = takeSnapshot(r.pid)
	return w, nil
}

// summarise fills in the summary from the window and the peers' counters.
func (r *runner) summarise(ctx context.Context, w window) *Summary {
	sum := r.sum
	elapsed := w.end.srv.at.Sub(w.start.srv.at)
	if r.pid == "" {
		elapsed = w.end.self.at.Sub(w.start.self.at)
	}
	sum.WindowSeconds = elapsed.Seconds()
	sum.PacketsSent = r.pub.Packets() - w.startSent
	sum.FramesSent = r.pub.VideoFrames()
	sum.PLIs = r.pub.PLIs()
	r.viewerFigures(sum)
	r.layerFigures(ctx, sum, w.startLayer, r.pub.Layers())
	r.captions.summarise(sum)

	sum.ToolCores = cores(w.start.self, w.end.self)
	sum.MachineBusy = w.end.mach.busySince(w.start.mach)
	if r.pid != "" && w.srvErr == nil {
		sum.serverFigures(r.srvStart.rss, w.start.srv, w.end.srv, w.peakRSS)
	}
	sum.judge()
	return sum
}

// viewerFigures sets what the connected viewers got: packets, loss, frame
// latency and how soon the first packet and the first keyframe came.
func (r *runner) viewerFigures(sum *Summary) {
	var ttfp, ttfk []time.Duration
	var missing, received uint64
	for _, v := range r.viewers {
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
	total := mergeHists(r.hists)
	sum.LatencySamples = total.n
	sum.LatencyP50, sum.LatencyP95, sum.LatencyP99 = ms(total.quantile(.5)), ms(total.quantile(.95)), ms(total.quantile(.99))
	sum.LatencyMax = ms(total.max)
	sum.FirstPacketP50, sum.FirstPacketP95 = ms(percentile(ttfp, .5)), ms(percentile(ttfp, .95))
	sum.FirstKeyP50, sum.FirstKeyP95 = ms(percentile(ttfk, .5)), ms(percentile(ttfk, .95))
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

// mergeHists adds up the viewers' histograms.
func mergeHists(hs []*histMu) *histogram {
	total := &histogram{}
	for _, h := range hs {
		h.mu.Lock()
		total.merge(&h.h)
		h.mu.Unlock()
	}
	return total
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
