package relay

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/keyframe"
	"github.com/relay-av/relay/relay/peer"
)

// simulcastLayers are the test clips' layers, best first.
var simulcastLayers = []struct {
	rid           string
	file          string
	width, height int
}{
	{"h", "clip/testdata/simulcast-720.h264", 1280, 720},
	{"m", "clip/testdata/simulcast-360.h264", 640, 360},
	{"l", "clip/testdata/simulcast-180.h264", 320, 180},
}

// publishSimulcast publishes the three test layers (and the demo audio) to
// room and waits until the relay lists them.
func publishSimulcast(t *testing.T, r *testRelay, room string) *peer.Publisher {
	t.Helper()
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	var layers []peer.Layer
	for _, l := range simulcastLayers {
		c, err := clip.Load(l.file, 30)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, peer.Layer{RID: l.rid, Clip: c})
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pub, err := peer.Publish(ctx, peer.PublishConfig{URL: r.url + "/whip/" + room, Token: r.token(t, auth.RolePublisher, room),
		Clip: &clip.Clip{Audio: demo.Audio}, Layers: layers, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pub.Close(true) })
	waitFor(t, 10*time.Second, "three layers with their sizes", func() bool {
		ls := roomLayers(r, room)
		if len(ls) != len(simulcastLayers) {
			return false
		}
		for i, l := range simulcastLayers {
			if ls[i].RID != l.rid || ls[i].Width != l.width || ls[i].Height != l.height {
				return false
			}
		}
		return true
	})
	return pub
}

func roomLayers(r *testRelay, room string) []LayerInfo {
	for _, ri := range r.srv.Rooms() {
		if ri.Name == room {
			return ri.Layers
		}
	}
	return nil
}

// layerWatcher records, for one viewer, the picture size of every
// keyframe it receives, whether its first video packet started one, and
// the video bytes since a point in time.
type layerWatcher struct {
	mu        sync.Mutex
	sizes     [][2]int
	first     bool // the first video packet was seen
	firstKey  bool
	bytes     int
	sizeAfter [][2]int // keyframe sizes after mark
	mark      time.Time
}

func (w *layerWatcher) onPacket(kind webrtc.RTPCodecType, _ *rtp.Header, payload []byte, at time.Time) {
	if kind != webrtc.RTPCodecTypeVideo || payload == nil {
		return
	}
	key, _ := keyframe.IsStart(keyframe.H264, payload)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.first {
		w.first, w.firstKey = true, key
	}
	w.bytes += len(payload)
	if !key {
		return
	}
	if wd, ht, ok := keyframe.Size(keyframe.H264, payload); ok {
		w.sizes = append(w.sizes, [2]int{wd, ht})
		if !w.mark.IsZero() && at.After(w.mark) {
			w.sizeAfter = append(w.sizeAfter, [2]int{wd, ht})
		}
	}
}

func (w *layerWatcher) snapshot() (sizes [][2]int, firstKey bool, bytes int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([][2]int(nil), w.sizes...), w.firstKey, w.bytes
}

// Viewers pinned to each simulcast layer receive that layer only, from a
// keyframe; an "auto" viewer gets the best; a pinned viewer moved with
// /select gets the new layer from its keyframe, on the same track.
func TestSimulcastPinnedLayers(t *testing.T) {
	r := newTestRelay(t, nil)
	publishSimulcast(t, r, "hall")
	watch := func(query string) (*layerWatcher, *peer.Viewer) {
		w := &layerWatcher{}
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		v, err := peer.View(ctx, peer.ViewConfig{URL: r.url + "/whep/hall" + query, Options: peer.Options{Loopback: true}, OnPacket: w.onPacket})
		if err != nil {
			t.Fatalf("view %s: %v", query, err)
		}
		t.Cleanup(func() { v.Close(true) })
		return w, v
	}
	type viewer struct {
		want int // index into simulcastLayers
		w    *layerWatcher
		v    *peer.Viewer
	}
	var vs []viewer
	for i, l := range simulcastLayers {
		w, v := watch("?video=" + l.rid)
		vs = append(vs, viewer{i, w, v})
	}
	w, v := watch("?video=auto")
	vs = append(vs, viewer{0, w, v})
	waitFor(t, 10*time.Second, "two keyframes at every viewer", func() bool {
		for _, x := range vs {
			if sizes, _, _ := x.w.snapshot(); len(sizes) < 2 {
				return false
			}
		}
		return true
	})
	for _, x := range vs {
		sizes, firstKey, _ := x.w.snapshot()
		l := simulcastLayers[x.want]
		if !firstKey && !relayStartedOnKey(t, r, x.v) {
			// A loaded pion client drops SRTP that arrives before its
			// receivers start; what counts is what the relay sent first.
			t.Errorf("viewer of %s: the relay's first video packet did not start a keyframe", l.rid)
		}
		for _, s := range sizes {
			if s != [2]int{l.width, l.height} {
				t.Errorf("viewer of %s received a %dx%d keyframe, want %dx%d", l.rid, s[0], s[1], l.width, l.height)
			}
		}
	}
	// The low layer's viewer moves to the middle one.
	low := vs[2]
	low.w.mu.Lock()
	low.w.mark = time.Now()
	low.w.mu.Unlock()
	status, sel, raw, err := postSelectJSON(low.v.Session(), "application/json", `{"video":"m"}`)
	if err != nil || status != 200 || sel.Video != "m" {
		t.Fatalf("select video m: %d %s %v", status, raw, err)
	}
	waitFor(t, 5*time.Second, "the middle layer's keyframe at the moved viewer", func() bool {
		low.w.mu.Lock()
		defer low.w.mu.Unlock()
		return len(low.w.sizeAfter) > 0
	})
	low.w.mu.Lock()
	for _, s := range low.w.sizeAfter {
		if s != [2]int{640, 360} {
			t.Errorf("after selecting m the viewer received a %dx%d keyframe", s[0], s[1])
		}
	}
	low.w.mu.Unlock()
	if st := low.v.Stats(webrtc.RTPCodecTypeVideo); st.SeqJumps != 0 || st.TSBackwards != 0 {
		t.Errorf("the moved viewer's video track: %d sequence jumps, %d timestamps backwards", st.SeqJumps, st.TSBackwards)
	}
	// Unknown layers are refused.
	if status, _, _, _ := postSelectJSON(low.v.Session(), "application/json", `{"video":"x"}`); status != 422 {
		t.Errorf("select an unknown layer: %d, want 422", status)
	}
}

// A layer the publisher stops sending (an encoder under load drops its top
// layer) is taken out of the choice: its viewers move to the next layer
// within 2 s, and back when it returns.
func TestSimulcastLayerStops(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := publishSimulcast(t, r, "hall")
	w := &layerWatcher{}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	v, err := peer.View(ctx, peer.ViewConfig{URL: r.url + "/whep/hall", Options: peer.Options{Loopback: true}, OnPacket: w.onPacket})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(true)
	waitFor(t, 10*time.Second, "the top layer", func() bool {
		sizes, _, _ := w.snapshot()
		return len(sizes) > 0 && sizes[len(sizes)-1] == [2]int{1280, 720}
	})
	stopped := time.Now()
	pub.StopLayer("h", true)
	waitFor(t, 5*time.Second, "the middle layer after the top one stopped", func() bool {
		sizes, _, _ := w.snapshot()
		return sizes[len(sizes)-1] == [2]int{640, 360}
	})
	moved := time.Since(stopped)
	t.Logf("moved to the middle layer %v after the top layer stopped", moved.Round(time.Millisecond))
	// The middle layer's first keyframe can be up to its GOP away (1 s)
	// after the relay asks; the relay must notice within 2 s.
	if moved > 3500*time.Millisecond {
		t.Errorf("viewer moved %v after the layer stopped; want the layer noticed within 2 s", moved)
	}
	waitFor(t, 5*time.Second, "the layer out of the list", func() bool {
		for _, l := range roomLayers(r, "hall") {
			if l.RID == "h" {
				return false
			}
		}
		return true
	})
	pub.StopLayer("h", false)
	waitFor(t, 8*time.Second, "the top layer again", func() bool {
		sizes, _, _ := w.snapshot()
		return sizes[len(sizes)-1] == [2]int{1280, 720}
	})
}

// relayStartedOnKey says whether the relay's first video packet to the
// viewer started a keyframe.
func relayStartedOnKey(t *testing.T, r *testRelay, v *peer.Viewer) bool {
	t.Helper()
	room, err := r.srv.room("hall", false)
	if err != nil {
		t.Fatal(err)
	}
	sv := room.viewer(v.Session()[strings.LastIndexByte(v.Session(), '/')+1:])
	if sv == nil {
		t.Fatal("viewer not found in the room")
	}
	for _, tr := range sv.tracks {
		if f := tr.forwarder(); f != nil && tr.role == roleVideo {
			return f.firstKey.Load()
		}
	}
	return false
}
