package peer

import (
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/relay-av/relay/relay/clip"
)

// answerer is a WHIP endpoint backed by pion, as the relay is: it answers
// each offer with a peer connection that records what every track brings.
type answerer struct {
	t   *testing.T
	api *webrtc.API
	wg  sync.WaitGroup

	mu     sync.Mutex
	pcs    []*webrtc.PeerConnection
	tracks map[string]*gotTrack // by rid; "audio" for the audio track
}

// gotTrack is what the answerer saw of one track.
type gotTrack struct {
	remote  *webrtc.TrackRemote
	packets int
	payload []string // content key of every packet (see contentKey)
	badIDs  int      // packets without the right mid and rid extensions
}

func newAnswerer(t *testing.T, interceptors bool) *answerer {
	api, err := NewAPI(Options{Loopback: true}, interceptors)
	if err != nil {
		t.Fatal(err)
	}
	return &answerer{t: t, api: api, tracks: map[string]*gotTrack{}}
}

func (a *answerer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodDelete {
		return
	}
	offer, _ := io.ReadAll(r.Body)
	pc, err := a.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	a.mu.Lock()
	a.pcs = append(a.pcs, pc)
	a.mu.Unlock()
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			a.read(tr, recv)
		}()
	})
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: string(offer)}); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	<-gathered
	w.Header().Set("Location", "/session/1")
	w.WriteHeader(http.StatusCreated)
	_, _ = io.WriteString(w, pc.LocalDescription().SDP)
}

// read records a track's packets until its peer connection closes.
func (a *answerer) read(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
	var midID, ridID uint8
	for _, e := range recv.GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	key := tr.RID()
	if tr.Kind() == webrtc.RTPCodecTypeAudio {
		key = "audio"
	}
	g := &gotTrack{remote: tr}
	a.mu.Lock()
	if a.tracks[key] != nil {
		a.t.Errorf("a second track for %q", key)
	}
	a.tracks[key] = g
	a.mu.Unlock()
	for {
		p, _, err := tr.ReadRTP()
		if err != nil {
			return
		}
		a.mu.Lock()
		g.packets++
		g.payload = append(g.payload, contentKey(tr.Codec().MimeType, p.Payload))
		if key != "audio" && (len(p.GetExtension(midID)) == 0 || string(p.GetExtension(ridID)) != key) {
			g.badIDs++
		}
		a.mu.Unlock()
	}
}

// got returns a copy of what the answerer saw of track key.
func (a *answerer) got(key string) (gotTrack, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	g, ok := a.tracks[key]
	if !ok {
		return gotTrack{}, false
	}
	c := *g
	c.payload = append([]string(nil), g.payload...)
	return c, true
}

func (a *answerer) close() {
	a.mu.Lock()
	pcs := a.pcs
	a.mu.Unlock()
	for _, pc := range pcs {
		_ = pc.Close()
	}
	a.wg.Wait()
}

// contentKey identifies an RTP payload by its media bytes: for VP8 without
// the payload descriptor, whose picture id keeps counting across loops.
func contentKey(mime string, payload []byte) string {
	if strings.EqualFold(mime, webrtc.MimeTypeVP8) {
		var vp8 codecs.VP8Packet
		if b, err := vp8.Unmarshal(payload); err == nil {
			payload = b
		}
	}
	h := sha256.Sum256(payload)
	return string(h[:])
}

// contentKeys are the content keys of one loop of track's packets.
func contentKeys(track *clip.Track) map[string]bool {
	keys := map[string]bool{}
	s := clip.NewStream(track, 96, 1)
	for p := s.Next(); p.Frame < uint64(len(track.Frames)); p = s.Next() {
		keys[contentKey(track.Mime, p.Payload)] = true
	}
	return keys
}

// syntheticVP8 is a 30 fps VP8 track of frames of size bytes filled with
// fill, a keyframe every second: each layer's packets are its own.
func syntheticVP8(fill byte, size int) *clip.Clip {
	tr := &clip.Track{Mime: clip.MimeVP8, ClockRate: 90000}
	for i := range 60 {
		f := make([]byte, size)
		for j := range f {
			f[j] = fill
		}
		key := i%30 == 0
		f[0] = 0x11 // bit 0 set: interframe
		if key {
			f[0] = 0x10
		}
		tr.Frames = append(tr.Frames, clip.Frame{Data: f, Duration: time.Second / 30, Key: key})
	}
	return &clip.Clip{Video: tr}
}

// h264Layers are the simulcast test clips when they exist, else the demo
// clip three times.
func h264Layers(t *testing.T) []Layer {
	var layers []Layer
	for _, l := range []struct{ rid, file string }{{"h", "simulcast-720.h264"}, {"m", "simulcast-360.h264"}, {"l", "simulcast-180.h264"}} {
		path := "../clip/testdata/" + l.file
		if _, err := os.Stat(path); err != nil {
			layers = nil
			break
		}
		c, err := clip.Load(path, 30)
		if err != nil {
			t.Fatal(err)
		}
		layers = append(layers, Layer{RID: l.rid, Clip: c})
	}
	if layers != nil {
		t.Log("layers from relay/clip/testdata/simulcast-*.h264")
		return layers
	}
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	t.Log("no simulcast clips yet: the demo clip for every layer")
	return []Layer{{"h", demo}, {"m", demo}, {"l", demo}}
}

func TestPublishSimulcast(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		layers func(*testing.T) []Layer
		audio  *clip.Clip
	}{
		{"VP8 distinct layers with audio", func(*testing.T) []Layer {
			return []Layer{{"h", syntheticVP8('h', 3000)}, {"m", syntheticVP8('m', 1000)}, {"l", syntheticVP8('l', 300)}}
		}, &clip.Clip{Audio: demo.Audio}},
		{"H264 clips", h264Layers, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { testPublishSimulcast(t, tc.layers(t), tc.audio) })
	}
}

func testPublishSimulcast(t *testing.T, layers []Layer, audio *clip.Clip) {
	a := newAnswerer(t, true)
	srv := httptest.NewServer(a)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	defer a.close()

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	pub, err := Publish(ctx, PublishConfig{URL: srv.URL + "/whip/room", Clip: audio, Layers: layers, Options: Options{Loopback: true, Client: client}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(true)

	want := []string{"h", "m", "l"}
	if audio != nil {
		want = append(want, "audio")
	}
	for _, key := range want {
		for {
			if g, ok := a.got(key); ok && g.packets >= 60 {
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("track %q: fewer than 60 packets in 10 s", key)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	stats := pub.Layers()
	if len(stats) != len(layers) {
		t.Fatalf("Layers() = %d layers, want %d", len(stats), len(layers))
	}
	for i, l := range layers {
		g, _ := a.got(l.RID)
		own := contentKeys(l.Clip.Video)
		foreign := 0
		for _, k := range g.payload {
			if !own[k] {
				foreign++
			}
		}
		if foreign > 0 {
			t.Errorf("layer %s: %d of %d packets are not from its clip", l.RID, foreign, len(g.payload))
		}
		if g.badIDs > 0 {
			t.Errorf("layer %s: %d of %d packets lack its mid and rid extensions", l.RID, g.badIDs, g.packets)
		}
		st := stats[i]
		if st.RID != l.RID || st.SSRC != uint32(g.remote.SSRC()) || st.Packets == 0 || st.Frames == 0 {
			t.Errorf("Layers()[%d] = %+v; the answerer got %s on SSRC %d", i, st, l.RID, g.remote.SSRC())
		}
	}

	// A keyframe request for the middle layer is counted there only.
	m, _ := a.got("m")
	a.mu.Lock()
	pc := a.pcs[0]
	a.mu.Unlock()
	if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: uint32(m.remote.SSRC())}}); err != nil {
		t.Fatal(err)
	}
	for pub.Layers()[1].PLIs == 0 {
		if ctx.Err() != nil {
			t.Fatal("the PLI for layer m never arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a PLI miscounted on another layer would show by now
	for _, st := range pub.Layers() {
		want := uint64(0)
		if st.RID == "m" {
			want = 1
		}
		if st.PLIs != want {
			t.Errorf("layer %s: %d PLIs, want %d", st.RID, st.PLIs, want)
		}
	}
	if pub.PLIs() != 1 {
		t.Errorf("PLIs() = %d, want 1", pub.PLIs())
	}
}

// TestPublishSimulcastRefused: an answerer without the mid and rid header
// extensions cannot tell the layers apart, and Publish says so.
func TestPublishSimulcastRefused(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a := newAnswerer(t, false)
	srv := httptest.NewServer(a)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	defer a.close()
	layers := []Layer{{"h", syntheticVP8('h', 3000)}, {"l", syntheticVP8('l', 300)}}
	pub, err := Publish(t.Context(), PublishConfig{URL: srv.URL + "/whip/room", Layers: layers, Options: Options{Loopback: true, Client: client}})
	if err == nil {
		pub.Close(true)
		t.Fatal("Publish succeeded without the simulcast header extensions")
	}
	t.Log(err)
}

func TestPublishConfigLayers(t *testing.T) {
	vp8 := syntheticVP8('x', 100)
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	for name, layers := range map[string][]Layer{
		"empty rid":    {{"", vp8}},
		"long rid":     {{"abcdefghijklmnopq", vp8}},
		"rid with dot": {{"h.1", vp8}},
		"rid twice":    {{"h", vp8}, {"h", vp8}},
		"no clip":      {{"h", nil}},
		"audio only":   {{"h", &clip.Clip{Audio: demo.Audio}}},
		"mixed codecs": {{"h", vp8}, {"l", demo}},
	} {
		t.Run(name, func(t *testing.T) {
			if err := (PublishConfig{Layers: layers}).check(); err == nil {
				t.Error("accepted")
			}
		})
	}
	if err := (PublishConfig{Layers: []Layer{{"h-1", vp8}, {"l_2", vp8}}}).check(); err != nil {
		t.Error(err)
	}
}
