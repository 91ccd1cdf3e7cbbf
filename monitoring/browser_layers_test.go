package monitoring

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/player"
	"github.com/relay-av/relay/relay"
)

// layerRooms: a plenary publishing three simulcast layers to 17 viewers
// (12 on 720p, 3 on 360p, 1 on 180p, 1 without video), and a side room
// whose publisher sends one layer (no simulcast).
func layerRooms(now time.Time, layers []relay.LayerInfo, viewers int) []relay.RoomInfo {
	since := now.Add(-10 * time.Minute)
	return []relay.RoomInfo{
		{
			Name: "plenary", Title: "Plenary hall", State: relay.StateLive, Since: since, Viewers: viewers,
			Publisher: &relay.PubInfo{Tag: "p1", Since: since}, Tracks: []relay.TrackInfo{}, Layers: layers,
		},
		{
			Name: "side", Title: "Side room", State: relay.StateLive, Since: since, Viewers: 4,
			Publisher: &relay.PubInfo{Tag: "p2", Since: since}, Tracks: []relay.TrackInfo{},
			Layers: []relay.LayerInfo{{RID: "", Width: 1920, Height: 1080, Bitrate: 2_500_000, Viewers: 4}},
		},
	}
}

var threeLayers = []relay.LayerInfo{
	{RID: "h", Width: 1280, Height: 720, Bitrate: 1_560_000, Viewers: 12},
	{RID: "m", Width: 640, Height: 360, Bitrate: 510_000, Viewers: 3},
	{RID: "l", Width: 320, Height: 180, Bitrate: 152_000, Viewers: 1},
}

// TestBrowserMonitorLayers: the monitor page in headless Chromium shows a
// simulcast room's layers best first with their height, size, bitrate,
// viewers and share, the viewers without video, and a bar with a segment
// per layer sized by its viewers; no layer table for a room with one
// layer; it follows the snapshots (the top layer stops); an admin sees
// each viewer's layer, whether it is pinned, and its estimate. Nothing
// breaks the page's Content-Security-Policy.
func TestBrowserMonitorLayers(t *testing.T) {
	a, _ := auth.New([]byte("monitoring-test-secret-0123"))
	now := time.Now()
	fake := &fakeRooms{
		rooms: layerRooms(now, threeLayers, 17),
		viewers: map[string][]relay.ViewerInfo{"plenary": {
			{Tag: "v1", Since: now, Audio: "floor", Video: "auto", PlayingAudio: "floor", Layer: "h", EstimateBps: 2_400_000},
			{Tag: "v2", Since: now, Audio: "floor", Video: "m", PlayingAudio: "floor", Layer: "m", EstimateBps: 3_100_000},
			{Tag: "v3", Since: now, Audio: "floor", Video: "auto", PlayingAudio: "floor", Layer: "", EstimateBps: 120_000},
			{Tag: "v4", Since: now, Audio: "floor", Video: "auto", PlayingAudio: "floor", Layer: "l"},
		}},
	}
	done := make(chan struct{})
	mux := http.NewServeMux()
	New(Params{Relay: fake, Admin: fake, Auth: a, Logger: slog.New(slog.DiscardHandler), Done: done}).Register(mux)
	player.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(done)
		hs.Close()
	})

	b := newBrowser(t)
	b.do(10*time.Second, chromedp.EmulateViewport(1280, 900))
	b.do(20*time.Second, chromedp.Navigate(hs.URL+"/monitor"))
	// Each snapshot re-renders the cards: a style the policy refused would
	// show here from the next one on.
	b.wait(5*time.Second, "a CSP violation listener",
		`(window.cspViolations = [], document.addEventListener('securitypolicyviolation', (e) => cspViolations.push(e.violatedDirective)), true)`)

	row := func(rid string) string {
		return `document.querySelector('[data-room="plenary"] .layers tr[data-layer="` + rid + `"]')`
	}
	noVideo := `document.querySelector('[data-room="plenary"] .layers tr[data-video="none"]')`
	col := func(rid, col, want string) string {
		return row(rid) + `?.querySelector('[data-col="` + col + `"]')?.textContent === '` + want + `'`
	}
	layerRow := func(rid, name, size, bitrate, viewers, share string) string {
		return col(rid, "name", name) + ` && ` + col(rid, "size", size) + ` && ` + col(rid, "bitrate", bitrate) + ` && ` +
			col(rid, "viewers", viewers) + ` && ` + col(rid, "share", share)
	}
	b.wait(15*time.Second, "the plenary's layers best first with their figures, and the viewers without video",
		layerRow("h", "720p", "1280×720", "1.56 Mb/s", "12", "71 %")+` && `+
			layerRow("m", "360p", "640×360", "510 kb/s", "3", "18 %")+` && `+
			layerRow("l", "180p", "320×180", "152 kb/s", "1", "6 %")+` && `+
			noVideo+`?.querySelector('[data-col="name"]').textContent === 'no video' && `+
			noVideo+`.querySelector('[data-col="viewers"]').textContent === '1' && `+
			`[...document.querySelectorAll('[data-room="plenary"] .layers tbody tr')].map((r) => r.dataset.layer ?? r.dataset.video).join() === 'h,m,l,none'`)
	segs := `[...document.querySelectorAll('[data-room="plenary"] .layer-bar .seg')]`
	b.wait(5*time.Second, "the bar: a segment per layer and one for no video, sized by viewers (720p four times 360p)",
		segs+`.map((s) => (s.dataset.layer ?? 'no video') + ':' + getComputedStyle(s).flexGrow).join() === 'h:12,m:3,l:1,no video:1' && `+
			segs+`[0].getBoundingClientRect().width > 3.5 * `+segs+`[1].getBoundingClientRect().width && `+
			`document.querySelector('[data-room="plenary"] .layer-bar').getAttribute('aria-label') === 'Viewers per layer: 720p 12, 360p 3, 180p 1, no video 1'`)
	b.wait(5*time.Second, "no layer table for the room with one layer",
		`document.querySelector('[data-room="side"]') && !document.querySelector('[data-room="side"] .layers')`)
	b.screenshot("monitor-layers")

	// The top layer stops (an encoder under load): its viewers move down.
	fake.set(layerRooms(now, []relay.LayerInfo{
		{RID: "m", Width: 640, Height: 360, Bitrate: 505_000, Viewers: 14},
		{RID: "l", Width: 320, Height: 180, Bitrate: 150_000, Viewers: 3},
	}, 17))
	b.wait(10*time.Second, "the page follows the snapshots",
		`!`+row("h")+` && !`+noVideo+` && `+layerRow("m", "360p", "640×360", "505 kb/s", "14", "82 %")+` && `+
			layerRow("l", "180p", "320×180", "150 kb/s", "3", "18 %")+` && `+segs+`.length === 2`)

	// An admin sees each viewer's layer and estimate.
	fake.set(layerRooms(now, threeLayers, 17))
	tok, err := a.Issue(auth.RoleAdmin, "*", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#admin-token`), tok),
		chromedp.Click(chromedp.CSS(`#admin-save`)))
	b.clickNow(10*time.Second, `[data-room="plenary"] [data-action="viewers"]`)
	viewer := func(i int, layer, estimate string) string {
		li := `document.querySelectorAll('[data-room="plenary"] .viewers li')[` + strconv.Itoa(i) + `]`
		return li + `?.querySelector('[data-col="layer"]')?.textContent === '` + layer + `' && ` +
			li + `.querySelector('[data-col="estimate"]').textContent === '` + estimate + `'`
	}
	b.wait(10*time.Second, "each viewer's layer, pinned or auto, and its estimate",
		viewer(0, "auto · 720p", "est. 2.40 Mb/s")+` && `+viewer(1, "360p pinned", "est. 3.10 Mb/s")+` && `+
			viewer(2, "no video", "est. 120 kb/s")+` && `+viewer(3, "auto · 180p", "est. —")+` && `+
			`document.querySelectorAll('[data-room="plenary"] .viewers li [data-col="layer"]')[2].classList.contains('warn')`)
	b.screenshot("monitor-layers-viewers")

	// The pinned layer stops: the viewer gets another, flagged.
	fake.mu.Lock()
	fake.viewers["plenary"][1].Layer = "l"
	fake.mu.Unlock()
	b.wait(15*time.Second, "a pinned viewer whose layer stopped",
		viewer(1, "180p (pinned 360p stopped)", "est. 3.10 Mb/s"))
	b.wait(5*time.Second, "no CSP violation", `window.cspViolations.length === 0`)
	b.checkConsole()
}
