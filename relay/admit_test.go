package relay

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/internal/limit"
)

// TestAdmitOrder: WHIP and WHEP admit in one fixed order (method, content
// type, size, token, room name, rate limit, shutdown). Each case breaks
// every check from one point on; the answer must name the first broken one,
// the same for both endpoints.
func TestAdmitOrder(t *testing.T) {
	r := newTestRelay(t, func(c *Config) { c.RequestRate, c.RequestBurst = 0.001, 1 })
	s := r.srv
	anyRoom := r.token(t, auth.RoleAdmin, "*")
	big := strings.Repeat("a", maxOfferBytes+1)
	type req struct {
		method, room, ctype, body, token string
	}
	cases := []struct {
		name string
		req  req
		want int
		whep int // WHEP's answer where it differs: a public room needs no token
	}{
		{"method first", req{"GET", "bad%20name", "text/plain", big, ""}, 405, 0},
		{"content type before size", req{"POST", "bad%20name", "text/plain", big, ""}, 415, 0},
		{"size before token", req{"POST", "bad%20name", "application/sdp", big, ""}, 413, 0},
		{"token before room name", req{"POST", "bad%20name", "application/sdp", tinyOffer, ""}, 401, 400},
		{"private room's token", req{"POST", "closed", "application/sdp", tinyOffer, ""}, 401, 401},
		{"room name before rate limit", req{"POST", "bad%20name", "application/sdp", tinyOffer, anyRoom}, 400, 0},
		{"first request passes", req{"POST", "closed", "application/sdp", tinyOffer, anyRoom}, 200, 0},
		{"rate limit", req{"POST", "closed", "application/sdp", tinyOffer, anyRoom}, 429, 0},
	}
	gates := map[string]gate{"whip": whipGate, "whep": s.whepGate()}
	for _, endpoint := range []string{"whip", "whep"} {
		s.limiter = limit.NewRate(0.001, 1) // each endpoint starts with one request in the bucket
		for _, c := range cases {
			t.Run(endpoint+" "+c.name, func(t *testing.T) {
				hr := httptest.NewRequest(c.req.method, "/"+endpoint+"/"+c.req.room, strings.NewReader(c.req.body))
				hr.SetPathValue("room", strings.ReplaceAll(c.req.room, "%20", " "))
				hr.RemoteAddr = "192.0.2.7:5000"
				if c.req.ctype != "" {
					hr.Header.Set("Content-Type", c.req.ctype)
				}
				if c.req.token != "" {
					hr.Header.Set("Authorization", "Bearer "+c.req.token)
				}
				_, err := s.admit(httptest.NewRecorder(), hr, gates[endpoint])
				want := c.want
				if endpoint == "whep" && c.whep != 0 {
					want = c.whep
				}
				if got := httperr.Status(err); got != want {
					t.Fatalf("status %d (%v), want %d", got, err, want)
				}
			})
		}
	}
	t.Run("shutdown last", func(t *testing.T) {
		s.limiter = nil
		s.closing.Store(true)
		defer s.closing.Store(false)
		hr := httptest.NewRequest("POST", "/whip/closed", strings.NewReader(tinyOffer))
		hr.SetPathValue("room", "closed")
		hr.Header.Set("Content-Type", "application/sdp")
		hr.Header.Set("Authorization", "Bearer "+anyRoom)
		if _, err := s.admit(httptest.NewRecorder(), hr, whipGate); httperr.Status(err) != http.StatusServiceUnavailable {
			t.Fatalf("got %v, want 503", err)
		}
	})
}

// TestOfferLimitPerSlash64: an IPv6 client picks a new address of its /64
// for every offer; the offer limit counts the /64, not the address. (The
// limiter keyed the full address: each new address had a fresh bucket.)
func TestOfferLimitPerSlash64(t *testing.T) {
	r := newTestRelay(t, func(c *Config) { c.RequestRate, c.RequestBurst = 0.001, 2 })
	offerFrom := func(remote string) int {
		hr := httptest.NewRequest("POST", "/whep/hall", strings.NewReader(tinyOffer))
		hr.SetPathValue("room", "hall")
		hr.RemoteAddr = remote
		hr.Header.Set("Content-Type", "application/sdp")
		_, err := r.srv.admit(httptest.NewRecorder(), hr, r.srv.whepGate())
		return httperr.Status(err)
	}
	for i, want := range []int{200, 200, 429, 429} {
		remote := fmt.Sprintf("[2001:db8:7:1::%x]:443", i+1)
		if got := offerFrom(remote); got != want {
			t.Fatalf("offer %d from %s: %d, want %d", i+1, remote, got, want)
		}
	}
	if got := offerFrom("[2001:db8:7:2::1]:443"); got != 200 {
		t.Errorf("another /64: %d, want 200", got)
	}
}
