package main

// The automated accessibility check: axe-core (testdata/axe, vendored by
// scripts/vendor-axe) runs in every page in headless Chromium, with English
// and Arabic interfaces, while the page does its real work (video playing,
// captions live, consoles connected). A violation of impact serious or
// critical fails the test; minor and moderate ones are logged. Every run
// also leaves its full list in testdata/screenshots/axe-<page>-<ui>.json.
//
// axe goes in through the DevTools protocol (Runtime.evaluate), which the
// page's Content-Security-Policy does not govern, so the pages keep their
// strict policy. No axe rule is disabled; color-contrast stays on. Text
// over the playing video is a case axe cannot judge (it reports it as
// "incomplete", listed in the JSON report, never as a pass).

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relay-av/relay/internal/auth"
)

// axeTags are the rule sets run: WCAG 2.0, 2.1 and 2.2 at levels A and AA,
// and axe's best practices.
var axeTags = []string{"wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"}

type axeViolation struct {
	ID     string    `json:"id"`
	Impact string    `json:"impact"`
	Help   string    `json:"help"`
	URL    string    `json:"helpUrl"`
	Nodes  []axeNode `json:"nodes"`
}

type axeNode struct {
	Target         []string `json:"target"` // one selector per frame or shadow root
	HTML           string   `json:"html"`
	FailureSummary string   `json:"failureSummary"`
}

type axeResult struct {
	Version    string         `json:"version"`
	Violations []axeViolation `json:"violations"`
	Incomplete []axeViolation `json:"incomplete"` // rules axe could not decide (needs review), first node only
}

// axeRunJS runs axe on the whole document and keeps what the report needs
// (axe's own result object is large and holds DOM references).
var axeRunJS = func() string {
	tags, _ := json.Marshal(axeTags)
	return `(() => {
  const keep = (v) => ({
    id: v.id, impact: v.impact || '', help: v.help, helpUrl: v.helpUrl,
    nodes: v.nodes.map((n) => ({ target: n.target.map((s) => [].concat(s).join(' >>> ')), html: n.html, failureSummary: n.failureSummary || '' })),
  });
  return axe.run(document, {runOnly: {type: 'tag', values: ` + string(tags) + `}, resultTypes: ['violations']})
  .then((r) => ({
    version: axe.version,
    violations: r.violations.map(keep),
    incomplete: r.incomplete.map(keep),
  }));
})()`
}()

// readAxe is the vendored axe-core source.
func readAxe(t *testing.T) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("testdata", "axe", "axe.min.js"))
	if err != nil {
		t.Fatalf("axe-core is test data (scripts/vendor-axe): %v", err)
	}
	return string(src)
}

// runAxe injects axe into the tab's page (once per document) and runs it.
func runAxe(t *testing.T, ctx context.Context, src string) axeResult {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	loaded, err := chromedp.Run(c, chromedp.Evaluate[bool](`typeof axe === 'object'`))
	if err == nil && !loaded {
		loaded, err = chromedp.Run(c, chromedp.Evaluate[bool](src+"\n;typeof axe === 'object'"))
	}
	if err != nil || !loaded {
		t.Fatalf("inject axe: loaded %v, %v", loaded, err)
	}
	res, err := chromedp.Run(c, chromedp.Evaluate[axeResult](axeRunJS, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("axe.run: %v", err)
	}
	return res
}

// checkAxe runs axe in the tab, logs every violation, saves the report as
// axe-<name>.json and fails on the serious and critical ones.
func checkAxe(t *testing.T, ctx context.Context, src, name string) {
	t.Helper()
	start := time.Now()
	res := runAxe(t, ctx, src)
	doc := eval[map[string]string](t, ctx, `({url: location.href, lang: document.documentElement.lang, dir: document.documentElement.dir || ''})`)
	t.Logf("axe %s on %s (html lang=%q dir=%q): %d violations in %s", res.Version, doc["url"], doc["lang"], doc["dir"], len(res.Violations), time.Since(start).Round(time.Millisecond))
	for _, v := range res.Violations {
		line := fmt.Sprintf("%s (%s, %d nodes): %s", v.ID, v.Impact, len(v.Nodes), v.Help)
		for _, n := range v.Nodes[:min(3, len(v.Nodes))] {
			line += fmt.Sprintf("\n\t%s: %s", strings.Join(n.Target, " "), summary(n.FailureSummary))
		}
		if v.Impact == "serious" || v.Impact == "critical" {
			t.Errorf("axe violation %s", line)
		} else {
			t.Logf("axe violation %s", line)
		}
	}
	for _, v := range res.Incomplete {
		if len(v.Nodes) == 0 {
			continue
		}
		t.Logf("axe could not decide %s (%s): %s", v.ID, v.Impact, strings.Join(v.Nodes[0].Target, " "))
	}
	report, err := json.MarshalIndent(map[string]any{
		"page": name, "url": doc["url"], "htmlLang": doc["lang"], "htmlDir": doc["dir"],
		"axe": res.Version, "tags": axeTags, "violations": res.Violations, "incomplete": res.Incomplete,
	}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir(t), "axe-"+name+".json"), report, 0o644); err != nil {
		t.Fatal(err)
	}
}

// summary puts axe's failure summary ("Fix any of the following:" and
// its reasons, a line each) on one line.
func summary(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return strings.Join(lines, " ")
}

// axePage is one page under test: where it is for an interface language,
// and how to bring it to the state worth checking.
type axePage struct {
	name  string
	path  func(ui string) string
	ready func(t *testing.T, ctx context.Context)
}

// TestBrowserAxe checks every page in English and Arabic with axe-core, in
// one relay and one Chromium (a tab per page): the lobby, the watch page
// with video and captions live (and once more with the high-contrast
// caption style), the caption console connected, the interpreter console
// with its microphone and floor, the publisher live, the AV monitor with
// an admin token and a viewer list open.
func TestBrowserAxe(t *testing.T) {
	src := readAxe(t)
	r := startPageRelay(t, "")
	b := newBrowser(t, true)
	pages := axePages(r)
	tabs := map[string]context.Context{}
	for _, p := range pages {
		tabs[p.name] = b.tab(p.name)
		setViewport(t, tabs[p.name], 1280, 800, false)
	}
	if !demoCaptions(t, r) {
		t.Fatal("the demo room has no sample captioner")
	}
	for _, p := range pages {
		ctx := tabs[p.name]
		t.Run(p.name, func(t *testing.T) {
			for _, ui := range []string{"en", "ar"} {
				t.Run(ui, func(t *testing.T) {
					navigate(t, ctx, r.url(p.path(ui)))
					p.ready(t, ctx)
					checkAxe(t, ctx, src, p.name+"-"+ui)
				})
			}
			if p.name == "watch" {
				t.Run("high-contrast", func(t *testing.T) { checkWatchHighContrast(t, ctx, r, src) })
			}
		})
	}
	b.checkConsole()
}

// checkWatchHighContrast runs axe on the watch page with the high-contrast
// caption background chosen in its caption style panel, the panel open.
func checkWatchHighContrast(t *testing.T, ctx context.Context, r *pageRelay, src string) {
	navigate(t, ctx, r.url("/watch/demo?lang=en&ui=en"))
	waitFrames(t, ctx, 10, 20*time.Second)
	waitJS(t, ctx, 15*time.Second, "caption in the overlay", `document.querySelector('#cap-primary').textContent.length > 5`)
	do(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("#settings")),
		chromedp.Click(chromedp.CSS(`#reading input[name="bg"][value="solid"]`)))
	waitJS(t, ctx, 5*time.Second, "high-contrast captions", `document.querySelector('#player').dataset.bg === 'solid'`)
	checkAxe(t, ctx, src, "watch-high-contrast-en")
	checkCaptionContrast(t, ctx)
}

// captionContrastJS measures, for every caption style, the contrast of
// the caption text (first and second language, partial lines) against its
// background laid over the worst video behind it: white and black. axe
// cannot judge text over a playing video, so the test does it itself.
const captionContrastJS = `(() => {
  const rgba = (s) => (s.match(/[\d.]+/g) || []).map(Number).concat([1]).slice(0, 4);
  const over = (fg, bg) => [0, 1, 2].map((i) => fg[i] * fg[3] + bg[i] * (1 - fg[3]));
  const lum = (c) => { const [r, g, b] = c.map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; }); return 0.2126 * r + 0.7152 * g + 0.0722 * b; };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const player = document.querySelector('#player');
  const overlay = document.querySelector('#overlay');
  const was = player.dataset.bg;
  const probe = document.createElement('div');
  probe.innerHTML = '<div class="cap primary"><div class="line"><span>A</span></div><div class="line partial"><span>B</span></div></div>' +
    '<div class="cap secondary"><div class="line"><span>C</span></div></div>';
  overlay.append(probe);
  const out = {};
  for (const bg of ['translucent', 'solid', 'yellow']) {
    player.dataset.bg = bg;
    let worst = 99;
    for (const span of probe.querySelectorAll('span')) {
      const cs = getComputedStyle(span);
      const back = rgba(cs.backgroundColor);
      for (const video of [[255, 255, 255], [0, 0, 0]]) {
        const behind = over(back, video);
        worst = Math.min(worst, ratio(over(rgba(cs.color), behind), behind));
      }
    }
    out[bg] = Math.round(worst * 100) / 100;
  }
  probe.remove();
  player.dataset.bg = was;
  return out;
})()`

// checkCaptionContrast fails when a caption style's text is under 4.5:1
// against its background over any video (WCAG 2.2 AA, normal text; caption
// text is large, for which 3:1 would do).
func checkCaptionContrast(t *testing.T, ctx context.Context) {
	t.Helper()
	got := eval[map[string]float64](t, ctx, captionContrastJS)
	t.Logf("caption contrast, worst over white or black video: %v", got)
	for _, bg := range []string{"translucent", "solid", "yellow"} {
		if got[bg] < 4.5 {
			t.Errorf("caption style %s: contrast %.2f:1 over the worst video, want at least 4.5:1", bg, got[bg])
		}
	}
}

// axePages are the pages TestBrowserAxe checks, in order: the publisher
// comes last, as going live replaces the demo clip.
func axePages(r *pageRelay) []axePage {
	q := func(v url.Values) string { return "?" + v.Encode() }
	return []axePage{
		{"lobby", func(ui string) string { return "/" + q(url.Values{"ui": {ui}}) }, func(t *testing.T, ctx context.Context) {
			waitJS(t, ctx, 10*time.Second, "demo room live in the lobby", `document.querySelector('li[data-room="demo"]')?.dataset.state === 'live'`)
		}},
		// The captions follow the interface language: Arabic captions in
		// the Arabic page, right to left over the video.
		{"watch", func(ui string) string { return "/watch/demo" + q(url.Values{"lang": {ui}, "ui": {ui}}) }, func(t *testing.T, ctx context.Context) {
			waitFrames(t, ctx, 20, 20*time.Second)
			waitJS(t, ctx, 10*time.Second, "status live", `document.querySelector('#status').dataset.state === 'live'`)
			waitJS(t, ctx, 15*time.Second, "caption in the overlay", `document.querySelector('#cap-primary').textContent.length > 5`)
			waitJS(t, ctx, 10*time.Second, "caption in the transcript", `document.querySelectorAll('#transcript-lines li').length > 0`)
		}},
		{"caption", func(ui string) string {
			return "/caption/demo" + q(url.Values{"lang": {"en"}, "name": {"Alice"}, "ui": {ui}, "token": {r.token(auth.RoleCaptioner, "demo", "en")}})
		}, func(t *testing.T, ctx context.Context) {
			waitJS(t, ctx, 10*time.Second, "console connected", `document.querySelector('#status').dataset.state === 'open'`)
			// A committed line brings its actions (correct, delete) into the page.
			do(t, ctx, 10*time.Second, chromedp.SendKeys(chromedp.CSS("#typing"), "The meeting is called to order.\r"))
			waitJS(t, ctx, 10*time.Second, "line acknowledged", `document.querySelector('#lines li[data-state="acked"]')`)
		}},
		{"interpret", func(ui string) string {
			return "/interpret/demo" + q(url.Values{"lang": {"fr"}, "ui": {ui}, "token": {r.token(auth.RoleInterpreter, "demo", "fr")}})
		}, func(t *testing.T, ctx context.Context) {
			waitJS(t, ctx, 15*time.Second, "microphone open", `!document.querySelector('#take').disabled && document.querySelector('#mic').options.length > 0`)
			waitJS(t, ctx, 20*time.Second, "floor live", `document.querySelector('#floor').dataset.state === 'live'`)
			waitJS(t, ctx, 10*time.Second, "microphone level", `Number(document.querySelector('#meter').getAttribute('aria-valuenow')) > -50`)
		}},
		{"monitor", func(ui string) string { return "/monitor" + q(url.Values{"ui": {ui}}) }, func(t *testing.T, ctx context.Context) {
			// monitor.js takes the admin token from its form (kept in session storage).
			waitJS(t, ctx, 10*time.Second, "demo room listed", `document.querySelector('[data-room="demo"]')`)
			eval[bool](t, ctx, fmt.Sprintf(`(() => { document.querySelector('#admin-token').value = %q;
				document.querySelector('#admin').requestSubmit(); return true; })()`, r.token(auth.RoleAdmin, "*", "")))
			waitJS(t, ctx, 10*time.Second, "viewers button", `document.querySelector('[data-room="demo"] [data-action="viewers"]')`)
			eval[bool](t, ctx, `(() => { const b = document.querySelector('[data-room="demo"] [data-action="viewers"]');
				if (b.getAttribute('aria-expanded') !== 'true') b.click(); return true; })()`)
			waitJS(t, ctx, 10*time.Second, "demo viewer list", `document.querySelector('[data-room="demo"] .viewers')`)
			// The other tabs are the viewers; without them the list says so.
			for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
				if eval[bool](t, ctx, `!!document.querySelector('[data-room="demo"] .viewers li')`) {
					return
				}
			}
			t.Log("no viewer in the demo room's list")
		}},
		{"publish", func(ui string) string {
			return "/publish/demo" + q(url.Values{"ui": {ui}, "token": {r.token(auth.RolePublisher, "demo", "")}})
		}, func(t *testing.T, ctx context.Context) {
			do(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("#devices-on")))
			waitJS(t, ctx, 10*time.Second, "camera preview", `document.querySelector('#preview').videoWidth > 0`)
			waitJS(t, ctx, 10*time.Second, "devices listed", `document.querySelector('#camera').options.length > 0 && !document.querySelector('#start').disabled`)
			do(t, ctx, 10*time.Second, chromedp.Click(chromedp.CSS("#start")))
			waitJS(t, ctx, 20*time.Second, "publishing live", `document.querySelector('#status').dataset.state === 'live'`)
			// Arabic digits too: numbers are formatted for the interface language.
			waitJS(t, ctx, 10*time.Second, "outgoing bitrate", `/[1-9\u0661-\u0669]/.test(document.querySelector('#s-rate').textContent)`)
		}},
	}
}
