package hls

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

// TestHostileRequests: bad names, traversal, queries out of range, a
// private room without its token. Each gets a clear 4xx, nothing outside
// the recordings directory is ever read.
func TestHostileRequests(t *testing.T) {
	h := startHarness(t, harnessOpts{private: true})
	secret := filepath.Join(h.dir, "..", "secret.txt")
	_ = os.WriteFile(secret, []byte("not for you"), 0o644)

	code, _, _ := h.get("/hls/demo/index.m3u8")
	if code != http.StatusUnauthorized {
		t.Errorf("private room without a token: %d, want 401", code)
	}
	a, _ := auth.New([]byte("0123456789abcdef0123456789abcdef"))
	tok, _ := a.Issue(auth.RoleViewer, "demo", "", time.Hour)
	q := "?token=" + url.QueryEscape(tok)
	var body string
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, b := h.get("/hls/demo/index.m3u8" + q)
		if code == http.StatusOK {
			body = string(b)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with a token: %d %s", code, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Every URI in the playlists carries the token, so a CDN keys on it.
	for _, l := range lines(body) {
		if strings.Contains(l, ".m3u8") && !strings.Contains(l, q) {
			t.Errorf("a URI without the token: %s", l)
		}
	}
	prefix := sessionPrefix("demo", body)
	m, mb := h.get2WithCode(prefix + "v/index.m3u8" + q)
	if m != http.StatusOK || !strings.Contains(mb, "init0.mp4"+q) || !strings.Contains(mb, "PRELOAD-HINT:TYPE=PART,URI=\"part") || strings.Contains(mb, ".mp4\"\n") {
		t.Errorf("media playlist: %d\n%s", m, mb)
	}
	for _, c := range []struct {
		path string
		want int
	}{
		{"/hls/demo/index.m3u8?token=forged", http.StatusUnauthorized},
		{"/hls/Demo!/index.m3u8" + q, http.StatusBadRequest},
		{prefix + "v/..%2f..%2fsecret.txt" + q, http.StatusNotFound},
		{prefix + "v/seg99999999999999999999.mp4" + q, http.StatusNotFound},
		{prefix + "v/part1.99999.mp4" + q, http.StatusNotFound},
		{prefix + "v/part1.x.mp4" + q, http.StatusNotFound},
		{prefix + "v/init-1.mp4" + q, http.StatusNotFound},
		{prefix + "x/index.m3u8" + q, http.StatusNotFound},
		{"/hls/demo/20000101T000000Z/v/seg1.mp4" + q, http.StatusNotFound},
		{"/hls/demo/..%2f..%2f/v/seg1.mp4" + q, http.StatusNotFound},
		{"/recordings/demo/..%2f/index.m3u8" + q, http.StatusNotFound},
		{"/recordings/demo/x/..%2f..%2fsecret.txt" + q, http.StatusNotFound},
		{"/recordings/demo/x/v/..%2f..%2f..%2fsecret.txt" + q, http.StatusNotFound},
		{prefix + "v/index.m3u8?_HLS_msn=1&_HLS_part=1&_HLS_msn=2" + strings.Replace(q, "?", "&", 1), http.StatusOK},
	} {
		code, _, b := h.get(c.path)
		if code != c.want || strings.Contains(string(b), "not for you") {
			t.Errorf("GET %s: %d %.80s, want %d", c.path, code, b, c.want)
		}
	}
	// Recordings of a private room are listed only with its token.
	if _, _, b := h.get("/recordings/"); strings.Contains(string(b), `"demo"`) {
		t.Errorf("a private room's recordings listed without a token: %s", b)
	}
	// CORS: a player on another origin may read, and preflight works.
	req, _ := http.NewRequest(http.MethodOptions, h.url+"/hls/demo/index.m3u8", nil)
	req.Header.Set("Origin", "https://player.example")
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

func (h *harness) get2WithCode(path string) (int, string) {
	code, _, b := h.get(path)
	return code, string(b)
}

// TestCacheHeaders: files are immutable, playlists short-lived with an
// ETag that answers 304.
func TestCacheHeaders(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	_, body := h.multivariant("demo")
	uri := renditionURIs("demo", body)["v"]
	m, _ := h.waitSegments(uri, 1)
	base := strings.TrimSuffix(uri, "index.m3u8")
	for _, f := range []string{"init0.mp4", m.Segments[0].URI, m.Segments[0].Parts[0].URI} {
		_, hdr, _ := h.get(base + f)
		if hdr.Get("Cache-Control") != cacheImmutable || hdr.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%s: %v", f, hdr)
		}
	}
	_, hdr, _ := h.get(uri)
	if hdr.Get("Cache-Control") != cachePlaylist || hdr.Get("ETag") == "" {
		t.Errorf("playlist headers %v", hdr)
	}
	req, _ := http.NewRequest(http.MethodGet, h.url+"/hls/demo/index.m3u8", nil)
	_, mvHdr, _ := h.get("/hls/demo/index.m3u8")
	req.Header.Set("If-None-Match", mvHdr.Get("ETag"))
	resp, err := h.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match: %d, want 304", resp.StatusCode)
	}
}
