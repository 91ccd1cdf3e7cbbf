package player

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestStaticRefusesDirectoriesAndBadPaths: /static/ lists no directory and
// answers a path it cannot decode with a plain 404, not a 500 or a listing;
// a real file is served as before, with the pages' headers.
func TestStaticRefusesDirectoriesAndBadPaths(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	for _, c := range []struct {
		path string
		want int
	}{
		{"/static/%ff", 404},       // not UTF-8: http.FileServerFS answered 500
		{"/static/", 404},          // the listing of every file
		{"/static/js/", 404},       // a directory's listing
		{"/static/js", 404},        // a directory without its slash (FileServerFS redirects to the listing)
		{"/static/js/%c0%af", 404}, // an overlong '/' encoding
		{"/static/nope.js", 404},   // a missing file
		{"/static/js/monitor.js", 200},
		{"/static/css/base.css", 200},
	} {
		t.Run(c.path, func(t *testing.T) {
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
			if rec.Code != c.want {
				t.Fatalf("GET %s: %d, want %d", c.path, rec.Code, c.want)
			}
			h := rec.Header()
			if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") != "no-referrer" ||
				!strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") {
				t.Errorf("GET %s: headers %v", c.path, h)
			}
			body := rec.Body.String()
			if c.want == 404 && (body != "404 page not found\n" || !strings.HasPrefix(h.Get("Content-Type"), "text/plain")) {
				t.Errorf("GET %s: %q (%s), want a plain 404", c.path, body, h.Get("Content-Type"))
			}
			if c.want == 200 && (h.Get("Cache-Control") != "no-cache" || len(body) == 0) {
				t.Errorf("GET %s: Cache-Control %q, %d bytes", c.path, h.Get("Cache-Control"), len(body))
			}
		})
	}
	// Ranges still work (a media player may ask for one).
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/static/favicon.svg", nil)
	req.Header.Set("Range", "bytes=0-3")
	mux.ServeHTTP(rec, req)
	if rec.Code != http.StatusPartialContent || rec.Body.Len() != 4 || rec.Header().Get("Content-Type") != "image/svg+xml" {
		t.Errorf("range: %d, %d bytes, %s", rec.Code, rec.Body.Len(), rec.Header().Get("Content-Type"))
	}
}

// Pages and files carry an ETag from their contents: a browser that has
// one revalidates with If-None-Match and gets 304, no body.
func TestStaticETags(t *testing.T) {
	mux := http.NewServeMux()
	Register(mux)
	for _, path := range []string{"/static/js/i18n.js", "/static/i18n/ar.json", "/watch/hall"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		tag := rec.Header().Get("ETag")
		if rec.Code != 200 || len(tag) < 10 || rec.Body.Len() == 0 {
			t.Fatalf("GET %s: %d, ETag %q, %d bytes", path, rec.Code, tag, rec.Body.Len())
		}
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("If-None-Match", tag)
		rec = httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("GET %s with its ETag: %d, %d bytes; want 304", path, rec.Code, rec.Body.Len())
		}
	}
}
