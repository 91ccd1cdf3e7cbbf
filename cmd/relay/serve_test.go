package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// TestServeDemoAndShutdown runs the wired relay as `relay serve --demo` does,
// watches the demo room with a pion viewer, then stops it as SIGTERM would
// with a publisher and a viewer connected: it must exit within 5 s.
func TestServeDemoAndShutdown(t *testing.T) {
	const secret = "serve-test-secret-0123456789"
	t.Setenv("RELAY_SECRET", secret)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	started := make(chan string, 1)
	done := make(chan error, 1)
	out := &testkit.LockedBuffer{}
	cfg := serveConfig{Addr: "127.0.0.1:0", UDPPort: 0, DataDir: t.TempDir(), Demo: true, Shutdown: 4 * time.Second}
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), out, started) }()
	var addr string
	select {
	case addr = <-started:
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	base := "http://" + addr
	if !strings.Contains(out.String(), "/watch/demo") {
		t.Errorf("start-up notes do not show the watch URL:\n%s", out.String())
	}
	if strings.Contains(out.String(), "publisher token") {
		t.Errorf("tokens printed although RELAY_SECRET is set")
	}
	for _, path := range []string{"/healthz", "/readyz", "/api/rooms"} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Errorf("%d %s", resp.StatusCode, body)
			}
		})
	}

	var v *peer.Viewer
	var err error
	for try := 0; ; try++ { // a player retries while the room is not live yet
		v, err = peer.View(ctx, peer.ViewConfig{URL: base + "/whep/demo", Options: peer.Options{Loopback: true}})
		if err == nil || try == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(false)
	deadline := time.Now().Add(10 * time.Second)
	for v.Stats(webrtc.RTPCodecTypeVideo).Frames < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("demo room did not play: %+v", v.Stats(webrtc.RTPCodecTypeVideo))
		}
		time.Sleep(50 * time.Millisecond)
	}
	a, _ := auth.New([]byte(secret))
	tok, _ := a.Issue(auth.RolePublisher, "hall", "", time.Hour)
	c, _ := clip.Demo()
	pub, err := peer.Publish(ctx, peer.PublishConfig{URL: base + "/whip/hall", Token: tok, Clip: c, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(false)

	// The monitor page's event stream is open while the relay stops.
	events, err := http.Get(base + "/api/rooms/events")
	if err != nil {
		t.Fatal(err)
	}
	defer events.Body.Close()
	capSock, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/captions/demo/ws?lang=en", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer capSock.Close()

	stopAt := time.Now()
	cancel() // what SIGINT/SIGTERM do through signal.NotifyContext
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("relay did not exit within 5 s of the signal")
	}
	t.Logf("stopped in %v", time.Since(stopAt).Round(time.Millisecond))
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("still accepting requests after shutdown")
	}
}
