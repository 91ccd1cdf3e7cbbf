package relay

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

type testRelay struct {
	srv  *Server
	http *httptest.Server
	auth *auth.Authority
	url  string
}

func newTestRelay(t testing.TB, mod func(*Config)) *testRelay {
	t.Helper()
	a, err := auth.New([]byte("test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	level := slog.LevelWarn
	if os.Getenv("RELAY_TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	cfg := Config{
		Auth:    a,
		BindIP:  net.IPv4(127, 0, 0, 1),
		Logger:  slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
		Rooms:   []RoomConfig{{Name: "closed", Private: true}},
		UDPPort: 0,
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	s.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		hs.Close()
		s.Close()
	})
	return &testRelay{srv: s, http: hs, auth: a, url: hs.URL}
}

func (r *testRelay) token(t testing.TB, role auth.Role, room string) string {
	t.Helper()
	tok, err := r.auth.Issue(role, room, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (r *testRelay) publish(t testing.TB, room string) *peer.Publisher {
	return r.publishWith(t, room, peer.Options{Loopback: true})
}

func (r *testRelay) publishWith(t testing.TB, room string, o peer.Options) *peer.Publisher {
	t.Helper()
	c, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, err := peer.Publish(ctx, peer.PublishConfig{
		URL: r.url + "/whip/" + room, Token: r.token(t, auth.RolePublisher, room), Clip: c,
		Options: o,
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitLive waits until the room has its video track.
func (r *testRelay) waitLive(t testing.TB, room string) {
	t.Helper()
	waitFor(t, 10*time.Second, "room live", func() bool {
		for _, ri := range r.srv.Rooms() {
			if ri.Name == room && ri.State == StateLive && len(ri.Tracks) == 2 {
				return true
			}
		}
		return false
	})
}

func (r *testRelay) view(t testing.TB, room string) *peer.Viewer {
	return r.viewWith(t, room, peer.Options{Loopback: true})
}

func (r *testRelay) viewWith(t testing.TB, room string, o peer.Options) *peer.Viewer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := peer.View(ctx, peer.ViewConfig{URL: r.url + "/whep/" + room, Options: o})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPublishAndTwentyViewers(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := r.publish(t, "plenary")
	r.waitLive(t, "plenary")

	const n = 20
	viewers := make([]*peer.Viewer, n)
	var wg sync.WaitGroup
	for i := range viewers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			viewers[i] = r.view(t, "plenary")
		}()
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "video and audio at every viewer", func() bool {
		for _, v := range viewers {
			if v.Stats(webrtc.RTPCodecTypeVideo).Frames < 10 || v.Stats(webrtc.RTPCodecTypeAudio).Packets < 10 {
				return false
			}
		}
		return true
	})
	room, _ := r.srv.room("plenary", false)
	for i, f := range *room.groups[webrtc.RTPCodecTypeVideo].fwd.Load() {
		if !f.firstKey.Load() {
			t.Errorf("forwarder %d: first packet sent was not the start of a keyframe", i)
		}
	}
	before := make([]uint64, n)
	for i, v := range viewers {
		st := v.Stats(webrtc.RTPCodecTypeVideo)
		t.Logf("viewer %d: first video packet %v, first complete keyframe %v after the request", i,
			st.FirstAt.Sub(v.Started()).Round(time.Millisecond), st.FirstKeyAt.Sub(v.Started()).Round(time.Millisecond))
		if !st.FirstIsKey {
			// The relay sent the keyframe first (checked above); a pion
			// client under load can drop SRTP that beats its receiver setup.
			t.Logf("viewer %d: first video packet received is not a keyframe start", i)
		}
		if st.Codec != webrtc.MimeTypeH264 {
			t.Errorf("viewer %d: codec %s", i, st.Codec)
		}
		before[i] = st.Frames
	}
	time.Sleep(500 * time.Millisecond)
	for i, v := range viewers {
		st := v.Stats(webrtc.RTPCodecTypeVideo)
		if st.Frames <= before[i] {
			t.Errorf("viewer %d: frames stopped at %d", i, st.Frames)
		}
		if st.TSBackwards != 0 {
			t.Errorf("viewer %d: %d timestamps went backwards", i, st.TSBackwards)
		}
	}
	if got := roomInfo(t, r, "plenary").Viewers; got != n {
		t.Errorf("room has %d viewers, want %d", got, n)
	}
	for i, v := range viewers {
		if err := v.Close(true); err != nil {
			t.Errorf("viewer %d close: %v", i, err)
		}
	}
	waitFor(t, 5*time.Second, "viewers gone", func() bool { return roomInfo(t, r, "plenary").Viewers == 0 })
	if got := r.srv.viewers.Load(); got != 0 {
		t.Errorf("server counts %d viewers after all left", got)
	}
	if err := pub.Close(true); err != nil {
		t.Fatalf("publisher close: %v", err)
	}
	ri := roomInfo(t, r, "plenary")
	if ri.State != StateIdle || ri.Publisher != nil {
		t.Errorf("after DELETE the room is %s with publisher %v", ri.State, ri.Publisher)
	}
}

func roomInfo(t testing.TB, r *testRelay, name string) RoomInfo {
	t.Helper()
	for _, ri := range r.srv.Rooms() {
		if ri.Name == name {
			return ri
		}
	}
	t.Fatalf("no room %s", name)
	return RoomInfo{}
}

func TestPublisherReplacement(t *testing.T) {
	r := newTestRelay(t, nil)
	first := r.publish(t, "hall")
	r.waitLive(t, "hall")
	v := r.view(t, "hall")
	defer v.Close(true)
	waitFor(t, 10*time.Second, "first publisher's frames", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 15 })
	st1 := v.Stats(webrtc.RTPCodecTypeVideo)

	// The encoder reconnects before its old session timed out.
	second := r.publish(t, "hall")
	defer second.Close(true)
	waitFor(t, 5*time.Second, "old publisher closed", func() bool {
		return first.ConnectionState() == webrtc.PeerConnectionStateClosed || first.ConnectionState() == webrtc.PeerConnectionStateFailed || first.ConnectionState() == webrtc.PeerConnectionStateDisconnected
	})
	first.Close(false)
	switched := time.Now()
	waitFor(t, 5*time.Second, "frames from the new publisher", func() bool {
		return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= st1.Frames+45
	})
	t.Logf("resumed %d frames in %v after the switch", v.Stats(webrtc.RTPCodecTypeVideo).Frames-st1.Frames, time.Since(switched))
	st2 := v.Stats(webrtc.RTPCodecTypeVideo)
	if st2.SSRC != st1.SSRC {
		t.Errorf("SSRC changed %x -> %x: the viewer would need to renegotiate", st1.SSRC, st2.SSRC)
	}
	if st2.TSBackwards != 0 {
		t.Errorf("%d timestamps went backwards across the switch", st2.TSBackwards)
	}
	if st2.Repeats > 0 {
		t.Errorf("%d sequence numbers repeated across the switch", st2.Repeats)
	}
	if int32(st2.LastTS-st1.LastTS) <= 0 {
		t.Errorf("timestamp did not move forward: %d -> %d", st1.LastTS, st2.LastTS)
	}
	if v.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Errorf("viewer connection is %s", v.ConnectionState())
	}
	if got := roomInfo(t, r, "hall"); got.State != StateLive || got.Viewers != 1 {
		t.Errorf("room %s with %d viewers", got.State, got.Viewers)
	}
}

func TestPLIAggregation(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := r.publish(t, "side")
	defer pub.Close(true)
	r.waitLive(t, "side")
	time.Sleep(1200 * time.Millisecond) // let the publisher's own start-up PLIs pass
	before := pub.PLIs()
	start := time.Now()
	const n = 50
	viewers := make([]*peer.Viewer, 0, n)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := r.view(t, "side")
			mu.Lock()
			viewers = append(viewers, v)
			mu.Unlock()
		}()
		time.Sleep(time.Second / n)
	}
	wg.Wait()
	waitFor(t, 10*time.Second, "all viewers playing", func() bool {
		for _, v := range viewers {
			if v.Stats(webrtc.RTPCodecTypeVideo).Frames == 0 {
				return false
			}
		}
		return true
	})
	elapsed := time.Since(start).Seconds()
	plis := pub.PLIs() - before
	t.Logf("%d joins over %.1f s caused %d PLIs", n, elapsed, plis)
	if limit := 2 * (elapsed + 1); float64(plis) > limit {
		t.Errorf("%d PLIs in %.1f s, want at most 2 per second", plis, elapsed)
	}
	for _, v := range viewers {
		v.Close(true)
	}
}

func TestNACKFromSharedHistory(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := r.publish(t, "nack")
	defer pub.Close(true)
	r.waitLive(t, "nack")
	v := r.viewWith(t, "nack", peer.Options{Loopback: true, SeeResends: true})
	defer v.Close(true)
	other := r.viewWith(t, "nack", peer.Options{Loopback: true, SeeResends: true})
	defer other.Close(true)
	waitFor(t, 10*time.Second, "frames", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 5 })
	st := v.Stats(webrtc.RTPCodecTypeVideo)
	// Pretend the last three packets were lost.
	lost := []uint16{st.LastSeq - 2, st.LastSeq - 1, st.LastSeq}
	if err := v.SendNACK(lost...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "resent packets", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Repeats >= 3 })
	if rep := other.Stats(webrtc.RTPCodecTypeVideo).Repeats; rep != 0 {
		t.Errorf("the other viewer got %d repeats", rep)
	}
	var nacked uint64
	room, _ := r.srv.room("nack", false)
	for _, f := range *room.groups[webrtc.RTPCodecTypeVideo].fwd.Load() {
		nacked += f.nacked.Load()
	}
	if nacked < 3 {
		t.Errorf("forwarders resent %d packets, want 3", nacked)
	}
}

func TestRoomStateAndCleanup(t *testing.T) {
	r := newTestRelay(t, nil)
	resp, err := http.Get(r.url + "/whep/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET on WHEP endpoint: %d", resp.StatusCode)
	}
}

// TestVP8Room: a VP8 publisher (from an IVF clip) reaches a viewer whose
// first packet starts a VP8 keyframe; a player that offers only H.264 is
// told so.
func TestVP8Room(t *testing.T) {
	r := newTestRelay(t, nil)
	c, err := clip.Load("clip/testdata/small.ivf", 30)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := peer.Publish(t.Context(), peer.PublishConfig{URL: r.url + "/whip/vp8", Token: r.token(t, auth.RolePublisher, "vp8"),
		Clip: c, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(true)
	waitFor(t, 10*time.Second, "room live", func() bool {
		ri := roomInfo(t, r, "vp8")
		return ri.State == StateLive && len(ri.Tracks) == 1
	})
	v, err := peer.View(t.Context(), peer.ViewConfig{URL: r.url + "/whep/vp8", Options: peer.Options{Loopback: true}, NoAudio: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(true)
	waitFor(t, 10*time.Second, "VP8 frames", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 10 })
	room, _ := r.srv.room("vp8", false)
	for _, f := range *room.groups[webrtc.RTPCodecTypeVideo].fwd.Load() {
		if !f.firstKey.Load() {
			t.Error("first VP8 packet sent was not the start of a keyframe")
		}
	}
	st := v.Stats(webrtc.RTPCodecTypeVideo)
	if st.Codec != webrtc.MimeTypeVP8 {
		t.Errorf("codec %s", st.Codec)
	}
	if !st.FirstIsKey {
		// As in TestPublishAndTwentyViewers: a pion client under load can
		// drop SRTP that beats its receiver setup.
		t.Log("first VP8 packet received is not a keyframe start")
	}
	req, _ := http.NewRequest("POST", r.url+"/whep/vp8", strings.NewReader(h264Offer))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotAcceptable {
		t.Errorf("H.264-only player of a VP8 room: %d", resp.StatusCode)
	}
}

// A header-only viewer (the load tool's) counts exactly what the relay sent
// it, with its payload checks done on the first keyframe, as a full viewer
// beside it does.
func TestHeaderOnlyViewer(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := r.publish(t, "hall")
	r.waitLive(t, "hall")
	full := r.view(t, "hall")
	defer full.Close(true)
	var hooked atomic.Int64
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	light, err := peer.View(ctx, peer.ViewConfig{URL: r.url + "/whep/hall", Options: peer.Options{Loopback: true}, HeaderOnly: true,
		OnPacket: func(kind webrtc.RTPCodecType, h *rtp.Header, payload []byte, _ time.Time) {
			if payload == nil && h.SSRC != 0 {
				hooked.Add(1)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer light.Close(true)
	waitFor(t, 10*time.Second, "header-only counting of both tracks", func() bool {
		return light.Stats(webrtc.RTPCodecTypeVideo).HeaderOnly > 100 && light.Stats(webrtc.RTPCodecTypeAudio).HeaderOnly > 20
	})
	pub.Close(true)
	time.Sleep(300 * time.Millisecond) // the last packets arrive
	room, _ := r.srv.room("hall", false)
	for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
		t.Run(kind.String(), func(t *testing.T) {
			st := light.Stats(kind)
			var sent uint64
			for _, f := range *room.groups[kind].fwd.Load() {
				if f.ssrc == st.SSRC {
					sent = f.packets.Load()
				}
			}
			t.Logf("relay sent %d, header-only viewer counted %d (%d from headers), full viewer %d", sent, st.Packets, st.HeaderOnly, full.Stats(kind).Packets)
			if st.Packets != sent || st.MissingTotal != 0 || st.Repeats != 0 || st.TSBackwards != 0 {
				t.Errorf("header-only viewer %+v, relay sent %d", st, sent)
			}
		})
	}
	if !light.Stats(webrtc.RTPCodecTypeVideo).FirstIsKey {
		t.Log("first video packet received is not a keyframe start (a loaded pion client can drop early SRTP)")
	}
	if hooked.Load() == 0 {
		t.Error("OnPacket never saw a header-only packet")
	}
}
