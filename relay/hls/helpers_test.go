package hls

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gohlslib/v2/pkg/playlist"
	"go.uber.org/goleak"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
)

// harness is a real relay publishing the demo clip (floor, and the
// French booth), a packager on it, and its HTTP routes on loopback.
type harness struct {
	t       *testing.T
	relay   *relay.Server
	hls     *Server
	url     string
	caps    *fakeCaptions
	client  *http.Client
	dir     string
	stopPub context.CancelFunc
	pubDone chan struct{}
}

type harnessOpts struct {
	booths  []string           // language channels published beside the floor
	rooms   []relay.RoomConfig // declared rooms
	private bool
	config  func(*Config)
}

func startHarness(t *testing.T, o harnessOpts) *harness {
	t.Helper()
	// Registered first, so it runs last: after the harness has stopped.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	a, err := auth.New([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	rooms := o.rooms
	if rooms == nil {
		rooms = []relay.RoomConfig{{Name: "demo", Languages: []string{"fr", "ar"}, Private: o.private}}
	}
	srv, err := relay.New(relay.Config{Auth: a, BindIP: net.IPv4(127, 0, 0, 1), Logger: slog.New(slog.DiscardHandler), Rooms: rooms})
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, relay: srv, caps: newFakeCaptions("en", "fr"), dir: t.TempDir(), pubDone: make(chan struct{}), client: &http.Client{Transport: &http.Transport{}, Timeout: 30 * time.Second}}
	cfg := Config{Media: RelayMedia(srv), Captions: h.caps, Log: slog.New(slog.DiscardHandler), Dir: h.dir,
		Record: func(string) bool { return true }, SegmentTarget: time.Second, SessionGap: time.Second}
	if o.private {
		cfg.Allow = func(r *http.Request, room string) error {
			_, err := a.Check(r.URL.Query().Get("token"), auth.Need{Role: auth.RoleViewer, Room: room})
			return err
		}
	}
	if o.config != nil {
		o.config(&cfg)
	}
	h.hls = New(cfg)
	mux := http.NewServeMux()
	h.hls.Register(mux)
	ts := httptest.NewServer(mux)
	h.url = ts.URL
	ctx, cancel := context.WithCancel(context.Background())
	h.stopPub = cancel
	var wg sync.WaitGroup
	publish := func(lang string, c *clip.Clip) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = srv.PublishClip(ctx, "demo", lang, c)
		}()
	}
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	publish("", demo)
	for _, lang := range o.booths {
		b, err := clip.Booth(lang)
		if err != nil {
			t.Fatal(err)
		}
		publish(lang, b)
	}
	go func() {
		wg.Wait()
		close(h.pubDone)
	}()
	h.hls.Start()
	t.Cleanup(func() {
		cancel()
		<-h.pubDone
		h.hls.Close()
		ts.CloseClientConnections()
		ts.Close()
		srv.Close()
		h.client.CloseIdleConnections()
	})
	return h
}

// stopPublishing ends the clips: the room goes off air.
func (h *harness) stopPublishing() {
	h.stopPub()
	<-h.pubDone
}

// get fetches path; it fails the test on a transport error.
func (h *harness) get(path string) (int, http.Header, []byte) {
	h.t.Helper()
	resp, err := h.client.Get(h.url + path)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// multivariant waits for the room's multivariant playlist.
func (h *harness) multivariant(room string) (*playlist.Multivariant, string) {
	h.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		code, _, body := h.get("/hls/" + room + "/index.m3u8")
		if code == http.StatusOK {
			pl, err := playlist.Unmarshal(body)
			if err != nil {
				h.t.Fatalf("multivariant playlist does not parse: %v\n%s", err, body)
			}
			mv, ok := pl.(*playlist.Multivariant)
			if !ok {
				h.t.Fatalf("not a multivariant playlist:\n%s", body)
			}
			return mv, string(body)
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("no multivariant playlist: %d %s", code, body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// media fetches and parses a media playlist at path (relative to /hls/room/).
func (h *harness) media(path string) (*playlist.Media, string) {
	h.t.Helper()
	code, _, body := h.get(path)
	if code != http.StatusOK {
		h.t.Fatalf("GET %s: %d %s", path, code, body)
	}
	pl, err := playlist.Unmarshal(body)
	if err != nil {
		h.t.Fatalf("media playlist %s does not parse: %v\n%s", path, err, body)
	}
	m, ok := pl.(*playlist.Media)
	if !ok {
		h.t.Fatalf("%s is not a media playlist", path)
	}
	return m, string(body)
}

// waitSegments waits until the media playlist at path has n complete segments.
func (h *harness) waitSegments(path string, n int) (*playlist.Media, string) {
	h.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		// A playlist without a complete segment yet does not parse
		// (gohlslib wants one): wait for n of them first.
		if _, _, b := h.get(path); strings.Count(string(b), "#EXTINF") >= n {
			m, body := h.media(path)
			return m, body
		}
		if time.Now().After(deadline) {
			_, _, b := h.get(path)
			h.t.Fatalf("%s has fewer than %d segments:\n%s", path, n, b)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// sessionPrefix is /hls/room/<session>/ from a multivariant playlist.
func sessionPrefix(room, body string) string {
	m := regexp.MustCompile(`URI="([0-9TZ]+)/`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return "/hls/" + room + "/" + m[1] + "/"
}

// fakeCaptions stands in for the captions service: finals pushed by the
// test, corrections applied in place.
type fakeCaptions struct {
	mu   sync.Mutex
	seq  uint64
	cues map[string][]Cue
}

func newFakeCaptions(langs ...string) *fakeCaptions {
	f := &fakeCaptions{cues: map[string][]Cue{}}
	for _, l := range langs {
		f.cues[l] = nil
	}
	return f
}

func (f *fakeCaptions) Languages(string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for l := range f.cues {
		out = append(out, l)
	}
	sort.Strings(out)
	return out
}

func (f *fakeCaptions) Finals(_, lang string) []Cue {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Cue(nil), f.cues[lang]...)
}

// push adds a final that began at start; it returns its seq.
func (f *fakeCaptions) push(lang, text string, start time.Time) uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	f.cues[lang] = append(f.cues[lang], Cue{Seq: f.seq, Text: text, Start: start})
	return f.seq
}

func (f *fakeCaptions) correct(lang string, seq uint64, text string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range f.cues[lang] {
		if f.cues[lang][i].Seq == seq {
			f.cues[lang][i].Text = text
		}
	}
}

// renditionURIs maps each rendition's name to its playlist path.
func renditionURIs(room, body string) map[string]string {
	out := map[string]string{}
	prefix := sessionPrefix(room, body)
	for _, m := range regexp.MustCompile(`[0-9TZ]+/([a-z0-9-]+)/index\.m3u8`).FindAllStringSubmatch(body, -1) {
		out[m[1]] = prefix + m[1] + "/index.m3u8"
	}
	return out
}

func lines(s string) []string { return strings.Split(strings.TrimSpace(s), "\n") }
