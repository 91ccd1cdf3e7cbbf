package hls

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// whipRelay is a relay with its WHIP/WHEP routes and a packager (not
// started) on one loopback HTTP server, for tests that publish with a
// real pion client.
type whipRelay struct {
	srv  *relay.Server
	pk   *Server
	auth *auth.Authority
	h    *harness
}

func startWHIPRelay(t *testing.T) *whipRelay {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	a, _ := auth.New([]byte("0123456789abcdef0123456789abcdef"))
	srv, err := relay.New(relay.Config{Auth: a, BindIP: net.IPv4(127, 0, 0, 1), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	pk := New(Config{Media: RelayMedia(srv), Log: slog.New(slog.DiscardHandler), SegmentTarget: time.Second})
	mux := http.NewServeMux()
	srv.Register(mux)
	pk.Register(mux)
	ts := httptest.NewServer(mux)
	client := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(func() {
		pk.Close()
		ts.CloseClientConnections()
		ts.Close()
		srv.Close()
		client.CloseIdleConnections()
	})
	return &whipRelay{srv: srv, pk: pk, auth: a, h: &harness{t: t, url: ts.URL, client: client}}
}

func (w *whipRelay) token(room string) string {
	tok, _ := w.auth.Issue(auth.RolePublisher, room, "", time.Hour)
	return tok
}

// TestSimulcastVariants publishes three simulcast layers from a real pion
// WHIP client: the multivariant playlist has a variant per layer, with
// its picture size, and each variant's segments start on keyframes.
func TestSimulcastVariants(t *testing.T) {
	w := startWHIPRelay(t)
	h := w.h
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	var layers []peer.Layer
	for _, l := range []struct{ rid, file string }{{"h", "simulcast-720"}, {"m", "simulcast-360"}, {"l", "simulcast-180"}} {
		c, err := clip.Load("../clip/testdata/"+l.file+".h264", 30)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, peer.Layer{RID: l.rid, Clip: c})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	pub, err := peer.Publish(ctx, peer.PublishConfig{URL: h.url + "/whip/hall", Token: w.token("hall"),
		Clip: &clip.Clip{Audio: demo.Audio}, Layers: layers, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(true)
	// Start the packager once the three layers are in: a session's
	// renditions are the room's when it begins.
	deadline := time.Now().Add(15 * time.Second)
	for {
		rooms := w.srv.Rooms()
		if len(rooms) == 1 && len(rooms[0].Layers) == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the relay does not list three layers: %+v", rooms)
		}
		time.Sleep(100 * time.Millisecond)
	}
	w.pk.Start()

	mv, body := h.multivariant("hall")
	sizes := map[string]string{}
	for _, v := range mv.Variants {
		sizes[strings.Split(v.URI, "/")[1]] = v.Resolution
	}
	if sizes["v-h"] != "1280x720" || sizes["v-m"] != "640x360" || sizes["v-l"] != "320x180" {
		t.Fatalf("variants %v\n%s", sizes, body)
	}
	for name, uri := range renditionURIs("hall", body) {
		m, mbody := h.waitSegments(uri, 2)
		checkMedia(t, name, m, mbody, true, 3)
		if !strings.HasPrefix(name, "v") {
			continue
		}
		for _, s := range m.Segments {
			if len(s.Parts) > 0 && !s.Parts[0].Independent {
				t.Errorf("%s %s does not start with a keyframe", name, s.URI)
			}
		}
	}
}
