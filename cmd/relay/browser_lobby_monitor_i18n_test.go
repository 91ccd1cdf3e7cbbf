package main

// The lobby and the AV monitor in the six UN languages: Arabic right to
// left and mirrored, plural forms chosen by Intl.PluralRules from the
// catalogue, figures through Intl, and a language switch on the monitor
// that leaves its event stream alone.

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/peer"
)

// lmTextIs waits until the element sel finds has exactly want as its text.
func lmTextIs(t *testing.T, ctx context.Context, what, sel, want string) {
	t.Helper()
	waitJS(t, ctx, 5*time.Second, fmt.Sprintf("%s = %q", what, want),
		fmt.Sprintf(`document.querySelector(%q)?.textContent === %q`, sel, want))
}

// lmPluralJS is true when the element sel finds reads the catalogue's plural
// entry (JSON) in the form Intl.PluralRules(lang) picks for the number in
// its data-n, that number formatted by Intl.NumberFormat(lang).
func lmPluralJS(sel, lang string, entry any) string {
	e, _ := json.Marshal(entry)
	return fmt.Sprintf(`(() => { const v = document.querySelector(%q); if (!v) return false;
		const n = Number(v.dataset.n), forms = %s;
		const want = (forms[new Intl.PluralRules(%q).select(n)] ?? forms.other).replace('{n}', new Intl.NumberFormat(%q).format(n));
		return v.textContent === want; })()`, sel, e, lang, lang)
}

type lmRects struct {
	Width   float64 `json:"width"`
	BrandL  float64 `json:"brandL"`
	BrandR  float64 `json:"brandR"`
	PillL   float64 `json:"pillL"`
	ViewL   float64 `json:"viewL"`
	CardL   float64 `json:"cardL"`
	CardR   float64 `json:"cardR"`
	ButtonL float64 `json:"buttonL"`
	ButtonR float64 `json:"buttonR"`
}

const lmRectsJS = `(() => { const r = (s) => document.querySelector(s).getBoundingClientRect(), c = 'li[data-room="demo"] ';
	return { width: innerWidth, brandL: r('.brand').left, brandR: r('.brand').right, pillL: r(c + '.pill').left, viewL: r(c + '.viewers').left,
		cardL: r(c).left, cardR: r(c).right, buttonL: r(c + '.watch-btn').left, buttonR: r(c + '.watch-btn').right }; })()`

// lmFitsJS is true when the page needs no sideways scrolling.
const lmFitsJS = `document.documentElement.scrollWidth <= innerWidth || console.log('wider than the screen:',
	[...document.querySelectorAll('body *')].filter((e) => { const r = e.getBoundingClientRect(); return r.right > innerWidth + 1 || r.left < -1; }).slice(0, 5).map((e) => e.outerHTML.slice(0, 80)).join(' | '))`

// lmCountStreams makes every page of the tab count the event streams it
// opens (window.__streams) and start with the admin token, as a tab where
// the AV team entered it.
func lmCountStreams(t *testing.T, ctx context.Context, token string) {
	t.Helper()
	js := fmt.Sprintf(`window.__streams = 0;
		{ const f = window.fetch; window.fetch = function (u, ...a) { if (String(u).includes('/api/rooms/events')) window.__streams++; return f.call(this, u, ...a); }; }
		try { sessionStorage.setItem('relay.adminToken', %q); } catch {}`, token)
	do(t, ctx, 5*time.Second, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: js})
		return err
	}))
}

// TestBrowserLobbyMonitorI18n: the lobby in Arabic is right to left,
// labelled from the Arabic catalogue, mirrored against English, and counts
// viewers in the Arabic plural form for their number (Russian too); the
// monitor in Arabic and Chinese translates its headings and formats its
// figures through Intl; switching its interface language re-labels it
// without reopening the event stream.
func TestBrowserLobbyMonitorI18n(t *testing.T) {
	r := startPageRelay(t, "")
	ar, ru, zh := catalogue(t, "ar"), catalogue(t, "ru"), catalogue(t, "zh-Hans")
	// Three viewers of the demo room: a count with its own plural form in
	// Arabic ("few") and in Russian.
	for i := 0; i < 3; i++ {
		lmView(t, r)
	}
	b := newBrowser(t, false)
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	demoLive := `document.querySelector('li[data-room="demo"]')?.dataset.state === 'live' && document.querySelector('li[data-room="demo"] .viewers')?.dataset.n === '3'`

	navigate(t, ctx, r.url("/?ui=en"))
	waitJS(t, ctx, 15*time.Second, "the demo room live with 3 viewers in the English lobby", demoLive)
	en := eval[lmRects](t, ctx, lmRectsJS)

	navigate(t, ctx, r.url("/?ui=ar"))
	waitJS(t, ctx, 15*time.Second, "the demo room live with 3 viewers in the Arabic lobby", demoLive)
	waitJS(t, ctx, 5*time.Second, "dir=rtl, lang=ar", `document.documentElement.dir === 'rtl' && document.documentElement.lang === 'ar'`)
	lmTextIs(t, ctx, "the heading", "h1.title", catString(t, ar, "lobby.title"))
	lmTextIs(t, ctx, "the introduction", ".intro", catString(t, ar, "lobby.intro"))
	lmTextIs(t, ctx, "the live pill", `li[data-room="demo"] .pill`, catString(t, ar, "lobby.state_live"))
	lmTextIs(t, ctx, "the watch button", `li[data-room="demo"] .watch-btn`, catString(t, ar, "lobby.watch_now"))
	waitJS(t, ctx, 5*time.Second, "the viewer count in its Arabic plural form", lmPluralJS(`li[data-room="demo"] .viewers`, "ar", ar["lobby.viewers"]))
	waitJS(t, ctx, 5*time.Second, "the staff paths kept left to right in the Arabic sentence",
		`[...document.querySelectorAll('.foot code')].every((c) => getComputedStyle(c).direction === 'ltr' && c.textContent.startsWith('/'))`)
	waitJS(t, ctx, 5*time.Second, "the switcher in Arabic", `document.querySelector('#ui-lang')?.value === 'ar'`)
	rtl := eval[lmRects](t, ctx, lmRectsJS)
	if !(en.BrandL < 60 && rtl.BrandR > rtl.Width-60) {
		t.Errorf("the brand is not mirrored: English from %.0f, Arabic to %.0f of %.0f px", en.BrandL, rtl.BrandR, rtl.Width)
	}
	if !(en.PillL < en.ViewL && rtl.PillL > rtl.ViewL) {
		t.Errorf("the card head is not mirrored: pill at %.0f / %.0f, viewers at %.0f / %.0f (English / Arabic)", en.PillL, rtl.PillL, en.ViewL, rtl.ViewL)
	}
	if !(en.ButtonL-en.CardL < 40 && rtl.CardR-rtl.ButtonR < 40 && rtl.ButtonL-rtl.CardL > 80) {
		t.Errorf("the watch button is not on the start edge: English %+v, Arabic %+v", en, rtl)
	}
	screenshot(t, ctx, "lobby-ar")
	setViewport(t, ctx, 360, 740, false)
	waitJS(t, ctx, 5*time.Second, "the Arabic lobby fits 360 px without scrolling sideways", lmFitsJS)
	screenshot(t, ctx, "lobby-ar-360")
	setViewport(t, ctx, 1280, 800, false)

	navigate(t, ctx, r.url("/?ui=ru"))
	waitJS(t, ctx, 15*time.Second, "the demo room in the Russian lobby", demoLive)
	waitJS(t, ctx, 5*time.Second, "dir=ltr, lang=ru", `document.documentElement.dir === 'ltr' && document.documentElement.lang === 'ru'`)
	lmTextIs(t, ctx, "the heading", "h1.title", catString(t, ru, "lobby.title"))
	waitJS(t, ctx, 5*time.Second, "the viewer count in its Russian plural form", lmPluralJS(`li[data-room="demo"] .viewers`, "ru", ru["lobby.viewers"]))
	screenshot(t, ctx, "lobby-ru")

	// The monitor, with the admin token as the AV team has it.
	mon := b.tab("monitor")
	lmCountStreams(t, mon, r.token(auth.RoleAdmin, "*", ""))
	setViewport(t, mon, 1280, 900, false)
	room := `document.querySelector('[data-room="demo"]')`
	navigate(t, mon, r.url("/monitor?ui=ar"))
	waitJS(t, mon, 15*time.Second, "the demo room live on the Arabic monitor", room+`?.querySelector('.state')?.dataset.state === 'live' && document.querySelector('#status').dataset.state === 'ok'`)
	waitJS(t, mon, 5*time.Second, "dir=rtl, lang=ar", `document.documentElement.dir === 'rtl' && document.documentElement.lang === 'ar'`)
	lmTextIs(t, mon, "the heading", "h1.title", catString(t, ar, "monitor.title"))
	lmTextIs(t, mon, "the live data status", "#status", catString(t, ar, "monitor.live_data_admin"))
	lmTextIs(t, mon, "the state chip", `[data-room="demo"] .state`, catString(t, ar, "monitor.state_live"))
	lmTextIs(t, mon, "the first fact", `[data-room="demo"] .fact dt`, catString(t, ar, "monitor.fact_viewers"))
	lmTextIs(t, mon, "the viewers fact", `[data-room="demo"] [data-fact="viewers"]`, "3")
	// A figure with a unit: the unit as Intl writes it in Arabic.
	ingest := func(lang string) string {
		return fmt.Sprintf(`(() => { const v = document.querySelector('[data-room="demo"] [data-fact="ingest"]')?.textContent || '';
			const unit = (u) => new Intl.NumberFormat(%q, { style: 'unit', unit: u }).formatToParts(1).find((p) => p.type === 'unit').value;
			return v.includes(unit('kilobit-per-second')) || v.includes(unit('megabit-per-second')); })()`, lang)
	}
	waitJS(t, mon, 10*time.Second, "the ingest bitrate with Intl's Arabic unit", ingest("ar"))
	waitJS(t, mon, 5*time.Second, "the rooms are no live region (they change every second)",
		`!document.querySelector('#rooms').hasAttribute('aria-live') && !document.querySelector('#status').hasAttribute('role')`)
	brand := eval[float64](t, mon, `innerWidth - document.querySelector('.brand').getBoundingClientRect().right`)
	facts := eval[[]float64](t, mon, `[...document.querySelectorAll('[data-room="demo"] .fact')].slice(0, 2).map((f) => f.getBoundingClientRect().left)`)
	if brand > 60 || len(facts) != 2 || facts[0] <= facts[1] {
		t.Errorf("the monitor is not mirrored: brand %.0f px from the right, facts at %v", brand, facts)
	}
	screenshot(t, mon, "monitor-ar")
	setViewport(t, mon, 360, 740, false)
	waitJS(t, mon, 5*time.Second, "the Arabic monitor fits 360 px, its tables scrolling in their own regions", lmFitsJS+
		` && [...document.querySelectorAll('[data-room="demo"] .table-scroll')].every((r) => r.getAttribute('role') === 'region' && r.tabIndex === 0 && r.getAttribute('aria-label'))`)
	screenshot(t, mon, "monitor-ar-360")
	setViewport(t, mon, 1280, 900, false)

	// Chinese, by the switcher: labels change, the stream stays as it is.
	streams := eval[int](t, mon, `window.__streams`)
	if streams != 1 {
		t.Errorf("%d event streams opened before the switch, want 1", streams)
	}
	waitJS(t, mon, 5*time.Second, "a switch to Chinese", `(() => { const s = document.querySelector('#ui-lang'); s.value = 'zh-Hans'; s.dispatchEvent(new Event('change')); return true; })()`)
	waitJS(t, mon, 5*time.Second, "dir=ltr, lang=zh-Hans", `document.documentElement.dir === 'ltr' && document.documentElement.lang === 'zh-Hans'`)
	lmTextIs(t, mon, "the heading", "h1.title", catString(t, zh, "monitor.title"))
	lmTextIs(t, mon, "the live data status", "#status", catString(t, zh, "monitor.live_data_admin"))
	lmTextIs(t, mon, "the state chip", `[data-room="demo"] .state`, catString(t, zh, "monitor.state_live"))
	lmTextIs(t, mon, "the first fact", `[data-room="demo"] .fact dt`, catString(t, zh, "monitor.fact_viewers"))
	waitJS(t, mon, 5*time.Second, "the admin state in Chinese", `document.querySelector('#admin-state').textContent === `+lmJSString(catString(t, zh, "monitor.token_set")))
	waitJS(t, mon, 10*time.Second, "the ingest bitrate with Intl's Chinese unit", ingest("zh-Hans"))
	time.Sleep(2 * time.Second) // snapshots go on arriving on the same stream
	if got := eval[int](t, mon, `window.__streams`); got != streams {
		t.Errorf("the language switch opened the event stream again: %d streams, want %d", got, streams)
	}
	waitJS(t, mon, 5*time.Second, "live data still flowing", `document.querySelector('#status').dataset.state === 'ok'`)
	screenshot(t, mon, "monitor-zh-switched")

	// Chinese from the address, as a page opened in it.
	navigate(t, mon, r.url("/monitor?ui=zh-Hans"))
	waitJS(t, mon, 15*time.Second, "the demo room live on the Chinese monitor", room+`?.querySelector('.state')?.dataset.state === 'live'`)
	lmTextIs(t, mon, "the heading", "h1.title", catString(t, zh, "monitor.title"))
	lmTextIs(t, mon, "the totals' viewers", "#total-viewers + span", lmPluralForm(t, zh, "monitor.total_viewers", "other"))
	waitJS(t, mon, 10*time.Second, "the ingest bitrate with Intl's Chinese unit", ingest("zh-Hans"))
	screenshot(t, mon, "monitor-zh")
	b.checkConsole()
}

// lmView watches the demo room with a cheap viewer, once the demo
// publisher is live.
func lmView(t *testing.T, r *pageRelay) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		v, err := peer.View(t.Context(), peer.ViewConfig{URL: r.url("/whep/demo"), Options: peer.Options{Loopback: true}, HeaderOnly: true})
		if err == nil {
			t.Cleanup(func() { v.Close(false) })
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("viewer of the demo room: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// lmPluralForm is one form of a catalogue's plural entry.
func lmPluralForm(t *testing.T, cat map[string]any, key, form string) string {
	t.Helper()
	forms, ok := cat[key].(map[string]any)
	if !ok {
		t.Fatalf("catalogue has no plural %q", key)
	}
	s, _ := forms[form].(string)
	return s
}

func lmJSString(s string) string {
	b, _ := json.Marshal(s)
	return strings.ReplaceAll(string(b), "\u2028", `\u2028`)
}
