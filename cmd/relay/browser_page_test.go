package main

// Page helpers of the browser tests: drive a tab, read it, wait for it and
// take its picture; read the relay's room list.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

func do(t *testing.T, ctx context.Context, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, js string) T {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(c, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %.80s: %v", js, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(t *testing.T, ctx context.Context, timeout time.Duration, what, js string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool]("!!("+js+")"))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			c, cancel := context.WithTimeout(ctx, 5*time.Second)
			state, _ := chromedp.Run(c, chromedp.Evaluate[string](`(document.querySelector('#status')?.textContent||'')+' | '+document.body.innerText.slice(0,600)`))
			cancel()
			t.Fatalf("timed out after %s waiting for %s (err %v); page: %s", timeout, what, err, state)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

type videoInfo struct {
	Width  int     `json:"width"`
	Frames int     `json:"frames"`
	Time   float64 `json:"time"`
}

const videoJS = `(() => { const v = document.querySelector('video'); if (!v) return {width: 0, frames: 0, time: 0};
  return {width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames, time: v.currentTime}; })()`

// waitFrames waits until the page's video has decoded more than n frames
// beyond what it had when called, with a picture size.
func waitFrames(t *testing.T, ctx context.Context, n int, timeout time.Duration) videoInfo {
	t.Helper()
	before := eval[videoInfo](t, ctx, videoJS)
	deadline := time.Now().Add(timeout)
	for {
		v := eval[videoInfo](t, ctx, videoJS)
		if v.Width > 0 && v.Frames > before.Frames+n {
			return v
		}
		if time.Now().After(deadline) {
			state := eval[string](t, ctx, `document.querySelector('#status')?.dataset.state || ''`)
			t.Fatalf("video frames: had %d, now %d, width %d after %s (state %q)", before.Frames, v.Frames, v.Width, timeout, state)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func screenshotDir(t *testing.T) string {
	dir := os.Getenv("RELAY_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// screenshot saves the tab's viewport as name.png.
func screenshot(t *testing.T, ctx context.Context, name string) string {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	png, err := chromedp.Run(c, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	path := filepath.Join(screenshotDir(t), name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
	return path
}

func setViewport(t *testing.T, ctx context.Context, w, h int64, mobile bool) {
	t.Helper()
	opts := []chromedp.EmulateViewportOption{}
	if mobile {
		opts = append(opts, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulatePortrait)
	}
	do(t, ctx, 10*time.Second, chromedp.EmulateViewport(w, h, opts...))
}

func navigate(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	do(t, ctx, 20*time.Second, chromedp.Navigate(url))
}

// apiRoom reads one room of /api/rooms.
func apiRoom(t *testing.T, r *pageRelay, name string) map[string]any {
	t.Helper()
	res, err := http.Get(r.url("/api/rooms"))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Rooms []map[string]any `json:"rooms"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	for _, rm := range body.Rooms {
		if rm["name"] == name {
			return rm
		}
	}
	return nil
}

// demoCaptions says whether the demo room has its sample captioner.
func demoCaptions(t *testing.T, r *pageRelay) bool {
	rm := apiRoom(t, r, "demo")
	caps, _ := rm["captions"].([]any)
	for _, c := range caps {
		m, _ := c.(map[string]any)
		list, _ := m["captioners"].([]any)
		for _, cp := range list {
			if cm, _ := cp.(map[string]any); cm["via"] == "demo" {
				return true
			}
		}
	}
	return false
}

// selectValue picks a value in a <select> as a user would (a change event).
func selectValue(t *testing.T, ctx context.Context, sel, value string) {
	t.Helper()
	eval[bool](t, ctx, fmt.Sprintf(`(() => { const s = document.querySelector(%q); s.value = %q;
		s.dispatchEvent(new Event('change', {bubbles: true})); return s.value === %q; })()`, sel, value, value))
}

// text is the text content of the element sel, "" when there is none.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return eval[string](t, ctx, fmt.Sprintf(`document.querySelector(%q)?.textContent || ''`, sel))
}

// catalogue reads the interface strings of lang from the player's catalogue.
func catalogue(t *testing.T, lang string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "player", "static", "i18n", lang+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var cat map[string]any
	if err := json.Unmarshal(b, &cat); err != nil {
		t.Fatalf("%s.json: %v", lang, err)
	}
	return cat
}

// catString is the plain string of key, with {name}s filled from vars.
func catString(t *testing.T, cat map[string]any, key string, vars ...string) string {
	t.Helper()
	s, ok := cat[key].(string)
	if !ok {
		t.Fatalf("catalogue has no string %q", key)
	}
	for i := 0; i+1 < len(vars); i += 2 {
		s = strings.ReplaceAll(s, "{"+vars[i]+"}", vars[i+1])
	}
	return s
}
