package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// startRelay runs the wired relay on loopback until the test ends.
func startRelay(t *testing.T, cfg serveConfig, log *slog.Logger) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, cfg, log, io.Discard, started) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case addr := <-started:
		return "http://" + addr
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
}

// TestSlowLorisClosed: a client that never finishes its request headers is
// cut off by the header timeout, and others are served meanwhile.
func TestSlowLorisClosed(t *testing.T) {
	t.Setenv("RELAY_SECRET", "slow-loris-secret-0123456789")
	base := startRelay(t, serveConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), HeaderTimeout: 500 * time.Millisecond, Shutdown: time.Second},
		slog.New(slog.DiscardHandler))
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "POST /whip/hall HTTP/1.1\r\nHost: relay\r\nContent-Type: appl"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("others not served while a slow client hangs: %v", err)
	}
	resp.Body.Close()
	start := time.Now()
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = bufio.NewReader(conn).ReadString('\n') // the server closes (or answers 408) and closes
	for err == nil {
		_, err = bufio.NewReader(conn).ReadString('\n')
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("slow client still connected after %v", time.Since(start))
	}
	t.Logf("slow client cut off after %v (%v)", time.Since(start).Round(10*time.Millisecond), err)
}

// TestNoSecretsInLogsOrAPI runs real publish, watch and caption flows, with
// good and bad tokens, and checks that no token, no secret and no session
// id (the capability to end a session) reaches the log or /api/rooms.
func TestNoSecretsInLogsOrAPI(t *testing.T) {
	const secret = "no-leak-secret-0123456789abcdef"
	t.Setenv("RELAY_SECRET", secret)
	var logs testkit.LockedBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := startRelay(t, serveConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Shutdown: time.Second}, log)
	a, _ := auth.New([]byte(secret))
	pubTok, _ := a.Issue(auth.RolePublisher, "hall", "", time.Hour)
	capTok, _ := a.Issue(auth.RoleCaptioner, "hall", "en", time.Hour)
	wrongTok, _ := a.Issue(auth.RoleViewer, "elsewhere", "", time.Hour)
	ctx := context.Background()

	c, _ := clip.Demo()
	pub, err := peer.Publish(ctx, peer.PublishConfig{URL: base + "/whip/hall", Token: pubTok, Clip: c, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(true)
	var v *peer.Viewer
	for try := 0; try < 50; try++ {
		if v, err = peer.View(ctx, peer.ViewConfig{URL: base + "/whep/hall", Options: peer.Options{Loopback: true}}); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(true)

	ws := "ws" + strings.TrimPrefix(base, "http")
	cc, _, err := websocket.DefaultDialer.Dial(ws+"/captions/hall/publish?"+url.Values{"lang": {"en"}, "token": {capTok}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	cc.WriteJSON(map[string]any{"type": "final", "text": "Hello.", "id": "a1"})
	cc.ReadMessage()
	cc.Close()
	if _, _, err := websocket.DefaultDialer.Dial(ws+"/captions/hall/publish?"+url.Values{"lang": {"en"}, "token": {wrongTok}}.Encode(), nil); err == nil {
		t.Error("captioner socket with a viewer token for another room accepted")
	}
	for _, u := range []string{
		base + "/captions/hall/post?" + url.Values{"lang": {"en"}, "seq": {"1"}, "token": {capTok}}.Encode(),
		base + "/captions/hall/post?" + url.Values{"lang": {"en"}, "seq": {"1"}, "token": {wrongTok}}.Encode(),
		base + "/closedcaption?" + url.Values{"cid": {capTok}, "seq": {"1"}}.Encode(),
	} {
		resp, err := http.Post(u, "text/plain", strings.NewReader("Good morning"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	req, _ := http.NewRequest("POST", base+"/whip/hall", strings.NewReader("v=0\r\n"))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+wrongTok)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}

	resp, err := http.Get(base + "/api/rooms")
	if err != nil {
		t.Fatal(err)
	}
	api, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	logText := logs.String()
	if !strings.Contains(logText, "publisher joined") {
		t.Fatalf("the log is not being captured:\n%s", logText)
	}
	for name, s := range map[string]string{"secret": secret, "publisher token": pubTok, "captioner token": capTok, "wrong token": wrongTok} {
		t.Run(name, func(t *testing.T) {
			sig := s[strings.LastIndexByte(s, '.')+1:] // a token's signature alone is enough to leak it
			if strings.Contains(logText, sig) {
				t.Errorf("%s appears in the log", name)
			}
			if strings.Contains(string(api), sig) {
				t.Errorf("%s appears in /api/rooms", name)
			}
		})
	}
	if strings.Contains(string(api), "/whep/hall/") || strings.Contains(string(api), "/whip/hall/") {
		t.Errorf("/api/rooms shows a session URL: %s", api)
	}
}
