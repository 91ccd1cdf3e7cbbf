package main

// The interpreter console in headless Chromium against the wired relay:
// Chromium's fake microphone (a periodic beep) goes on air as channel fr,
// the relay's /api/rooms says what it receives (RFC 6464 levels), the cough
// key silences the channel, a partner's console takes over, and a watch
// page that chooses Français hears the beep, then silence on the floor.

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// silentOpus is a 20 ms Opus frame (CELT, fullband) that decodes to
// silence: the floor's audio, so that any sound a viewer hears comes from
// the booth.
var silentOpus = []byte{0xf8, 0xff, 0xfe}

// publishSilentFloor publishes the demo clip's video with silent audio as
// room's floor, from a pion peer, until the test ends.
func publishSilentFloor(t *testing.T, r *pageRelay, room string) {
	t.Helper()
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	audio := &clip.Track{Mime: clip.MimeOpus, ClockRate: 48000}
	for range 50 {
		audio.Frames = append(audio.Frames, clip.Frame{Data: silentOpus, Duration: 20 * time.Millisecond, Key: true})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := peer.Publish(ctx, peer.PublishConfig{
		URL: r.url("/whip/" + room), Token: r.token(auth.RolePublisher, room, ""),
		Clip: &clip.Clip{Video: demo.Video, Audio: audio}, Options: peer.Options{Loopback: true},
	})
	if err != nil {
		t.Fatalf("publish the floor: %v", err)
	}
	t.Cleanup(func() { p.Close(true) })
}

// boothChannel returns the room's channel (lang, kind) from /api/rooms, nil
// when it is not listed.
func boothChannel(t *testing.T, r *pageRelay, room, lang, kind string) map[string]any {
	t.Helper()
	chs, _ := apiRoom(t, r, room)["channels"].([]any)
	for _, c := range chs {
		if m, _ := c.(map[string]any); m["lang"] == lang && m["kind"] == kind {
			return m
		}
	}
	return nil
}

// waitBooth polls /api/rooms until the channel satisfies ok, and returns it.
func waitBooth(t *testing.T, r *pageRelay, room, lang, what string, timeout time.Duration, ok func(ch map[string]any) bool) map[string]any {
	t.Helper()
	return waitBoothKind(t, r, room, lang, "audio", what, timeout, ok)
}

// waitBoothKind is waitBooth for a channel of kind ("audio" or "sign").
func waitBoothKind(t *testing.T, r *pageRelay, room, lang, kind, what string, timeout time.Duration, ok func(ch map[string]any) bool) map[string]any {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ch := boothChannel(t, r, room, lang, kind)
		if ch != nil && ok(ch) {
			return ch
		}
		if time.Now().After(deadline) {
			t.Fatalf("channel %s/%s (%s): timed out after %s waiting for %s; last seen %v", room, lang, kind, timeout, what, ch)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// boothLevel is a channel's levelDbov, and whether it is there.
func boothLevel(ch map[string]any) (float64, bool) {
	v, ok := ch["levelDbov"].(float64)
	return v, ok
}

// elementCenter is the middle of the element sel in the tab's viewport.
func elementCenter(t *testing.T, ctx context.Context, sel string) (float64, float64) {
	t.Helper()
	p := eval[[]float64](t, ctx, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return [r.left + r.width / 2, r.top + r.height / 2]; })()`, sel))
	return p[0], p[1]
}

// spaceKey sends one key event (down or up) of the space bar to the focused element.
func spaceKey(typ input.DispatchKeyEventType) chromedp.Action[chromedp.Void] {
	ev := kb.Encode(' ')
	p := *ev[0]
	if typ == input.DispatchKeyEventTypeKeyUp {
		p = *ev[len(ev)-1]
	}
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		_, err := cdp.Call(ctx, t, input.DispatchKeyEvent, p)
		return err
	})
}

// The analyser a test attaches to the watch page's audio: the peak of the
// first audio track of #video's stream (audio #1, the selected channel)
// since the last reading. It follows the page to a new session.
const watchAnalyserJS = `(() => {
  const m = window.__testMeter ||= { peak: 0, track: null, ctx: new AudioContext(), buf: new Float32Array(2048) };
  const track = document.querySelector('#video').srcObject?.getAudioTracks()[0] || null;
  if (track && track !== m.track) {
    m.track = track;
    m.analyser = m.ctx.createAnalyser();
    m.analyser.fftSize = m.buf.length;
    m.ctx.createMediaStreamSource(new MediaStream([track])).connect(m.analyser);
  }
  m.timer ||= setInterval(() => {
    const t = document.querySelector('#video').srcObject?.getAudioTracks()[0];
    if (t && t !== m.track) return; // re-attached by the next call
    if (!m.analyser) return;
    m.analyser.getFloatTimeDomainData(m.buf);
    for (const v of m.buf) m.peak = Math.max(m.peak, Math.abs(v));
  }, 20);
  return !!m.track && m.ctx.state === 'running';
})()`

// watchPeak is the loudest sample the watch page's audio had over d.
func watchPeak(t *testing.T, ctx context.Context, d time.Duration) float64 {
	t.Helper()
	if !eval[bool](t, ctx, watchAnalyserJS) {
		t.Fatalf("no audio track to analyse on the watch page (or its AudioContext is not running)")
	}
	eval[float64](t, ctx, `(window.__testMeter.peak = 0)`)
	time.Sleep(d)
	return eval[float64](t, ctx, `window.__testMeter.peak`)
}

// waitWatchPeak measures the watch page's audio over 1.5 s windows until ok.
func waitWatchPeak(t *testing.T, ctx context.Context, what string, timeout time.Duration, ok func(peak float64) bool) float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		p := watchPeak(t, ctx, 1500*time.Millisecond)
		if ok(p) {
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("watch page audio: timed out after %s waiting for %s; last peak %.4f", timeout, what, p)
		}
	}
}

// consoleUnnamedJS lists the console's controls that have no accessible
// name (no label, no aria-label(ledby), no text).
const consoleUnnamedJS = `[...document.querySelectorAll('#desk button, #desk select, #desk input, #desk a[href], #desk video')]
  .filter((e) => !e.closest('[hidden]'))
  .filter((e) => !((e.labels && e.labels.length && [...e.labels].some((l) => l.textContent.trim())) ||
    (e.getAttribute('aria-label') || '').trim() || e.getAttribute('aria-labelledby') || e.textContent.trim()))
  .map((e) => e.id || e.outerHTML.slice(0, 60))`

const (
	boothBeepPeak    = 0.02  // the fake microphone's beep, as heard through the relay, is far louder
	floorSilencePeak = 0.002 // silent Opus decodes to (near) zeros
)

// TestBrowserInterpreter: the console publishes Chromium's fake microphone
// as channel fr; the relay measures it; the cough key (mouse held, then
// Space held) silences the channel at the relay; a watch page that
// chooses Français hears the booth and stays on the channel across a
// handover to a partner's console, whose predecessor says "Handed over";
// back on the floor it hears silence; Go off air ends the channel.
func TestBrowserInterpreter(t *testing.T) {
	const room = "hall"
	r := startPageRelay(t, "rooms:\n  - name: hall\n    title: Plenary hall\n    languages: [fr]\n")
	publishSilentFloor(t, r, room)
	tok := r.token(auth.RoleInterpreter, room, "fr")
	consoleURL := r.url("/interpret/" + room + "?lang=fr&ui=en&token=" + url.QueryEscape(tok))

	b := newBrowser(t, true)
	booth1 := b.ctx
	setViewport(t, booth1, 1280, 860, false)
	navigate(t, booth1, consoleURL)

	// The console: language, floor with its delay, microphone with its level.
	if got := text(t, booth1, "#into"); !strings.Contains(got, "Interpreting into Français") {
		t.Errorf("heading %q, want Interpreting into Français", got)
	}
	if u := eval[string](t, booth1, `location.href`); strings.Contains(u, "token=") {
		t.Errorf("the token stayed in the address bar: %s", u)
	}
	waitJS(t, booth1, 10*time.Second, "microphone open", `!document.querySelector('#take').disabled && document.querySelector('#mic').options.length > 0`)
	waitJS(t, booth1, 15*time.Second, "floor live", `document.querySelector('#floor').dataset.state === 'live'`)
	waitJS(t, booth1, 10*time.Second, "delay readout", `/^~\d+ ms$/.test(document.querySelector('#delay').textContent)`)
	waitJS(t, booth1, 10*time.Second, "microphone level", `Number(document.querySelector('#meter').getAttribute('aria-valuenow')) > -50`)
	if unnamed := eval[[]string](t, booth1, consoleUnnamedJS); len(unnamed) > 0 {
		t.Errorf("controls without an accessible name: %v", unnamed)
	}
	if st := text(t, booth1, "#air-text"); st != "OFF AIR" {
		t.Errorf("before going on air the console says %q", st)
	}

	// On air from the keyboard: Enter on the focused button.
	do(t, booth1, 10*time.Second, chromedp.Focus(chromedp.CSS("#take")), chromedp.KeyEvent("\r"))
	waitJS(t, booth1, 15*time.Second, "ON AIR", `document.querySelector('#air').dataset.state === 'on'`)
	ch := waitBooth(t, r, room, "fr", "the fake microphone's level", 15*time.Second, func(ch map[string]any) bool {
		l, ok := boothLevel(ch)
		return ch["live"] == true && ok && l > -50
	})
	tag1, _ := ch["interpreter"].(string)
	lvl, _ := boothLevel(ch)
	t.Logf("on air: channel %v, interpreter %q, level %.0f dBov", ch["lang"], tag1, lvl)
	if tag1 == "" {
		t.Fatalf("channel fr has no interpreter tag: %v", ch)
	}
	waitJS(t, booth1, 5*time.Second, "the console knows it is on air", `document.querySelector('#ch-who').textContent === 'You'`)
	if st := text(t, booth1, "#air-text"); st != "ON AIR" {
		t.Errorf("on air the console says %q", st)
	}
	t.Logf("floor delay readout: %s (%s)", text(t, booth1, "#delay"), eval[string](t, booth1, `document.querySelector('#delay').title`))
	screenshot(t, booth1, "interpret-on-air")

	// Cough, held with the mouse: the relay hears silence, then the booth again.
	x, y := elementCenter(t, booth1, "#cough")
	do(t, booth1, 5*time.Second, chromedp.MouseEvent(chromedp.MousePressed, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	waitJS(t, booth1, 2*time.Second, "cough pressed", `document.querySelector('#cough').getAttribute('aria-pressed') === 'true'`)
	ch = waitBooth(t, r, room, "fr", "silence while the cough key is held", 8*time.Second, func(ch map[string]any) bool {
		l, ok := boothLevel(ch)
		return ok && l <= -100
	})
	lvl, _ = boothLevel(ch)
	t.Logf("cough held (mouse): %.0f dBov", lvl)
	screenshot(t, booth1, "interpret-cough")
	do(t, booth1, 5*time.Second, chromedp.MouseEvent(chromedp.MouseReleased, x, y, chromedp.ButtonLeft, chromedp.ClickCount(1)))
	waitBooth(t, r, room, "fr", "sound after the cough key is released", 8*time.Second, func(ch map[string]any) bool {
		l, ok := boothLevel(ch)
		return ok && l > -50
	})

	// Cough, held with the space bar on the focused button.
	do(t, booth1, 5*time.Second, chromedp.Focus(chromedp.CSS("#cough")), spaceKey(input.DispatchKeyEventTypeKeyDown))
	ch = waitBooth(t, r, room, "fr", "silence while Space is held", 8*time.Second, func(ch map[string]any) bool {
		l, ok := boothLevel(ch)
		return ok && l <= -100
	})
	lvl, _ = boothLevel(ch)
	t.Logf("cough held (Space): %.0f dBov", lvl)
	do(t, booth1, 5*time.Second, spaceKey(input.DispatchKeyEventTypeKeyUp))
	waitJS(t, booth1, 2*time.Second, "cough released", `document.querySelector('#cough').getAttribute('aria-pressed') === 'false'`)
	waitBooth(t, r, room, "fr", "sound after Space is released", 8*time.Second, func(ch map[string]any) bool {
		l, ok := boothLevel(ch)
		return ok && l > -50
	})

	// A delegate chooses Français on the watch page and hears the booth.
	watch := b.tab("watch")
	setViewport(t, watch, 1280, 800, false)
	navigate(t, watch, r.url("/watch/"+room))
	waitFrames(t, watch, 10, 20*time.Second)
	waitJS(t, watch, 15*time.Second, "Français in the language choice", `[...(document.querySelector('#language')?.options || [])].some((o) => o.value === 'fr')`)
	if p := watchPeak(t, watch, 1500*time.Millisecond); p > floorSilencePeak {
		t.Errorf("on the floor (silent Opus) the watch page's audio peaks at %.4f", p)
	}
	selectValue(t, watch, "#language", "fr")
	p := waitWatchPeak(t, watch, "the French booth's beep", 10*time.Second, func(p float64) bool { return p > boothBeepPeak })
	t.Logf("watch page on fr: peak %.3f", p)
	waitBooth(t, r, room, "fr", "one listener", 5*time.Second, func(ch map[string]any) bool { return ch["viewers"] == float64(1) })
	waitJS(t, booth1, 5*time.Second, "the console counts the listener", `document.querySelector('#ch-viewers').textContent === '1'`)
	screenshot(t, watch, "watch-interpretation-fr")

	// The partner's console takes over; the first one is handed over.
	booth2 := b.tab("booth2")
	setViewport(t, booth2, 1280, 860, false)
	navigate(t, booth2, consoleURL)
	waitJS(t, booth2, 10*time.Second, "Take over offered", `document.querySelector('#take').textContent === 'Take over' && !document.querySelector('#take').disabled`)
	do(t, booth2, 10*time.Second, chromedp.Click(chromedp.CSS("#take")))
	ch = waitBooth(t, r, room, "fr", "the partner's session", 15*time.Second, func(ch map[string]any) bool {
		tag, _ := ch["interpreter"].(string)
		return ch["live"] == true && tag != "" && tag != tag1
	})
	t.Logf("handover: interpreter %q -> %q", tag1, ch["interpreter"])
	waitJS(t, booth2, 10*time.Second, "partner ON AIR", `document.querySelector('#air').dataset.state === 'on'`)
	waitJS(t, booth1, 15*time.Second, "Handed over", `document.querySelector('#air').dataset.state === 'handed-over' && document.querySelector('#status').textContent === 'Handed over'`)
	if st := text(t, booth1, "#air-text"); st != "OFF AIR" {
		t.Errorf("after the handover the first console says %q", st)
	}
	// The listener stayed on the channel, and hears the partner.
	p = waitWatchPeak(t, watch, "the partner's beep", 10*time.Second, func(p float64) bool { return p > boothBeepPeak })
	t.Logf("watch page on fr after the handover: peak %.3f", p)
	if ch := boothChannel(t, r, room, "fr", "audio"); ch["viewers"] != float64(1) {
		t.Errorf("after the handover channel fr has %v viewers, want 1", ch["viewers"])
	}
	// The first console does not take the channel back by itself.
	time.Sleep(3 * time.Second)
	if ch := boothChannel(t, r, room, "fr", "audio"); ch["interpreter"] == tag1 {
		t.Errorf("the handed-over console took the channel back: %v", ch)
	}
	screenshot(t, booth1, "interpret-handed-over")
	screenshot(t, booth2, "interpret-took-over")

	// Back on the floor: silence.
	selectValue(t, watch, "#language", "floor")
	p = waitWatchPeak(t, watch, "the floor's silence", 10*time.Second, func(p float64) bool { return p < floorSilencePeak })
	t.Logf("watch page on the floor: peak %.4f", p)

	// Go off air: the channel goes down at once (WHIP DELETE).
	do(t, booth2, 10*time.Second, chromedp.Click(chromedp.CSS("#off")))
	waitJS(t, booth2, 5*time.Second, "off air", `document.querySelector('#air').dataset.state === 'off'`)
	waitBooth(t, r, room, "fr", "the channel down", 5*time.Second, func(ch map[string]any) bool { return ch["live"] == false })
	waitJS(t, booth2, 5*time.Second, "Go on air offered again", `document.querySelector('#take').textContent === 'Go on air' && !document.querySelector('#take').hidden`)
	b.checkConsole()
}

// TestBrowserInterpreterSetup: a console opened from a link before the
// floor is live waits for it, then plays it (after a click when the
// browser blocks sound without one); without a token the console asks for
// one; a token for another language is refused with the reason; a sign
// language offers the camera.
func TestBrowserInterpreterSetup(t *testing.T) {
	r := startPageRelay(t, "rooms:\n  - name: hall\n    title: Plenary hall\n")
	b := newBrowserWith(t, true, false) // sound needs a user gesture, as in an everyday browser
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)

	navigate(t, ctx, r.url("/interpret/hall?lang=fr&ui=en&token="+url.QueryEscape(r.token(auth.RoleInterpreter, "hall", "fr"))))
	waitJS(t, ctx, 10*time.Second, "floor not live yet", `document.querySelector('#floor').dataset.state === 'waiting'`)
	if got := text(t, ctx, "#floor-state"); !strings.Contains(got, "Not live yet") {
		t.Errorf("floor before it starts: %q", got)
	}
	publishSilentFloor(t, r, "hall")
	waitJS(t, ctx, 15*time.Second, "floor live", `document.querySelector('#floor').dataset.state === 'live'`)
	waitJS(t, ctx, 10*time.Second, "floor playing or a button to play it",
		`!document.querySelector('#floor-video').paused || !document.querySelector('#floor-play').hidden`)
	if eval[bool](t, ctx, `document.querySelector('#floor-video').paused`) {
		screenshot(t, ctx, "interpret-floor-blocked")
		do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#floor-play")))
		waitJS(t, ctx, 5*time.Second, "floor playing after the click", `!document.querySelector('#floor-video').paused && document.querySelector('#floor-play').hidden`)
	} else {
		t.Log("Chromium played the floor's sound without a gesture (the page captures the microphone)")
	}

	navigate(t, ctx, r.url("/interpret/hall?lang=ar&ui=en"))
	waitJS(t, ctx, 5*time.Second, "setup form", `!document.querySelector('#setup').hidden && document.querySelector('#desk').hidden`)
	if v := eval[string](t, ctx, `document.querySelector('#f-lang').value`); v != "ar" {
		t.Errorf("language field %q, want ar from the URL", v)
	}
	if v := eval[string](t, ctx, `document.querySelector('#f-token').value`); v != "" {
		t.Errorf("the fr token was offered for ar")
	}
	// A token for another language: the relay refuses it (403) when going on air.
	wrong := r.token(auth.RoleInterpreter, "hall", "fr")
	do(t, ctx, 10*time.Second,
		chromedp.SendKeys(chromedp.CSS("#f-token"), wrong),
		chromedp.Click(chromedp.CSS(`#setup button[type="submit"]`)))
	waitJS(t, ctx, 10*time.Second, "desk", `!document.querySelector('#desk').hidden`)
	if got := text(t, ctx, "#lang-name"); got != "العربية" {
		t.Errorf("language name %q, want العربية", got)
	}
	if d := eval[string](t, ctx, `document.querySelector('#lang-name').dir`); d != "rtl" {
		t.Errorf("Arabic name written %q", d)
	}
	waitJS(t, ctx, 10*time.Second, "microphone open", `!document.querySelector('#take').disabled`)
	refused := time.Now()
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#take")))
	waitJS(t, ctx, 10*time.Second, "refusal explained", `document.querySelector('#air').dataset.state === 'refused' && document.querySelector('#air-detail').textContent.includes('refused')`)
	b.expectNetworkErrors(refused, time.Now()) // the 403 itself
	if ch := boothChannel(t, r, "hall", "ar", "audio"); ch != nil {
		t.Errorf("a refused console made channel ar: %v", ch)
	}
	screenshot(t, ctx, "interpret-refused")

	// A sign language: the camera is offered and on, with its preview; the
	// microphone stays off unless chosen.
	navigate(t, ctx, r.url("/interpret/hall?lang=ase&token="+url.QueryEscape(r.token(auth.RoleInterpreter, "hall", "ase"))))
	waitJS(t, ctx, 10*time.Second, "camera offered", `!document.querySelector('#camera-field').hidden && document.querySelector('#camera-on').checked`)
	waitJS(t, ctx, 10*time.Second, "camera preview", `document.querySelector('#preview').videoWidth > 0`)
	if v := eval[string](t, ctx, `document.querySelector('#mic').value`); v != "none" {
		t.Errorf("a sign-language console opened microphone %q", v)
	}
	// On air, the camera is channel ase's sign-language video, and no audio.
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#take")))
	waitBoothKind(t, r, "hall", "ase", "sign", "the sign-language video live", 15*time.Second, func(ch map[string]any) bool { return ch["live"] == true })
	waitJS(t, ctx, 10*time.Second, "ON AIR, and the console knows it", `document.querySelector('#air').dataset.state === 'on' && document.querySelector('#ch-who').textContent === 'You'`)
	if ch := boothChannel(t, r, "hall", "ase", "audio"); ch != nil {
		t.Errorf("a sign-language console without a microphone made an audio channel: %v", ch)
	}
	if !eval[bool](t, ctx, `document.querySelector('#cough').disabled && document.querySelector('#camera-on').disabled`) {
		t.Error("without a microphone the cough key is usable, or the camera can be turned off on air")
	}
	screenshot(t, ctx, "interpret-sign-language")
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#off")))
	waitBoothKind(t, r, "hall", "ase", "sign", "the sign-language video down", 5*time.Second, func(ch map[string]any) bool { return ch["live"] == false })
	b.checkConsole()
}
