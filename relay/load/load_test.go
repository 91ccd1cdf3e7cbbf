package load

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
)

func TestHistogramQuantiles(t *testing.T) {
	var h histogram
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Millisecond)
	}
	for _, c := range []struct {
		name string
		q    float64
		want time.Duration
	}{{"p50", .5, 500 * time.Millisecond}, {"p95", .95, 950 * time.Millisecond}, {"p99", .99, 990 * time.Millisecond}} {
		t.Run(c.name, func(t *testing.T) {
			if got := h.quantile(c.q); got < c.want-time.Millisecond || got > c.want+time.Millisecond {
				t.Errorf("q%.2f = %v, want %v", c.q, got, c.want)
			}
		})
	}
	var o histogram
	o.add(20 * time.Second) // beyond the last bucket: kept as max
	h.merge(&o)
	if h.n != 1001 || h.max != 20*time.Second {
		t.Errorf("merge: n=%d max=%v", h.n, h.max)
	}
	var empty histogram
	if empty.quantile(.99) != 0 {
		t.Error("empty histogram quantile")
	}
	h.add(-time.Second) // clock oddities count as zero, not a panic
}

func TestPercentile(t *testing.T) {
	s := []time.Duration{5, 1, 4, 2, 3}
	if percentile(s, .5) != 3 || percentile(s, .95) != 5 || percentile(s, 0) != 1 || percentile(nil, .5) != 0 {
		t.Errorf("percentile wrong: %v %v %v", percentile(s, .5), percentile(s, .95), percentile(s, 0))
	}
	if s[0] != 5 {
		t.Error("percentile sorted its input")
	}
}

func TestSendTimesMatching(t *testing.T) {
	st := newSendTimes(3)
	t0 := time.Unix(100, 0)
	st.sent(3000, t0, false)
	if _, ok := st.through(3000); ok {
		t.Error("a frame whose last packet has not left counts as sent")
	}
	st.sent(3000, t0.Add(time.Second), true) // a later packet of the same frame
	if d, ok := st.latency(3000, t0.Add(5*time.Millisecond)); !ok || d != 5*time.Millisecond {
		t.Errorf("latency = %v %v", d, ok)
	}
	if n, ok := st.through(3000); !ok || n != 2 {
		t.Errorf("through the first frame: %d %v, want 2 packets", n, ok)
	}
	for i := uint32(2); i <= 4; i++ {
		st.sent(3000*i, t0, false)
		st.sent(3000*i, t0, false)
		st.sent(3000*i, t0, true)
	}
	if n, ok := st.through(12000); !ok || n != 11 {
		t.Errorf("through the fourth frame: %d %v, want 11 packets", n, ok)
	}
	if _, ok := st.latency(3000, t0); ok {
		t.Error("oldest frame not forgotten")
	}
	if _, ok := st.latency(12345, t0); ok {
		t.Error("unknown timestamp matched")
	}
}

func TestParseStat(t *testing.T) {
	line := "1234 (relay (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 12 0 100 999999 300 18446744073709551615"
	s, err := parseStat(line, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	if s.cpu != 3*time.Second {
		t.Errorf("cpu = %v, want 3s (300 ticks)", s.cpu)
	}
	if s.rss != 300*int64(pageSize()) {
		t.Errorf("rss = %d", s.rss)
	}
	if _, err := parseStat("garbage", time.Now()); err == nil {
		t.Error("garbage accepted")
	}
	a := procSample{at: time.Unix(0, 0), cpu: 0}
	b := procSample{at: time.Unix(2, 0), cpu: time.Second}
	if c := cores(a, b); c != 0.5 {
		t.Errorf("cores = %v", c)
	}
	if _, ok := parseCueTime("load cue 3 sent 1700000000000000000"); !ok {
		t.Error("cue time not parsed")
	}
	if _, ok := parseCueTime("hello"); ok {
		t.Error("cue time from nothing")
	}
}

// TestSmoke runs the tool briefly against an in-process relay: it asserts
// only that media flows and the summary adds up, never timings.
func TestSmoke(t *testing.T) {
	a, _ := auth.New([]byte("smoke-secret-0123456789"))
	srv, err := relay.New(relay.Config{Auth: a, BindIP: net.IPv4(127, 0, 0, 1), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	c, _ := clip.Demo()
	tok, _ := a.Issue(auth.RolePublisher, "smoke", "", time.Hour)
	var progress strings.Builder
	sum, err := Run(context.Background(), Config{
		URL: hs.URL, Room: "smoke", Token: tok, Clip: c, Viewers: 3, Ramp: 300 * time.Millisecond,
		Settle: 1500 * time.Millisecond, Duration: 2 * time.Second, Progress: &progress,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum.Line())
	if sum.ViewersOK != 3 || sum.ViewersFailed != 0 {
		t.Errorf("viewers ok %d failed %d (%v)", sum.ViewersOK, sum.ViewersFailed, sum.FailReasons)
	}
	if sum.FramesReceived == 0 || sum.PacketsReceived == 0 || sum.LatencySamples == 0 {
		t.Errorf("no media flowed: %s", sum.JSON())
	}
	if !strings.Contains(progress.String(), "measuring") {
		t.Errorf("no progress printed: %q", progress.String())
	}
}

// The summary's arithmetic, on figures worked out by hand.
func TestSummaryArithmetic(t *testing.T) {
	if got := lossPercent(995, 5); got != 0.5 {
		t.Errorf("loss of 5 in 1000: %v%%", got)
	}
	if got := lossPercent(0, 0); got != 0 {
		t.Errorf("loss with nothing sent: %v%%", got)
	}

	t0 := time.Unix(1000, 0)
	a := procSample{at: t0, cpu: 3 * time.Second}
	b := procSample{at: t0.Add(20 * time.Second), cpu: 11 * time.Second} // 8 s of CPU in 20 s
	sum := &Summary{ViewersOK: 200}
	sum.serverFigures(16<<20, a, b, 80<<20)
	if sum.ServerCores != 0.4 || sum.ServerMsPerViewerS != 2 {
		t.Errorf("cores %v, ms per viewer-second %v; want 0.4 and 2", sum.ServerCores, sum.ServerMsPerViewerS)
	}
	if sum.ServerKBPerViewer != 327.68 || sum.ServerRSSStartMB != 16 || sum.ServerRSSPeakMB != 80 {
		t.Errorf("memory %v KB per viewer, %v -> %v MB; want 327.68, 16 -> 80", sum.ServerKBPerViewer, sum.ServerRSSStartMB, sum.ServerRSSPeakMB)
	}

	for _, c := range []struct {
		name  string
		busy  float64
		ok    int
		valid bool
	}{
		{"half busy", 0.5, 10, true},
		{"95% busy", 0.95, 10, true},
		{"96% busy", 0.96, 10, false},
		{"no viewer", 0.5, 0, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &Summary{MachineBusy: c.busy, ViewersOK: c.ok}
			s.judge()
			if s.Valid != c.valid || (s.InvalidReason == "") != c.valid {
				t.Errorf("busy %v, %d viewers: valid %v (%q)", c.busy, c.ok, s.Valid, s.InvalidReason)
			}
		})
	}
	s := &Summary{MachineBusy: 0.97, ViewersOK: 10}
	s.judge()
	if !strings.Contains(s.Line(), "INVALID") {
		t.Errorf("the one-line summary hides the verdict: %s", s.Line())
	}
}
