package tlsserve

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The plain-HTTP side sends every request to HTTPS, keeping host, path
// and query, and leaves ACME's challenge path to ACME.
func TestRedirect(t *testing.T) {
	m, err := ACME("relay.example.org", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		h          http.Handler
		host, path string
		code       int
		location   string
	}{
		{Redirect(nil, "443"), "relay.example.org", "/watch/hall?lang=fr", 301, "https://relay.example.org/watch/hall?lang=fr"},
		{Redirect(nil, ""), "relay.example.org:80", "/", 301, "https://relay.example.org/"},
		{Redirect(nil, "8443"), "relay.example.org:8080", "/a", 301, "https://relay.example.org:8443/a"},
		{Redirect(nil, "443"), "[2001:db8::1]:80", "/", 301, "https://[2001:db8::1]/"},
		{Redirect(nil, "443"), "", "/", 400, ""},
		{Redirect(m, "443"), "relay.example.org", "/whep/hall", 301, "https://relay.example.org/whep/hall"},
		// No such challenge token: ACME answers, not the redirect.
		{Redirect(m, "443"), "relay.example.org", "/.well-known/acme-challenge/x", 404, ""},
	} {
		req := httptest.NewRequest("GET", "http://placeholder"+c.path, nil)
		req.Host = c.host
		rec := httptest.NewRecorder()
		c.h.ServeHTTP(rec, req)
		if rec.Code != c.code || rec.Header().Get("Location") != c.location {
			t.Errorf("%s%s: %d %q, want %d %q", c.host, c.path, rec.Code, rec.Header().Get("Location"), c.code, c.location)
		}
	}
}
