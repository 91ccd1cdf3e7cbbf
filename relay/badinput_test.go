package relay

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relay-av/relay/internal/auth"
)

const tinyOffer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 96\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:96 VP8/90000\r\n"

const h264Offer = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n" +
	"m=video 9 UDP/TLS/RTP/SAVPF 102\r\nc=IN IP4 0.0.0.0\r\na=mid:0\r\na=recvonly\r\na=rtpmap:102 H264/90000\r\n" +
	"a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f\r\n"

func TestBadInput(t *testing.T) {
	r := newTestRelay(t, nil)
	pubTok := r.token(t, auth.RolePublisher, "room1")
	otherRoom := r.token(t, auth.RolePublisher, "room2")
	viewerTok := r.token(t, auth.RoleViewer, "room1")
	expired, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, auth.Claims{Role: auth.RolePublisher, Room: "room1",
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "relay", ExpiresAt: jwt.NewNumericDate(time.Now().Add(-time.Minute))}}).
		SignedString([]byte("test-secret-0123456789"))
	manyMedia := strings.Repeat("m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n", 300)
	manyCands := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:111 opus/48000/2\r\n" +
		strings.Repeat("a=candidate:1 1 udp 1 127.0.0.1 9 typ host\r\n", 200)
	h265 := "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=video 9 UDP/TLS/RTP/SAVPF 100\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:100 H265/90000\r\n"

	cases := []struct {
		name, method, path, ctype, token, body string
		want                                   int
	}{
		{"whip wrong content type", "POST", "/whip/room1", "text/plain", pubTok, tinyOffer, 415},
		{"whip no content type", "POST", "/whip/room1", "", pubTok, tinyOffer, 415},
		{"whip oversized", "POST", "/whip/room1", "application/sdp", pubTok, strings.Repeat("a", 70000), 413},
		{"whip no token", "POST", "/whip/room1", "application/sdp", "", tinyOffer, 401},
		{"whip garbage token", "POST", "/whip/room1", "application/sdp", "abc.def.ghi", tinyOffer, 401},
		{"whip expired token", "POST", "/whip/room1", "application/sdp", expired, tinyOffer, 401},
		{"whip other room's token", "POST", "/whip/room1", "application/sdp", otherRoom, tinyOffer, 403},
		{"whip viewer token", "POST", "/whip/room1", "application/sdp", viewerTok, tinyOffer, 403},
		{"whip garbage sdp", "POST", "/whip/room1", "application/sdp", pubTok, "hello\x00world", 400},
		{"whip empty body", "POST", "/whip/room1", "application/sdp", pubTok, "", 400},
		{"whip truncated sdp", "POST", "/whip/room1", "application/sdp", pubTok, tinyOffer[:40], 400},
		{"whip hundreds of media", "POST", "/whip/room1", "application/sdp", pubTok, tinyOffer + manyMedia, 400},
		{"whip hundreds of candidates", "POST", "/whip/room1", "application/sdp", pubTok, manyCands, 400},
		{"whip unsupported codec", "POST", "/whip/room1", "application/sdp", pubTok, h265, 406},
		{"whip bad room name", "POST", "/whip/..%2f..%2fetc", "application/sdp", r.token(t, auth.RolePublisher, "*"), tinyOffer, 400},
		{"whip GET", "GET", "/whip/room1", "", "", "", 405},
		{"whip PATCH", "PATCH", "/whip/room1/abc", "application/trickle-ice-sdpfrag", pubTok, "a=end-of-candidates", 405},
		{"whip DELETE unknown room", "DELETE", "/whip/nope/abc", "", "", "", 404},
		{"whep wrong content type", "POST", "/whep/room1", "application/json", "", "{}", 415},
		{"whep oversized", "POST", "/whep/room1", "application/sdp", "", strings.Repeat("a", 70000), 413},
		{"whep not live", "POST", "/whep/room1", "application/sdp", "", tinyOffer, 404},
		{"whep private no token", "POST", "/whep/closed", "application/sdp", "", tinyOffer, 401},
		{"whep private other room's token", "POST", "/whep/closed", "application/sdp", r.token(t, auth.RoleViewer, "open"), tinyOffer, 403},
		{"whep private publisher token", "POST", "/whep/closed", "application/sdp", r.token(t, auth.RolePublisher, "closed"), tinyOffer, 403},
		{"whep private viewer token, not live", "POST", "/whep/closed", "application/sdp", r.token(t, auth.RoleViewer, "closed"), tinyOffer, 404},
		{"whep DELETE unknown", "DELETE", "/whep/room1/abc", "", "", "", 404},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, r.url+c.path, strings.NewReader(c.body))
			if c.ctype != "" {
				req.Header.Set("Content-Type", c.ctype)
			}
			if c.token != "" {
				req.Header.Set("Authorization", "Bearer "+c.token)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d (%s), want %d", resp.StatusCode, strings.TrimSpace(string(body)), c.want)
			}
			if c.want == 404 && strings.HasPrefix(c.path, "/whep/room1") && c.method == "POST" && resp.Header.Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		})
	}

	// The relay still works after all that.
	pub := r.publish(t, "room1")
	defer pub.Close(true)
	r.waitLive(t, "room1")
	v := r.view(t, "room1")
	defer v.Close(true)

	// A player without the room's codec gets a clear 406, not black video.
	req, _ := http.NewRequest("POST", r.url+"/whep/room1", strings.NewReader(tinyOffer))
	req.Header.Set("Content-Type", "application/sdp")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 406 || !strings.Contains(string(body), "H264") {
		t.Errorf("VP8-only viewer of an H.264 room: %d %q", resp.StatusCode, body)
	}
}

func TestViewerLimits(t *testing.T) {
	r := newTestRelay(t, func(c *Config) { c.MaxViewers = 3; c.MaxViewersPerRoom = 2 })
	pub := r.publish(t, "a")
	defer pub.Close(true)
	pub2 := r.publish(t, "b")
	defer pub2.Close(true)
	r.waitLive(t, "a")
	r.waitLive(t, "b")
	a1, a2 := r.view(t, "a"), r.view(t, "a")
	defer a1.Close(true)
	defer a2.Close(true)
	expect503 := func(room string) {
		t.Helper()
		req, _ := http.NewRequest("POST", r.url+"/whep/"+room, strings.NewReader(h264Offer))
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" {
			t.Errorf("room %s over its limit: %d, Retry-After %q", room, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	expect503("a") // room limit
	b1 := r.view(t, "b")
	defer b1.Close(true)
	expect503("b") // global limit
	a2.Close(true)
	waitFor(t, 5*time.Second, "a slot", func() bool { return r.srv.viewers.Load() == 2 })
	b2 := r.view(t, "b") // recovers when load falls
	b2.Close(true)
}

func TestOfferFloodLimited(t *testing.T) {
	r := newTestRelay(t, func(c *Config) { c.RequestRate = 1; c.RequestBurst = 5 })
	var limited int
	for i := 0; i < 20; i++ {
		req, _ := http.NewRequest("POST", r.url+"/whep/room1", strings.NewReader(h264Offer))
		req.Header.Set("Content-Type", "application/sdp")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
			if resp.Header.Get("Retry-After") == "" {
				t.Error("429 without Retry-After")
			}
		}
	}
	if limited < 10 {
		t.Errorf("only %d of 20 flooding offers were limited", limited)
	}
}
