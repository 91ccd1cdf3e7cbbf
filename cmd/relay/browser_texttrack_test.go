package main

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserNativeCueIsText: in native caption mode the watch page hands
// each line to the browser as a VTTCue, whose text the browser reads as
// WebVTT: "<b>" was bold and "&amp;" an ampersand. A caption is text; the
// cue must show exactly what the captioner typed.
func TestBrowserNativeCueIsText(t *testing.T) {
	r := startPageRelay(t, "rooms:\n  - name: hall\n    title: Hall\n    languages: [en]\n")
	en := dialCaptioner(t, r, "hall", "en")
	b := newBrowser(t, false)
	ctx := b.ctx
	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, r.url("/watch/hall?lang=en"))
	waitJS(t, ctx, 10*time.Second, "English text track",
		`[...document.querySelector('video').textTracks].some(t => t.language === 'en' && t.mode !== 'disabled')`)
	do(t, ctx, 5*time.Second, chromedp.Click(chromedp.CSS("#settings")),
		chromedp.Click(chromedp.CSS(`#reading input[name="native"]`)))
	waitJS(t, ctx, 5*time.Second, "native rendering",
		`[...document.querySelector('video').textTracks].find(t => t.language === 'en').mode === 'showing'`)

	want := []string{"a < b & c <b>x</b>", "fish &amp; chips"}
	en.final("t1", want[0])
	en.final("t2", want[1])
	const cues = `(() => { const tr = [...document.querySelector('video').textTracks].find(t => t.language === 'en');
		return JSON.stringify([...(tr.cues || [])].map(c => { const f = c.getCueAsHTML();
			return {text: f.textContent, elements: f.querySelectorAll('*').length}; })); })()`
	waitJS(t, ctx, 5*time.Second, "both cues on the track", `JSON.parse(`+cues+`).length >= 2`)
	var got []struct {
		Text     string `json:"text"`
		Elements int    `json:"elements"`
	}
	if err := json.Unmarshal([]byte(eval[string](t, ctx, cues)), &got); err != nil {
		t.Fatal(err)
	}
	// Cues are listed by time; with no video playing both start at 0.
	shown := map[string]bool{}
	for _, c := range got {
		shown[c.Text] = c.Elements == 0
	}
	for _, w := range want {
		if !shown[w] {
			t.Errorf("no cue shows the text %q without markup: %+v", w, got)
		}
	}
	b.checkConsole()
}
