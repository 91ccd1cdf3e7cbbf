package monitoring

import (
	"context"
	"fmt"
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
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/peer"
)

// browser is one headless Chromium with a fresh profile, recording console
// errors and uncaught exceptions.
type browser struct {
	t   *testing.T
	ctx context.Context

	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	if _, err := os.Stat(testkit.Chromium); err != nil {
		t.Fatalf("the monitor page test needs Chromium at %s (Debian: apt-get install chromium): %v", testkit.Chromium, err)
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), testkit.ChromiumOptions(t.TempDir())...)
	ctx, cancel := chromedp.NewContext(actx)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		cancelAlloc()
		t.Fatalf("start chromium: %v", err)
	}
	b := &browser{t: t, ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException {
				b.mu.Lock()
				b.errors = append(b.errors, fmt.Sprintf("%s: %s (%s:%d)", m.Type, m.Text, m.URL, m.Line+1))
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	return b
}

// checkConsole fails the test for console errors, except those the test
// caused on purpose (allowed substrings).
func (b *browser) checkConsole(allowed ...string) {
	b.t.Helper()
	time.Sleep(200 * time.Millisecond)
	b.mu.Lock()
	defer b.mu.Unlock()
next:
	for _, e := range b.errors {
		for _, a := range allowed {
			if strings.Contains(e, a) {
				continue next
			}
		}
		b.t.Errorf("console: %s", e)
	}
}

func (b *browser) do(timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	c, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// wait polls a JavaScript expression until it is true.
func (b *browser) wait(timeout time.Duration, what, js string) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			c, cancel := context.WithTimeout(b.ctx, 5*time.Second)
			page, _ := chromedp.Run(c, chromedp.Evaluate[string](`document.body.innerText.slice(0, 800)`))
			cancel()
			b.t.Fatalf("timed out after %s waiting for %s (err %v); page:\n%s", timeout, what, err, page)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// clickNow clicks the element sel finds at the moment of the click. The
// monitor page renders its room cards anew with every snapshot (and at
// once when a token is saved): a node chromedp looked up a moment before
// may be gone by its click.
func (b *browser) clickNow(timeout time.Duration, sel string) {
	b.t.Helper()
	js := fmt.Sprintf(`(() => { const e = document.querySelector(%q); if (!e) return false; e.click(); return true })()`, sel)
	b.wait(timeout, "a click on "+sel, js)
}

// screenshot saves the viewport as name.png under $RELAY_SCREENSHOTS (or
// the system temp dir) and returns the file.
func (b *browser) screenshot(name string) string {
	b.t.Helper()
	c, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	dir := screenshotDir()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	path := filepath.Join(dir, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
	return path
}

// captioner sends finals to one language of a room over the captioner
// WebSocket until stopped.
type captioner struct {
	conn *websocket.Conn
	n    int
}

func dialCaptioner(t *testing.T, s *stack, room, lang, name string) *captioner {
	t.Helper()
	tok, _ := s.auth.Issue(auth.RoleCaptioner, room, lang, time.Hour)
	ws := "ws" + strings.TrimPrefix(s.url, "http")
	conn, _, err := websocket.DefaultDialer.Dial(ws+"/captions/"+room+"/publish?"+url.Values{"lang": {lang}, "token": {tok}, "name": {name}}.Encode(), nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { // acks and status; ends when the socket closes
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return &captioner{conn: conn}
}

func (c *captioner) final(text string) {
	c.n++
	c.conn.WriteJSON(map[string]any{"type": "final", "text": text, "id": fmt.Sprint(c.n)})
}

// TestBrowserMonitor: the AV monitor page in headless Chromium shows the
// live room with the real viewer count, ingest bitrate, viewer RTT and
// caption languages, highlights a language that went silent in a live room
// (and not one that keeps talking), and lets an admin, and only an admin,
// list and disconnect viewers and the publisher; the page follows.
func TestBrowserMonitor(t *testing.T) {
	s := newStackWith(t, stackOpts{
		rooms:       []relay.RoomConfig{{Name: "plenary", Title: "Plenary hall"}, {Name: "workshop", Title: "Workshop B"}},
		languages:   map[string][]string{"plenary": {"en", "fr"}, "workshop": {"en"}},
		silentAfter: 3 * time.Second,
		pages:       true,
		hls:         true,
	})
	s.publish(t, "plenary")
	const n = 3
	for i := 0; i < n; i++ {
		v, err := peer.View(t.Context(), peer.ViewConfig{URL: s.url + "/whep/plenary", Options: peer.Options{Loopback: true}, Interceptors: true})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close(false)
	}
	// English keeps talking; French says one thing and goes quiet.
	en := dialCaptioner(t, s, "plenary", "en", "Ana (EN)")
	fr := dialCaptioner(t, s, "plenary", "fr", "Luc (FR)")
	fr.final("Bonjour à toutes et à tous.")
	stop := make(chan struct{})
	talking := make(chan struct{})
	go func() {
		defer close(talking)
		tick := time.NewTicker(700 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			en.final(fmt.Sprintf("Line %d of the keynote.", i))
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	defer func() { close(stop); <-talking }()

	// Caption viewers: two read English, one reads both.
	for _, langs := range []string{"en", "en", "en,fr"} {
		conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(s.url, "http")+"/captions/plenary/ws?lang="+url.QueryEscape(langs), nil)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
			}
		}()
		defer conn.Close()
	}

	b := newBrowser(t)
	b.do(10*time.Second, chromedp.EmulateViewport(1280, 540))
	b.do(20*time.Second, chromedp.Navigate(s.url+"/monitor"))
	room := `document.querySelector('[data-room="plenary"]')`
	b.wait(15*time.Second, "3 viewers in the plenary and in total",
		room+`?.querySelector('[data-fact="viewers"]')?.textContent === '3' && document.querySelector('#total-viewers')?.textContent === '3'`)
	b.wait(15*time.Second, "plenary live, workshop without a publisher",
		room+`.querySelector('.state').dataset.state === 'live' && document.querySelector('[data-room="workshop"] .state')?.dataset.state === 'idle'`)
	b.wait(15*time.Second, "the plenary packaged as HLS and recorded",
		room+`.querySelector('[data-fact="webcast"]').textContent === 'HLS · recording' && document.querySelector('[data-room="workshop"] [data-fact="webcast"]').textContent === '—'`)
	b.wait(15*time.Second, "an ingest bitrate and the viewers' RTT",
		`/b\/s$/.test(`+room+`.querySelector('[data-fact="ingest"]').textContent) && / ms$/.test(`+room+`.querySelector('[data-fact="rtt"]').textContent)`)
	b.wait(15*time.Second, "French highlighted as silent, English not",
		room+`.querySelector('tr[data-lang="fr"]')?.dataset.silent === 'true' && `+room+`.querySelector('tr[data-lang="en"]')?.dataset.silent === 'false'`)
	b.wait(15*time.Second, "an English cue rate and its caption viewers",
		`parseFloat(`+room+`.querySelector('tr[data-lang="en"] [data-col="rate"]').textContent) > 0 && `+
			room+`.querySelector('tr[data-lang="en"] [data-col="viewers"]').textContent === '3'`)
	if b.screenshot("monitor"); os.Getenv("RELAY_UPDATE_DOCS") != "" {
		png, err := os.ReadFile(filepath.Join(screenshotDir(), "monitor.png"))
		if err == nil {
			err = os.WriteFile(filepath.Join("..", "docs", "screenshots", "monitor.png"), png, 0o644)
		}
		if err != nil {
			t.Error(err)
		}
	}

	// Actions: a viewer's token is refused (the browser logs the 403).
	b.do(10*time.Second, chromedp.EmulateViewport(1280, 800))
	b.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#admin-token`), mustIssue(t, s, auth.RoleViewer, "plenary")),
		chromedp.Click(chromedp.CSS(`#admin-save`)))
	b.clickNow(10*time.Second, `[data-room="plenary"] [data-action="viewers"]`)
	b.wait(10*time.Second, "a viewer token refused", `document.querySelector('#admin-state').textContent === 'Token refused'`)
	b.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#admin-token`), mustIssue(t, s, auth.RoleAdmin, "*")),
		chromedp.Click(chromedp.CSS(`#admin-save`)))
	b.wait(10*time.Second, "the viewer list", room+`.querySelectorAll('.viewers li').length === 3`)
	if got := s.value(t, `relay_viewers{room="plenary"}`); got != n {
		t.Fatalf("relay_viewers = %v before the disconnect", got)
	}
	b.clickNow(10*time.Second, `[data-room="plenary"] .viewers li button`)
	b.wait(15*time.Second, "2 viewers after a disconnect", room+`.querySelector('[data-fact="viewers"]').textContent === '2' && `+room+`.querySelectorAll('.viewers li').length === 2`)
	waitMetric(t, "relay_viewers = 2", func() bool { return s.value(t, `relay_viewers{room="plenary"}`) == 2 })
	b.wait(5*time.Second, "the ingest bitrate still shown", `/b\/s$/.test(`+room+`.querySelector('[data-fact="ingest"]').textContent)`)
	b.screenshot("monitor-viewers")

	// The publisher, after a confirmation.
	b.wait(5*time.Second, "confirm() answered yes", `(window.confirm = () => true, true)`)
	b.do(10*time.Second, chromedp.Click(chromedp.CSS(`[data-room="plenary"] [data-action="kick-publisher"]`)))
	b.wait(15*time.Second, "the plenary no longer live", room+`.querySelector('.state').dataset.state !== 'live'`)
	waitMetric(t, "relay_publishers = 0", func() bool { return s.value(t, `relay_publishers{room="plenary"}`) == 0 })
	b.checkConsole("403")
}

func mustIssue(t *testing.T, s *stack, role auth.Role, room string) string {
	t.Helper()
	tok, err := s.auth.Issue(role, room, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func screenshotDir() string {
	if dir := os.Getenv("RELAY_SCREENSHOTS"); dir != "" {
		return dir
	}
	return filepath.Join(os.TempDir(), "relay-screenshots")
}
