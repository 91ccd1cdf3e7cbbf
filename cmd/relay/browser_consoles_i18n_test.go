package main

// The staff consoles (captioner, interpreter, publisher) in another
// interface language: Arabic right to left with the catalogue's words and a
// mirrored layout, the caption field in the caption language's direction
// whatever the interface's, and a language switch that leaves the
// captioner's socket alone.

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/relay-av/relay/internal/auth"
)

// wording is what one element should say: its text, or one attribute.
type wording struct {
	sel, attr, key string
	vars           []string
}

// checkWords compares each element's words with the catalogue's.
func checkWords(t *testing.T, ctx context.Context, cat map[string]any, words []wording) {
	t.Helper()
	for _, w := range words {
		want := catString(t, cat, w.key, w.vars...)
		js := fmt.Sprintf(`document.querySelector(%q).textContent.replace(/[\u2068\u2069]/g, '').trim()`, w.sel)
		if w.attr != "" {
			// without the bidi isolates (U+2068, U+2069) around a hint
			js = fmt.Sprintf(`document.querySelector(%q).getAttribute(%q).replace(/[\u2068\u2069]/g, '')`, w.sel, w.attr)
		}
		if got := eval[string](t, ctx, js); got != want {
			t.Errorf("%s %s: %q, want %q (%s)", w.sel, w.attr, got, want, w.key)
		}
	}
}

// consolePage is one console as the tests open it.
type consolePage struct {
	name  string
	url   func(ui string) string
	ready string // JS: true once the page is drawn
	start string // the element at the start of the line (left in English)
	end   string // the element at the end of the line
	words []wording
}

// side is where an element's middle is: its x, the viewport's width.
func side(t *testing.T, ctx context.Context, sel string) (x, width float64) {
	t.Helper()
	p := eval[[]float64](t, ctx, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect();
		return [r.left + r.width / 2, document.documentElement.clientWidth]; })()`, sel))
	return p[0], p[1]
}

// TestBrowserConsolesArabic: each console with ?ui=ar is right to left in
// Arabic, says what the Arabic catalogue says, and mirrors its English
// layout (the work area moves from the left to the right, the brand from
// the left end of the top bar to the right); the caption field follows the
// caption language, not the interface.
func TestBrowserConsolesArabic(t *testing.T) {
	r := startPageRelay(t, plenaryYAML)
	ar := catalogue(t, "ar")
	capTok := url.QueryEscape(r.token(auth.RoleCaptioner, "plenary", "en"))
	intTok := url.QueryEscape(r.token(auth.RoleInterpreter, "plenary", "fr"))
	pubTok := url.QueryEscape(r.token(auth.RolePublisher, "plenary", ""))
	pages := []consolePage{
		{
			name:  "caption",
			url:   func(ui string) string { return r.url("/caption/plenary?lang=en&ui=" + ui + "&token=" + capTok) },
			ready: `document.querySelector('#status').dataset.state === 'open' && document.querySelector('#title').textContent.includes('Plenary hall')`,
			start: ".work", end: ".side",
			words: []wording{
				{sel: "#status", key: "caption.state_open"},
				{sel: "#title", key: "caption.console_of", vars: []string{"room", "Plenary hall"}},
				{sel: "#lines-title", key: "caption.your_lines"},
				{sel: "#preview-title", key: "caption.preview_title"},
				{sel: "#switch", key: "caption.change"},
				{sel: "label[for=typing]", key: "caption.caption_text"},
				{sel: "#typing", attr: "placeholder", key: "caption.typing_placeholder"},
				{sel: ".brand", attr: "aria-label", key: "caption.home"},
			},
		},
		{
			name:  "interpret",
			url:   func(ui string) string { return r.url("/interpret/plenary?lang=fr&ui=" + ui + "&token=" + intTok) },
			ready: `!document.querySelector('#take').disabled && document.querySelector('#floor').dataset.state === 'waiting'`,
			start: ".booth", end: ".side",
			words: []wording{
				{sel: "#status", key: "interpret.st_off"},
				{sel: "#air-text", key: "interpret.off_air_big"},
				{sel: "#air-detail", key: "interpret.air_off"},
				{sel: "#take", key: "interpret.go_on_air"},
				{sel: "#floor-title", key: "interpret.floor_title"},
				{sel: "#floor-state", key: "interpret.floor_waiting"},
				{sel: "#channel-title", key: "interpret.channel_title"},
				{sel: "#meter", attr: "aria-label", key: "interpret.mic_level"},
				{sel: "#floor-volume", attr: "aria-label", key: "interpret.floor_volume"},
			},
		},
		{
			name:  "publish",
			url:   func(ui string) string { return r.url("/publish/plenary?ui=" + ui + "&token=" + pubTok) },
			ready: `document.querySelector('#room-name').textContent === 'plenary'`,
			start: ".preview-wrap", end: ".panel",
			words: []wording{
				{sel: "#status", key: "publish.st_idle"},
				{sel: ".title", key: "publish.title", vars: []string{"room", "plenary"}},
				{sel: "#devices-on", key: "publish.devices_on"},
				{sel: "#start", key: "publish.go_live"},
				{sel: "#meter", attr: "aria-label", key: "publish.mic_level"},
				{sel: ".stats dt", key: "publish.bitrate"},
			},
		},
	}

	b := newBrowser(t, true)
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			// English first: where the two sides and the brand are.
			navigate(t, ctx, p.url("en"))
			waitJS(t, ctx, 15*time.Second, p.name+" in English", p.ready+` && !!document.querySelector('#ui-lang')`)
			enStart, w := side(t, ctx, p.start)
			enEnd, _ := side(t, ctx, p.end)
			enBrand, _ := side(t, ctx, ".brand")
			if !(enStart < enEnd && enBrand < w/2) {
				t.Errorf("English layout: start %.0f, end %.0f, brand %.0f of %.0f px", enStart, enEnd, enBrand, w)
			}

			navigate(t, ctx, p.url("ar"))
			waitJS(t, ctx, 15*time.Second, p.name+" in Arabic", p.ready+` && !!document.querySelector('#ui-lang')`)
			if got := eval[[]string](t, ctx, `[document.documentElement.dir, document.documentElement.lang, document.querySelector('#ui-lang')?.value || '']`); got[0] != "rtl" || got[1] != "ar" || got[2] != "ar" {
				t.Errorf("document dir, lang and switcher: %v, want rtl ar ar", got)
			}
			checkWords(t, ctx, ar, p.words)
			arStart, _ := side(t, ctx, p.start)
			arEnd, _ := side(t, ctx, p.end)
			arBrand, _ := side(t, ctx, ".brand")
			if !(arStart > arEnd && arBrand > w/2) {
				t.Errorf("Arabic layout not mirrored: start %.0f, end %.0f, brand %.0f of %.0f px", arStart, arEnd, arBrand, w)
			}
			// Mirrored means the same places seen in a mirror, within a few pixels.
			for _, m := range [][2]float64{{enStart, arStart}, {enEnd, arEnd}} {
				if d := m[0] - (w - m[1]); d > 4 || d < -4 {
					t.Errorf("English at %.0f px, Arabic at %.0f px: not the mirror image (%.0f px off)", m[0], m[1], d)
				}
			}
			if over := eval[[]string](t, ctx, overflowJS); len(over) > 0 {
				t.Errorf("elements wider than their box in Arabic: %v", over)
			}
			if p.name == "publish" {
				do(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("#devices-on")))
				waitJS(t, ctx, 10*time.Second, "camera preview", `document.querySelector('#preview').videoWidth > 0 && !document.querySelector('#start').disabled`)
			}
			screenshot(t, ctx, p.name+"-ar")

			// A phone, or 200 % zoom on a small laptop: nothing wider than the screen.
			setViewport(t, ctx, 360, 740, false)
			defer setViewport(t, ctx, 1280, 800, false)
			if wide := eval[[]float64](t, ctx, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`); wide[0] > wide[1] {
				t.Errorf("at 360 px the page is %.0f px wide", wide[0])
			}
			if over := eval[[]string](t, ctx, overflowJS); len(over) > 0 {
				t.Errorf("elements wider than their box at 360 px: %v", over)
			}
			screenshot(t, ctx, p.name+"-ar-360")
		})
	}

	// The caption field is written in the caption language: Arabic right
	// to left on an English page, English left to right on an Arabic one.
	t.Run("caption language direction", func(t *testing.T) {
		arTok := url.QueryEscape(r.token(auth.RoleCaptioner, "plenary", "ar"))
		navigate(t, ctx, r.url("/caption/plenary?lang=ar&ui=en&token="+arTok))
		waitJS(t, ctx, 15*time.Second, "Arabic captions, English interface", `document.querySelector('#status').dataset.state === 'open'`)
		got := eval[[]string](t, ctx, `[document.documentElement.dir, document.documentElement.lang, document.querySelector('#typing').dir, document.querySelector('#typing').lang]`)
		if want := []string{"ltr", "en", "rtl", "ar"}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("page dir, lang, caption field dir, lang: %v, want %v", got, want)
		}
		do(t, ctx, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#typing"), "السلام عليكم\r"))
		waitJS(t, ctx, 8*time.Second, "Arabic line acknowledged", `document.querySelector('#lines li[data-state="acked"] p')?.dir === 'rtl'`)
		screenshot(t, ctx, "caption-ar-captions-en-ui")

		navigate(t, ctx, r.url("/caption/plenary?lang=en&ui=ar&token="+capTok))
		waitJS(t, ctx, 15*time.Second, "English captions, Arabic interface", `document.querySelector('#status').dataset.state === 'open'`)
		got = eval[[]string](t, ctx, `[document.documentElement.dir, document.querySelector('#typing').dir, document.querySelector('#typing').lang]`)
		if want := []string{"rtl", "ltr", "en"}; strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("page dir, caption field dir, lang: %v, want %v", got, want)
		}
	})
	b.checkConsole()
}

// overflowJS lists the visible controls and headings whose text does not
// fit their box (clipped words).
const overflowJS = `[...document.querySelectorAll('button, a.btn, label, h1, h2, .status, .air-text, dt, .hint')]
  .filter((e) => e.offsetParent && !e.closest('[hidden], .title, .visually-hidden') && e.scrollWidth > e.clientWidth + 1 && e.clientWidth > 0)
  .map((e) => (e.id || e.className || e.tagName) + ' ' + e.scrollWidth + '>' + e.clientWidth)`

// TestBrowserConsoleSwitchLive: a connected caption console switches its
// interface to Spanish with the switcher: its words change, the socket
// does not (the relay still lists the same captioner session, the page
// opened one socket only) and the next line is acknowledged.
func TestBrowserConsoleSwitchLive(t *testing.T) {
	r := startPageRelay(t, plenaryYAML)
	es := catalogue(t, "es")
	b := newBrowser(t, false)
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	// Count the caption sockets the page opens.
	do(t, ctx, 5*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: `window.__sockets = 0;
			{ const W = window.WebSocket; window.WebSocket = class extends W {
				constructor(u, p) { super(u, p); if (String(u).includes('/publish')) window.__sockets++; } }; }`})
		return err
	}))
	tok := url.QueryEscape(r.token(auth.RoleCaptioner, "plenary", "en"))
	navigate(t, ctx, r.url("/caption/plenary?lang=en&ui=en&name=Ana&token="+tok))
	waitJS(t, ctx, 10*time.Second, "console connected", `document.querySelector('#status').dataset.state === 'open'`)
	do(t, ctx, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#typing"), "Before the switch.\r"))
	waitJS(t, ctx, 8*time.Second, "first line acknowledged", `document.querySelector('#lines li[data-state="acked"]')?.textContent.includes('Before the switch')`)
	before := captionerSessions(t, r, "plenary", "en")
	if len(before) != 1 {
		t.Fatalf("captioners before the switch: %v", before)
	}

	selectValue(t, ctx, "#ui-lang", "es")
	waitJS(t, ctx, 5*time.Second, "Spanish interface", `document.documentElement.lang === 'es'`)
	checkWords(t, ctx, es, []wording{
		{sel: "#status", key: "caption.state_open"},
		{sel: "#lines-title", key: "caption.your_lines"},
		{sel: "#switch", key: "caption.change"},
		{sel: "#lines li .actions button", key: "caption.correct"},
		{sel: "#typing", attr: "placeholder", key: "caption.typing_placeholder"},
	})
	if u := eval[string](t, ctx, `location.search`); !strings.Contains(u, "ui=es") {
		t.Errorf("the address keeps ui=en after the switch: %s", u)
	}

	do(t, ctx, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#typing"), "After the switch.\r"))
	waitJS(t, ctx, 8*time.Second, "second line acknowledged", `(() => { const li = [...document.querySelectorAll('#lines li')];
		return li.length === 2 && li.every((l) => l.dataset.state === 'acked'); })()`)
	if n := eval[int](t, ctx, `window.__sockets`); n != 1 {
		t.Errorf("the page opened %d captioner sockets, want 1", n)
	}
	if after := captionerSessions(t, r, "plenary", "en"); strings.Join(after, " ") != strings.Join(before, " ") {
		t.Errorf("captioner sessions %v after the switch, %v before", after, before)
	}
	screenshot(t, ctx, "caption-es-switched")
	b.checkConsole()
}

// captionerSessions lists the captioner sessions the relay has on room/lang.
func captionerSessions(t *testing.T, r *pageRelay, room, lang string) []string {
	t.Helper()
	var out []string
	langs, _ := apiRoom(t, r, room)["captions"].([]any)
	for _, l := range langs {
		m, _ := l.(map[string]any)
		if m["lang"] != lang {
			continue
		}
		cs, _ := m["captioners"].([]any)
		for _, c := range cs {
			if c, ok := c.(map[string]any); ok {
				out = append(out, fmt.Sprint(c["session"]))
			}
		}
	}
	return out
}
