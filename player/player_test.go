package player

import (
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"regexp"
	"strings"
	"testing"
)

func TestPagesAndHeaders(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	for _, tc := range []struct {
		path, contains, frame string
	}{
		{"/", `src="/static/js/lobby.js"`, "frame-ancestors 'self'"},
		{"/watch/plenary", `src="/static/js/watch.js"`, "frame-ancestors *"},
		{"/watch/plenary/recordings/20261202T035659Z", `src="/static/js/watch.js"`, "frame-ancestors *"},
		{"/caption/plenary", `src="/static/js/console.js"`, "frame-ancestors 'none'"},
		{"/publish/plenary", `src="/static/js/publish.js"`, "frame-ancestors 'none'"},
		{"/interpret/plenary", `src="/static/js/interpret.js"`, "frame-ancestors 'none'"},
		{"/static/js/watch.js", "Playback", ""},
		{"/static/vendor/hls/hls.min.mjs", "MANIFEST_PARSED", ""},
	} {
		t.Run(tc.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
			if rec.Code != 200 {
				t.Fatalf("GET %s: %d", tc.path, rec.Code)
			}
			if !strings.Contains(rec.Body.String(), tc.contains) {
				t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
			}
			h := rec.Header()
			csp := h.Get("Content-Security-Policy")
			if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("GET %s: CSP %q", tc.path, csp)
			}
			if tc.frame != "" && !strings.Contains(csp, tc.frame) {
				t.Errorf("GET %s: CSP %q lacks %q", tc.path, csp, tc.frame)
			}
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" {
				t.Errorf("GET %s: headers %v", tc.path, h)
			}
			if (strings.HasSuffix(tc.path, ".js") || strings.HasSuffix(tc.path, ".mjs")) && !strings.HasPrefix(h.Get("Content-Type"), "text/javascript") {
				t.Errorf("GET %s: Content-Type %q", tc.path, h.Get("Content-Type"))
			}
		})
	}
}

// The pages must work under the CSP: no inline script, style or handlers.
func TestNoInlineScriptOrStyle(t *testing.T) {
	inline := []*regexp.Regexp{
		regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`), // a script with a body
		regexp.MustCompile(`\son[a-z]+\s*=`),                // onclick= and friends
		regexp.MustCompile(`\sstyle\s*=`),                   // style attributes
		regexp.MustCompile(`<style[\s>]`),                   // style elements
		regexp.MustCompile(`(?i)javascript:`),               // script URLs
	}
	noSrc := regexp.MustCompile(`<script\b[^>]*>`)
	err := fs.WalkDir(files, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".html") || strings.HasSuffix(path, "monitor.html") {
			return err
		}
		b, err := files.ReadFile(path)
		if err != nil {
			return err
		}
		s := string(b)
		for _, re := range inline {
			if loc := re.FindStringIndex(s); loc != nil {
				t.Errorf("%s: inline content %q", path, s[loc[0]:min(len(s), loc[1]+20)])
			}
		}
		for _, tag := range noSrc.FindAllString(s, -1) {
			if !strings.Contains(tag, ` src="/static/`) {
				t.Errorf("%s: script without a /static/ src: %s", path, tag)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// Every ES module import points at an embedded file (a module of ours,
// or a vendored one: ../vendor/).
func TestModuleImportsResolve(t *testing.T) {
	imp := regexp.MustCompile(`(?m)^\s*(?:import|export)\s[^'"]*?from\s+'(\.\.?/[^']+)'`)
	entries, err := fs.ReadDir(files, "static/js")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := files.ReadFile("static/js/" + e.Name())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range imp.FindAllStringSubmatch(string(b), -1) {
			if _, err := fs.Stat(files, path.Join("static/js", m[1])); err != nil {
				t.Errorf("%s imports %s: %v", e.Name(), m[1], err)
			}
		}
	}
}
