package relay

import (
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/peer"
)

// vanishingPeer gives a client its own ICE socket; cutting it makes the
// client vanish as a crashed process or a pulled cable would: no DTLS close,
// no DELETE, just silence.
func vanishingPeer(t *testing.T) (peer.Options, func()) {
	t.Helper()
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	mux := webrtc.NewICEUDPMux(nil, conn)
	t.Cleanup(func() { mux.Close() })
	return peer.Options{Loopback: true, UDPMux: mux}, func() { conn.Close() }
}

func TestPublisherVanishes(t *testing.T) {
	r := newTestRelay(t, func(c *Config) { c.PublisherTimeout = time.Second })
	opts, cut := vanishingPeer(t)
	pub := r.publishWith(t, "lossy", opts)
	r.waitLive(t, "lossy")
	v := r.view(t, "lossy")
	defer v.Close(true)
	waitFor(t, 10*time.Second, "frames", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 5 })

	cut() // the encoder's machine dropped off the network
	defer pub.Close(false)
	gone := time.Now()
	waitFor(t, 5*time.Second, "room lost", func() bool { return roomInfo(t, r, "lossy").State == StateLost })
	t.Logf("publisher loss detected in %v", time.Since(gone).Round(10*time.Millisecond))
	if n := roomInfo(t, r, "lossy").Viewers; n != 1 {
		t.Fatalf("room kept %d viewers, want 1", n)
	}
	before := v.Stats(webrtc.RTPCodecTypeVideo)
	pub2 := r.publish(t, "lossy")
	defer pub2.Close(true)
	waitFor(t, 5*time.Second, "frames from the new publisher", func() bool {
		return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= before.Frames+10
	})
	after := v.Stats(webrtc.RTPCodecTypeVideo)
	if after.SSRC != before.SSRC || after.TSBackwards != 0 || after.Repeats != 0 {
		t.Errorf("viewer track not continuous: ssrc %x->%x, %d ts backwards, %d repeats", before.SSRC, after.SSRC, after.TSBackwards, after.Repeats)
	}
	if st := roomInfo(t, r, "lossy").State; st != StateLive {
		t.Errorf("room is %s after the new publisher came", st)
	}
}

func TestViewerVanishes(t *testing.T) {
	r := newTestRelay(t, func(c *Config) { c.ViewerTimeout = 3 * time.Second })
	pub := r.publish(t, "hall")
	defer pub.Close(true)
	r.waitLive(t, "hall")
	opts, cut := vanishingPeer(t)
	v := r.viewWith(t, "hall", opts)
	defer v.Close(false)
	stay := r.view(t, "hall")
	defer stay.Close(true)
	waitFor(t, 10*time.Second, "frames", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 5 })
	cut() // no DELETE, no more RTCP or ICE
	gone := time.Now()
	waitFor(t, 30*time.Second, "viewer reaped", func() bool { return roomInfo(t, r, "hall").Viewers == 1 })
	t.Logf("vanished viewer reaped in %v", time.Since(gone).Round(100*time.Millisecond))
	f := stay.Stats(webrtc.RTPCodecTypeVideo).Frames
	waitFor(t, 3*time.Second, "the other viewer keeps playing", func() bool { return stay.Stats(webrtc.RTPCodecTypeVideo).Frames > f+10 })
}

func TestReceiverReportsKept(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := r.publish(t, "rr")
	defer pub.Close(true)
	r.waitLive(t, "rr")
	// A viewer with pion's report interceptors sends receiver reports as a
	// browser does.
	v, err := peer.View(t.Context(), peer.ViewConfig{URL: r.url + "/whep/rr", Options: peer.Options{Loopback: true}, Interceptors: true})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(true)
	room, _ := r.srv.room("rr", false)
	var vw *viewer
	waitFor(t, 10*time.Second, "receiver reports with an RTT", func() bool {
		for _, x := range room.appendViewers(nil) {
			vw = x
		}
		if vw == nil {
			return false
		}
		q := vw.quality.snapshot()
		return q.Reports > 0 && q.RTT > 0
	})
	q := vw.quality.snapshot()
	t.Logf("viewer quality: loss %.3f jitter %v rtt %v after %d reports", q.Loss, q.Jitter, q.RTT, q.Reports)
	if q.Loss > 0.05 || q.RTT > time.Second {
		t.Errorf("implausible quality on loopback: %+v", q)
	}
}

func TestPeerClosesWithoutDelete(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := r.publish(t, "tab")
	r.waitLive(t, "tab")
	v := r.view(t, "tab")
	waitFor(t, 10*time.Second, "frames", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 2 })
	v.Close(false) // the delegate closed the tab: DTLS close, no DELETE
	waitFor(t, 2*time.Second, "viewer gone", func() bool { return roomInfo(t, r, "tab").Viewers == 0 })
	// A page that closes its connection before sending DELETE still gets 200.
	if err := v.Close(true); err != nil {
		t.Errorf("DELETE after the relay reaped the session: %v", err)
	}
	pub.Close(false)
	waitFor(t, 2*time.Second, "room lost", func() bool { return roomInfo(t, r, "tab").State == StateLost })
}

// TestICETCPViewer: a viewer that cannot use UDP reaches the relay over its
// ICE-TCP port and plays.
func TestICETCPViewer(t *testing.T) {
	r := newTestRelay(t, func(c *Config) { c.TCPPort = -1 })
	if r.srv.tcpAddr() == nil {
		t.Fatal("no ICE-TCP listener")
	}
	pub := r.publish(t, "tcp")
	defer pub.Close(true)
	r.waitLive(t, "tcp")
	v := r.viewWith(t, "tcp", peer.Options{Loopback: true, TCPOnly: true})
	defer v.Close(true)
	waitFor(t, 10*time.Second, "frames over ICE-TCP", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 10 })
	if tr := v.Transport(); tr != "tcp" {
		t.Errorf("media went over %q, want tcp", tr)
	}
}

// TestPublicIPAdvertised: with --public-ip (NAT 1:1) the answer's host
// candidate carries the public address instead of the bound one. No media is
// exchanged: the test never lets a peer use that address.
func TestPublicIPAdvertised(t *testing.T) {
	r := newTestRelay(t, func(c *Config) { c.PublicIPs = []string{"203.0.113.7"} })
	api, err := peer.NewAPI(peer.Options{Loopback: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, _ := pc.CreateOffer(nil)
	gathered := webrtc.GatheringCompletePromise(pc)
	pc.SetLocalDescription(offer)
	<-gathered
	req, _ := http.NewRequest("POST", r.url+"/whip/nat", strings.NewReader(pc.LocalDescription().SDP))
	req.Header.Set("Content-Type", "application/sdp")
	req.Header.Set("Authorization", "Bearer "+r.token(t, auth.RolePublisher, "nat"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	answer := string(body)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %s", resp.StatusCode, answer)
	}
	if !strings.Contains(answer, " 203.0.113.7 ") || strings.Contains(answer, " 127.0.0.1 "+strings.TrimPrefix(r.srv.UDPAddr().String(), "127.0.0.1:")+" typ host") {
		t.Errorf("answer candidates do not advertise the public address only:\n%s", answer)
	}
}
