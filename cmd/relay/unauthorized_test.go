package main

import (
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestEveryUnauthorizedAnswer walks every endpoint that takes a token and
// asks it without one and with a forged one: each answers 401 through the
// one error writer, so each says how to authenticate (WWW-Authenticate:
// Bearer), is plain text and is not sniffed. Before the writer was shared,
// only /captions/... said it.
func TestEveryUnauthorizedAnswer(t *testing.T) {
	t.Setenv("RELAY_SECRET", "unauthorized-secret-0123456789")
	dir := t.TempDir()
	conf := filepath.Join(dir, "relay.yaml")
	yaml := "rooms:\n  - name: hall\n    languages: [en]\n  - name: closed\n    private: true\n    languages: [en]\n"
	if err := os.WriteFile(conf, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	base := startRelay(t, serveConfig{Addr: "127.0.0.1:0", DataDir: dir, Config: conf, Shutdown: time.Second},
		slog.New(slog.DiscardHandler))

	const forged = "eyJhbGciOiJIUzI1NiJ9.eyJyb2xlIjoiYWRtaW4iLCJyb29tIjoiKiJ9.c2lnbmF0dXJl"
	endpoints := []struct {
		method, path, ctype, body string
		tokenParam                string // query parameter that carries the token, "" for a bearer header
		optional                  bool   // works without a token: only a bad one is refused
	}{
		{"POST", "/whip/hall", "application/sdp", "v=0\r\n", "", false},
		{"POST", "/whep/closed", "application/sdp", "v=0\r\n", "", false},
		{"GET", "/captions/closed/ws?lang=en", "", "", "token", false},
		{"GET", "/captions/hall/publish?lang=en", "", "", "token", false},
		{"POST", "/captions/hall/post?lang=en&seq=1", "text/plain", "hello", "token", false},
		{"GET", "/captions/hall/post/seq?lang=en", "", "", "token", false},
		{"POST", "/closedcaption?seq=1&room=hall", "text/plain", "2026-12-01T10:00:00.000\nhello\n", "cid", false},
		{"GET", "/captions/closed/transcript.srt?lang=en", "", "", "token", false},
		{"GET", "/hls/closed/index.m3u8", "", "", "token", false},
		{"GET", "/recordings/closed/20261202T000000Z/index.m3u8", "", "", "token", false},
		{"GET", "/api/rooms/hall/viewers", "", "", "", false},
		{"POST", "/api/rooms/hall/publisher/disconnect", "", "", "", false},
		{"POST", "/api/rooms/hall/viewers/v1/disconnect", "", "", "", false},
		{"GET", "/api/rooms/events", "", "", "token", true}, // the monitor's stream: anonymous, or an admin's
	}
	for _, e := range endpoints {
		for _, token := range []string{"", forged} {
			if token == "" && e.optional {
				continue
			}
			name := e.method + " " + e.path + " no token"
			if token != "" {
				name = e.method + " " + e.path + " forged token"
			}
			t.Run(name, func(t *testing.T) {
				url := base + e.path
				if token != "" && e.tokenParam != "" {
					sep := "?"
					if strings.Contains(url, "?") {
						sep = "&"
					}
					url += sep + e.tokenParam + "=" + token
				}
				req, err := http.NewRequest(e.method, url, strings.NewReader(e.body))
				if err != nil {
					t.Fatal(err)
				}
				if e.ctype != "" {
					req.Header.Set("Content-Type", e.ctype)
				}
				if token != "" && e.tokenParam == "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Fatalf("status %d, want 401", resp.StatusCode)
				}
				h := resp.Header
				if got := h.Get("WWW-Authenticate"); !strings.HasPrefix(got, "Bearer ") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", got)
				}
				if token != "" && !strings.Contains(h.Get("WWW-Authenticate"), `error="invalid_token"`) {
					t.Errorf("forged token: challenge %q does not say invalid_token", h.Get("WWW-Authenticate"))
				}
				if got := h.Get("Content-Type"); got != "text/plain; charset=utf-8" {
					t.Errorf("Content-Type %q", got)
				}
				if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
					t.Errorf("X-Content-Type-Options %q", got)
				}
			})
		}
	}
}
