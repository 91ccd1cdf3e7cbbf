package load

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pion/rtp"
	"go.uber.org/goleak"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
)

// TestSimulcastRun runs the tool briefly with three layers against an
// in-process relay: the relay is sent all three, every viewer is placed on
// one, and on loopback nothing is lost. The viewers send no congestion
// feedback, so video=auto gives them all the best layer.
func TestSimulcastRun(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	paths, err := FindSimulcastClips(".")
	if err != nil {
		t.Fatal(err)
	}
	layers, err := LoadLayers(paths, 30)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	a, _ := auth.New([]byte("simulcast-secret-0123456789"))
	srv, err := relay.New(relay.Config{Auth: a, BindIP: net.IPv4(127, 0, 0, 1), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer http.DefaultClient.CloseIdleConnections()
	tok, _ := a.Issue(auth.RolePublisher, "sim", "", time.Hour)

	const viewers = 4
	sum, err := Run(t.Context(), Config{
		URL: hs.URL, Room: "sim", Token: tok, Clip: demo, Layers: layers, Viewers: viewers, Ramp: 400 * time.Millisecond,
		Settle: 1500 * time.Millisecond, Duration: 3 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum.Line())
	if sum.ViewersOK != viewers {
		t.Fatalf("viewers ok %d of %d (%v)", sum.ViewersOK, viewers, sum.FailReasons)
	}
	want := []struct {
		rid    string
		height int
	}{{"h", 720}, {"m", 360}, {"l", 180}}
	if len(sum.Layers) != len(want) {
		t.Fatalf("%d layers in the summary, want 3: %s", len(sum.Layers), sum.JSON())
	}
	placed := 0
	for i, w := range want {
		l := sum.Layers[i]
		if l.RID != w.rid || l.Height != w.height || l.PacketsSent == 0 {
			t.Errorf("layer %d: rid %q height %d, %d packets sent; want %s, %d, some", i, l.RID, l.Height, l.PacketsSent, w.rid, w.height)
		}
		placed += l.Viewers
		if l.Viewers > 0 && (l.Expected == 0 || l.Received == 0) {
			t.Errorf("layer %s: %d viewers but %d packets expected, %d received", l.RID, l.Viewers, l.Expected, l.Received)
		}
		// 0 on an idle machine; a loaded one's kernel may drop a packet.
		if l.LossPercent > 1 {
			t.Errorf("layer %s: loss %.2f %% on loopback", l.RID, l.LossPercent)
		}
	}
	if placed != viewers || sum.ViewersLayerUnknown != 0 {
		t.Errorf("%d viewers placed on layers, %d unknown; want all %d placed", placed, sum.ViewersLayerUnknown, viewers)
	}
	if h := sum.Layers[0]; h.Viewers != viewers || h.Moved != 0 {
		t.Errorf("%d viewers on h (%d moved), want all %d from the start", h.Viewers, h.Moved, viewers)
	}
	if sum.LatencySamples == 0 {
		t.Error("no frame latency measured")
	}
	if !strings.Contains(sum.Line(), "layers h 4 / m 0 / l 0") {
		t.Errorf("the one-line summary does not give the layers: %s", sum.Line())
	}
}

// A viewer's window on its layer: bounded by frame ends whose packet counts
// are exact on both sides, whatever the other layers do; a viewer whose
// timestamps leave its layer's timeline (moved) has no window.
func TestReceptionWindow(t *testing.T) {
	h := &stream{rid: "h", sent: newSendTimes(64)}
	m := &stream{rid: "m", sent: newSendTimes(64)}
	streams := []*stream{h, m}
	t0 := time.Unix(0, 0)
	// Frames of 3 packets on h, 1 on m, from unrelated timestamp bases.
	send := func(s *stream, ts uint32, n int) {
		for i := range n {
			s.sent.sent(ts, t0, i == n-1)
		}
	}
	recv := func(rx *reception, ts uint32, n int, measuring bool) *stream {
		var on *stream
		for i := range n {
			on = rx.packet(&rtp.Header{Timestamp: ts, Marker: i == n-1}, measuring, streams)
		}
		return on
	}

	rx := &reception{}
	for f := range uint32(10) {
		send(h, 1000+3000*f, 3)
		send(m, 900000+3000*f, 1)
	}
	recv(rx, 1000, 3, false) // before the window: counted, no bound
	if on := recv(rx, 4000, 3, true); on != h {
		t.Fatalf("window on %v, want h", on)
	}
	recv(rx, 7000, 2, true) // lost its last packet (the marker)
	recv(rx, 10000, 3, true)
	recv(rx, 13000, 3, true)
	s, expected, got, ok := rx.window()
	if !ok || s != h || expected != 9 || got != 8 {
		t.Errorf("window: %v %v expected %d got %d; want h, 9 expected, 8 got", ok, s, expected, got)
	}

	// The last packet of a frame overtakes the publisher's note of it:
	// the window starts at the next frame end.
	early := &reception{}
	h.sent.sent(50000, t0, false) // the frame's last packet not noted yet
	if on := recv(early, 50000, 3, true); on != nil {
		t.Errorf("window started on a frame not yet sent whole: %v", on)
	}
	h.sent.sent(50000, t0, true)
	send(h, 53000, 3)
	if on := recv(early, 53000, 3, true); on != h {
		t.Errorf("window on %v after the next frame end, want h", on)
	}

	// Moved: the relay rewrote the timestamps after the window began.
	moved := &reception{}
	recv(moved, 903000, 1, true)
	recv(moved, 906000, 1, true)
	recv(moved, 123456, 1, true)
	if _, _, _, ok := moved.window(); ok {
		t.Error("a moved viewer's window counted on its first layer")
	}
	if _, _, _, ok := (&reception{}).window(); ok {
		t.Error("a window without frame ends")
	}
}

func TestFindSimulcastClips(t *testing.T) {
	paths, err := FindSimulcastClips(".") // relay/load: found two levels up
	if err != nil {
		t.Fatal(err)
	}
	layers, err := LoadLayers(paths, 30)
	if err != nil {
		t.Fatal(err)
	}
	sizes := [][3]any{{"h", 1280, 720}, {"m", 640, 360}, {"l", 320, 180}}
	for i, l := range layers {
		w, h := pictureSize(l.Clip.Video)
		if got := [3]any{l.RID, w, h}; got != sizes[i] || l.Clip.Audio != nil {
			t.Errorf("layer %d: %v (audio %v), want %v without audio", i, got, l.Clip.Audio != nil, sizes[i])
		}
	}

	_, err = FindSimulcastClips(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--simulcast-clips") || !strings.Contains(err.Error(), "not under") {
		t.Errorf("outside the repository: %v; want where it looked and how to give clips", err)
	}
	if _, err := LoadLayers(paths[:1], 30); err == nil {
		t.Error("one layer accepted")
	}
	if _, err := LoadLayers(append(paths, paths[0]), 30); err == nil {
		t.Error("four layers accepted")
	}
	if _, err := LoadLayers([]string{paths[0], "no-such.h264"}, 30); err == nil || !strings.Contains(err.Error(), "layer m") {
		t.Errorf("missing clip: %v; want it named by its layer", err)
	}
}

// playingLayer reads the layer from the session's /select answer.
func TestPlayingLayer(t *testing.T) {
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Method != http.MethodPost || r.URL.Path != "/whep/sim/abc/select" || string(body) != "{}" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, "unexpected "+r.Method+" "+r.URL.Path+" "+string(body), http.StatusBadRequest)
			return
		}
		io.WriteString(w, `{"audio":"floor","sign":"","video":"auto","playing":{"audio":"floor","sign":"","video":"m","height":360}}`)
	}))
	defer hs.Close()
	r := newRunner(Config{Clip: &clip.Clip{}})
	if rid, err := r.playingLayer(context.Background(), hs.URL+"/whep/sim/abc"); err != nil || rid != "m" {
		t.Errorf("playing %q %v, want m", rid, err)
	}
	if _, err := r.playingLayer(context.Background(), hs.URL+"/whep/sim/gone"); err == nil {
		t.Error("an error answer gave a layer")
	}
}

func TestLayersLine(t *testing.T) {
	s := &Summary{Layers: []LayerSummary{
		{RID: "h", Viewers: 198, Expected: 10000, Received: 9990, LossPercent: 0.1},
		{RID: "m", Viewers: 1, Moved: 1},
		{RID: "l", Viewers: 1},
	}, ViewersLayerUnknown: 2}
	b := &strings.Builder{}
	s.layersLine(b)
	if want := ", layers h 198 / m 1 (1 moved) / l 1 / unknown 2, layer loss 0.10/0.00/0.00%"; b.String() != want {
		t.Errorf("%q\nwant %q", b.String(), want)
	}
}

// A viewer the relay moves to another layer during the window (the top
// layer stops at the publisher) leaves its layer's timeline: the tool asks
// the relay where it is and counts it there as moved, without its packets.
func TestSimulcastMovedViewers(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	paths, err := FindSimulcastClips(".")
	if err != nil {
		t.Fatal(err)
	}
	layers, err := LoadLayers(paths, 30)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := auth.New([]byte("simulcast-secret-0123456789"))
	srv, err := relay.New(relay.Config{Auth: a, BindIP: net.IPv4(127, 0, 0, 1), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	defer http.DefaultClient.CloseIdleConnections()
	tok, _ := a.Issue(auth.RolePublisher, "sim", "", time.Hour)

	// Run's steps, with the top layer stopped early in the window.
	const viewers = 2
	ctx := t.Context()
	r := newRunner(Config{URL: hs.URL, Room: "sim", Token: tok, Layers: layers, Viewers: viewers,
		Settle: time.Second, Duration: 4 * time.Second})
	if err := r.publish(ctx); err != nil {
		t.Fatal(err)
	}
	defer r.pub.Close(true)
	if err := r.waitLive(ctx); err != nil {
		t.Fatal(err)
	}
	r.captions = newCaptionLoad(r.base, r.cfg) // none: only its counters are read
	r.rampViewers(ctx)
	defer r.closeViewers()
	r.settle()
	stop := time.AfterFunc(500*time.Millisecond, func() { r.pub.StopLayer("h", true) })
	defer stop.Stop()
	w, err := r.measure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	sum := r.summarise(ctx, w)
	t.Log(sum.Line())
	if sum.ViewersOK != viewers {
		t.Fatalf("viewers ok %d of %d (%v)", sum.ViewersOK, viewers, sum.FailReasons)
	}
	if h, m := sum.Layers[0], sum.Layers[1]; h.Viewers != 0 || m.Viewers != viewers || m.Moved != viewers || m.Expected != 0 {
		t.Errorf("h %d viewers; m %d viewers, %d moved, %d packets expected; want all moved to m, none counted", h.Viewers, m.Viewers, m.Moved, m.Expected)
	}
	if sum.ViewersLayerUnknown != 0 {
		t.Errorf("%d viewers on no known layer", sum.ViewersLayerUnknown)
	}
}
