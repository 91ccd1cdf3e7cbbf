package main

// The watch page over HLS in Chromium against the real relay (relay/hls):
// the demo room played through hls.js in French, then Arabic; the switch
// between WebRTC and HLS; the page falling back to HLS by itself when
// WebRTC cannot connect; a recording played with seeking, subtitles and
// downloads, and listed in the lobby. What plays is read from the video
// element, its text tracks and the page's read-only window.relayWatch.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relay-av/relay/internal/auth"
)

// hlsJS reads window.relayWatch.media (see watch.js).
const hlsJS = `(window.relayWatch ? window.relayWatch.media : {})`

type hlsState struct {
	Mode           string  `json:"mode"`
	FellBack       bool    `json:"fellBack"`
	Engine         string  `json:"engine"`
	State          string  `json:"state"`
	AudioTrackLang *string `json:"audioTrackLang"`
	SubtitleLang   *string `json:"subtitleLang"`
	PlayingDate    float64 `json:"playingDate"`
	Latency        float64 `json:"latency"`
}

// frenchCueJS finds a cue of the demo's French lines in the HLS
// subtitle track (a <track> hls.js adds to the video, not the page's own
// caption tracks).
const frenchCueJS = `(() => { const fr = /Bienvenue|sous-titres|Chaque langue|lignes terminées|télécharger|Merci/;
	for (const el of document.querySelectorAll('#video track')) {
		const tr = el.track; if (tr.language !== 'fr' || tr.mode === 'disabled') continue;
		for (const c of tr.cues || []) if (fr.test(c.text)) return c.text;
	}
	return ''; })()`

// TestBrowserHLS: /watch/demo?mode=hls&lang=fr plays the demo room over
// LL-HLS through hls.js (frames decode, the time advances, no
// RTCPeerConnection), hears the French channel, has French cues in the HLS
// subtitle track (hidden: the page's own overlay draws the caption socket's
// lines); choosing Arabic with the keyboard switches the audio and
// subtitle tracks; the playback settings switch to WebRTC and back without
// a reload. The latency is logged, never judged.
func TestBrowserHLS(t *testing.T) {
	r := startPageRelay(t, "")
	b := newBrowser(t, false)
	ctx := b.ctx
	chWatchPeers(t, ctx)
	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, r.url("/watch/demo?mode=hls&ui=en&lang=fr"))
	waitJS(t, ctx, 25*time.Second, "playing over HLS", hlsJS+`.mode === 'hls' && `+hlsJS+`.state === 'live'`)
	v := waitFrames(t, ctx, 30, 20*time.Second)
	t.Logf("HLS video: %d px wide, %d frames, at %.1f s", v.Width, v.Frames, v.Time)
	time.Sleep(1500 * time.Millisecond)
	if v2 := eval[videoInfo](t, ctx, videoJS); v2.Time <= v.Time {
		t.Errorf("currentTime %.2f, then %.2f 1.5 s later: not playing", v.Time, v2.Time)
	}
	st := eval[hlsState](t, ctx, hlsJS)
	if st.Engine != "hls.js" {
		t.Errorf("engine %q, want hls.js (Chromium has MSE)", st.Engine)
	}
	if n := eval[int](t, ctx, `window.__pcs.length`); n != 0 {
		t.Errorf("%d RTCPeerConnections on a page playing HLS", n)
	}
	cat := catalogue(t, "en")
	if got, want := text(t, ctx, "#status"), catString(t, cat, "watch.state_live_hls"); got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	waitJS(t, ctx, 10*time.Second, "the French audio track", hlsJS+`.audioTrackLang === 'fr'`)
	waitJS(t, ctx, 15*time.Second, "a French cue in the HLS subtitle track", frenchCueJS)
	t.Logf("French cue: %q", eval[string](t, ctx, frenchCueJS))
	if mode := eval[string](t, ctx, `[...document.querySelectorAll('#video track')].find(e => e.track.language === 'fr')?.track.mode || ''`); mode != "hidden" {
		t.Errorf("the HLS French subtitle track is %q, want hidden (the page's overlay draws the captions)", mode)
	}
	waitJS(t, ctx, 10*time.Second, "the socket's caption in the overlay", `document.querySelector('#cap-primary').textContent.length > 5`)
	logHLSLatency(t, ctx)
	screenshot(t, ctx, "watch-hls")

	// Arabic, as a delegate picks it: the Language menu from the keyboard.
	do(t, ctx, 5*time.Second, chromedp.Focus(chromedp.CSS("#language")))
	for i := 0; i < 5 && eval[string](t, ctx, `document.querySelector('#language').value`) != "ar"; i++ {
		do(t, ctx, 5*time.Second, chromedp.KeyEvent(kb.ArrowUp))
	}
	if got := eval[string](t, ctx, `document.querySelector('#language').value`); got != "ar" {
		t.Fatalf("the Language menu is on %q, want ar", got)
	}
	waitJS(t, ctx, 10*time.Second, "the Arabic audio and subtitle tracks", hlsJS+`.audioTrackLang === 'ar' && `+hlsJS+`.subtitleLang === 'ar'`)
	waitFrames(t, ctx, 20, 10*time.Second)
	screenshot(t, ctx, "watch-hls-arabic")

	// The playback settings: low latency, then HLS again, on the same page.
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#mode-more")))
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS(`#mode-panel input[value="webrtc"]`)))
	waitJS(t, ctx, 20*time.Second, "playing over WebRTC", hlsJS+`.mode === 'webrtc' && document.querySelector('#status').dataset.state === 'live' &&
		document.querySelector('video').srcObject !== null && window.__pcs.length === 1`)
	waitFrames(t, ctx, 20, 15*time.Second)
	if got := text(t, ctx, "#status"); got != catString(t, cat, "watch.state_live") {
		t.Errorf("status over WebRTC %q", got)
	}
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS(`#mode-panel input[value="hls"]`)))
	waitJS(t, ctx, 25*time.Second, "playing over HLS again", hlsJS+`.mode === 'hls' && `+hlsJS+`.state === 'live' && document.querySelector('video').srcObject === null`)
	waitFrames(t, ctx, 20, 15*time.Second)
	waitJS(t, ctx, 10*time.Second, "still Arabic", hlsJS+`.audioTrackLang === 'ar'`)
	if n := eval[int](t, ctx, `window.__pcs.filter(pc => pc.connectionState !== 'closed').length`); n != 0 {
		t.Errorf("%d RTCPeerConnections still open on HLS", n)
	}
	b.checkConsole()
}

// logHLSLatency logs how far behind the wall clock the picture on screen
// is (EXT-X-PROGRAM-DATE-TIME through hls.playingDate) and what hls.js
// estimates, a few times: over loopback, the packager's and player's share.
func logHLSLatency(t *testing.T, ctx context.Context) {
	t.Helper()
	for i := 0; i < 5; i++ {
		behind := eval[[]float64](t, ctx, `(() => { const m = `+hlsJS+`; return [m.playingDate ? Date.now() - m.playingDate : -1, m.latency || 0]; })()`)
		t.Logf("HLS latency: picture on screen %.0f ms behind the wall clock (PROGRAM-DATE-TIME), hls.js estimate %.2f s", behind[0], behind[1])
		time.Sleep(time.Second)
	}
}

// TestBrowserHLSFallback: WebRTC cannot connect (?ice=relay asks for TURN
// candidates only, and this relay has no TURN server): the page falls
// back to HLS by itself, says so, and plays.
func TestBrowserHLSFallback(t *testing.T) {
	r := startPageRelay(t, "")
	b := newBrowser(t, false)
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	start := time.Now()
	navigate(t, ctx, r.url("/watch/demo?ice=relay&ui=en"))
	waitJS(t, ctx, 40*time.Second, "the fallback to HLS", hlsJS+`.mode === 'hls' && `+hlsJS+`.fellBack && `+hlsJS+`.state === 'live'`)
	// Until then the relay dropped each WebRTC session that did not connect
	// (relay.Config.ConnectTimeout) and the page's next /select read of it
	// got a 404: how the page learns it, in the console as a failed request.
	b.expectNetworkErrors(start, time.Now())
	t.Logf("playing over HLS %.1f s after the page opened", time.Since(start).Seconds())
	waitFrames(t, ctx, 30, 20*time.Second)
	cat := catalogue(t, "en")
	if got, want := text(t, ctx, "#status"), catString(t, cat, "watch.state_live_hls"); got != want {
		t.Errorf("status %q, want %q", got, want)
	}
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#mode-more")))
	waitJS(t, ctx, 3*time.Second, "the settings say it fell back", `!document.querySelector('#mode-fallback').hidden &&
		document.querySelector('#mode-panel input[value="hls"]').checked`)
	screenshot(t, ctx, "watch-hls-fallback")
	checkAxe(t, ctx, readAxe(t), "watch-hls-settings")
	// Low latency again, as the delegate asks: WebRTC tries, and cannot.
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS(`#mode-panel input[value="webrtc"]`)))
	waitJS(t, ctx, 5*time.Second, "WebRTC tried again", hlsJS+`.mode === 'webrtc' && !`+hlsJS+`.fellBack && document.querySelector('#mode-fallback').hidden`)
	again := time.Now()
	waitJS(t, ctx, 40*time.Second, "the fallback again", hlsJS+`.mode === 'hls' && `+hlsJS+`.fellBack && `+hlsJS+`.state === 'live'`)
	b.expectNetworkErrors(again, time.Now())
	if pref := eval[string](t, ctx, `localStorage.getItem('relay.mode')`); pref != `"webrtc"` {
		t.Errorf("the remembered mode is %s: a fallback must not change the delegate's choice", pref)
	}
	b.checkConsole()
}

// hlsRecording is one recording of GET /recordings/.
type hlsRecording struct {
	Room      string            `json:"room"`
	ID        string            `json:"id"`
	Duration  float64           `json:"duration"`
	Languages []string          `json:"languages"`
	Subtitles []string          `json:"subtitles"`
	Watch     string            `json:"watch"`
	Downloads map[string]string `json:"downloads"`
}

func hlsRecordingList(t *testing.T, r *pageRelay) []hlsRecording {
	t.Helper()
	res, err := http.Get(r.url("/recordings/"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Recordings []hlsRecording `json:"recordings"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("GET /recordings/: %v", err)
	}
	return body.Recordings
}

// startRecordingRelay is startPageRelay with --record: the demo room is
// recorded.
func startRecordingRelay(t *testing.T) *pageRelay {
	t.Helper()
	t.Setenv("RELAY_SECRET", testSecret)
	a, err := auth.New([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	cfg := serveConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Demo: true, Record: true, Shutdown: 2 * time.Second}
	r := &pageRelay{t: t, cfg: cfg, auth: a, logSink: &lockedWriter{t: t}}
	r.start()
	t.Cleanup(func() {
		r.stop()
		r.logSink.close()
	})
	return r
}

// TestBrowserRecording: the demo room recorded for a while plays on its
// watch page from the start, seeks to the middle, shows its French
// subtitles (from the recording's HLS, in the page's overlay), offers an
// MP4 per sound channel, and is listed in the lobby.
func TestBrowserRecording(t *testing.T) {
	r := startRecordingRelay(t)
	var rec hlsRecording
	deadline := time.Now().Add(30 * time.Second)
	for {
		if list := hlsRecordingList(t, r); len(list) > 0 && list[0].Duration >= 12 {
			rec = list[0]
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recording of 12 s after 30 s: %+v", hlsRecordingList(t, r))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("recording %s/%s: %.0f s, sound %v, subtitles %v", rec.Room, rec.ID, rec.Duration, rec.Languages, rec.Subtitles)
	if want := "/watch/" + rec.Room + "/recordings/" + rec.ID; rec.Watch != want {
		t.Errorf("watch page %q, want %q", rec.Watch, want)
	}

	b := newBrowser(t, false)
	ctx := b.ctx
	chWatchPeers(t, ctx)
	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, r.url(rec.Watch+"?ui=en&lang=fr"))
	waitJS(t, ctx, 20*time.Second, "the recording ready", hlsJS+`.mode === 'hls' && `+hlsJS+`.state === 'live' && document.querySelector('video').duration > 10`)
	first := eval[videoInfo](t, ctx, videoJS)
	if first.Time > 3 {
		t.Errorf("the recording starts at %.1f s, want the beginning", first.Time)
	}
	waitFrames(t, ctx, 20, 15*time.Second)
	duration := eval[float64](t, ctx, `document.querySelector('video').duration`)
	if !eval[bool](t, ctx, `document.querySelector('video').controls`) {
		t.Error("the recording has no seeking controls")
	}
	if n := eval[int](t, ctx, `window.__pcs.length`); n != 0 {
		t.Errorf("%d RTCPeerConnections on a recording's page", n)
	}
	if got := eval[string](t, ctx, `document.querySelector('#status').textContent`); got == "" {
		t.Error("no status on the recording's page")
	}
	waitJS(t, ctx, 10*time.Second, "the French sound", hlsJS+`.audioTrackLang === 'fr'`)

	// The middle, then a cue's time: its line in the overlay.
	mid := duration / 2
	eval[bool](t, ctx, fmt.Sprintf(`(document.querySelector('video').currentTime = %f, true)`, mid))
	waitJS(t, ctx, 10*time.Second, "playing from the middle", fmt.Sprintf(`(() => { const v = document.querySelector('video'); return v.currentTime > %f && !v.paused && !v.seeking; })()`, mid+0.5))
	waitFrames(t, ctx, 10, 10*time.Second)
	waitJS(t, ctx, 15*time.Second, "the French subtitle track's cues", frenchCueJS)
	cue := eval[[]any](t, ctx, `(() => { const tr = [...document.querySelectorAll('#video track')].map(e => e.track).find(t => t.language === 'fr');
		const c = [...tr.cues].find(c => c.endTime - c.startTime > 1); return [c.startTime, c.text]; })()`)
	eval[bool](t, ctx, fmt.Sprintf(`(document.querySelector('video').currentTime = %f, true)`, cue[0].(float64)+0.3))
	waitJS(t, ctx, 10*time.Second, "the cue in the overlay", fmt.Sprintf(`document.querySelector('#cap-primary').textContent === %q && !document.querySelector('#cap-primary').hidden`, cue[1]))
	t.Logf("cue at %.1f s: %q", cue[0], cue[1])
	if native := eval[int](t, ctx, `[...document.querySelectorAll('#video track')].filter(e => e.track.mode === 'showing').length`); native != 0 {
		t.Errorf("%d subtitle tracks drawn by the browser as well as the overlay", native)
	}

	// Downloads: one MP4 per sound channel.
	links := eval[map[string]string](t, ctx, `Object.fromEntries([...document.querySelectorAll('#rec-download-list a')].map(a => [a.textContent, a.getAttribute('href')]))`)
	if len(links) != len(rec.Downloads) || eval[bool](t, ctx, `document.querySelector('#rec-downloads').hidden`) {
		t.Errorf("download links %v, want one per %v", links, rec.Downloads)
	}
	for _, href := range links {
		req, _ := http.NewRequest("GET", r.url(href), nil)
		req.Header.Set("Range", "bytes=0-1023")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode/100 != 2 {
			t.Errorf("GET %s: %d", href, res.StatusCode)
		}
	}
	if got := links["Français"]; got != rec.Downloads["fr"] {
		t.Errorf("the French download is %q, want %q", got, rec.Downloads["fr"])
	}
	screenshot(t, ctx, "watch-recording")
	eval[bool](t, ctx, `(document.querySelector('#rec-downloads').scrollIntoView({block: 'end'}), true)`)
	screenshot(t, ctx, "watch-recording-downloads")
	eval[bool](t, ctx, `(window.scrollTo(0, 0), true)`)

	// The lobby lists it, linked to its page.
	navigate(t, ctx, r.url("/?ui=en"))
	waitJS(t, ctx, 10*time.Second, "the recording in the lobby", fmt.Sprintf(`(() => { const s = document.querySelector('#recordings-section');
		const a = document.querySelector('li.recording[data-id=%q] a.room-link');
		return s && !s.hidden && a && a.getAttribute('href') === %q; })()`, rec.ID, rec.Watch))
	screenshot(t, ctx, "lobby-recordings")
	checkAxe(t, ctx, readAxe(t), "lobby-recordings")
	b.checkConsole()
}
