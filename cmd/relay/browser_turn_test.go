//go:build unix

package main

import (
	"crypto/tls"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// A delegate who may reach nothing but TLS plays the demo room through the
// built-in TURN server over TLS: the page asks the relay for its ICE
// servers with OPTIONS before its offer. The relay offers TURNS only, and
// ?ice=relay makes the page use TURN candidates only (headless Chromium
// ignores --force-webrtc-ip-handling-policy=disable_non_proxied_udp: its
// host UDP candidates were still gathered and used).
func TestBrowserWatchThroughTURNS(t *testing.T) {
	t.Setenv("RELAY_SECRET", testSecret)
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.issue(t, 1, certFile, keyFile)
	addr := startServe(t, serveConfig{Addr: "127.0.0.1:0", DataDir: dir, Demo: true, Shutdown: 2 * time.Second,
		TLSCert: certFile, TLSKey: keyFile, TURNSPort: -1}, &syncLog{})

	b := newBrowserWith(t, false, true,
		chromedp.Flag("allow-loopback-in-peer-connection", true),
		chromedp.Flag("ignore-certificate-errors", true)) // the page and TURNS use the test CA
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, "https://"+addr+"/watch/demo?ui=en&ice=relay")
	waitFrames(t, ctx, 30, 40*time.Second)

	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}}}
	deadline := time.Now().Add(10 * time.Second)
	var paths map[string]int
	for time.Now().Before(deadline) {
		_, paths = demoRoom(t, client, "https://"+addr)
		if paths["turn-tls"] == 1 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if paths["turn-tls"] != 1 || len(paths) != 1 {
		t.Fatalf("the demo room's viewer paths: %v, want the one viewer on turn-tls", paths)
	}
	screenshot(t, ctx, "watch-turns")

	// The monitor says how the room's viewers came in.
	mon := b.tab("monitor")
	navigate(t, mon, "https://"+addr+"/monitor?ui=en")
	waitJS(t, mon, 15*time.Second, "the demo room's reach on the monitor",
		`(document.querySelector('[data-room="demo"] [data-fact="paths"]')?.textContent || '') === '0 direct · 1 via TURN (UDP 0, TCP 0, TLS 1)'`)
	b.checkConsole()
}
