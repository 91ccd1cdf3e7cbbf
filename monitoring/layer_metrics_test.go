package monitoring

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// layerPrefixes are the names of the layer and estimate families.
var layerPrefixes = []string{"relay_layer_", "relay_viewer_estimate_bps", "relay_video_paused_viewers"}

// scrapeLayerSeries is scrapeSeries for every layer family.
func scrapeLayerSeries(t *testing.T, m *Metrics) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, p := range layerPrefixes {
		for k, v := range scrapeSeries(t, m, p) {
			out[k] = v
		}
	}
	return out
}

// estimateHist is the exposition of one room's estimate histogram:
// cumulative counts per bucket (in the order of estimateBuckets, then
// +Inf), the sum and the count.
func estimateHist(room string, cumulative [11]float64, sum float64) map[string]float64 {
	les := []string{"100000", "200000", "350000", "500000", "750000", "1e+06", "1.5e+06", "2.5e+06", "4e+06", "8e+06", "+Inf"}
	out := map[string]float64{
		`relay_viewer_estimate_bps_sum{room="` + room + `"}`:   sum,
		`relay_viewer_estimate_bps_count{room="` + room + `"}`: cumulative[10],
	}
	for i, le := range les {
		out[`relay_viewer_estimate_bps_bucket{room="`+room+`",le="`+le+`"}`] = cumulative[i]
	}
	return out
}

// checkSeries says every difference between got and want, both ways.
func checkSeries(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for series, v := range want {
		if g, ok := got[series]; !ok {
			t.Errorf("%s missing", series)
		} else if g != v {
			t.Errorf("%s = %v, want %v", series, g, v)
		}
	}
	for series, v := range got {
		if _, ok := want[series]; !ok {
			t.Errorf("unexpected series %s %v", series, v)
		}
	}
}

// TestLayerMetrics: the layer series say exactly what Stats says: viewers
// and bitrate per layer flowing now, with rid "single" for a publisher
// without simulcast and none without a publisher; both switch counters of
// every room; the estimate histogram of every room, with zero count while
// no viewer has an estimate; the paused viewers.
func TestLayerMetrics(t *testing.T) {
	m := NewMetrics(nil)
	m.Watch(fakeStats{
		{
			Room: "plenary", LayerSwitchesUp: 4, LayerSwitchesDown: 9, VideoPaused: 1,
			Layers: []relay.LayerInfo{
				{RID: "h", Width: 1280, Height: 720, Bitrate: 1_560_000, Viewers: 12},
				{RID: "m", Width: 640, Height: 360, Bitrate: 510_000, Viewers: 3},
				{RID: "l", Width: 320, Height: 180, Bitrate: 152_000, Viewers: 1},
			},
			// One below the first bucket, two on a bound (counted in it),
			// one above the last.
			Estimates: []float64{90e3, 180e3, 500e3, 600e3, 1.2e6, 1.5e6, 9e6},
		},
		{Room: "side", Layers: []relay.LayerInfo{{RID: "", Width: 1920, Height: 1080, Bitrate: 2_500_000, Viewers: 4}}},
		{Room: "empty"}, // no publisher: no layers
		// A publisher change from one without simulcast to one naming a
		// layer "single": one series of their sums, not a failed scrape.
		{Room: "swap", Layers: []relay.LayerInfo{
			{RID: "single", Bitrate: 300_000, Viewers: 1},
			{RID: "", Bitrate: 1_000_000, Viewers: 2},
		}, Estimates: []float64{2e6}},
	}, nil, Limits{})

	want := map[string]float64{
		`relay_layer_viewers{rid="h",room="plenary"}`:                 12,
		`relay_layer_viewers{rid="m",room="plenary"}`:                 3,
		`relay_layer_viewers{rid="l",room="plenary"}`:                 1,
		`relay_layer_bitrate_bps{rid="h",room="plenary"}`:             1.56e6,
		`relay_layer_bitrate_bps{rid="m",room="plenary"}`:             510e3,
		`relay_layer_bitrate_bps{rid="l",room="plenary"}`:             152e3,
		`relay_layer_switches_total{direction="up",room="plenary"}`:   4,
		`relay_layer_switches_total{direction="down",room="plenary"}`: 9,
		`relay_video_paused_viewers{room="plenary"}`:                  1,

		`relay_layer_viewers{rid="single",room="side"}`:            4,
		`relay_layer_bitrate_bps{rid="single",room="side"}`:        2.5e6,
		`relay_layer_switches_total{direction="up",room="side"}`:   0,
		`relay_layer_switches_total{direction="down",room="side"}`: 0,
		`relay_video_paused_viewers{room="side"}`:                  0,

		`relay_layer_switches_total{direction="up",room="empty"}`:   0,
		`relay_layer_switches_total{direction="down",room="empty"}`: 0,
		`relay_video_paused_viewers{room="empty"}`:                  0,

		`relay_layer_viewers{rid="single",room="swap"}`:            3,
		`relay_layer_bitrate_bps{rid="single",room="swap"}`:        1.3e6,
		`relay_layer_switches_total{direction="up",room="swap"}`:   0,
		`relay_layer_switches_total{direction="down",room="swap"}`: 0,
		`relay_video_paused_viewers{room="swap"}`:                  0,
	}
	for k, v := range estimateHist("plenary", [11]float64{1, 2, 2, 3, 4, 4, 6, 6, 6, 6, 7}, 90e3+180e3+500e3+600e3+1.2e6+1.5e6+9e6) {
		want[k] = v
	}
	for _, room := range []string{"side", "empty"} {
		for k, v := range estimateHist(room, [11]float64{}, 0) {
			want[k] = v
		}
	}
	for k, v := range estimateHist("swap", [11]float64{0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1}, 2e6) {
		want[k] = v
	}
	checkSeries(t, scrapeLayerSeries(t, m), want)
}

// TestLayerMetricsFollowStats: the series are read at each scrape: a
// layer that stops leaves, the counters and the histogram follow.
func TestLayerMetricsFollowStats(t *testing.T) {
	stats := &mutableStats{rooms: []relay.RoomStats{{Room: "hall", Layers: []relay.LayerInfo{
		{RID: "h", Bitrate: 1_500_000, Viewers: 2},
		{RID: "l", Bitrate: 150_000, Viewers: 1},
	}, Estimates: []float64{3e6, 3e6, 300e3}}}}
	m := NewMetrics(nil)
	m.Watch(stats, nil, Limits{})
	if got := scrapeLayerSeries(t, m)[`relay_layer_viewers{rid="h",room="hall"}`]; got != 2 {
		t.Fatalf("h viewers = %v, want 2", got)
	}
	// The top layer stopped; its viewers went down to the low one, one of
	// them paused (its estimate fell below the low layer).
	stats.rooms = []relay.RoomStats{{Room: "hall", LayerSwitchesDown: 2, VideoPaused: 1,
		Layers: []relay.LayerInfo{{RID: "l", Bitrate: 150_000, Viewers: 2}}, Estimates: []float64{400e3, 90e3}}}
	want := map[string]float64{
		`relay_layer_viewers{rid="l",room="hall"}`:                 2,
		`relay_layer_bitrate_bps{rid="l",room="hall"}`:             150e3,
		`relay_layer_switches_total{direction="up",room="hall"}`:   0,
		`relay_layer_switches_total{direction="down",room="hall"}`: 2,
		`relay_video_paused_viewers{room="hall"}`:                  1,
	}
	for k, v := range estimateHist("hall", [11]float64{1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2}, 490e3) {
		want[k] = v
	}
	checkSeries(t, scrapeLayerSeries(t, m), want)
}

// TestLayerMetricsFollowReality: a pion publisher sends three simulcast
// layers; viewers pinned to each are counted on the layer they receive
// (pinned, so that the bandwidth estimate does not move them), each
// layer's bitrate is measured in its range, and a viewer moved from the
// top layer to the low one counts one switch down and moves its count.
func TestLayerMetricsFollowReality(t *testing.T) {
	s := newStack(t)
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	var layers []peer.Layer
	for _, l := range []struct{ rid, file string }{
		{"h", "../relay/clip/testdata/simulcast-720.h264"},
		{"m", "../relay/clip/testdata/simulcast-360.h264"},
		{"l", "../relay/clip/testdata/simulcast-180.h264"},
	} {
		c, err := clip.Load(l.file, 30)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, peer.Layer{RID: l.rid, Clip: c})
	}
	tok, _ := s.auth.Issue(auth.RolePublisher, "hall", "", time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pub, err := peer.Publish(ctx, peer.PublishConfig{URL: s.url + "/whip/hall", Token: tok,
		Clip: &clip.Clip{Audio: demo.Audio}, Layers: layers, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close(true) })

	series := func(name, rid string) string { return name + `{rid="` + rid + `",room="hall"}` }
	// Bitrates are measured over a second: wait for all three in range
	// (the clips are 1.5 Mbit/s, 500 kbit/s and 150 kbit/s).
	waitMetric(t, "three layers measured in their ranges", func() bool {
		h, m, l := s.value(t, series("relay_layer_bitrate_bps", "h")), s.value(t, series("relay_layer_bitrate_bps", "m")),
			s.value(t, series("relay_layer_bitrate_bps", "l"))
		return h > 1e6 && h < 2.2e6 && m > 300e3 && m < 800e3 && l > 80e3 && l < 300e3
	})

	var top *peer.Viewer
	for _, q := range []string{"?video=h", "?video=m", "?video=l", "?video=l"} {
		v, err := peer.View(t.Context(), peer.ViewConfig{URL: s.url + "/whep/hall" + q, Options: peer.Options{Loopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close(true)
		if q == "?video=h" {
			top = v
		}
	}
	counts := func(h, m, l float64) func() bool {
		return func() bool {
			return s.value(t, series("relay_layer_viewers", "h")) == h && s.value(t, series("relay_layer_viewers", "m")) == m &&
				s.value(t, series("relay_layer_viewers", "l")) == l
		}
	}
	waitMetric(t, "1 viewer on h, 1 on m, 2 on l", counts(1, 1, 2))
	downs := s.value(t, `relay_layer_switches_total{direction="down",room="hall"}`)
	if downs < 0 {
		t.Fatal("relay_layer_switches_total missing")
	}

	req, _ := http.NewRequest(http.MethodPost, top.Session()+"/select", strings.NewReader(`{"video":"l"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("select video l: %d", resp.StatusCode)
	}
	waitMetric(t, "the top layer's viewer counted on l", counts(0, 1, 3))
	if got := s.value(t, `relay_layer_switches_total{direction="down",room="hall"}`); got != downs+1 {
		t.Errorf("switches down %v after one move from h to l, want %v", got, downs+1)
	}
	// Whether the viewers have an estimate yet depends on their feedback:
	// either way a histogram of at most one estimate per viewer.
	if got := s.value(t, `relay_viewer_estimate_bps_count{room="hall"}`); got < 0 || got > 4 {
		t.Errorf("estimate count %v, want 0 to 4 (one per viewer at most)", got)
	}
	if got := s.value(t, `relay_video_paused_viewers{room="hall"}`); got != 0 {
		t.Errorf("paused viewers %v, want 0 (all pinned)", got)
	}
}
