package monitoring

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/captions"
	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/player"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/hls"
	"github.com/relay-av/relay/relay/peer"
)

// stack is a relay + caption service + monitoring on loopback, as serve
// wires them.
type stack struct {
	url      string
	auth     *auth.Authority
	metrics  *Metrics
	sfu      *relay.Server
	captions *captions.Service
	dataDir  string
}

// stackOpts vary a stack; the zero value is one with rooms made on first
// publish, no declared caption languages and no pages.
type stackOpts struct {
	rooms       []relay.RoomConfig
	languages   map[string][]string // declared caption languages per room
	silentAfter time.Duration
	pages       bool // serve the player's pages (the monitor page)
	hls         bool // package the rooms as HLS and record them (under the data dir)
}

func newStack(t *testing.T) *stack { return newStackWith(t, stackOpts{}) }

func newStackWith(t *testing.T, o stackOpts) *stack {
	t.Helper()
	a, _ := auth.New([]byte("monitoring-test-secret-0123"))
	m := NewMetrics(nil)
	log := slog.New(slog.DiscardHandler)
	sfu, err := relay.New(relay.Config{Auth: a, BindIP: net.IPv4(127, 0, 0, 1), Logger: log, ObserveRequest: m.ObserveRequest,
		MaxViewers: 50, Rooms: o.rooms})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	capSvc, err := captions.New(captions.Config{DataDir: dir, Auth: a, Logger: log,
		Languages:       func(room string) []string { return o.languages[room] },
		ObserveDelivery: m.ObserveDelivery, ObserveAck: m.ObserveAck})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	mux := http.NewServeMux()
	sfu.Register(mux)
	capSvc.Register(mux)
	var pk *hls.Server
	var hlsStats HLSStats
	if o.hls {
		pk = hls.New(hls.Config{Media: hls.RelayMedia(sfu), Log: log, Dir: filepath.Join(dir, "recordings"),
			Record: func(string) bool { return true }, SegmentTarget: time.Second})
		pk.Register(mux)
		pk.Start()
		hlsStats = pk
		m.WatchHLS(pk)
	}
	New(Params{Relay: sfu, Captions: capSvc, Admin: sfu, Auth: a, Logger: log, Done: done, SilentAfter: o.silentAfter, HLS: hlsStats,
		Ready: func() error {
			if !sfu.Ready() {
				return errors.New("relay shutting down")
			}
			return capSvc.Healthy()
		}}).Register(mux)
	maxV, maxR := sfu.Limits()
	m.Watch(sfu, capSvc, Limits{MaxViewers: maxV, MaxViewersPerRoom: maxR})
	mux.Handle("GET /metrics", m.Handler())
	if o.pages {
		player.Register(mux)
	}
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(done)
		hs.Close()
		if pk != nil {
			pk.Close()
		}
		capSvc.Close()
		sfu.Close()
	})
	return &stack{url: hs.URL, auth: a, metrics: m, sfu: sfu, captions: capSvc, dataDir: dir}
}

// publish sends the demo clip into room until the test ends and waits for
// the room to be live.
func (s *stack) publish(t *testing.T, room string) {
	t.Helper()
	tok, _ := s.auth.Issue(auth.RolePublisher, room, "", time.Hour)
	c, _ := clip.Demo()
	pub, err := peer.Publish(context.Background(), peer.PublishConfig{URL: s.url + "/whip/" + room, Token: tok, Clip: c, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close(false) })
	waitMetric(t, "room live", func() bool { return s.value(t, `relay_room_live{room="`+room+`"}`) == 1 })
}

func (s *stack) scrape(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(s.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// value reads one sample of the live scrape, e.g. `relay_viewers{room="hall"}`.
func (s *stack) value(t *testing.T, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(s.scrape(t), "\n") {
		if strings.HasPrefix(line, series+" ") {
			var v float64
			if _, err := fmtSscan(strings.TrimPrefix(line, series+" "), &v); err == nil {
				return v
			}
		}
	}
	return -1
}

func waitMetric(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMetricsFollowReality: with a real publisher, N real viewers and a
// real captioner, the metrics say what is going on, and promtool accepts
// the exposition.
func TestMetricsFollowReality(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	s.publish(t, "hall")

	const n = 4
	var viewers []*peer.Viewer
	for i := 0; i < n; i++ {
		v, err := peer.View(ctx, peer.ViewConfig{URL: s.url + "/whep/hall", Options: peer.Options{Loopback: true}, Interceptors: true})
		if err != nil {
			t.Fatal(err)
		}
		viewers = append(viewers, v)
	}
	waitMetric(t, "relay_viewers = N", func() bool { return s.value(t, `relay_viewers{room="hall"}`) == n })
	if got := s.value(t, `relay_publishers{room="hall"}`); got != 1 {
		t.Errorf("relay_publishers = %v", got)
	}
	before := s.value(t, `relay_forwarded_packets_total{kind="video",room="hall"}`)
	waitMetric(t, "forwarded packets grow", func() bool {
		return s.value(t, `relay_forwarded_packets_total{kind="video",room="hall"}`) > before+50
	})
	if at := s.value(t, `relay_publisher_start_timestamp_seconds{room="hall"}`); at < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("publisher start %v is not recent", at)
	}
	if s.value(t, `relay_ingest_bytes_total{kind="video",room="hall"}`) <= 0 {
		t.Error("no ingest bytes")
	}
	waitMetric(t, "viewer RTT histogram", func() bool { return s.value(t, `relay_viewer_rtt_seconds_count{room="hall"}`) >= 1 })
	if got := s.value(t, `relay_http_requests_total{code="201",endpoint="whep",method="POST"}`); got != n {
		t.Errorf("WHEP 201s counted %v, want %d", got, n)
	}

	// Two viewers leave: the gauge follows, the counters do not go back.
	fwd := s.value(t, `relay_forwarded_packets_total{kind="video",room="hall"}`)
	viewers[0].Close(true)
	viewers[1].Close(true)
	waitMetric(t, "relay_viewers drops", func() bool { return s.value(t, `relay_viewers{room="hall"}`) == n-2 })
	if after := s.value(t, `relay_forwarded_packets_total{kind="video",room="hall"}`); after < fwd {
		t.Errorf("forwarded counter went back from %v to %v when viewers left", fwd, after)
	}

	// Captions: a captioner pushing finals and a viewer socket (of a
	// language the captioner made: viewers make none).
	ws := "ws" + strings.TrimPrefix(s.url, "http")
	ctok, _ := s.auth.Issue(auth.RoleCaptioner, "hall", "fr", time.Hour)
	cc, _, err := websocket.DefaultDialer.Dial(ws+"/captions/hall/publish?"+url.Values{"lang": {"fr"}, "token": {ctok}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	cv, _, err := websocket.DefaultDialer.Dial(ws+"/captions/hall/ws?lang=fr", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cv.Close()
	go func() {
		for {
			if _, _, err := cc.ReadMessage(); err != nil {
				return
			}
		}
	}()
	go func() {
		for {
			if _, _, err := cv.ReadMessage(); err != nil {
				return
			}
		}
	}()
	// The viewer is subscribed before the finals go out: a final it got
	// only in its backlog would be no delivery to observe.
	waitMetric(t, "caption viewer and captioner", func() bool {
		return s.value(t, `relay_caption_viewers{lang="fr",room="hall"}`) == 1 && s.value(t, `relay_caption_captioners{lang="fr",room="hall"}`) == 1
	})
	for i, text := range []string{"Bonjour.", "Merci."} {
		cc.WriteJSON(map[string]any{"type": "final", "text": text, "id": string(rune('a' + i))})
	}
	waitMetric(t, "caption cues counted", func() bool { return s.value(t, `relay_caption_cues_total{lang="fr",room="hall"}`) == 2 })
	waitMetric(t, "WebSocket connections by role", func() bool {
		return s.value(t, `relay_websocket_connections{role="viewer"}`) == 1 && s.value(t, `relay_websocket_connections{role="captioner"}`) == 1
	})
	waitMetric(t, "delivery and ack latency observed", func() bool {
		return s.value(t, "relay_caption_delivery_seconds_count") >= 2 && s.value(t, "relay_caption_ack_seconds_count") >= 2
	})
	if s.value(t, `relay_caption_last_cue_timestamp_seconds{lang="fr",room="hall"}`) < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Error("last cue timestamp is not recent")
	}

	// promtool, from Debian's prometheus package, on the live exposition.
	promtoolCheckMetrics(t, s.metrics)
	for _, v := range viewers[2:] {
		v.Close(true)
	}
}

func fmtSscan(s string, v *float64) (int, error) { return fmt.Sscan(s, v) }
