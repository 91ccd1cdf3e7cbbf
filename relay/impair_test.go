package relay

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/impair"
	"github.com/relay-av/relay/relay/peer"
)

// viaProxy routes one client's media through an impairment proxy: the
// relay's host candidate in the answer is replaced by the proxy's address.
func viaProxy(t *testing.T, r *testRelay, up, down impair.Damage, seed int64) (peer.Options, *impair.Proxy) {
	t.Helper()
	relayAddr := r.srv.UDPAddr().String()
	px, err := impair.New(impair.Config{Upstream: r.srv.udpConn.LocalAddr().(*net.UDPAddr), Up: up, Down: down, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	relayPort := relayAddr[strings.LastIndexByte(relayAddr, ':')+1:]
	proxyPort := fmt.Sprint(px.Addr().Port)
	return peer.Options{Loopback: true, RewriteAnswer: func(sdp string) string {
		return strings.ReplaceAll(sdp, " "+relayPort+" typ host", " "+proxyPort+" typ host")
	}}, px
}

// TestLossyPublisherLink: 5 % of the publisher's packets are lost on the way
// in; the relay's NACKs get them resent, and viewers' frame rate stays close
// to the source's with no stall.
func TestLossyPublisherLink(t *testing.T) {
	r := newTestRelay(t, nil)
	opts, px := viaProxy(t, r, impair.Damage{Loss: 0.05}, impair.Damage{}, 1)
	pub := r.publishWith(t, "lossy", opts)
	defer pub.Close(true)
	r.waitLive(t, "lossy")
	v := r.view(t, "lossy")
	defer v.Close(true)
	waitFor(t, 10*time.Second, "frames", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 10 })
	startV, startP := v.Stats(webrtc.RTPCodecTypeVideo), pub.VideoFrames()
	prev := startV.Frames
	for i := 0; i < 6; i++ { // 3 s, checked every half second: no stall
		time.Sleep(500 * time.Millisecond)
		f := v.Stats(webrtc.RTPCodecTypeVideo).Frames
		if f <= prev {
			t.Fatalf("viewer stalled at %d frames", f)
		}
		prev = f
	}
	got := v.Stats(webrtc.RTPCodecTypeVideo).Frames - startV.Frames
	sent := pub.VideoFrames() - startP
	st := px.Stats()
	t.Logf("source sent %d frames, viewer got %d; proxy dropped %d of %d packets; relay sent %d NACKs",
		sent, got, st.Dropped, st.Dropped+st.Forwarded, pub.NACKs())
	if st.Dropped == 0 {
		t.Fatal("the proxy dropped nothing: the test proves nothing")
	}
	if pub.NACKs() == 0 {
		t.Error("the relay sent no NACK to the publisher")
	}
	if float64(got) < 0.9*float64(sent) {
		t.Errorf("viewer got %d of %d frames", got, sent)
	}
}

// TestLossyViewerLink: one viewer loses 5 % of what the relay sends it; it
// NACKs (pion's generator, as a browser does) and the relay resends from the
// shared history; another viewer on a clean link sees no gap.
func TestLossyViewerLink(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := r.publish(t, "room")
	defer pub.Close(true)
	r.waitLive(t, "room")
	opts, px := viaProxy(t, r, impair.Damage{}, impair.Damage{Loss: 0.05}, 2)
	lossy, err := peer.View(t.Context(), peer.ViewConfig{URL: r.url + "/whep/room", Options: opts, Interceptors: true})
	if err != nil {
		t.Fatal(err)
	}
	defer lossy.Close(true)
	clean := r.view(t, "room")
	defer clean.Close(true)
	waitFor(t, 10*time.Second, "frames at both", func() bool {
		return lossy.Stats(webrtc.RTPCodecTypeVideo).Frames >= 10 && clean.Stats(webrtc.RTPCodecTypeVideo).Frames >= 10
	})
	time.Sleep(3 * time.Second)
	ls, cs := lossy.Stats(webrtc.RTPCodecTypeVideo), clean.Stats(webrtc.RTPCodecTypeVideo)
	room, _ := r.srv.room("room", false)
	var nacked uint64
	for _, f := range *room.groups[webrtc.RTPCodecTypeVideo].fwd.Load() {
		nacked += f.nacked.Load()
	}
	st := px.Stats()
	t.Logf("lossy viewer: %d packets, %d gaps (%d missing), %d late arrivals; relay resent %d; proxy dropped %d", ls.Packets, ls.SeqJumps, ls.MissingTotal, ls.Repeats, nacked, st.Dropped)
	if st.Dropped == 0 {
		t.Fatal("the proxy dropped nothing")
	}
	if nacked == 0 {
		t.Error("the relay resent nothing")
	}
	// Resent packets arrive behind newer ones: most gaps are filled.
	if ls.MissingTotal > 0 && float64(ls.Repeats) < 0.5*float64(ls.MissingTotal) {
		t.Errorf("only %d of %d missing packets came back", ls.Repeats, ls.MissingTotal)
	}
	if cs.MissingTotal != 0 || cs.Repeats != 0 {
		t.Errorf("the clean viewer saw %d missing and %d repeated packets", cs.MissingTotal, cs.Repeats)
	}
}
