package relay

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/peer"
)

// OPTIONS on WHIP and WHEP, and every 201, carry the ICE servers as RFC
// 9725 Link headers; a bad room name gets none, and minting credentials
// shares the per-address offer budget.
func TestICEServerLinks(t *testing.T) {
	var asked []string
	r := newTestRelay(t, func(c *Config) {
		c.RequestRate, c.RequestBurst = 1, 6
		c.ICEServers = func(req *http.Request, room string) []ICEServer {
			asked = append(asked, room)
			return []ICEServer{{URL: "turn:127.0.0.1:3478?transport=udp", Username: "1:" + room + "/x", Credential: "c+/="}}
		}
	})
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	want := `<turn:127.0.0.1:3478?transport=udp>; rel="ice-server"; username="1:hall/x"; credential="c+/="; credential-type="password"`
	for _, path := range []string{"/whip/hall", "/whep/hall"} {
		req, _ := http.NewRequest(http.MethodOptions, r.url+path, nil)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent || res.Header.Get("Link") != want {
			t.Errorf("OPTIONS %s: %d, Link %q", path, res.StatusCode, res.Header.Get("Link"))
		}
		if s := peer.ICEServersFromLinks(res.Header); len(s) != 1 || s[0].Username != "1:hall/x" || s[0].Credential != "c+/=" {
			t.Errorf("OPTIONS %s: parsed back as %+v", path, s)
		}
	}
	req, _ := http.NewRequest(http.MethodOptions, r.url+"/whep/bad%20name", nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusBadRequest || res.Header.Get("Link") != "" {
		t.Errorf("OPTIONS with a bad room name: %d, Link %q", res.StatusCode, res.Header.Get("Link"))
	}
	// 201s: a publisher and a viewer.
	pub := r.publish(t, "hall")
	defer pub.Close(true)
	r.waitLive(t, "hall")
	pc, err := webrtc.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	if _, err := pc.AddTransceiverFromKind(webrtc.RTPCodecTypeVideo, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
		t.Fatal(err)
	}
	offer, _ := pc.CreateOffer(nil)
	res, err = client.Post(r.url+"/whep/hall", "application/sdp", bytes.NewBufferString(offer.SDP))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || res.Header.Get("Link") != want {
		t.Errorf("WHEP 201: %d, Link %q", res.StatusCode, res.Header.Get("Link"))
	}
	// The budget: after the burst, OPTIONS is refused like an offer.
	refused := 0
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest(http.MethodOptions, r.url+"/whep/hall", nil)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusTooManyRequests {
			refused++
		}
	}
	if refused == 0 {
		t.Error("OPTIONS minted credentials past the per-address budget")
	}
	if strings.Join(asked[:2], ",") != "hall,hall" {
		t.Errorf("asked for rooms %v", asked)
	}
}
