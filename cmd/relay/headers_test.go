package main

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

// TestEverySecurityHeader walks endpoints of every kind of the wired relay
// (pages, static files, the API and its event stream, health, metrics, a
// transcript, WHIP/WHEP and caption errors, the mux's own 404 and 405) and
// checks that each answer, success or error, is not sniffed and sends no
// Referer. Before one middleware set them, only the pages and the error
// writer's answers said nosniff, and only the pages no-referrer. Pages keep
// their Content-Security-Policy; the API gets none.
func TestEverySecurityHeader(t *testing.T) {
	const secret = "security-headers-secret-0123456789"
	t.Setenv("RELAY_SECRET", secret)
	dir := t.TempDir()
	conf := filepath.Join(dir, "relay.yaml")
	if err := os.WriteFile(conf, []byte("rooms:\n  - name: hall\n    languages: [en]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := startRelay(t, serveConfig{Addr: "127.0.0.1:0", DataDir: dir, Config: conf, Shutdown: time.Second},
		slog.New(slog.DiscardHandler))
	a, _ := auth.New([]byte(secret))
	capTok, _ := a.Issue(auth.RoleCaptioner, "hall", "en", time.Hour)
	post := base + "/captions/hall/post?" + url.Values{"lang": {"en"}, "seq": {"1"}, "token": {capTok}}.Encode()

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, e := range []struct {
		method, path, ctype, body string
		want                      int
		page                      bool // an HTML page: its own CSP
	}{
		{"POST", post, "text/plain", "Good morning everyone.", 200, false}, // first, so the transcript has a cue
		{"GET", "/", "", "", 200, true},
		{"GET", "/watch/hall", "", "", 200, true},
		{"GET", "/caption/hall", "", "", 200, true},
		{"GET", "/publish/hall", "", "", 200, true},
		{"GET", "/monitor", "", "", 200, true},
		{"GET", "/favicon.ico", "", "", 301, false},
		{"GET", "/static/js/monitor.js", "", "", 200, false},
		{"GET", "/static/", "", "", 404, false},
		{"GET", "/static/%ff", "", "", 404, false},
		{"GET", "/api/rooms", "", "", 200, false},
		{"GET", "/api/rooms/events", "", "", 200, false},
		{"GET", "/api/rooms/hall/viewers", "", "", 401, false},
		{"PUT", "/api/rooms", "", "", 405, false},
		{"GET", "/healthz", "", "", 200, false},
		{"GET", "/readyz", "", "", 200, false},
		{"GET", "/metrics", "", "", 200, false},
		{"GET", "/captions/hall/transcript.srt?lang=en", "", "", 200, false},
		{"GET", "/captions/hall/transcript.vtt?lang=en", "", "", 200, false},
		{"GET", "/captions/hall/transcript.txt?lang=en", "", "", 404, false},
		{"POST", "/whip/hall", "application/sdp", "v=0\r\n", 401, false},
		{"POST", "/whep/hall", "text/plain", "v=0\r\n", 415, false},
		{"DELETE", "/whep/hall/nope", "", "", 404, false},
		{"OPTIONS", "/whep/hall", "", "", 204, false},
		{"GET", "/captions/hall/ws?lang=en", "", "", 400, false}, // not a WebSocket upgrade
		{"POST", "/captions/hall/post?lang=en&seq=2", "text/plain", "x", 401, false},
		{"POST", "/closedcaption?seq=1&room=hall", "text/plain", "x", 401, false},
		{"GET", "/hls/hall/index.m3u8", "", "", 404, false}, // not on air
		{"OPTIONS", "/hls/hall/index.m3u8", "", "", 204, false},
		{"GET", "/recordings/", "", "", 200, false},
		{"GET", "/recordings/hall/nope/index.m3u8", "", "", 404, false},
		{"GET", "/no/such/path", "", "", 404, false},
	} {
		path := strings.TrimPrefix(e.path, base)
		t.Run(e.method+" "+strings.SplitN(path, "?", 2)[0], func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel() // ends the event stream once its headers are read
			req, err := http.NewRequestWithContext(ctx, e.method, base+path, strings.NewReader(e.body))
			if err != nil {
				t.Fatal(err)
			}
			if e.ctype != "" {
				req.Header.Set("Content-Type", e.ctype)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if !strings.HasSuffix(path, "/events") {
				io.Copy(io.Discard, resp.Body)
			}
			if resp.StatusCode != e.want {
				t.Errorf("status %d, want %d", resp.StatusCode, e.want)
			}
			h := resp.Header
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if got := h.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy %q, want no-referrer", got)
			}
			csp := h.Get("Content-Security-Policy")
			if e.page && !strings.Contains(csp, "frame-ancestors") {
				t.Errorf("page without its CSP: %q", csp)
			}
			if strings.HasPrefix(path, "/api/") && csp != "" {
				t.Errorf("API answer with a CSP %q", csp)
			}
		})
	}
}
