package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// HLSConfig is one run of simulated LL-HLS players. Each does what hls.js
// does in low-latency mode: it reads the room's multivariant playlist,
// follows the first video variant, the default audio rendition and
// optionally one subtitle rendition, each with blocking playlist reloads
// (_HLS_msn, _HLS_part) for the next part, and fetches every new part (or
// subtitle segment) as it is listed.
type HLSConfig struct {
	URL   string // base URL of the relay, or of an HTTP cache in front of it
	Room  string
	Token string // viewer token of a private room ("" none)
	// Players is how many players run; at most MaxHLSPlayers.
	Players int
	// Subtitles is the subtitle language the players also follow ("" none,
	// "*" the first offered).
	Subtitles string
	Ramp      time.Duration // players start evenly over this; 0 means all at once
	Settle    time.Duration // wait after the ramp before measuring; 0 means 2 s
	Duration  time.Duration // measured window; 0 means 10 s, at most 1 h
	// Timeout bounds each request for a file; 0 means 10 s. A blocking
	// playlist reload gets three target durations more: the longest a
	// server holds it (RFC 8216bis §6.2.5.2).
	Timeout time.Duration
	// End, when it closes, ends the window early: the summary covers what
	// was measured until then (a run beside load.Run ends with its
	// publisher). Nil means the window lasts Duration.
	End <-chan struct{}
	// Client makes the requests; nil means one of the run's own, whose
	// connections are closed when the run ends.
	Client   *http.Client
	Progress io.Writer // progress lines while running; nil means none
	PID      int       // relay process whose CPU to measure; 0 means not measured
}

// MaxHLSPlayers bounds HLSConfig.Players.
const MaxHLSPlayers = 5000

// HLSSummary is what an HLS run measured in its window. Durations are in
// milliseconds. Parts are the video and audio parts; their fetch time runs
// from the request to the body's last byte, and behind live is when the
// last byte came minus the part's start on the wall clock (its segment's
// EXT-X-PROGRAM-DATE-TIME plus the parts before it): it includes the part's
// own duration, the packaging and the wait for the blocking reload.
type HLSSummary struct {
	Players          int      `json:"players"`
	PlayersOK        int      `json:"players_playing"`
	WindowSeconds    float64  `json:"window_s"`
	Parts            uint64   `json:"parts"`
	SubtitleSegments uint64   `json:"subtitle_segments"`
	Inits            uint64   `json:"inits"`
	Playlists        uint64   `json:"playlist_requests"`
	Requests         uint64   `json:"requests"`
	Bytes            uint64   `json:"bytes"`
	Errors           uint64   `json:"errors"`
	WarmupErrors     uint64   `json:"warmup_errors"`
	ErrorReasons     []string `json:"error_reasons,omitempty"`
	Resyncs          uint64   `json:"resyncs"`
	FetchP50         float64  `json:"part_fetch_p50_ms"`
	FetchP95         float64  `json:"part_fetch_p95_ms"`
	FetchP99         float64  `json:"part_fetch_p99_ms"`
	BehindP50        float64  `json:"behind_live_p50_ms"`
	BehindP95        float64  `json:"behind_live_p95_ms"`
	BehindP99        float64  `json:"behind_live_p99_ms"`
	ServerCores      float64  `json:"server_cores,omitempty"`
	ToolCores        float64  `json:"tool_cores"`
	MachineBusy      float64  `json:"machine_busy_fraction"`
}

// Line is the one-line human summary.
func (s *HLSSummary) Line() string {
	mbps := 0.0
	if s.WindowSeconds > 0 {
		mbps = float64(s.Bytes) * 8 / 1e6 / s.WindowSeconds
	}
	return fmt.Sprintf("hls players %d/%d playing, %d parts, %d subtitle segments, %d playlist requests, %.1f Mbit/s, "+
		"errors %d (warm-up %d), resyncs %d, part fetch p50/p95/p99 %.1f/%.1f/%.1f ms, behind live p50/p95/p99 %.0f/%.0f/%.0f ms, server %.2f cores, tool %.2f cores, machine %.0f%% busy",
		s.PlayersOK, s.Players, s.Parts, s.SubtitleSegments, s.Playlists, mbps, s.Errors, s.WarmupErrors, s.Resyncs,
		s.FetchP50, s.FetchP95, s.FetchP99, s.BehindP50, s.BehindP95, s.BehindP99, s.ServerCores, s.ToolCores, 100*s.MachineBusy)
}

// JSON is the machine-readable summary.
func (s *HLSSummary) JSON() string {
	b, _ := json.MarshalIndent(s, "", "  ")
	return string(b)
}

// The phases of a run: what is counted depends on it.
const (
	phaseWarmup = iota // errors counted apart, nothing else
	phaseWindow        // everything counted
	phaseOver          // nothing counted: requests end with the run
)

// hlsRun is the state of one RunHLS, shared by its players.
type hlsRun struct {
	cfg      HLSConfig
	pid      string // "" when not measured
	base     *url.URL
	client   *http.Client
	progress func(format string, args ...any)
	phase    atomic.Int32
	playing  []atomic.Bool // by player: fetched a part in the window

	parts, subs, inits, playlists, bytes atomic.Uint64
	errs, warmErrs, resyncs              atomic.Uint64
	fetch, behind                        []*histMu // shards, by player
	reasonsMu                            sync.Mutex
	reasons                              []string
}

// RunHLS runs cfg.Players players against the room's LL-HLS and returns
// what they got. It waits (up to 30 s) for the room to be on air first.
func RunHLS(ctx context.Context, cfg HLSConfig) (*HLSSummary, error) {
	r, err := newHLSRun(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Client == nil {
		tr := &http.Transport{MaxIdleConnsPerHost: 4*cfg.Players + 8, IdleConnTimeout: 30 * time.Second, DisableCompression: true}
		r.client = &http.Client{Transport: tr}
		defer tr.CloseIdleConnections()
	}
	if err := r.waitLive(ctx); err != nil {
		return nil, err
	}
	pctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() { stop(); wg.Wait() }()
	began := time.Now()
	for i := range cfg.Players {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.play(pctx, i)
		}()
		if cfg.Players > 1 && cfg.Ramp > 0 && !sleepCtx(ctx, cfg.Ramp/time.Duration(cfg.Players)) {
			return nil, ctx.Err()
		}
	}
	r.progress("t=%4.1fs  %d HLS players started; settling %v", time.Since(began).Seconds(), cfg.Players, cfg.Settle)
	if !sleepCtx(ctx, cfg.Settle) {
		return nil, ctx.Err()
	}
	start, srvErr := takeSnapshot(r.pid)
	windowStart := time.Now()
	r.phase.Store(phaseWindow)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
window:
	for end := time.Now().Add(cfg.Duration); time.Now().Before(end); {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-cfg.End:
			break window
		case <-tick.C:
		}
		r.progress("t=%4.1fs  hls: %d parts, %d errors, %d players playing", time.Since(began).Seconds(), r.parts.Load(), r.errs.Load(), r.playingCount())
	}
	r.phase.Store(phaseOver)
	end, _ := takeSnapshot(r.pid)
	window := time.Since(windowStart)
	stop()
	wg.Wait()
	s := r.summarise(start, end, window)
	if srvErr == nil {
		s.ServerCores = cores(start.srv, end.srv)
	}
	return s, nil
}

func newHLSRun(cfg HLSConfig) (*hlsRun, error) {
	if cfg.Players < 1 || cfg.Players > MaxHLSPlayers {
		return nil, fmt.Errorf("hls: players must be 1..%d", MaxHLSPlayers)
	}
	if cfg.Duration > time.Hour || cfg.Ramp > time.Hour || cfg.Settle > time.Hour {
		return nil, errors.New("hls: ramp, settle and duration are at most 1h each")
	}
	if cfg.Settle <= 0 {
		cfg.Settle = 2 * time.Second
	}
	if cfg.Duration <= 0 {
		cfg.Duration = 10 * time.Second
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	u := strings.TrimRight(cfg.URL, "/") + "/hls/" + url.PathEscape(cfg.Room) + "/index.m3u8"
	if cfg.Token != "" {
		u += "?token=" + url.QueryEscape(cfg.Token)
	}
	base, err := url.Parse(u)
	if err != nil || (base.Scheme != "http" && base.Scheme != "https") {
		return nil, fmt.Errorf("hls: bad URL %q", cfg.URL)
	}
	r := &hlsRun{cfg: cfg, base: base, client: cfg.Client, playing: make([]atomic.Bool, cfg.Players),
		fetch: make([]*histMu, 8), behind: make([]*histMu, 8)}
	for i := range r.fetch {
		r.fetch[i], r.behind[i] = &histMu{}, &histMu{}
	}
	if cfg.PID > 0 {
		r.pid = strconv.Itoa(cfg.PID)
	}
	r.progress = func(format string, args ...any) {
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, format+"\n", args...)
		}
	}
	return r, nil
}

// waitLive waits until the room's multivariant playlist answers.
func (r *hlsRun) waitLive(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, _, err := r.get(ctx, r.base.String(), r.cfg.Timeout)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("hls: room %s not on air after 30 s: %w", r.cfg.Room, err)
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			return ctx.Err()
		}
	}
}

// HLSLive says whether room is on air as HLS at base (a relay or a cache):
// its multivariant playlist answers, or the relay says it is starting.
func HLSLive(ctx context.Context, base, room, token string) (bool, error) {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	r, err := newHLSRun(HLSConfig{URL: base, Room: room, Token: token, Players: 1, Client: &http.Client{Transport: tr}})
	if err != nil {
		return false, err
	}
	_, _, err = r.get(ctx, r.base.String(), 15*time.Second)
	var st statusError
	switch {
	case err == nil, errors.As(err, &st) && st.code == http.StatusServiceUnavailable:
		return true, nil
	case errors.As(err, &st) && st.code == http.StatusNotFound:
		return false, nil
	}
	return false, err
}

// play is one player: the multivariant playlist (again until it answers),
// then a follower per chosen rendition until ctx ends.
func (r *hlsRun) play(ctx context.Context, i int) {
	var uris []string
	for uris == nil {
		body, _, err := r.get(ctx, r.base.String(), r.cfg.Timeout)
		r.playlists.Add(r.counting())
		var mv *hlsMultivariant
		if err == nil {
			mv, err = parseMultivariant(string(body))
		}
		if err != nil {
			r.fail(ctx, err)
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		uris = mv.pick(r.cfg.Subtitles)
	}
	var wg sync.WaitGroup
	for _, u := range uris {
		ref, err := r.base.Parse(u)
		if err != nil {
			r.fail(ctx, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.follow(ctx, i, ref)
		}()
	}
	wg.Wait()
}

// counting is 1 in the window and 0 outside it: the counters' increment.
func (r *hlsRun) counting() uint64 {
	if r.phase.Load() == phaseWindow {
		return 1
	}
	return 0
}

// fail counts an error: in the window, or in the warm-up before it. An
// error because the run is ending is none.
func (r *hlsRun) fail(ctx context.Context, err error) {
	if ctx.Err() != nil {
		return
	}
	switch r.phase.Load() {
	case phaseWarmup:
		r.warmErrs.Add(1)
	case phaseWindow:
		r.errs.Add(1)
	default:
		return
	}
	r.reasonsMu.Lock()
	defer r.reasonsMu.Unlock()
	if len(r.reasons) < 5 {
		r.reasons = append(r.reasons, err.Error())
	}
}

// statusError is an answer other than 200.
type statusError struct {
	url  string
	code int
	body string
}

func (e statusError) Error() string {
	return fmt.Sprintf("GET %s: %d %s", e.url, e.code, strings.TrimSpace(e.body))
}

// maxBody bounds what one response may hold.
const maxBody = 32 << 20

// get fetches u within timeout; it returns the body and how long it took.
func (r *hlsRun) get(ctx context.Context, u string, timeout time.Duration) ([]byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, 0, err
	}
	began := time.Now()
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	took := time.Since(began)
	if err != nil {
		return nil, 0, fmt.Errorf("GET %s: %w", u, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, 0, statusError{url: u, code: resp.StatusCode, body: string(body[:min(len(body), 200)])}
	}
	return body, took, nil
}

func (r *hlsRun) playingCount() int {
	n := 0
	for i := range r.playing {
		if r.playing[i].Load() {
			n++
		}
	}
	return n
}

// summarise turns the counters into the summary.
func (r *hlsRun) summarise(start, end snapshot, window time.Duration) *HLSSummary {
	s := &HLSSummary{
		Players: r.cfg.Players, PlayersOK: r.playingCount(), WindowSeconds: window.Seconds(),
		Parts: r.parts.Load(), SubtitleSegments: r.subs.Load(), Inits: r.inits.Load(), Playlists: r.playlists.Load(),
		Bytes: r.bytes.Load(), Errors: r.errs.Load(), WarmupErrors: r.warmErrs.Load(), Resyncs: r.resyncs.Load(),
		ToolCores: cores(start.self, end.self), MachineBusy: end.mach.busySince(start.mach),
	}
	s.Requests = s.Parts + s.SubtitleSegments + s.Inits + s.Playlists
	r.reasonsMu.Lock()
	s.ErrorReasons = append([]string(nil), r.reasons...)
	r.reasonsMu.Unlock()
	f, b := mergeHists(r.fetch), mergeHists(r.behind)
	s.FetchP50, s.FetchP95, s.FetchP99 = ms(f.quantile(.5)), ms(f.quantile(.95)), ms(f.quantile(.99))
	s.BehindP50, s.BehindP95, s.BehindP99 = ms(b.quantile(.5)), ms(b.quantile(.95)), ms(b.quantile(.99))
	return s
}

// sleepCtx sleeps d; false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// blockingURL is u asking for the playlist that holds c (RFC 8216bis
// §6.2.5.2): _HLS_msn, and _HLS_part with parts. Every player builds the
// same string for the same part, so a cache keys them alike.
func blockingURL(u *url.URL, c cursor, parts bool) string {
	q := u.Query()
	q.Set("_HLS_msn", strconv.FormatUint(c.msn, 10))
	if parts {
		q.Set("_HLS_part", strconv.Itoa(c.part))
	}
	v := *u
	v.RawQuery = q.Encode()
	return v.String()
}
