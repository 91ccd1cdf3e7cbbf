package main

// The harness of the browser tests (browser_test.go): the wired relay they
// run, a captioner over the real WebSocket, and Chromium with its console
// watched for errors. Page helpers are in browser_page_test.go.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
)

const testSecret = "browser-test-secret-0123456789abcdef"

// ---- the relay ---------------------------------------------------------------

// pageRelay is one run of serve() on 127.0.0.1; stop, then start, brings it
// back as a new run on the same port and data directory.
type pageRelay struct {
	t       *testing.T
	cfg     serveConfig
	addr    string // host:port of the HTTP server
	cancel  context.CancelFunc
	done    chan error
	auth    *auth.Authority
	logSink *lockedWriter
}

// startPageRelay runs the demo relay with the rooms of roomsYAML (may be
// empty) and stops it when the test ends.
func startPageRelay(t *testing.T, roomsYAML string) *pageRelay {
	t.Helper()
	t.Setenv("RELAY_SECRET", testSecret)
	a, err := auth.New([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := serveConfig{Addr: "127.0.0.1:0", UDPPort: 0, DataDir: dir, Demo: true, Shutdown: 2 * time.Second}
	if roomsYAML != "" {
		cfg.Config = filepath.Join(dir, "relay.yaml")
		if err := os.WriteFile(cfg.Config, []byte(roomsYAML), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := &pageRelay{t: t, cfg: cfg, auth: a, logSink: &lockedWriter{t: t}}
	r.start()
	t.Cleanup(func() {
		r.stop()
		r.logSink.close()
	})
	return r
}

func (r *pageRelay) start() {
	r.t.Helper()
	log := slog.New(slog.NewTextHandler(r.logSink, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, r.cfg, log, io.Discard, started) }()
	select {
	case addr := <-started:
		r.addr, r.cancel, r.done = addr, cancel, done
		r.cfg.Addr = addr // a restart reuses the port
	case err := <-done:
		cancel()
		r.t.Fatalf("serve: %v", err)
	case <-time.After(15 * time.Second):
		cancel()
		r.t.Fatal("serve did not start")
	}
}

func (r *pageRelay) stop() {
	if r.cancel == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			r.t.Errorf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		r.t.Error("serve did not stop")
	}
	r.cancel = nil
}

func (r *pageRelay) url(path string) string { return "http://" + r.addr + path }

func (r *pageRelay) token(role auth.Role, room, lang string) string {
	r.t.Helper()
	tok, err := r.auth.Issue(role, room, lang, time.Hour)
	if err != nil {
		r.t.Fatal(err)
	}
	return tok
}

// lockedWriter passes the relay's warnings to the test log until the test
// ends (a late log line must not panic the test binary).
type lockedWriter struct {
	mu     sync.Mutex
	t      *testing.T
	closed bool
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.closed {
		w.t.Logf("relay: %s", strings.TrimSpace(string(p)))
	}
	return len(p), nil
}

func (w *lockedWriter) close() {
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
}

// ---- a test captioner over the real WebSocket ----------------------------------

type testCaptioner struct {
	t    *testing.T
	conn *websocket.Conn
	mu   sync.Mutex
	acks map[string]uint64 // id -> seq
	seqs []uint64
	got  chan struct{}
}

func dialCaptioner(t *testing.T, r *pageRelay, room, lang string) *testCaptioner {
	t.Helper()
	q := url.Values{"lang": {lang}, "token": {r.token(auth.RoleCaptioner, room, lang)}, "name": {"test " + lang}}
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+r.addr+"/captions/"+room+"/publish?"+q.Encode(), nil)
	if err != nil {
		t.Fatalf("captioner %s/%s: %v", room, lang, err)
	}
	c := &testCaptioner{t: t, conn: conn, acks: map[string]uint64{}, got: make(chan struct{}, 64)}
	go c.read()
	t.Cleanup(func() { conn.Close() })
	return c
}

func (c *testCaptioner) read() {
	for {
		var m struct {
			Type  string `json:"type"`
			ID    string `json:"id"`
			Seq   uint64 `json:"seq"`
			Error string `json:"error"`
		}
		if err := c.conn.ReadJSON(&m); err != nil {
			return
		}
		switch m.Type {
		case "ack":
			c.mu.Lock()
			c.acks[m.ID] = m.Seq
			c.seqs = append(c.seqs, m.Seq)
			c.mu.Unlock()
			c.got <- struct{}{}
		case "error":
			c.t.Logf("captioner error: %s", m.Error)
		}
	}
}

func (c *testCaptioner) send(v map[string]any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("captioner send: %v", err)
	}
}

func (c *testCaptioner) partial(text string) { c.send(map[string]any{"type": "partial", "text": text}) }

// final sends a final line and returns its seq once acknowledged.
func (c *testCaptioner) final(id, text string) uint64 {
	c.t.Helper()
	c.send(map[string]any{"type": "final", "id": id, "text": text})
	deadline := time.After(5 * time.Second)
	for {
		c.mu.Lock()
		seq, ok := c.acks[id]
		c.mu.Unlock()
		if ok {
			return seq
		}
		select {
		case <-c.got:
		case <-deadline:
			c.t.Fatalf("no ack for final %q", id)
		}
	}
}

func (c *testCaptioner) correct(seq uint64, text string) {
	c.send(map[string]any{"type": "correct", "seq": seq, "text": text})
}

// ---- the browser -----------------------------------------------------------------

// browser is one Chromium process with a fresh profile.
type browser struct {
	t      *testing.T
	ctx    context.Context // the first tab
	mu     sync.Mutex
	errors []consoleEntry
	quiet  []window // when network errors are expected (relay down)
}

type consoleEntry struct {
	at   time.Time
	tab  string
	msg  chromedp.ConsoleMessage
	text string
}

type window struct{ from, to time.Time }

func newBrowser(t *testing.T, fakeMedia bool) *browser {
	return newBrowserWith(t, fakeMedia, true)
}

// newBrowserWith starts Chromium; without autoplay, media with sound needs
// a user gesture, as in a delegate's everyday browser. extra are more
// command-line flags.
func newBrowserWith(t *testing.T, fakeMedia, autoplay bool, extra ...chromedp.ExecAllocatorOption) *browser {
	t.Helper()
	if _, err := os.Stat(testkit.Chromium); err != nil {
		t.Fatalf("the browser tests need Chromium at %s (Debian: apt-get install chromium): %v", testkit.Chromium, err)
	}
	opts := append(testkit.ChromiumOptions(t.TempDir()),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("mute-audio", true),
	)
	if autoplay {
		opts = append(opts, chromedp.Flag("autoplay-policy", "no-user-gesture-required"))
	} else {
		opts = append(opts, chromedp.Flag("autoplay-policy", "document-user-activation-required"))
	}
	if fakeMedia {
		// With camera access Chromium binds ICE to the host's interfaces and
		// leaves out loopback, which the test relay (127.0.0.1, loopback
		// peers only) needs: allow it.
		opts = append(opts,
			chromedp.Flag("use-fake-device-for-media-stream", true),
			chromedp.Flag("use-fake-ui-for-media-stream", true),
			chromedp.Flag("allow-loopback-in-peer-connection", true))
	}
	opts = append(opts, extra...)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	b.listen(ctx, "tab1")
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return b
}

// tab opens another tab (in its own window, so that it keeps rendering).
func (b *browser) tab(name string) context.Context {
	ctx, cancel := chromedp.NewContext(b.ctx)
	if err := chromedp.Do(ctx); err != nil {
		b.t.Fatalf("new tab: %v", err)
	}
	b.listen(ctx, name)
	b.t.Cleanup(cancel)
	return ctx
}

// listen records the tab's console errors, uncaught exceptions and failed
// resources until the tab closes.
func (b *browser) listen(ctx context.Context, tab string) {
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if os.Getenv("RELAY_CONSOLE") != "" {
				b.t.Logf("console %s: %s %s %s", tab, m.Type, m.Source, m.Text)
			}
			if m.Type != chromedp.ConsoleError && m.Type != chromedp.ConsoleException {
				continue
			}
			text := m.Text
			if m.URL != "" {
				text += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
			}
			b.mu.Lock()
			b.errors = append(b.errors, consoleEntry{at: time.Now(), tab: tab, msg: m, text: text})
			b.mu.Unlock()
		}
	}()
}

// expectNetworkErrors marks a period (the relay is down) when failed
// requests and sockets are expected in the console.
func (b *browser) expectNetworkErrors(from, to time.Time) {
	b.mu.Lock()
	b.quiet = append(b.quiet, window{from, to})
	b.mu.Unlock()
}

// checkConsole fails the test for every console error, uncaught exception
// or failed resource, except network failures while the relay was down.
func (b *browser) checkConsole() {
	b.t.Helper()
	time.Sleep(200 * time.Millisecond) // let the last events arrive
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, e := range b.errors {
		if b.expected(e) {
			continue
		}
		b.t.Errorf("console error in %s (%s %s): %s", e.tab, e.msg.Type, e.msg.Source, e.text)
	}
}

func (b *browser) expected(e consoleEntry) bool {
	network := e.msg.Source == "network" || strings.Contains(e.text, "WebSocket connection to") ||
		strings.Contains(e.text, "ERR_CONNECTION_REFUSED") || strings.Contains(e.text, "Failed to fetch")
	if !network {
		return false
	}
	for _, w := range b.quiet {
		if !e.at.Before(w.from) && !e.at.After(w.to) {
			return true
		}
	}
	return false
}
