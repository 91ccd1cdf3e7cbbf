package main

// End-to-end tests of the pages in a real headless Chromium against the real
// wired relay (serve) on 127.0.0.1. Chromium is required: these tests fail,
// never skip, when it is missing (CI installs it; see scripts/test).
//
// Screenshots go to testdata/screenshots/ (or $RELAY_SCREENSHOTS). With
// RELAY_UPDATE_DOCS=1 the watch page with captions is also written to
// docs/screenshots/watch.png, the picture the README shows.
//
// The harness (the relay, a captioner, Chromium) is in browser_harness_test.go,
// the page helpers in browser_page_test.go.

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// TestBrowserWatchDemo plays the demo room: frames are decoded, the page says
// "Live", captions show over the video and in the transcript; the lobby lists
// the room; the page fits a phone.
func TestBrowserWatchDemo(t *testing.T) {
	r := startPageRelay(t, "")
	b := newBrowser(t, false)
	ctx := b.ctx

	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, r.url("/watch/demo?lang=en,fr"))
	v := waitFrames(t, ctx, 20, 15*time.Second)
	t.Logf("demo video: %d px wide, %d frames", v.Width, v.Frames)
	waitJS(t, ctx, 5*time.Second, "status Live", `document.querySelector('#status').dataset.state === 'live'`)

	// The demo's own captions, or a line of ours when the demo has none.
	if !demoCaptions(t, r) {
		capt := dialCaptioner(t, r, "demo", "en")
		capt.final("w1", "Good morning, and welcome to the plenary session on climate finance.")
		capt.partial("Delegates from twenty countries are joining us")
	}
	waitJS(t, ctx, 8*time.Second, "caption in the overlay", `document.querySelector('#cap-primary').textContent.length > 10`)
	waitJS(t, ctx, 8*time.Second, "caption in the transcript", `document.querySelectorAll('#transcript-lines li').length > 0`)
	waitJS(t, ctx, 5*time.Second, "connection indicator", `/kb\/s|Mb\/s/.test(document.querySelector('#net-text').textContent)`)
	waitFrames(t, ctx, 5, 5*time.Second)
	path := screenshot(t, ctx, "watch")
	if os.Getenv("RELAY_UPDATE_DOCS") != "" {
		png, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join("..", "..", "docs", "screenshots", "watch.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// Every control has a name a screen reader can say.
	if unnamed := eval[string](t, ctx, `[...document.querySelectorAll('button, select, input, a[href]')]
		.filter(e => e.offsetParent !== null && !(e.getAttribute('aria-label') || e.textContent.trim() || e.labels?.length))
		.map(e => e.id || e.outerHTML.slice(0, 60)).join(', ')`); unnamed != "" {
		t.Errorf("controls without a label: %s", unnamed)
	}

	setViewport(t, ctx, 390, 844, true)
	waitFrames(t, ctx, 5, 5*time.Second)
	screenshot(t, ctx, "watch-phone")

	// Audio only: the session restarts without video; captions go on.
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#audio-only")))
	waitJS(t, ctx, 10*time.Second, "audio-only session", `(() => { const s = document.querySelector('video').srcObject;
		return s && s.getVideoTracks().length === 0 && s.getAudioTracks().length === 1 && document.querySelector('#status').dataset.state === 'live'; })()`)
	if vis := eval[bool](t, ctx, `!document.querySelector('#audio-card').hidden`); !vis {
		t.Error("audio-only card not shown")
	}
	screenshot(t, ctx, "watch-phone-audio-only")
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#audio-only")))
	waitJS(t, ctx, 10*time.Second, "video back", `document.querySelector('video').srcObject?.getVideoTracks().length === 1`)
	setViewport(t, ctx, 1280, 800, false)

	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, r.url("/"))
	waitJS(t, ctx, 5*time.Second, "demo room live in the lobby",
		`document.querySelector('li[data-room="demo"]')?.dataset.state === 'live'`)
	screenshot(t, ctx, "lobby")
	b.checkConsole()

	// A browser that blocks sound without a gesture: the page plays muted
	// and offers Unmute; a click brings the sound.
	b2 := newBrowserWith(t, false, false)
	ctx2 := b2.ctx
	setViewport(t, ctx2, 1280, 800, false)
	navigate(t, ctx2, r.url("/watch/demo?lang=fr"))
	waitFrames(t, ctx2, 10, 15*time.Second)
	waitJS(t, ctx2, 5*time.Second, "muted autoplay with an Unmute button", `document.querySelector('video').muted && !document.querySelector('#unmute').hidden &&
		document.querySelector('#status').dataset.state === 'live'`)
	screenshot(t, ctx2, "watch-muted-autoplay")
	do(t, ctx2, 5*time.Second, chromedp.Click(chromedp.CSS("#unmute")))
	waitJS(t, ctx2, 5*time.Second, "sound on after the click", `!document.querySelector('video').muted && !document.querySelector('video').paused && document.querySelector('#unmute').hidden`)
	b2.checkConsole()
}

const plenaryYAML = `rooms:
  - name: plenary
    title: Plenary hall
    languages: [en, fr, ar]
`

// TestBrowserCaptions: captions in the chosen language only (overlay,
// transcript, native cues), corrections in place, an instant language switch
// that shows the other language's backlog, Arabic right to left, a second
// language, the remembered choice and the transcript download. The room is
// not live, so the page also shows "waiting for the session to start".
func TestBrowserCaptions(t *testing.T) {
	r := startPageRelay(t, plenaryYAML)
	en := dialCaptioner(t, r, "plenary", "en")
	fr := dialCaptioner(t, r, "plenary", "fr")
	ar := dialCaptioner(t, r, "plenary", "ar")
	e1 := en.final("e1", "Good morning, delegates.")
	fr.final("f1", "Bonjour, mesdames et messieurs.")
	fr.final("f2", "La séance est ouverte.")
	ar.final("a1", "صباح الخير أيها المندوبون.")

	b := newBrowser(t, false)
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, r.url("/watch/plenary?lang=en"))
	waitJS(t, ctx, 10*time.Second, "English backlog in the transcript",
		`document.querySelector('#transcript-lines').textContent.includes('Good morning, delegates.')`)
	waitJS(t, ctx, 8*time.Second, "waiting state", `document.querySelector('#status').dataset.state === 'waiting'`)
	if got := text(t, ctx, "#status"); got != "Waiting for the session to start" {
		t.Errorf("status %q", got)
	}
	if opts := eval[string](t, ctx, `[...document.querySelectorAll('#lang option')].map(o => o.value).join(',')`); opts != "ar,en,fr" {
		t.Errorf("language choices %q, want the room's ar,en,fr", opts)
	}

	en.partial("The agenda for today")
	waitJS(t, ctx, 5*time.Second, "partial in the overlay", `document.querySelector('#cap-primary').textContent.includes('The agenda for today')`)
	en.final("e2", "The agenda for today is adopted.")
	fr.final("f3", "Cette ligne ne doit pas apparaître en anglais.")
	en.final("e3", "We now turn to item two.")
	waitJS(t, ctx, 5*time.Second, "live final in the overlay", `document.querySelector('#cap-primary').textContent.includes('item two')`)
	waitJS(t, ctx, 5*time.Second, "live finals in the transcript", `(() => { const s = document.querySelector('#transcript-lines').textContent;
		return s.includes('is adopted.') && s.includes('item two'); })()`)
	for _, sel := range []string{"#overlay", "#transcript-lines", "#transcript-partial"} {
		t.Run(sel, func(t *testing.T) {
			if s := text(t, ctx, sel); strings.Contains(s, "Bonjour") || strings.Contains(s, "apparaître") || strings.Contains(s, "صباح") {
				t.Errorf("%s shows another language: %q", sel, s)
			}
		})
	}
	if n := eval[int](t, ctx, `(() => { const tr = [...document.querySelector('video').textTracks].find(t => t.language === 'en');
		return tr && tr.cues ? tr.cues.length : 0; })()`); n == 0 {
		t.Error("no native VTTCue on the English text track")
	}

	en.correct(e1, "Good morning, distinguished delegates.")
	waitJS(t, ctx, 5*time.Second, "correction in place", fmt.Sprintf(`(() => { const li = document.querySelector('#transcript-lines li[data-seq="%d"]');
		return li && li.textContent.includes('distinguished') && li.querySelector('.corrected'); })()`, e1))
	if n := eval[int](t, ctx, `document.querySelectorAll('#transcript-lines li').length`); n != 3 {
		t.Errorf("%d English lines in the transcript, want 3", n)
	}

	// French: the backlog fills the transcript at once, no reload.
	selectValue(t, ctx, "#lang", "fr")
	waitJS(t, ctx, 5*time.Second, "French backlog", `(() => { const s = document.querySelector('#transcript-lines').textContent;
		return s.includes('Bonjour') && s.includes('La séance est ouverte.') && s.includes('apparaître'); })()`)
	if s := text(t, ctx, "#transcript-lines"); strings.Contains(s, "delegates") {
		t.Errorf("French transcript shows English: %q", s)
	}
	waitJS(t, ctx, 3*time.Second, "newest French line in the overlay", `document.querySelector('#cap-primary').textContent.includes('apparaître')`)

	// Arabic renders right to left.
	selectValue(t, ctx, "#lang", "ar")
	waitJS(t, ctx, 5*time.Second, "Arabic backlog", `document.querySelector('#transcript-lines').textContent.includes('صباح الخير')`)
	ar.final("a2", "ننتقل الآن إلى البند الثاني من جدول الأعمال.")
	waitJS(t, ctx, 5*time.Second, "Arabic cue in the overlay", `document.querySelector('#cap-primary').textContent.includes('البند الثاني')`)
	dirs := eval[string](t, ctx, `[getComputedStyle(document.querySelector('#cap-primary')).direction,
		getComputedStyle(document.querySelector('#transcript-lines li p')).direction,
		document.querySelector('#cap-primary').lang].join(',')`)
	if dirs != "rtl,rtl,ar" {
		t.Errorf("Arabic direction (overlay, transcript, lang) = %s, want rtl,rtl,ar", dirs)
	}

	// English as a second language under the Arabic.
	selectValue(t, ctx, "#lang2", "en")
	en.final("e4", "Item two concerns the budget.")
	waitJS(t, ctx, 5*time.Second, "second language line", `document.querySelector('#cap-secondary').textContent.includes('budget')`)
	if d := eval[string](t, ctx, `getComputedStyle(document.querySelector('#cap-secondary')).direction`); d != "ltr" {
		t.Errorf("English second line direction %s", d)
	}
	screenshot(t, ctx, "captions-ar-en")

	// Reading settings: size, contrast, position; and the browser's own
	// caption rendering through the native text track.
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#settings")),
		chromedp.Click(chromedp.CSS(`#reading input[name="size"][value="xl"]`)),
		chromedp.Click(chromedp.CSS(`#reading input[name="bg"][value="solid"]`)),
		chromedp.Click(chromedp.CSS(`#reading input[name="pos"][value="top"]`)))
	if got := eval[string](t, ctx, `(() => { const p = document.querySelector('#player').dataset; return [p.size, p.bg, p.pos].join(','); })()`); got != "xl,solid,top" {
		t.Errorf("reading settings %s", got)
	}
	screenshot(t, ctx, "captions-reading-settings")
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS(`#reading input[name="native"]`)))
	if got := eval[string](t, ctx, `[...document.querySelector('video').textTracks].find(t => t.language === 'ar').mode + ',' +
		getComputedStyle(document.querySelector('#overlay')).display`); got != "showing,none" {
		t.Errorf("native rendering: track mode, overlay display = %s", got)
	}
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS(`#reading input[name="native"]`)))

	// The transcript downloads.
	href := eval[string](t, ctx, `document.querySelector('#dl-srt').href`)
	res, err := http.Get(href)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), "البند الثاني") || !strings.Contains(string(body), "-->") {
		t.Errorf("SRT download %s: %d %q", href, res.StatusCode, body)
	}

	// The choice is remembered when the link has no ?lang=.
	navigate(t, ctx, r.url("/watch/plenary"))
	waitJS(t, ctx, 8*time.Second, "remembered Arabic", `document.querySelector('#lang').value === 'ar' && document.querySelector('#lang2').value === 'en'`)
	b.checkConsole()
}

// TestBrowserCaptionerConsole: typing in the console shows in a watch page in
// a second tab, Enter commits a line that is acknowledged, a relay restart
// in the middle loses no committed line (the unacknowledged one is resent
// with its id and stored once), and a correction reaches the viewer.
func TestBrowserCaptionerConsole(t *testing.T) {
	r := startPageRelay(t, plenaryYAML)
	b := newBrowser(t, false)
	console := b.ctx
	setViewport(t, console, 1280, 800, false)
	tok := r.token(auth.RoleCaptioner, "plenary", "en")
	navigate(t, console, r.url("/caption/plenary?lang=en&name=Alice&token="+url.QueryEscape(tok)))
	waitJS(t, console, 8*time.Second, "console connected", `document.querySelector('#status').dataset.state === 'open'`)
	if u := eval[string](t, console, `location.href`); strings.Contains(u, "token=") {
		t.Errorf("the token stays in the address bar: %s", u)
	}

	watch := b.tab("watch")
	setViewport(t, watch, 1280, 800, false)
	navigate(t, watch, r.url("/watch/plenary?lang=en"))
	waitJS(t, watch, 8*time.Second, "watch page caption socket", `document.querySelector('#lang').value === 'en'`)
	waitJS(t, console, 8*time.Second, "one viewer in the console", `document.querySelector('#viewers').textContent === '1'`)

	do(t, console, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#typing"), "Typing is visible"))
	waitJS(t, watch, 5*time.Second, "partial in the second tab", `document.querySelector('#cap-primary').textContent.includes('Typing is visible')`)
	do(t, console, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#typing"), " as it happens.\r"))
	first := "Typing is visible as it happens."
	waitJS(t, console, 5*time.Second, "first line acknowledged", `document.querySelector('#lines li[data-state="acked"]')?.textContent.includes('as it happens')`)
	waitJS(t, watch, 5*time.Second, "first line in the watch transcript", `document.querySelector('#transcript-lines').textContent.includes('`+first+`')`)
	waitJS(t, console, 5*time.Second, "preview", `document.querySelector('#preview-cap').textContent.includes('as it happens')`)

	// The relay goes away; a line typed meanwhile waits, then is sent once.
	down := time.Now()
	r.stop()
	second := "Typed while the relay restarts."
	waitJS(t, console, 10*time.Second, "console reconnecting", `document.querySelector('#status').dataset.state === 'reconnecting'`)
	do(t, console, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#typing"), second+"\r"))
	waitJS(t, console, 3*time.Second, "pending line", `document.querySelector('#lines li[data-state="pending"]')?.textContent.includes('relay restarts')`)
	screenshot(t, console, "console-reconnecting")
	r.start()
	waitJS(t, console, 20*time.Second, "resent line acknowledged", `(() => { const li = [...document.querySelectorAll('#lines li')];
		return li.length === 2 && li.every(l => l.dataset.state === 'acked'); })()`)
	waitJS(t, watch, 20*time.Second, "both lines in the watch transcript after the restart", `document.querySelector('#transcript-lines').textContent.includes('`+second+`')`)
	b.expectNetworkErrors(down, time.Now())

	lines := []struct{ name, text string }{{"first line", first}, {"second line", second}}
	for _, line := range lines {
		t.Run(line.name+" shown once", func(t *testing.T) {
			if n := eval[int](t, watch, `[...document.querySelectorAll('#transcript-lines li p')].filter(p => p.textContent === '`+line.text+`').length`); n != 1 {
				t.Errorf("%q shown %d times in the watch transcript", line.text, n)
			}
		})
	}
	res, err := http.Get(r.url("/captions/plenary/transcript.vtt?lang=en"))
	if err != nil {
		t.Fatal(err)
	}
	vtt, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, line := range lines {
		t.Run(line.name+" stored once", func(t *testing.T) {
			if n := strings.Count(string(vtt), line.text); n != 1 {
				t.Errorf("%q stored %d times: %s", line.text, n, vtt)
			}
		})
	}

	// Correct the first line from the console.
	do(t, console, 10*time.Second, chromedp.Click(chromedp.CSS("#lines li:first-child .actions button")))
	do(t, console, 10*time.Second, chromedp.SetValue(chromedp.CSS("#lines li:first-child .edit-input"), "Typing is visible as soon as it happens."),
		chromedp.SendKeys(chromedp.CSS("#lines li:first-child .edit-input"), "\r"))
	waitJS(t, watch, 5*time.Second, "correction in the watch tab", `document.querySelector('#transcript-lines').textContent.includes('as soon as it happens')`)
	waitJS(t, console, 5*time.Second, "correction acknowledged", `document.querySelector('#lines li:first-child .tag-corrected')`)
	do(t, console, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#typing"), "Next speaker, please"))
	waitJS(t, console, 5*time.Second, "preview shows the typing", `document.querySelector('#preview-cap').textContent.includes('Next speaker')`)
	screenshot(t, console, "console")
	screenshot(t, watch, "watch-from-console")

	// A reload keeps the token (session storage) and the lines.
	navigate(t, console, r.url("/caption/plenary?lang=en&name=Alice"))
	waitJS(t, console, 8*time.Second, "reconnected after reload", `document.querySelector('#status').dataset.state === 'open'`)
	if n := eval[int](t, console, `document.querySelectorAll('#lines li[data-state="acked"]').length`); n != 2 {
		t.Errorf("%d lines after a reload, want 2", n)
	}

	// Without a token in the link a form asks; a wrong one is explained.
	navigate(t, watch, r.url("/caption/plenary"))
	waitJS(t, watch, 5*time.Second, "setup form", `!document.querySelector('#setup').hidden`)
	refused := time.Now()
	do(t, watch, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#f-lang"), "fr"),
		chromedp.SendKeys(chromedp.CSS("#f-token"), r.token(auth.RoleCaptioner, "plenary", "en")),
		chromedp.Click(chromedp.CSS(`#setup button[type="submit"]`)))
	waitJS(t, watch, 8*time.Second, "refusal explained", `!document.querySelector('#setup-error').hidden`)
	b.expectNetworkErrors(refused, time.Now()) // the refused socket and its probe (401/403)
	screenshot(t, watch, "console-setup-refused")
	b.checkConsole()
}

// TestBrowserPublish: the publisher page sends Chromium's fake camera and
// microphone over WHIP, a second tab watches it with frames decoded; Stop
// takes the room off air and the viewer says so.
func TestBrowserPublish(t *testing.T) {
	r := startPageRelay(t, "")
	b := newBrowser(t, true)
	pub := b.ctx
	setViewport(t, pub, 1280, 800, false)
	// The delegate arrives before the speaker: the page waits, then plays.
	watch := b.tab("watch")
	setViewport(t, watch, 1280, 800, false)
	navigate(t, watch, r.url("/watch/speaker"))
	waitJS(t, watch, 8*time.Second, "waiting for the speaker", `document.querySelector('#status').dataset.state === 'waiting'`)

	tok := r.token(auth.RolePublisher, "speaker", "")
	navigate(t, pub, r.url("/publish/speaker?token="+url.QueryEscape(tok)))
	do(t, pub, 10*time.Second, chromedp.Click(chromedp.CSS("#devices-on")))
	waitJS(t, pub, 10*time.Second, "camera preview", `document.querySelector('#preview').videoWidth > 0`)
	waitJS(t, pub, 5*time.Second, "devices listed", `document.querySelector('#camera').options.length > 0 && !document.querySelector('#start').disabled`)
	do(t, pub, 10*time.Second, chromedp.Click(chromedp.CSS("#start")))
	waitJS(t, pub, 15*time.Second, "publishing live", `document.querySelector('#status').dataset.state === 'live'`)
	waitJS(t, pub, 10*time.Second, "outgoing bitrate", `/[1-9].*(kb|Mb)\/s/.test(document.querySelector('#s-rate').textContent)`)

	v := waitFrames(t, watch, 20, 20*time.Second)
	t.Logf("browser to browser: %d px wide, %d frames", v.Width, v.Frames)
	waitJS(t, watch, 5*time.Second, "watch status live", `document.querySelector('#status').dataset.state === 'live'`)
	if rm := apiRoom(t, r, "speaker"); rm == nil || rm["state"] != "live" {
		t.Errorf("room speaker in /api/rooms: %v", rm)
	} else {
		t.Logf("the browser publishes %v", rm["tracks"])
	}
	// The page sends H.264 (preferH264), so a remote speaker is in the
	// webcast and the recording too: HLS has a video variant.
	deadline := time.Now().Add(15 * time.Second)
	for {
		code, body := testkit.HTTPGet(t, r.url("/hls/speaker/index.m3u8"))
		if code == http.StatusOK && strings.Contains(body, `CODECS="avc1.`) && strings.Contains(body, "RESOLUTION=") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no H.264 video in the speaker's HLS: %d\n%s", code, body)
		}
		time.Sleep(250 * time.Millisecond)
	}
	screenshot(t, pub, "publish")
	screenshot(t, watch, "watch-browser-publisher")

	do(t, pub, 10*time.Second, chromedp.Click(chromedp.CSS("#stop")))
	waitJS(t, pub, 5*time.Second, "stopped", `document.querySelector('#status').textContent === 'Stopped'`)
	waitJS(t, watch, 15*time.Second, "viewer sees the feed stop", `['paused', 'waiting'].includes(document.querySelector('#status').dataset.state)`)
	b.checkConsole()
}

// TestBrowserWatchRecovers: the watch page keeps playing when another
// publisher takes the room over, and comes back by itself (video and
// captions) after the relay restarts.
func TestBrowserWatchRecovers(t *testing.T) {
	r := startPageRelay(t, "")
	b := newBrowser(t, false)
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, r.url("/watch/demo?lang=en"))
	waitFrames(t, ctx, 20, 15*time.Second)
	waitJS(t, ctx, 5*time.Second, "live", `document.querySelector('#status').dataset.state === 'live'`)

	// Publisher replacement: an encoder takes over from the demo clip.
	c, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	pctx, cancelPub := context.WithCancel(context.Background())
	defer cancelPub()
	p, err := peer.Publish(pctx, peer.PublishConfig{URL: r.url("/whip/demo"), Token: r.token(auth.RolePublisher, "demo", ""), Clip: c, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		rm := apiRoom(t, r, "demo")
		pi, _ := rm["publisher"].(map[string]any)
		if pi != nil && pi["tag"] != "clip" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new publisher did not take the room: %v", rm)
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitFrames(t, ctx, 30, 10*time.Second)
	if st := eval[string](t, ctx, `document.querySelector('#status').dataset.state`); st != "live" {
		t.Errorf("after the publisher was replaced the page says %q", st)
	}
	p.Close(false)
	cancelPub()

	// Relay restart: the page notices, says so, and recovers alone.
	down := time.Now()
	r.stop()
	waitJS(t, ctx, 15*time.Second, "reconnecting state", `document.querySelector('#status').dataset.state === 'reconnecting'`)
	screenshot(t, ctx, "watch-reconnecting")
	r.start()
	waitFrames(t, ctx, 20, 30*time.Second)
	waitJS(t, ctx, 5*time.Second, "live again", `document.querySelector('#status').dataset.state === 'live'`)
	capt := dialCaptioner(t, r, "demo", "en")
	capt.final("after-restart", "Captions are back after the restart.")
	waitJS(t, ctx, 15*time.Second, "captions after the restart", `document.querySelector('#transcript-lines').textContent.includes('back after the restart')`)
	b.expectNetworkErrors(down, time.Now())
	screenshot(t, ctx, "watch-recovered")
	b.checkConsole()
}
