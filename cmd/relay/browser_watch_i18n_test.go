package main

// The watch page in other interface languages, in Chromium against the
// demo relay (video, captions, French and Arabic booths): Arabic right to
// left with a mirrored layout and captions that keep their own direction,
// a switch of the interface language while the stream plays, and
// Simplified Chinese with its plural and number forms. Expected strings
// come from the catalogues (player/static/i18n), not from this file.

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type wiRect struct {
	Left  float64 `json:"left"`
	Right float64 `json:"right"`
	Width float64 `json:"width"`
}

const wiRectsJS = `(() => { const r = (s) => { const b = document.querySelector(s).getBoundingClientRect(); return {left: b.left, right: b.right, width: b.width}; };
	return {brand: r('.brand'), transcript: r('#transcript'), player: r('#player'), mute: r('#mute'), fullscreen: r('#fullscreen'), status: r('#status')}; })()`

// wiLabels are the script-written and markup labels compared with a catalogue.
var wiLabels = []struct{ js, key string }{
	{`document.querySelector('#status').textContent`, "watch.state_live"},
	{`document.querySelector('#cc').textContent`, "watch.captions_on"},
	{`document.querySelector('#settings').getAttribute('aria-label')`, "watch.caption_style"},
	{`document.querySelector('#language option[value="floor"]').textContent`, "watch.floor"},
	{`document.querySelector('.skip').textContent`, "watch.skip_to_controls"},
	{`document.querySelector('#fullscreen').getAttribute('aria-label')`, "watch.fullscreen"},
	{`document.querySelector('#transcript-toggle').getAttribute('aria-label')`, "watch.transcript"},
	{`document.querySelector('#controls').getAttribute('aria-label')`, "watch.controls_label"},
}

func wiCheckLabels(t *testing.T, lang string, cat map[string]any, get func(js string) string) {
	t.Helper()
	for _, l := range wiLabels {
		if got, want := get(l.js), catString(t, cat, l.key); got != want {
			t.Errorf("%s: %s is %q, want %q", lang, l.key, got, want)
		}
	}
}

// TestBrowserWatchRTL: /watch/demo?ui=ar is Arabic, right to left: the
// document says so, the labels are the Arabic catalogue's, the layout
// mirrors the English page (brand at the right, transcript at the left,
// the control bar reversed) while the video keeps its size and the
// English captions stay left to right. Switching the interface to French
// with the #ui-lang select relabels the page and the stream plays on:
// the same MediaStream, frames advancing, no new peer connection.
func TestBrowserWatchRTL(t *testing.T) {
	r := startPageRelay(t, "")
	b := newBrowser(t, false)
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	ar, fr := catalogue(t, "ar"), catalogue(t, "fr")
	get := func(js string) string { return eval[string](t, ctx, js) }

	live := func() {
		waitFrames(t, ctx, 10, 20*time.Second)
		waitJS(t, ctx, 5*time.Second, "status live", `document.querySelector('#status').dataset.state === 'live'`)
	}
	navigate(t, ctx, r.url("/watch/demo?ui=en"))
	live()
	en := eval[map[string]wiRect](t, ctx, wiRectsJS)

	chWatchPeers(t, ctx)
	navigate(t, ctx, r.url("/watch/demo?ui=ar"))
	live()
	if d := get(`document.documentElement.dir + ' ' + document.documentElement.lang`); d != "rtl ar" {
		t.Fatalf("document dir and lang %q, want rtl ar", d)
	}
	wiCheckLabels(t, "ar", ar, get)
	if got, want := get(`document.querySelector('#transcript-title').firstChild.textContent.trim()`), strings.TrimSpace(strings.Split(catString(t, ar, "watch.transcript_title"), "{lang}")[0]); got != want {
		t.Errorf("transcript title %q, want %q", got, want)
	}

	// The demo's captions (English, the browser's language): their own direction.
	if !demoCaptions(t, r) {
		capt := dialCaptioner(t, r, "demo", "en")
		capt.final("r1", "Good morning, and welcome to the plenary session on climate finance.")
	}
	waitJS(t, ctx, 15*time.Second, "caption in the overlay", `document.querySelector('#cap-primary').textContent.length > 10`)
	if d := get(`(() => { const c = document.querySelector('#cap-primary'); return c.lang + ' ' + c.dir + ' ' + getComputedStyle(c).direction; })()`); d != "en ltr ltr" {
		t.Errorf("English captions on an Arabic page: lang, dir, direction %q, want en ltr ltr", d)
	}
	waitJS(t, ctx, 10*time.Second, "caption in the transcript", `document.querySelectorAll('#transcript-lines li').length > 0`)

	// Mirrored: what is at the left in English is at the right in Arabic.
	const W = 1280.0
	rtl := eval[map[string]wiRect](t, ctx, wiRectsJS)
	mirrored := func(name string) {
		e, a := en[name], rtl[name]
		if math.Abs(a.Left-(W-e.Right)) > 24 || math.Abs(a.Width-e.Width) > 24 {
			t.Errorf("%s: English left %.0f right %.0f, Arabic left %.0f right %.0f: not mirrored", name, e.Left, e.Right, a.Left, a.Right)
		}
	}
	mirrored("brand")
	mirrored("transcript")
	mirrored("player")
	if rtl["brand"].Left < W/2 || en["brand"].Right > W/2 {
		t.Errorf("brand at %.0f–%.0f in Arabic, %.0f–%.0f in English: want it at the right in Arabic", rtl["brand"].Left, rtl["brand"].Right, en["brand"].Left, en["brand"].Right)
	}
	if rtl["transcript"].Right > rtl["player"].Left+1 {
		t.Errorf("transcript (%.0f–%.0f) not at the left of the player (%.0f–%.0f) in Arabic", rtl["transcript"].Left, rtl["transcript"].Right, rtl["player"].Left, rtl["player"].Right)
	}
	if !(rtl["mute"].Left > rtl["fullscreen"].Right && en["mute"].Right < en["fullscreen"].Left) {
		t.Errorf("control bar not reversed: mute %.0f, fullscreen %.0f (Arabic); mute %.0f, fullscreen %.0f (English)",
			rtl["mute"].Left, rtl["fullscreen"].Left, en["mute"].Left, en["fullscreen"].Left)
	}
	waitJS(t, ctx, 8*time.Second, "connection indicator in Arabic units", fmt.Sprintf(`(() => { const s = document.querySelector('#net-text').textContent;
		return s.includes(%q) || s.includes(%q); })()`, strings.Split(catString(t, ar, "common.rate_kbps"), "{rate}")[1], strings.Split(catString(t, ar, "common.rate_mbps"), "{rate}")[1]))
	waitFrames(t, ctx, 5, 10*time.Second)
	path := screenshot(t, ctx, "watch-ar")
	if os.Getenv("RELAY_UPDATE_DOCS") != "" {
		png, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", "watch-ar.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A phone (360 px) and 200 % zoom (640×400 CSS px): nothing wider than
	// the screen, every control of the bar inside it.
	for _, vp := range []struct {
		w, h int64
		name string
	}{{360, 740, "watch-ar-360"}, {640, 400, "watch-ar-zoom200"}} {
		setViewport(t, ctx, vp.w, vp.h, false)
		waitFrames(t, ctx, 3, 10*time.Second)
		if over := get(`(() => { const w = document.documentElement.clientWidth; const out = [];
			if (document.documentElement.scrollWidth > w + 1) out.push('page ' + document.documentElement.scrollWidth);
			for (const e of document.querySelectorAll('#controls button, #controls select, #controls input, .topbar a, .topbar select')) {
				const r = e.getBoundingClientRect(); if (e.offsetParent !== null && (r.left < -1 || r.right > w + 1)) out.push(e.id || e.className);
			}
			return out.join(', '); })()`); over != "" {
			t.Errorf("%dx%d: wider than the screen: %s", vp.w, vp.h, over)
		}
		screenshot(t, ctx, vp.name)
	}
	setViewport(t, ctx, 1280, 800, false)

	// Switch to French while playing: relabelled, the stream untouched.
	pcs := eval[int](t, ctx, `window.__pcs.length`)
	eval[bool](t, ctx, `(window.__stream = document.querySelector('#video').srcObject, true)`)
	selectValue(t, ctx, "#ui-lang", "fr")
	waitJS(t, ctx, 5*time.Second, "French interface", `document.documentElement.lang === 'fr' && document.documentElement.dir === 'ltr'`)
	wiCheckLabels(t, "fr", fr, get)
	waitFrames(t, ctx, 15, 10*time.Second)
	if same := eval[bool](t, ctx, `document.querySelector('#video').srcObject === window.__stream && !document.querySelector('#video').paused`); !same {
		t.Error("the video's stream changed or paused with the interface language")
	}
	if n := eval[int](t, ctx, `window.__pcs.length`); n != pcs {
		t.Errorf("%d peer connections after the switch, %d before: the page reconnected", n, pcs)
	}
	if st := get(`document.querySelector('#status').dataset.state`); st != "live" {
		t.Errorf("status %q after the switch", st)
	}
	if u := get(`new URL(location.href).searchParams.get('ui')`); u != "fr" {
		t.Errorf("?ui= is %q after the switch, want fr", u)
	}
	b.checkConsole()
}

// TestBrowserWatchChinese: /watch/demo?ui=zh-Hans is in Simplified
// Chinese: lang, labels from the catalogue, the viewer count in its
// plural form with the number formatted for the locale, and the
// connection indicator's rate in its units.
func TestBrowserWatchChinese(t *testing.T) {
	r := startPageRelay(t, "")
	b := newBrowser(t, false)
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	zh := catalogue(t, "zh-Hans")
	get := func(js string) string { return eval[string](t, ctx, js) }

	navigate(t, ctx, r.url("/watch/demo?ui=zh-Hans"))
	waitFrames(t, ctx, 10, 20*time.Second)
	waitJS(t, ctx, 5*time.Second, "status live", `document.querySelector('#status').dataset.state === 'live'`)
	if l := get(`document.documentElement.lang + ' ' + document.documentElement.dir`); l != "zh-Hans ltr" {
		t.Fatalf("document lang and dir %q, want zh-Hans ltr", l)
	}
	wiCheckLabels(t, "zh-Hans", zh, get)

	forms, _ := zh["watch.viewers"].(map[string]any)
	form, _ := forms["other"].(string)
	if !strings.Contains(form, "{n}") {
		t.Fatalf("zh-Hans watch.viewers other form %q", form)
	}
	waitJS(t, ctx, 15*time.Second, "viewer count", `!document.querySelector('#viewers').hidden`)
	n := eval[int](t, ctx, `parseInt(document.querySelector('#viewers').textContent.replace(/[^0-9]/g, ''), 10) || 0`)
	if got, want := get(`document.querySelector('#viewers').textContent`), strings.ReplaceAll(form, "{n}", fmt.Sprint(n)); n < 1 || got != want {
		t.Errorf("viewer count %q, want %q", got, want)
	}
	big := chEvalAsync[string](t, ctx, `import('/static/js/i18n.js').then(m => m.t('watch.viewers', {n: 12345}))`)
	if want := strings.ReplaceAll(form, "{n}", "12,345"); big != want {
		t.Errorf("12345 viewers: %q, want %q (the number through Intl)", big, want)
	}
	rate := strings.Split(catString(t, zh, "common.rate_kbps"), "{rate}")[1]
	waitJS(t, ctx, 8*time.Second, "connection indicator in kb/s or Mb/s", fmt.Sprintf(`(() => { const s = document.querySelector('#net-text').textContent;
		return s.includes(%q) || s.includes(%q); })()`, rate, strings.Split(catString(t, zh, "common.rate_mbps"), "{rate}")[1]))
	if !demoCaptions(t, r) {
		capt := dialCaptioner(t, r, "demo", "en")
		capt.final("z1", "Good morning, and welcome to the plenary session on climate finance.")
	}
	waitJS(t, ctx, 15*time.Second, "caption in the overlay", `document.querySelector('#cap-primary').textContent.length > 10`)
	waitFrames(t, ctx, 5, 10*time.Second)
	screenshot(t, ctx, "watch-zh")
	b.checkConsole()
}
