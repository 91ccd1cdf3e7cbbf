package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/peer"
)

// TestBrowserMonitor: the AV monitor shows the live demo room with the real
// viewer count, updates by itself, and an admin can list viewers and
// disconnect one; the count follows.
func TestBrowserMonitor(t *testing.T) {
	r := startPageRelay(t, "")
	var viewers []*peer.Viewer
	for i := 0; i < 3; i++ {
		var v *peer.Viewer
		var err error
		for try := 0; try < 50; try++ {
			if v, err = peer.View(t.Context(), peer.ViewConfig{URL: r.url("/whep/demo"), Options: peer.Options{Loopback: true}}); err == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			t.Fatal(err)
		}
		viewers = append(viewers, v)
	}
	defer func() {
		for _, v := range viewers {
			v.Close(false)
		}
	}()

	b := newBrowser(t, false)
	tab := b.tab("monitor")
	setViewport(t, tab, 1280, 800, false)
	navigate(t, tab, r.url("/monitor"))
	waitJS(t, tab, 15*time.Second, "3 viewers on the monitor",
		`document.querySelector('[data-room="demo"] [data-fact="viewers"]')?.textContent === '3' && document.querySelector('#total-viewers')?.textContent === '3'`)
	waitJS(t, tab, 15*time.Second, "the demo room shown live with its caption languages",
		`document.querySelector('[data-room="demo"] .state')?.dataset.state === 'live' && document.querySelectorAll('[data-room="demo"] table.langs tbody tr').length === 3`)
	shot := screenshot(t, tab, "monitor")
	if os.Getenv("RELAY_UPDATE_DOCS") != "" {
		if png, err := os.ReadFile(shot); err == nil {
			os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", "monitor.png"), png, 0o644)
		}
	}

	// Actions need the admin token; a wrong one is refused (the browser
	// logs the 403, which is expected here).
	refusedFrom := time.Now()
	do(t, tab, 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#admin-token`), r.token(auth.RoleViewer, "demo", "")),
		chromedp.Click(chromedp.CSS(`#admin-save`)),
		chromedp.Click(chromedp.CSS(`[data-room="demo"] .actions button`)))
	waitJS(t, tab, 10*time.Second, "a viewer token refused", `document.querySelector('#admin-state').textContent === 'Token refused'`)
	b.expectNetworkErrors(refusedFrom, time.Now())
	do(t, tab, 10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#admin-token`), r.token(auth.RoleAdmin, "*", "")),
		chromedp.Click(chromedp.CSS(`#admin-save`)))
	waitJS(t, tab, 10*time.Second, "the viewer list", `document.querySelectorAll('[data-room="demo"] .viewers li').length === 3`)
	do(t, tab, 10*time.Second, chromedp.Click(chromedp.CSS(`[data-room="demo"] .viewers li button`)))
	waitJS(t, tab, 15*time.Second, "2 viewers after a disconnect",
		`document.querySelector('[data-room="demo"] [data-fact="viewers"]')?.textContent === '2'`)
	screenshot(t, tab, "monitor-viewers")
	b.checkConsole()
}
