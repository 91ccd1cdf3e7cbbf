package main

// Simulcast from the browser to the browser: the publisher page sends
// Chromium's fake 720p camera as three layers, the relay lists them, and
// the watch page's quality menu pins one and goes back to Auto. What the
// relay sends is read from its admin viewer list and what plays from the
// page's video element, not from the menu's words.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
	"github.com/relay-av/relay/relay"
)

const simulcastYAML = `rooms:
  - name: plenary
    title: Plenary
`

// TestBrowserSimulcast: with a 720p camera the publisher page has
// simulcast on, goes live with three layers (h, m, l at 720, 360 and 180
// lines; at least two when Chromium's encoder cannot keep up) and shows
// what the relay gets; the watch page lists the layers by height under
// Auto ("Auto · 720p"); choosing 360p with the keyboard (180p when only
// two layers came) moves the same session to layer m and the picture to
// 360 lines; a reload keeps the choice (the offer asks for it); Auto
// brings the top layer back. A room with one layer has no quality menu.
func TestBrowserSimulcast(t *testing.T) {
	// Chromium encodes three layers in real time here: beside the other
	// packages' tests a 2-core machine drops layers and keyframes come late.
	testkit.Alone(t)
	r := startPageRelay(t, simulcastYAML)
	b := newBrowser(t, true)
	pub := b.ctx
	chWatchPeers(t, pub)
	setViewport(t, pub, 1280, 800, false)
	watch := b.tab("watch")
	chWatchPeers(t, watch)
	scWatchSelects(t, watch)
	setViewport(t, watch, 1280, 800, false)

	// The demo room sends one layer: no menu.
	navigate(t, watch, r.url("/watch/demo"))
	waitFrames(t, watch, 10, 20*time.Second)
	if hidden := eval[bool](t, watch, `document.querySelector('#quality-field').hidden`); !hidden {
		t.Error("the quality menu shows for a room with one layer")
	}
	navigate(t, watch, "about:blank") // the machine's CPU for the encoder meanwhile

	// The publisher: a 720p camera, simulcast on by default.
	tok := r.token(auth.RolePublisher, "plenary", "")
	navigate(t, pub, r.url("/publish/plenary?token="+url.QueryEscape(tok)))
	do(t, pub, 10*time.Second, chromedp.Click(chromedp.CSS("#devices-on")))
	waitJS(t, pub, 10*time.Second, "camera preview", `document.querySelector('#preview').videoHeight > 0 && !document.querySelector('#start').disabled`)
	if h := eval[int](t, pub, `document.querySelector('#preview').srcObject.getVideoTracks()[0].getSettings().height`); h != 720 {
		t.Fatalf("the fake camera gives %d lines, want 720", h)
	}
	if on := eval[bool](t, pub, `document.querySelector('#simulcast').checked`); !on {
		t.Fatal("simulcast is off by default with a 720p camera")
	}
	if hint := text(t, pub, "#simulcast-hint"); !strings.Contains(hint, "720p, 360p and 180p") {
		t.Errorf("simulcast hint %q does not name the sizes", hint)
	}
	do(t, pub, 10*time.Second, chromedp.Click(chromedp.CSS("#start")))
	waitJS(t, pub, 15*time.Second, "publishing live", `document.querySelector('#status').dataset.state === 'live'`)
	if !eval[bool](t, pub, `document.querySelector('#simulcast').disabled`) {
		t.Error("the simulcast box can be changed while live")
	}

	scWaitLayers(t, r, "plenary")
	scLogPublisher(t, pub)
	waitJS(t, pub, 10*time.Second, "the layers the relay gets, on the publisher page", `(() => {
		const ls = [...document.querySelectorAll('#s-layers .layer')].map(l => l.textContent);
		const hs = ls.map(l => parseInt(l, 10));
		return ls.length >= 2 && ls.every(l => /^[0-9]+p [0-9.]+ (kb|Mb)\/s$/.test(l)) && hs.every((h, i) => i === 0 || h < hs[i - 1]); })()`)
	screenshot(t, pub, "publish-simulcast")

	// The viewer: the menu lists the layers; Auto plays the top one.
	navigate(t, watch, r.url("/watch/plenary"))
	scWaitFrames(t, r, watch, pub, "plenary", 20, 20*time.Second)
	layers := scWaitMenu(t, r, watch, "plenary")
	v, _ := scWaitAuto(t, r, watch, pub, "plenary", "")
	tag := v.Tag
	if name := eval[string](t, watch, `document.querySelector('#quality').getAttribute('aria-label')`); name != "Video quality" {
		t.Errorf("quality menu's accessible name %q", name)
	}
	chNamedControls(t, watch)
	scCheckEstimate(t, watch)
	screenshot(t, watch, "watch-simulcast-auto")

	// 360p (or the second layer when Chromium sends no m) with the
	// keyboard: the same session moves to that layer.
	pick := layers[1]
	for _, l := range layers {
		if l.RID == "m" {
			pick = l
		}
	}
	pcs := eval[int](t, watch, `window.__pcs.length`)
	steps := eval[int](t, watch, fmt.Sprintf(`[...document.querySelector('#quality').options].findIndex(o => o.value === %q)`, pick.RID))
	keys := []chromedp.Action[chromedp.Void]{chromedp.Focus(chromedp.CSS("#quality"))}
	for range steps {
		keys = append(keys, chromedp.KeyEvent(kb.ArrowDown))
	}
	do(t, watch, 5*time.Second, keys...)
	if got := eval[string](t, watch, `document.querySelector('#quality').value`); got != pick.RID {
		t.Fatalf("%d arrow keys down from Auto chose %q, want %q (%dp)", steps, got, pick.RID, pick.Height)
	}
	start := time.Now()
	v = scWaitViewer(t, r, "plenary", "the viewer on layer "+pick.RID, 10*time.Second, func(v relay.ViewerInfo) bool { return v.Video == pick.RID && v.Layer == pick.RID })
	if v.Tag != tag {
		t.Errorf("viewer %s after choosing %dp, was %s: a new WHEP session", v.Tag, pick.Height, tag)
	}
	scWaitHeight(t, watch, pick.Height, 10*time.Second)
	t.Logf("%dp chosen: layer %s at the relay and %d lines in the page after %v", pick.Height, pick.RID, pick.Height, time.Since(start).Round(10*time.Millisecond))
	if n := eval[int](t, watch, `window.__pcs.length`); n != pcs {
		t.Errorf("%d RTCPeerConnections after choosing a layer, had %d", n, pcs)
	}
	if got := eval[string](t, watch, `document.querySelector('#quality option[value="auto"]').textContent`); got != "Auto" {
		t.Errorf("Auto entry %q while a layer is pinned", got)
	}
	screenshot(t, watch, "watch-simulcast-pinned")

	// Audio only leaves the menu in place but out of use; back to video,
	// the new session's offer asks for the layer.
	do(t, watch, 5*time.Second, chromedp.Click(chromedp.CSS("#audio-only")))
	waitJS(t, watch, 5*time.Second, "quality menu disabled in audio only", `document.querySelector('#quality').disabled && !document.querySelector('#quality-field').hidden`)
	do(t, watch, 5*time.Second, chromedp.Click(chromedp.CSS("#audio-only")))
	tag = scWaitOffered(t, r, watch, tag, pick)

	// A new visit keeps the choice too.
	navigate(t, watch, r.url("/watch/plenary"))
	tag = scWaitOffered(t, r, watch, tag, pick)
	waitJS(t, watch, 5*time.Second, "the layer in the menu after the reload", fmt.Sprintf(`document.querySelector('#quality').value === %q`, pick.RID))

	// Auto, with the keyboard: back to the top layer.
	pcs = eval[int](t, watch, `window.__pcs.length`)
	do(t, watch, 5*time.Second, chromedp.Focus(chromedp.CSS("#quality")), chromedp.KeyEvent(kb.Home))
	if got := eval[string](t, watch, `document.querySelector('#quality').value`); got != "auto" {
		t.Fatalf("Home chose %q, want auto", got)
	}
	v, _ = scWaitAuto(t, r, watch, pub, "plenary", tag)
	if v.Tag != tag {
		t.Errorf("viewer %s after Auto, was %s", v.Tag, tag)
	}
	if n := eval[int](t, watch, `window.__pcs.length`); n != pcs {
		t.Errorf("%d RTCPeerConnections after Auto, had %d", n, pcs)
	}
	if got := eval[string](t, watch, `localStorage.getItem('relay.video')`); got != `"auto"` {
		t.Errorf("remembered quality %s, want \"auto\"", got)
	}
	setViewport(t, watch, 390, 844, true)
	chNamedControls(t, watch)
	screenshot(t, watch, "watch-simulcast-phone")
	b.checkConsole()
}

// scLayer is one entry of a room's layers in /api/rooms.
type scLayer struct {
	RID     string `json:"rid"`
	Width   int    `json:"width"`
	Height  int    `json:"height"`
	Bitrate uint64 `json:"bitrate"`
}

// scWaitLayers waits up to 15 s for the three layers h, m and l at 720,
// 360 and 180 lines. Chromium ramps its layers up over a few seconds, and
// on a loaded machine its encoder may leave the top ones out: then at
// least two, said in the log.
func scWaitLayers(t *testing.T, r *pageRelay, room string) []scLayer {
	t.Helper()
	full := []scLayer{{RID: "h", Width: 1280, Height: 720}, {RID: "m", Width: 640, Height: 360}, {RID: "l", Width: 320, Height: 180}}
	start := time.Now()
	var got []scLayer
	for time.Since(start) < 15*time.Second {
		got = scRoomLayers(t, r, room)
		if scSameLayers(got, full) {
			t.Logf("three layers after %v: %+v", time.Since(start).Round(10*time.Millisecond), got)
			return got
		}
		time.Sleep(250 * time.Millisecond)
	}
	// Fewer: those flowing (a layer the encoder just left is listed
	// without a bitrate for a moment) must be two or more of the three,
	// in order.
	for time.Since(start) < 20*time.Second {
		var flowing, want []scLayer
		for _, g := range scRoomLayers(t, r, room) {
			if g.Bitrate > 0 {
				flowing = append(flowing, g)
			}
		}
		for _, f := range full {
			for _, g := range flowing {
				if g.RID == f.RID {
					want = append(want, f)
				}
			}
		}
		if len(flowing) >= 2 && scSameLayers(flowing, want) {
			t.Logf("Chromium did not sustain three layers on this machine: the relay lists %d after %v: %+v", len(flowing), time.Since(start).Round(time.Second), flowing)
			return flowing
		}
		got = flowing
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("the relay lists %+v after 20 s, want h, m and l at 720, 360 and 180 lines (at least two of them)", got)
	return nil
}

func scSameLayers(got, want []scLayer) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if got[i].RID != want[i].RID || got[i].Width != want[i].Width || got[i].Height != want[i].Height || got[i].Bitrate == 0 {
			return false
		}
	}
	return true
}

func scRoomLayers(t *testing.T, r *pageRelay, room string) []scLayer {
	t.Helper()
	raw, err := json.Marshal(apiRoom(t, r, room)["layers"])
	if err != nil {
		t.Fatal(err)
	}
	var ls []scLayer
	if err := json.Unmarshal(raw, &ls); err != nil {
		t.Fatal(err)
	}
	return ls
}

// scWaitOffered waits for a new session (not tag) that asked for the
// layer in its WHEP offer (?video=), gets it and plays its picture
// height; it returns the session's tag.
func scWaitOffered(t *testing.T, r *pageRelay, watch context.Context, tag string, l scLayer) string {
	t.Helper()
	v := scWaitViewer(t, r, "plenary", "a new session on layer "+l.RID, 15*time.Second, func(v relay.ViewerInfo) bool { return v.Tag != tag && v.Video == l.RID && v.Layer == l.RID })
	if offer := eval[string](t, watch, `window.__offers.at(-1) || ''`); !strings.Contains(offer, "video="+l.RID) {
		t.Errorf("the new session's offer went to %q, without video=%s", offer, l.RID)
	}
	scWaitHeight(t, watch, l.Height, 15*time.Second)
	return v.Tag
}

// scWaitMenu waits until the watch page's quality menu shows and lists
// the layers the relay lists (at least two), and returns them.
func scWaitMenu(t *testing.T, r *pageRelay, watch context.Context, room string) []scLayer {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		layers := scRoomLayers(t, r, room)
		var want []string
		for _, l := range layers {
			want = append(want, fmt.Sprintf("%s=%dp", l.RID, l.Height))
		}
		menu := eval[string](t, watch, `(() => { const f = document.querySelector('#quality-field');
			return (f.hidden || f.offsetParent === null ? 'hidden: ' : '') +
				[...document.querySelectorAll('#quality option')].slice(1).map(o => o.value + '=' + o.textContent).join(','); })()`)
		if len(layers) >= 2 && menu == strings.Join(want, ",") {
			return layers
		}
		if time.Now().After(deadline) {
			t.Fatalf("quality menu %q, the relay lists %+v", menu, layers)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// scWaitAuto waits until the viewer (a new session when tag is "", else
// that one) is on auto and gets the best layer the relay lists, the page
// plays a picture of its height and Auto says it; it returns the viewer
// and the layer.
func scWaitAuto(t *testing.T, r *pageRelay, watch, pub context.Context, room, tag string) (relay.ViewerInfo, scLayer) {
	t.Helper()
	start := time.Now()
	var (
		v      relay.ViewerInfo
		layers []scLayer
		page   string
	)
	for time.Since(start) < 20*time.Second {
		layers = scRoomLayers(t, r, room)
		vs, err := chListViewers(r, room)
		page = eval[string](t, watch, `document.querySelector('#video').videoHeight + ' lines, menu ' + document.querySelector('#quality option[value="auto"]').textContent`)
		if err == nil && len(vs) == 1 && len(layers) > 0 {
			v = vs[0]
			top := layers[0]
			if (tag == "" || v.Tag == tag) && v.Video == "auto" && v.Layer == top.RID && page == fmt.Sprintf("%d lines, menu Auto · %dp", top.Height, top.Height) {
				t.Logf("auto: layer %s at the relay, %s in the page after %v", top.RID, page, time.Since(start).Round(10*time.Millisecond))
				return v, top
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	scLogPublisher(t, pub)
	fps := chEvalAsync[float64](t, pub, fmt.Sprintf(`(async () => { let fps = -1; (await window.__pcs.at(-1).getStats()).forEach(s => {
		if (s.type === 'outbound-rtp' && s.rid === %q) fps = s.framesPerSecond || 0; }); return fps; })()`, v.Layer))
	for _, l := range layers {
		if l.RID == v.Layer && l.Bitrate > 0 && fps == 0 {
			t.Errorf("the relay lists layer %s as flowing at %d bit/s and keeps the auto viewer on it, but Chromium encodes no frames "+
				"for it (its bandwidth allocator paused the layer; it still sends padding-only packets on its SSRC): the viewer's picture freezes", l.RID, l.Bitrate)
		}
	}
	t.Fatalf("no viewer on auto with the top layer after 20 s: viewer %+v, layers %+v, page: %s; video receiver: %s", v, layers, page, scReceiver(t, watch))
	return v, scLayer{}
}

// scWaitHeight waits until the watch page's video has h lines.
func scWaitHeight(t *testing.T, ctx context.Context, h int, timeout time.Duration) {
	t.Helper()
	waitJS(t, ctx, timeout, fmt.Sprintf("a picture of %d lines", h), fmt.Sprintf(`document.querySelector('#video').videoHeight === %d`, h))
}

// scCheckEstimate: the page reads its session's state with an empty
// /select every few seconds, and the connection indicator says the
// relay's bandwidth estimate when the answer has one (estimateBps), and
// nothing of it otherwise. The words themselves are checked on a table.
func scCheckEstimate(t *testing.T, ctx context.Context) {
	t.Helper()
	n := eval[int](t, ctx, `window.__selects.filter(s => s.body === '{}').length`)
	waitJS(t, ctx, 8*time.Second, "a status read of the session", fmt.Sprintf(`window.__selects.filter(s => s.body === '{}' && s.answer).length > %d`, n))
	bps := eval[float64](t, ctx, `window.__selects.filter(s => s.answer).at(-1).answer.estimateBps || 0`)
	if bps > 0 {
		// The indicator says the last answer's estimate (a second later at most).
		waitJS(t, ctx, 8*time.Second, "the estimate in the indicator", `(() => { const b = window.__selects.filter(s => s.answer).at(-1).answer.estimateBps;
			const want = (b >= 1e6 ? (b / 1e6).toFixed(1) + ' Mb/s' : Math.round(b / 1000) + ' kb/s') + ' available';
			return document.querySelector('#net-text').textContent.endsWith(' · ' + want); })()`)
		t.Logf("the relay estimates %.0f bit/s for the viewer; indicator %q", bps, text(t, ctx, "#net-text"))
	} else {
		time.Sleep(1500 * time.Millisecond) // a sample or two of the indicator
		if got := text(t, ctx, "#net-text"); strings.Contains(got, "available") {
			t.Errorf("the indicator says %q while the relay's answer has no estimate", got)
		}
		t.Log("the relay's /select answer has no bandwidth estimate yet: the indicator shows none")
	}
	for bps, want := range map[float64]string{0: "", -5: "", 640000: "640 kb/s available", 1.23e6: "1.2 Mb/s available"} {
		if got := chEvalAsync[string](t, ctx, fmt.Sprintf(`import('/static/js/stats.js').then(m => m.formatEstimate(%g))`, bps)); got != want {
			t.Errorf("formatEstimate(%g) = %q, want %q", bps, got, want)
		}
	}
}

// scWatchSelects makes the tab's pages keep each /select request body and
// its answer in window.__selects, and the URLs WHEP offers went to in
// window.__offers.
func scWatchSelects(t *testing.T, ctx context.Context) {
	t.Helper()
	const js = `window.__selects = []; window.__offers = [];
		{ const f = window.fetch; window.fetch = async (url, init) => {
			if (String(url).includes('/whep/') && init?.headers?.['Content-Type'] === 'application/sdp') window.__offers.push(String(url));
			const res = await f(url, init);
			if (String(url).endsWith('/select')) { const e = {body: init?.body}; window.__selects.push(e);
				res.clone().json().then(a => { e.answer = a; }, () => {}); }
			return res; }; }`
	do(t, ctx, 5*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		return err
	}))
}

// scLogPublisher logs what Chromium's encoder sends: its send-side
// bandwidth estimate, and each layer's size, rate and what limits it.
func scLogPublisher(t *testing.T, pub context.Context) {
	t.Helper()
	t.Logf("publisher: %s", chEvalAsync[string](t, pub, `(async () => { const out = []; (await window.__pcs.at(-1).getStats()).forEach(s => {
		if (s.type === 'outbound-rtp' && s.kind === 'video') out.push(s.rid + ' ' + (s.frameHeight || 0) + 'p ' + (s.framesPerSecond || 0) + ' fps, target ' + s.targetBitrate + ' bps, limited by ' + s.qualityLimitationReason +
			', ' + s.framesEncoded + ' frames in ' + s.packetsSent + ' packets, ' + s.bytesSent + ' payload bytes, ' + s.headerBytesSent + ' header and padding bytes');
		if (s.type === 'candidate-pair' && s.nominated) out.push('send-side estimate ' + s.availableOutgoingBitrate + ' bps');
	}); return out.sort().join('; '); })()`))
}

// scWaitFrames waits until the watch page has decoded n more frames; on
// a timeout it says what the page's video receiver got and what the relay
// and the publisher say.
func scWaitFrames(t *testing.T, r *pageRelay, watch, pub context.Context, room string, n int, timeout time.Duration) {
	t.Helper()
	before := eval[videoInfo](t, watch, videoJS)
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if v := eval[videoInfo](t, watch, videoJS); v.Width > 0 && v.Frames > before.Frames+n {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	vs, _ := chListViewers(r, room)
	scLogPublisher(t, pub)
	t.Fatalf("the watch page decoded no %d frames in %v: video receiver: %s; viewers %+v; layers %+v", n, timeout, scReceiver(t, watch), vs, scRoomLayers(t, r, room))
}

// scReceiver says what the watch page's video receiver got: a layer the
// encoder paused may still carry padding (header bytes, no payload).
func scReceiver(t *testing.T, watch context.Context) string {
	t.Helper()
	return chEvalAsync[string](t, watch, `(async () => { let out = 'no video receiver'; (await window.__pcs.at(-1).getStats()).forEach(s => {
		if (s.type === 'inbound-rtp' && s.kind === 'video') out = s.packetsReceived + ' packets, ' + s.bytesReceived + ' payload bytes, ' +
			s.headerBytesReceived + ' header and padding bytes, ' + s.framesReceived + ' frames received, ' + s.framesDecoded + ' decoded'; }); return out; })()`)
}

// relay.ViewerInfo is one entry of the admin viewer list.

// scWaitViewer waits until the room has one viewer and ok says yes to it.
func scWaitViewer(t *testing.T, r *pageRelay, room, what string, timeout time.Duration, ok func(relay.ViewerInfo) bool) relay.ViewerInfo {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		vs, err := chListViewers(r, room)
		if err == nil && len(vs) == 1 && ok(vs[0]) {
			return vs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: viewers %+v (%v)", timeout, what, vs, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}
