package main

// The watch page's language channels in Chromium against the real relay: a
// floor (the demo clip over WHIP), a French booth and a sign-language
// interpreter published with interpreter tokens by pion peers, a delegate
// choosing a language, the floor under the interpretation, a booth going
// off air and back, the sign-language box, and the lobby's channel list.
// What the relay delivers is read from the admin viewer list and the
// page's own RTCPeerConnection, not from the page's words.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

const channelsYAML = `rooms:
  - name: hall
    title: Hall of nations
`

// TestBrowserWatchChannels: /watch/hall?lang=fr picks Français for sound,
// subtitles and transcript, and the relay gets the French booth for the
// viewer; the floor under the interpretation arrives on the second audio
// m-line and its gain follows the slider and the mute button; switching
// the Language to the floor and back changes the viewer's selection on the
// same session (same viewer tag, one RTCPeerConnection); the player says
// when the booth is off air and stops saying it when the booth is back;
// the sign-language interpreter shows in a box that moves with the pointer
// and the arrow keys and stays where it was put; the lobby lists the
// channels.
func TestBrowserWatchChannels(t *testing.T) {
	r := startPageRelay(t, channelsYAML)
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	floorCtx, stopFloor := context.WithCancel(context.Background())
	defer stopFloor()
	floor, err := peer.Publish(floorCtx, peer.PublishConfig{URL: r.url("/whip/hall"), Token: r.token(auth.RolePublisher, "hall", ""), Clip: demo, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatalf("floor: %v", err)
	}
	defer floor.Close(true)
	booth, err := clip.Booth("fr")
	if err != nil {
		t.Fatal(err)
	}
	fr := chPublish(t, r, "hall", "fr", booth)
	chPublish(t, r, "hall", "ase", &clip.Clip{Video: demo.Video})
	chWaitChannel(t, r, "hall", "fr", "audio", true)
	chWaitChannel(t, r, "hall", "ase", "sign", true)
	en := dialCaptioner(t, r, "hall", "en")
	frCap := dialCaptioner(t, r, "hall", "fr")
	en.final("e1", "The floor is given to the delegate of Senegal.")
	frCap.final("f1", "La parole est donnée à la délégation du Sénégal.")

	b := newBrowser(t, false)
	ctx := b.ctx
	chWatchPeers(t, ctx)
	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, r.url("/watch/hall?lang=fr&ui=en"))
	waitFrames(t, ctx, 20, 20*time.Second)
	waitJS(t, ctx, 10*time.Second, "Français chosen for sound, subtitles and transcript", `document.querySelector('#language').value === 'fr' &&
		document.querySelector('#lang').value === 'fr' && document.querySelector('#transcript-lang').textContent === 'Français'`)
	if got := eval[string](t, ctx, `(() => { const o = document.querySelector('#language').options; return o[0].value + '=' + o[0].textContent; })()`); got != "floor=Floor (original)" {
		t.Errorf("first Language entry %q, want the floor", got)
	}
	if got := eval[string](t, ctx, `document.querySelector('#language option[value="fr"]').textContent`); got != "Français" {
		t.Errorf("French entry %q, want its native name", got)
	}
	if opts := eval[string](t, ctx, `[...document.querySelectorAll('#language option')].map(o => o.value).join(',')`); strings.Contains(opts, "ase") {
		t.Errorf("the sign language is among the spoken Language entries: %s", opts)
	}
	waitJS(t, ctx, 8*time.Second, "French transcript", `document.querySelector('#transcript-lines').textContent.includes('Sénégal')`)
	v := chWaitViewer(t, r, "hall", "the viewer on the French booth", func(v relay.ViewerInfo) bool { return v.Audio == "fr" && v.PlayingAudio == "fr" })
	tag := v.Tag

	// The floor under the interpretation: two audio m-lines, the second
	// carries the floor while the first carries the booth.
	if n := eval[int](t, ctx, `window.__pcs.at(-1).getTransceivers().filter(t => t.receiver.track.kind === 'audio').length`); n != 2 {
		t.Fatalf("%d audio m-lines offered, want 2", n)
	}
	floorPackets := func() int {
		return chEvalAsync[int](t, ctx, `(async () => { const pc = window.__pcs.at(-1);
			const mid = pc.getTransceivers().filter(t => t.receiver.track.kind === 'audio')[1].mid;
			let n = 0; (await pc.getStats()).forEach(s => { if (s.type === 'inbound-rtp' && s.mid === mid) n = s.packetsReceived; }); return n; })()`)
	}
	p0 := floorPackets()
	time.Sleep(time.Second)
	if p1 := floorPackets(); p1 <= p0 {
		t.Errorf("the floor's m-line got %d packets, then %d a second later: no floor under the interpretation", p0, p1)
	}
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#lang-more")))
	waitJS(t, ctx, 2*time.Second, "language settings open", `!document.querySelector('#channel-panel').hidden && document.querySelector('#lang-more').getAttribute('aria-expanded') === 'true'`)
	if got := eval[string](t, ctx, `document.querySelector('#floor-mix-value').textContent`); got != "Off" {
		t.Errorf("floor mix starts at %q, want Off", got)
	}
	chSetRange(t, ctx, "#floor-mix", "20")
	waitJS(t, ctx, 3*time.Second, "floor gain 0.2", `window.__gains.length === 1 && Math.abs(window.__gains[0].gain.value - 0.2) < 0.01`)
	if st := eval[string](t, ctx, `window.__gains[0].context.state`); st != "running" {
		t.Errorf("floor mix AudioContext %s", st)
	}
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#mute")))
	waitJS(t, ctx, 3*time.Second, "floor gain 0 when muted", `document.querySelector('#video').muted && window.__gains[0].gain.value < 0.005`)
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#mute")))
	waitJS(t, ctx, 3*time.Second, "floor gain back on unmute", `!document.querySelector('#video').muted && Math.abs(window.__gains[0].gain.value - 0.2) < 0.01`)
	chNamedControls(t, ctx)
	screenshot(t, ctx, "watch-channels-settings")
	do(t, ctx, 5*time.Second, chromedp.Focus(chromedp.CSS("#floor-mix")), chromedp.KeyEvent(kb.Escape))
	waitJS(t, ctx, 2*time.Second, "Escape closes the settings, focus back on their button", `document.querySelector('#channel-panel').hidden &&
		document.activeElement === document.querySelector('#lang-more') && document.querySelector('#lang-more').getAttribute('aria-expanded') === 'false'`)

	// Back to the floor and to French: the same session follows.
	pcs := eval[int](t, ctx, `window.__pcs.length`)
	selectValue(t, ctx, "#language", "floor")
	v = chWaitViewer(t, r, "hall", "the viewer on the floor", func(v relay.ViewerInfo) bool { return v.Audio == "floor" && v.PlayingAudio == "floor" })
	if v.Tag != tag {
		t.Errorf("viewer %s after the switch to the floor, was %s: a new WHEP session", v.Tag, tag)
	}
	if got := eval[string](t, ctx, `document.querySelector('#lang').value`); got != "fr" {
		t.Errorf("the floor changed the subtitles to %q; they stay French", got)
	}
	selectValue(t, ctx, "#language", "fr")
	v = chWaitViewer(t, r, "hall", "the viewer back on French", func(v relay.ViewerInfo) bool { return v.Audio == "fr" && v.PlayingAudio == "fr" })
	if v.Tag != tag {
		t.Errorf("viewer %s after the switch back to French, was %s", v.Tag, tag)
	}
	if n := eval[int](t, ctx, `window.__pcs.length`); n != pcs {
		t.Errorf("%d RTCPeerConnections after switching, had %d", n, pcs)
	}
	if got := eval[string](t, ctx, `document.querySelector('#channel-notice').textContent`); got != "" {
		t.Errorf("notice %q while the booth is on air", got)
	}

	// The interpreter's connection dies (no DELETE): the page says so, and
	// stops saying it when the booth is back.
	fr.Close(false)
	waitJS(t, ctx, 10*time.Second, "off-air notice", `document.querySelector('#channel-notice').textContent === 'French interpretation is off air — you hear the floor'`)
	if live := eval[string](t, ctx, `(() => { const n = document.querySelector('#channel-notice'); return n.getAttribute('role') + ',' + n.getAttribute('aria-live') + ',' + (n.offsetParent !== null); })()`); live != "status,polite,true" {
		t.Errorf("off-air notice role, aria-live, visible = %s", live)
	}
	v = chWaitViewer(t, r, "hall", "the listener on the floor while the booth is down", func(v relay.ViewerInfo) bool { return v.Audio == "fr" && v.PlayingAudio == "floor" })
	if v.Tag != tag {
		t.Errorf("viewer %s while the booth is down, was %s", v.Tag, tag)
	}
	screenshot(t, ctx, "watch-channels-off-air")
	setViewport(t, ctx, 390, 844, true)
	screenshot(t, ctx, "watch-channels-off-air-phone")
	setViewport(t, ctx, 1280, 800, false)
	fr2 := chPublish(t, r, "hall", "fr", booth)
	waitJS(t, ctx, 10*time.Second, "notice gone with the booth back", `document.querySelector('#channel-notice').textContent === ''`)
	chWaitViewer(t, r, "hall", "the listener on the booth again", func(v relay.ViewerInfo) bool { return v.Tag == tag && v.PlayingAudio == "fr" })

	// Sign language: the toggle selects the channel on the same session
	// and shows its video in a box that moves and stays where it was put.
	waitJS(t, ctx, 5*time.Second, "sign language toggle", `!document.querySelector('#sign').hidden && document.querySelector('#sign').getAttribute('aria-pressed') === 'false'`)
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#sign")))
	v = chWaitViewer(t, r, "hall", "the viewer with the sign channel", func(v relay.ViewerInfo) bool { return v.Sign == "ase" && v.PlayingSign == "ase" })
	if v.Tag != tag {
		t.Errorf("viewer %s with sign language, was %s", v.Tag, tag)
	}
	waitJS(t, ctx, 10*time.Second, "sign video playing in the box", `!document.querySelector('#sign-pip').hidden && document.querySelector('#sign-video').videoWidth > 0 &&
		document.querySelector('#sign-off').hidden`)
	pos := func() [2]float64 {
		return eval[[2]float64](t, ctx, `(() => { const b = document.querySelector('#sign-pip'); return [b.offsetLeft, b.offsetTop]; })()`)
	}
	start := pos()
	do(t, ctx, 5*time.Second, chromedp.Focus(chromedp.CSS("#sign-pip")), chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent(kb.ArrowDown))
	if p := pos(); p[0] >= start[0] || p[1] <= start[1] {
		t.Errorf("arrow keys moved the box from %v to %v, want left and down", start, p)
	}
	keyed := pos()
	box := eval[[4]float64](t, ctx, `(() => { const r = document.querySelector('#sign-pip').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`)
	x, y := box[0]+box[2]/2, box[1]+box[3]/2
	do(t, ctx, 5*time.Second,
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x, y),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMousePressed, x, y, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x-150, y+40, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseMoved, x-300, y+80, chromedp.ButtonLeft),
		chromedp.MouseEvent(input.DispatchMouseEventTypeMouseReleased, x-300, y+80, chromedp.ButtonLeft))
	dragged := pos()
	if dragged[0] > keyed[0]-250 || dragged[1] < keyed[1]+40 {
		t.Errorf("dragging the box by (-300, +80) moved it from %v to %v", keyed, dragged)
	}
	chNamedControls(t, ctx)
	screenshot(t, ctx, "watch-channels-sign")
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#sign")))
	chWaitViewer(t, r, "hall", "the sign channel off", func(v relay.ViewerInfo) bool { return v.Tag == tag && v.Sign == "" && v.PlayingSign == "" })
	waitJS(t, ctx, 3*time.Second, "box hidden", `document.querySelector('#sign-pip').hidden`)
	if n := eval[int](t, ctx, `window.__pcs.length`); n != pcs {
		t.Errorf("%d RTCPeerConnections after the sign toggle, had %d", n, pcs)
	}

	// A new visit: the sign box comes back where it was left.
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#sign")))
	navigate(t, ctx, r.url("/watch/hall?lang=fr&ui=en"))
	waitJS(t, ctx, 20*time.Second, "sign box after a reload", `!document.querySelector('#sign-pip').hidden && document.querySelector('#sign-video').videoWidth > 0`)
	waitJS(t, ctx, 3*time.Second, "box where it was left", fmt.Sprintf(`(() => { const b = document.querySelector('#sign-pip');
		return Math.abs(b.offsetLeft - %f) < 2 && Math.abs(b.offsetTop - %f) < 2; })()`, dragged[0], dragged[1]))
	setViewport(t, ctx, 390, 844, true)
	waitFrames(t, ctx, 5, 5*time.Second)
	chNamedControls(t, ctx)
	screenshot(t, ctx, "watch-channels-phone")
	setViewport(t, ctx, 1280, 800, false)

	// The lobby lists the channels, live, the sign language marked.
	navigate(t, ctx, r.url("/"))
	waitJS(t, ctx, 8*time.Second, "channels on the lobby card", `(() => { const c = document.querySelector('li[data-room="hall"]');
		const fr = c?.querySelector('.channel[data-lang="fr"]'), ase = c?.querySelector('.channel[data-lang="ase"]');
		return fr && ase && fr.dataset.live === 'true' && fr.dataset.kind === 'audio' && ase.dataset.kind === 'sign' && ase.querySelector('.sign-mark') &&
			fr.textContent.includes('Français') && fr.getAttribute('aria-label').includes('live'); })()`)
	screenshot(t, ctx, "lobby-channels")
	fr2.Close(false)
	waitJS(t, ctx, 15*time.Second, "the booth off air on the lobby card", `(() => { const fr = document.querySelector('li[data-room="hall"] .channel[data-lang="fr"]');
		return fr && fr.dataset.live === 'false' && fr.getAttribute('aria-label').includes('off air'); })()`)
	screenshot(t, ctx, "lobby-channels-off-air")
	b.checkConsole()
}

// TestBrowserLanguageModel runs the watch page's language model
// (static/js/channels.js) in Chromium on a table: which channels a room
// offers, the Language entries, the sound a choice selects, what the
// Language menu shows for a sound and a subtitle language, and whether the
// delegate hears what they chose.
func TestBrowserLanguageModel(t *testing.T) {
	r := startPageRelay(t, "")
	b := newBrowser(t, false)
	ctx := b.ctx
	navigate(t, ctx, r.url("/"))
	const setup = `const m = await import('/static/js/channels.js');
		const info = {channels: [{lang: 'fr', kind: 'audio', live: true}, {lang: 'ase', kind: 'sign', live: false}], languages: ['fr', 'ar', 'bfi']};
		const audio = m.channelsOf(info, 'audio'), sign = m.channelsOf(info, 'sign'), captions = ['en', 'fr'];`
	got := chEvalAsync[map[string]string](t, ctx, `(async () => { `+setup+`
		const show = (mp) => [...mp.values()].map(c => c.lang + (c.known ? '+' : '') + (c.live ? '*' : '')).join(',');
		return {audio: show(audio), sign: show(sign), choices: m.languageChoices(captions, audio).join(','),
			audioFr: m.audioFor('fr', audio), audioDe: m.audioFor('de', audio), audioFloor: m.audioFor('floor', audio),
			airOff: m.airState('fr', 'floor', audio), airUnstarted: m.airState('ar', 'floor', audio),
			airOn: m.airState('fr', 'fr', audio), airFloor: m.airState('floor', 'floor', audio)}; })()`)
	for k, want := range map[string]string{
		"audio": "ar,fr+*", "sign": "ase+,bfi", "choices": "ar,en,fr",
		"audioFr": "fr", "audioDe": "floor", "audioFloor": "floor",
		"airOff": "off", "airUnstarted": "unstarted", "airOn": "on", "airFloor": "on",
	} {
		if got[k] != want {
			t.Errorf("%s = %q, want %q", k, got[k], want)
		}
	}
	for _, c := range []struct {
		wanted, audio, caption, want string
	}{
		{"fr", "fr", "fr", "fr"},          // the choice as made
		{"fr", "floor", "fr", "floor"},    // French subtitles under the floor: the floor
		{"", "fr", "en", "custom"},        // the French booth with English subtitles
		{"", "floor", "en", "en"},         // English subtitles, no English booth
		{"floor", "floor", "fr", "floor"}, // the floor leaves the subtitles
		{"ar", "ar", "en", "ar"},          // a booth in a language without subtitles
		{"", "ar", "fr", "ar"},            // the same, set apart
		{"fr", "floor", "en", "en"},       // the choice no longer holds: what the sound and subtitles say
		{"custom", "fr", "fr", "fr"},      // custom is never kept when one language describes both
	} {
		js := fmt.Sprintf(`(async () => { %s return m.choiceOf(%q || null, {audio: %q, caption: %q, channels: audio, captions}); })()`, setup, c.wanted, c.audio, c.caption)
		if got := chEvalAsync[string](t, ctx, js); got != c.want {
			t.Errorf("choiceOf(%q, audio %s, captions %s) = %q, want %q", c.wanted, c.audio, c.caption, got, c.want)
		}
	}
	b.checkConsole()
}

// chWatchPeers makes every page of the tab keep its
// RTCPeerConnections in window.__pcs and its GainNodes in window.__gains,
// so that the test reads what the page receives and plays.
func chWatchPeers(t *testing.T, ctx context.Context) {
	t.Helper()
	const js = `window.__pcs = []; window.__gains = [];
		{ const PC = window.RTCPeerConnection; window.RTCPeerConnection = class extends PC { constructor(...a) { super(...a); window.__pcs.push(this); } };
		  const G = window.GainNode; window.GainNode = class extends G { constructor(...a) { super(...a); window.__gains.push(this); } }; }`
	do(t, ctx, 5*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		return err
	}))
}

func chEvalAsync[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("evaluate %.80s: %v", js, err)
	}
	return v
}

// chSetRange moves a range input as a user would (an input event).
func chSetRange(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	eval[bool](t, ctx, fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q;
		s.dispatchEvent(new Event('input', {bubbles: true})); return true; })()`, sel, value))
}

// chNamedControls fails for a visible control without a name a screen
// reader can say.
func chNamedControls(t *testing.T, ctx context.Context) {
	t.Helper()
	if unnamed := eval[string](t, ctx, `[...document.querySelectorAll('button, select, input, a[href], [tabindex="0"]')]
		.filter(e => e.offsetParent !== null && !(e.getAttribute('aria-label') || e.textContent.trim() || e.labels?.length))
		.map(e => e.id || e.outerHTML.slice(0, 60)).join(', ')`); unnamed != "" {
		t.Errorf("controls without a name: %s", unnamed)
	}
}

// ---- the relay's side ------------------------------------------------------------

// relay.ViewerInfo is one entry of the admin viewer list.

// chWaitViewer waits until the room has one viewer and ok says yes to it.
func chWaitViewer(t *testing.T, r *pageRelay, room, what string, ok func(relay.ViewerInfo) bool) relay.ViewerInfo {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		vs, err := chListViewers(r, room)
		if err == nil && len(vs) == 1 && ok(vs[0]) {
			return vs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: viewers %+v (%v)", what, vs, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

func chListViewers(r *pageRelay, room string) ([]relay.ViewerInfo, error) {
	req, err := http.NewRequest(http.MethodGet, r.url("/api/rooms/"+room+"/viewers"), nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+r.token(auth.RoleAdmin, room, ""))
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(res.Body)
		return nil, fmt.Errorf("viewers: %d %s", res.StatusCode, body)
	}
	var body struct {
		Viewers []relay.ViewerInfo `json:"viewers"`
	}
	err = json.NewDecoder(res.Body).Decode(&body)
	return body.Viewers, err
}

// chWaitChannel waits until /api/rooms lists the channel (lang, kind) as live or not.
func chWaitChannel(t *testing.T, r *pageRelay, room, lang, kind string, live bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		rm := apiRoom(t, r, room)
		chans, _ := rm["channels"].([]any)
		for _, c := range chans {
			if m, _ := c.(map[string]any); m["lang"] == lang && m["kind"] == kind && m["live"] == live {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s/%s of %s not live=%v: %v", lang, kind, room, live, rm["channels"])
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// chPublish publishes a clip on a language channel over WHIP with an
// interpreter token, as a booth would: its audio is the booth's, its video
// a sign-language interpreter's. Close(false) ends it without a DELETE: the
// interpreter's connection died.
func chPublish(t *testing.T, r *pageRelay, room, lang string, c *clip.Clip) *peer.Publisher {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := peer.Publish(ctx, peer.PublishConfig{URL: r.url("/whip/" + room + "?lang=" + lang), Token: r.token(auth.RoleInterpreter, room, lang),
		Clip: c, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatalf("channel %s: %v", lang, err)
	}
	t.Cleanup(func() { p.Close(false) })
	return p
}
