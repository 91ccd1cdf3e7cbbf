package relay

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
	"github.com/relay-av/relay/relay/peer"
)

// deadOffer is a real WHIP (publish) or WHEP offer from a peer that is
// closed at once: the relay answers it, and nothing ever connects.
func deadOffer(t *testing.T, publish bool) string {
	t.Helper()
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if publish {
		for _, c := range []webrtc.RTPCodecCapability{
			{MimeType: webrtc.MimeTypeH264, ClockRate: 90000, SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"},
			{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2},
		} {
			tr, err := webrtc.NewTrackLocalStaticRTP(c, strings.Split(c.MimeType, "/")[0], "dead")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pc.AddTrack(tr); err != nil {
				t.Fatal(err)
			}
		}
	} else {
		for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
				t.Fatal(err)
			}
		}
	}
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		t.Fatal(err)
	}
	return offer.SDP
}

// post sends an offer and returns the status and Location.
func post(t *testing.T, c *http.Client, url, token, offer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", url, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestTakeoverThatNeverConnects is the attack of a stuck encoder or a
// stolen publisher token: a second publisher is answered but never sends
// media. The room must stay on air from its publisher, its viewers keep
// receiving, and the stuck one is reaped without changing anything.
// (Before, the old publisher was closed when the new offer arrived: the
// room went off air.)
func TestTakeoverThatNeverConnects(t *testing.T) {
	r := newTestRelay(t, func(c *Config) { c.ConnectTimeout = 500 * time.Millisecond })
	pub := r.publish(t, "hall")
	defer pub.Close(true)
	r.waitLive(t, "hall")
	v := r.view(t, "hall")
	defer v.Close(true)
	waitFor(t, 10*time.Second, "frames", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 10 })
	owner := roomInfo(t, r, "hall").Publisher.Tag

	status, loc := post(t, http.DefaultClient, r.url+"/whip/hall", r.token(t, auth.RolePublisher, "hall"), deadOffer(t, true))
	if status != http.StatusCreated {
		t.Fatalf("takeover offer answered %d", status)
	}
	id := loc[strings.LastIndex(loc, "/")+1:]
	room, _ := r.srv.room("hall", false)
	if room.publisherByID(id) == nil {
		t.Fatal("the answered takeover is not pending")
	}
	before := v.Stats(webrtc.RTPCodecTypeVideo).Frames
	// Past the publisher's deadline (twice ConnectTimeout), with margin.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		if ri := roomInfo(t, r, "hall"); ri.State != StateLive || ri.Publisher == nil || ri.Publisher.Tag != owner {
			t.Fatalf("room %s, publisher %+v: the takeover that never connected took it", ri.State, ri.Publisher)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := v.Stats(webrtc.RTPCodecTypeVideo).Frames - before; got < 30 {
		t.Errorf("the viewer got %d frames in 2 s during the stuck takeover", got)
	}
	if room.publisherByID(id) != nil {
		t.Error("the takeover that sent no media was not reaped")
	}
	if pub.ConnectionState() != webrtc.PeerConnectionStateConnected {
		t.Errorf("the publisher's connection is %s", pub.ConnectionState())
	}
}

// TestOffersThatNeverConnect is the attack of a few addresses posting
// viewer offers that never connect: each held a viewer slot for ~15 s, so
// at the per-address offer rate they kept real delegates at 503. Now a
// session holds its slot only until ConnectTimeout, and one address may
// hold only MaxPendingPerAddr sessions that have not connected.
func TestOffersThatNeverConnect(t *testing.T) {
	r := newTestRelay(t, func(c *Config) {
		c.MaxViewers, c.MaxPendingPerAddr, c.ConnectTimeout = 8, 4, time.Second
	})
	pub := r.publish(t, "hall")
	defer pub.Close(true)
	r.waitLive(t, "hall")

	offer := deadOffer(t, false)
	counts := map[int]int{}
	for _, from := range []string{"127.0.0.1", "127.0.0.2"} {
		c := testkit.ClientFrom(t, from)
		for range 6 {
			status, _ := post(t, c, r.url+"/whep/hall", "", offer)
			counts[status]++
		}
	}
	if counts[http.StatusCreated] != 8 || counts[http.StatusTooManyRequests] != 4 {
		t.Fatalf("answers %v: want 4 sessions per address and 429 beyond", counts)
	}
	// Every slot is held now; a real delegate from a third address gets in
	// once the unconnected sessions are reaped, within ConnectTimeout.
	filled := time.Now()
	var v *peer.Viewer
	for v == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		var err error
		v, err = peer.View(ctx, peer.ViewConfig{URL: r.url + "/whep/hall", Options: peer.Options{Loopback: true, Client: testkit.ClientFrom(t, "127.0.0.3")}})
		cancel()
		if err != nil {
			if time.Since(filled) > 3*time.Second {
				t.Fatalf("a real viewer still refused %v after the relay was filled: %v", time.Since(filled).Round(time.Millisecond), err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	defer v.Close(true)
	t.Logf("a real viewer got in %v after the slots were filled by offers that never connect", time.Since(filled).Round(10*time.Millisecond))
	waitFor(t, 10*time.Second, "frames", func() bool { return v.Stats(webrtc.RTPCodecTypeVideo).Frames >= 5 })
	waitFor(t, 5*time.Second, "only the real viewer left", func() bool { return roomInfo(t, r, "hall").Viewers == 1 })
}
