package main

// The watch page with the keyboard only, in Chromium against the real
// relay: a room sending three simulcast layers (so that the quality menu
// shows) with captions in two languages, and a browser that needs a
// gesture before sound. Real key events (Tab, Enter, Space, arrows,
// Escape) move the focus and activate the controls; each effect is read
// from the page's state, not from its words.

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

const keyboardYAML = `rooms:
  - name: hall
    title: Hall of nations
    languages: [en, fr]
`

// kbFocus is what has the focus: its id and the name a screen reader says.
const kbFocusJS = `(() => { const e = document.activeElement; if (!e || e === document.body) return '';
	const name = e.getAttribute('aria-label') || (e.labels && e.labels[0] ? e.labels[0].textContent : '') || e.textContent;
	return (e.id || e.tagName.toLowerCase() + (e.className ? '.' + String(e.className).split(' ')[0] : '')) + '=' + name.trim().replace(/\s+/g, ' '); })()`

func kbFocus(t *testing.T, ctx context.Context) (id, name string) {
	t.Helper()
	id, name, _ = strings.Cut(eval[string](t, ctx, kbFocusJS), "=")
	return id, name
}

func kbPress(t *testing.T, ctx context.Context, key string) {
	t.Helper()
	do(t, ctx, 5*time.Second, chromedp.KeyEvent(key))
}

// kbTabTo presses Tab until the element with id has the focus.
func kbTabTo(t *testing.T, ctx context.Context, id string) {
	t.Helper()
	for i := 0; i < 60; i++ {
		if got, _ := kbFocus(t, ctx); got == id {
			return
		}
		kbPress(t, ctx, kb.Tab)
	}
	t.Fatalf("Tab never reached #%s", id)
}

// TestBrowserWatchKeyboard: Tab goes through the watch page in a sensible
// order (skip link, top bar with the interface language, the player's
// controls in their visual order, the transcript), every stop has a name
// and a visible focus ring; then each control works from the keyboard:
// sound on (Space on Mute), the Language menu (arrow key: sound and
// subtitles follow), the quality menu (arrow key: a layer pinned), the
// language settings (Enter opens, Escape closes and gives the focus
// back), captions off and on (Enter), caption size (Enter opens the
// style, an arrow key picks the next size), the transcript hidden and
// opened again, and full screen (Enter, with the player as the
// fullscreen element; Escape leaves).
func TestBrowserWatchKeyboard(t *testing.T) {
	r := startPageRelay(t, keyboardYAML)
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	var layers []peer.Layer
	for _, l := range []struct{ rid, file string }{
		{"h", "../../relay/clip/testdata/simulcast-720.h264"},
		{"m", "../../relay/clip/testdata/simulcast-360.h264"},
		{"l", "../../relay/clip/testdata/simulcast-180.h264"},
	} {
		c, err := clip.Load(l.file, 30)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, peer.Layer{RID: l.rid, Clip: c})
	}
	pubCtx, stop := context.WithCancel(context.Background())
	defer stop()
	pub, err := peer.Publish(pubCtx, peer.PublishConfig{URL: r.url("/whip/hall"), Token: r.token(auth.RolePublisher, "hall", ""),
		Clip: &clip.Clip{Audio: demo.Audio}, Layers: layers, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatalf("publish: %v", err)
	}
	defer pub.Close(true)
	en := dialCaptioner(t, r, "hall", "en")
	fr := dialCaptioner(t, r, "hall", "fr")
	en.final("k1", "The meeting is called to order.")
	fr.final("k1", "La séance est ouverte.")

	b := newBrowserWith(t, false, false) // sound needs a gesture, as in an everyday browser
	ctx := b.ctx
	chWatchPeers(t, ctx)
	setViewport(t, ctx, 1280, 800, false)
	navigate(t, ctx, r.url("/watch/hall?ui=en"))
	waitFrames(t, ctx, 10, 20*time.Second)
	waitJS(t, ctx, 10*time.Second, "live, muted, three layers in the quality menu, English captions", `document.querySelector('#status').dataset.state === 'live' &&
		document.querySelector('video').muted && !document.querySelector('#quality-field').hidden && document.querySelectorAll('#quality option').length >= 3 &&
		document.querySelector('#lang').value === 'en'`)

	// The order of the Tab stops, from the top of the page round to it again.
	eval[bool](t, ctx, `(document.activeElement?.blur(), window.scrollTo(0, 0), true)`)
	var order []string
	var names []string
	seen := map[string]bool{}
	for i := 0; i < 60; i++ {
		kbPress(t, ctx, kb.Tab)
		id, name := kbFocus(t, ctx)
		if id == "" || seen[id] {
			break
		}
		seen[id] = true
		order = append(order, id)
		names = append(names, fmt.Sprintf("%s (%s)", id, name))
		if name == "" {
			t.Errorf("Tab stop %s has no accessible name", id)
		}
		if ring := eval[string](t, ctx, `(() => { const s = getComputedStyle(document.activeElement); return s.boxShadow + '|' + s.outlineStyle; })()`); strings.HasPrefix(ring, "none|") && strings.HasSuffix(ring, "none") {
			t.Errorf("Tab stop %s shows no focus ring", id)
		}
	}
	t.Logf("focus order: %s", strings.Join(names, " → "))
	index := map[string]int{}
	for i, id := range order {
		index[id] = i
	}
	want := []string{"a.skip", "a.brand", "ui-lang", "unmute", "mute", "volume", "language", "lang-more", "quality", "cc", "settings", "transcript-toggle", "audio-only", "fullscreen", "transcript-scroll"}
	last := -1
	for _, id := range want {
		if id == "volume" && !eval[bool](t, ctx, `document.querySelector('#volume').offsetParent !== null`) {
			continue // the slider gives way to the other controls on a narrower player; Mute stays
		}
		i, ok := index[id]
		if !ok {
			t.Errorf("Tab never reaches %s", id)
			continue
		}
		if i < last {
			t.Errorf("%s comes before the control it follows on screen (order: %v)", id, order)
		}
		last = i
	}

	// Sound: Space on Mute (the delegate's gesture lets it play).
	kbTabTo(t, ctx, "mute")
	kbPress(t, ctx, " ")
	waitJS(t, ctx, 5*time.Second, "sound on", `!document.querySelector('video').muted && !document.querySelector('video').paused && document.querySelector('#unmute').hidden`)

	// The Language menu: the next entry with an arrow key; subtitles follow.
	kbTabTo(t, ctx, "language")
	before := eval[string](t, ctx, `document.querySelector('#language').value`)
	kbPress(t, ctx, kb.ArrowDown)
	waitJS(t, ctx, 5*time.Second, "another language", fmt.Sprintf(`document.querySelector('#language').value !== %q`, before))
	lang := eval[string](t, ctx, `document.querySelector('#language').value`)
	if lang != "floor" {
		waitJS(t, ctx, 5*time.Second, "subtitles follow the Language", fmt.Sprintf(`document.querySelector('#lang').value === %q`, lang))
	}
	t.Logf("Language %s → %s", before, lang)

	// Language settings: Enter opens them, Escape closes them.
	kbTabTo(t, ctx, "lang-more")
	kbPress(t, ctx, kb.Enter)
	waitJS(t, ctx, 3*time.Second, "language settings open with the focus inside", `!document.querySelector('#channel-panel').hidden && document.querySelector('#channel-panel').contains(document.activeElement)`)
	kbPress(t, ctx, kb.Escape)
	waitJS(t, ctx, 3*time.Second, "settings closed, focus back", `document.querySelector('#channel-panel').hidden && document.activeElement.id === 'lang-more'`)

	// Quality: a layer pinned with an arrow key.
	kbTabTo(t, ctx, "quality")
	kbPress(t, ctx, kb.ArrowDown)
	waitJS(t, ctx, 5*time.Second, "a layer pinned", `document.querySelector('#quality').value !== 'auto'`)
	rid := eval[string](t, ctx, `document.querySelector('#quality').value`)
	chWaitViewer(t, r, "hall", "the viewer on layer "+rid, func(v relay.ViewerInfo) bool { return v.Video == rid })

	// Captions off and on.
	kbTabTo(t, ctx, "cc")
	kbPress(t, ctx, kb.Enter)
	waitJS(t, ctx, 3*time.Second, "captions hidden", `document.querySelector('#cc').getAttribute('aria-pressed') === 'false' &&
		document.querySelector('#player').classList.contains('captions-off') && getComputedStyle(document.querySelector('#overlay')).display === 'none'`)
	kbPress(t, ctx, kb.Enter)
	waitJS(t, ctx, 3*time.Second, "captions shown", `document.querySelector('#cc').getAttribute('aria-pressed') === 'true' && !document.querySelector('#player').classList.contains('captions-off')`)

	// Caption size: Enter opens the style, the focus is on the size chosen, an arrow picks the next.
	kbTabTo(t, ctx, "settings")
	kbPress(t, ctx, kb.Enter)
	waitJS(t, ctx, 3*time.Second, "caption style open on the size", `!document.querySelector('#reading').hidden && document.activeElement.name === 'size' && document.activeElement.value === 'm'`)
	kbPress(t, ctx, kb.ArrowRight)
	waitJS(t, ctx, 3*time.Second, "size large", `document.querySelector('#player').dataset.size === 'l' && document.activeElement.value === 'l'`)
	kbPress(t, ctx, kb.Escape)
	waitJS(t, ctx, 3*time.Second, "style closed, focus back", `document.querySelector('#reading').hidden && document.activeElement.id === 'settings'`)

	// The transcript: hidden, then opened again.
	kbTabTo(t, ctx, "transcript-toggle")
	kbPress(t, ctx, kb.Enter)
	waitJS(t, ctx, 3*time.Second, "transcript hidden, the player wider", `document.querySelector('#transcript').hidden && document.querySelector('#transcript-toggle').getAttribute('aria-expanded') === 'false' &&
		document.querySelector('#player').getBoundingClientRect().width > 1100`)
	kbPress(t, ctx, kb.Enter)
	waitJS(t, ctx, 3*time.Second, "transcript open", `!document.querySelector('#transcript').hidden && document.querySelector('#transcript-toggle').getAttribute('aria-expanded') === 'true' &&
		document.querySelector('#transcript-lines li') !== null`)

	// Full screen: Enter on the button makes the player the fullscreen
	// element (headless Chromium grants it to a key press); Escape leaves.
	kbTabTo(t, ctx, "fullscreen")
	kbPress(t, ctx, kb.Enter)
	waitJS(t, ctx, 5*time.Second, "the player in full screen", `document.fullscreenElement === document.querySelector('#player')`)
	if name := eval[string](t, ctx, `document.querySelector('#fullscreen').getAttribute('aria-label')`); name != "Exit full screen" {
		t.Errorf("the fullscreen button says %q in full screen", name)
	}
	kbPress(t, ctx, "f") // the page's own shortcut leaves it too
	waitJS(t, ctx, 5*time.Second, "out of full screen", `document.fullscreenElement === null`)

	waitFrames(t, ctx, 10, 10*time.Second)
	if n := eval[int](t, ctx, `window.__pcs.length`); n != 1 {
		t.Errorf("%d peer connections: a control reconnected the player", n)
	}
	b.checkConsole()
}
