package monitoring

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
)

// streamServer is a Monitor with the default stream caps behind a real
// listener: the caps key on the client's address, so the tests connect
// from several loopback addresses (Linux routes all of 127.0.0.0/8 to lo).
func streamServer(t *testing.T) (string, *auth.Authority) {
	t.Helper()
	a, _ := auth.New([]byte("monitoring-streams-secret-0123"))
	done := make(chan struct{})
	mux := http.NewServeMux()
	New(Params{Relay: noRooms{}, Auth: a, Done: done, Interval: 200 * time.Millisecond}).Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(done)
		hs.Close()
	})
	return hs.URL, a
}

// streamClient opens event streams from one source address.
type streamClient struct {
	t    *testing.T
	http *http.Client
}

func clientFrom(t *testing.T, ip string) *streamClient {
	t.Helper()
	return &streamClient{t: t, http: testkit.ClientFrom(t, ip)}
}

// open asks for a stream; with a 200 it reads the first line and keeps the
// stream open until close (or the test's end). header, when not empty, is
// sent as the Authorization header.
func (c *streamClient) open(url, header string) (resp *http.Response, close func()) {
	c.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		cancel()
		c.t.Fatalf("GET %s: %v", url, err)
	}
	close = func() {
		cancel()
		resp.Body.Close()
	}
	c.t.Cleanup(close)
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, resp.Body)
		close()
		return resp, close
	}
	if line, _ := bufio.NewReader(resp.Body).ReadString('\n'); !strings.HasPrefix(line, "retry: ") {
		c.t.Errorf("stream's first line %q", line)
	}
	return resp, close
}

// fillAnonymous opens the anonymous share of the default caps (64 streams,
// 8 of them reserved: 56) from 14 addresses of 4 streams each, starting at
// 127.0.0.first, and returns the function that closes the one opened last.
func fillAnonymous(t *testing.T, url string, first int) (closeOne func()) {
	t.Helper()
	for a := range 14 {
		c := clientFrom(t, fmt.Sprintf("127.0.0.%d", first+a))
		for range 4 {
			resp, close := c.open(url, "")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("anonymous stream from 127.0.0.%d: %d, want 200 below the caps", first+a, resp.StatusCode)
			}
			closeOne = close
		}
	}
	return closeOne
}

// TestEventStreamsPerAddress: one address asking for 64 streams (all the
// relay had) gets its share, 4, and 429 with Retry-After for the rest;
// another address still gets in. Before the caps, it took all 64 and
// locked the monitor page out.
func TestEventStreamsPerAddress(t *testing.T) {
	url, _ := streamServer(t)
	events := url + "/api/rooms/events"
	c := clientFrom(t, "127.0.0.1")
	ok := 0
	for i := range 64 {
		resp, _ := c.open(events, "")
		switch {
		case resp.StatusCode == http.StatusOK:
			ok++
		case resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "":
			t.Fatalf("stream %d: %d, Retry-After %q; want 429 with Retry-After past the address's share",
				i+1, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if ok != 4 {
		t.Fatalf("one address holds %d streams, want 4", ok)
	}
	if resp, _ := clientFrom(t, "127.0.0.2").open(events, ""); resp.StatusCode != http.StatusOK {
		t.Errorf("another address: %d, want 200", resp.StatusCode)
	}
}

// TestEventStreamsAdminReserve: anonymous streams from many addresses fill
// their share (56 of 64) and the next gets 503 with Retry-After; a stream
// with an admin token still gets in, with the token in ?token= (the
// EventSource way) or in an Authorization header, from an address that
// already holds its anonymous share; a bad token is refused, not treated
// as anonymous; the reserve itself has an end.
func TestEventStreamsAdminReserve(t *testing.T) {
	url, a := streamServer(t)
	events := url + "/api/rooms/events"
	fillAnonymous(t, events, 2)
	late := clientFrom(t, "127.0.0.100")
	resp, _ := late.open(events, "")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("anonymous stream past the share: %d, Retry-After %q; want 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	admin, _ := a.Issue(auth.RoleAdmin, "*", "", time.Hour)
	if resp, _ := late.open(events+"?token="+admin, ""); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin stream (?token=) while anonymous streams hold their share: %d, want 200", resp.StatusCode)
	}
	full := clientFrom(t, "127.0.0.2") // holds 4 anonymous streams already
	if resp, _ := full.open(events, "Bearer "+admin); resp.StatusCode != http.StatusOK {
		t.Fatalf("admin stream (Authorization) from a full address: %d, want 200", resp.StatusCode)
	}

	viewer, _ := a.Issue(auth.RoleViewer, "*", "", time.Hour)
	roomAdmin, _ := a.Issue(auth.RoleAdmin, "plenary", "", time.Hour)
	for _, c := range []struct {
		name, query string
		want        int
	}{
		{"forged token", "?token=" + admin[:len(admin)-2] + "xx", http.StatusUnauthorized},
		{"viewer token", "?token=" + viewer, http.StatusForbidden},
		{"admin of one room", "?token=" + roomAdmin, http.StatusForbidden},
	} {
		t.Run(c.name, func(t *testing.T) {
			resp, _ := late.open(events+c.query, "")
			if resp.StatusCode != c.want {
				t.Errorf("%d, want %d", resp.StatusCode, c.want)
			}
			if c.want == http.StatusUnauthorized && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %v", resp.Header)
			}
		})
	}

	for i := 2; i < 8; i++ { // 2 of the 8 reserved streams are taken
		if resp, _ := late.open(events, "Bearer "+admin); resp.StatusCode != http.StatusOK {
			t.Fatalf("admin stream %d: %d", i+1, resp.StatusCode)
		}
	}
	if resp, _ := late.open(events, "Bearer "+admin); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("admin stream 9 with all 64 held: %d, want 503", resp.StatusCode)
	}
}
