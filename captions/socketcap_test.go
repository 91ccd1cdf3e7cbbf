package captions

import (
	"context"
	"net/http"
	"net/url"
	"runtime"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
)

// dialFrom opens a caption WebSocket from the loopback address local
// (Linux routes all of 127.0.0.0/8 to lo).
func (e *env) dialFrom(local, path string, q url.Values) (*websocket.Conn, *http.Response, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, NetDialContext: testkit.DialerFrom(local).DialContext}
	conn, resp, err := d.DialContext(context.Background(), e.wsURL(path, q), nil)
	if conn != nil {
		e.t.Cleanup(func() { conn.Close() })
	}
	return conn, resp, err
}

// TestSocketCaps is the attack of one address opening caption sockets
// until the relay runs out (there was no cap): the address's N+1th socket
// gets 429 with Retry-After while another address still gets in, a
// captioner is not held to the per-address cap, and the total cap gives
// 503.
func TestSocketCaps(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.0.2, which only Linux routes to lo by default")
	}
	e := newEnv(t, "", func(c *Config) {
		c.MaxSocketsPerAddr = 3
		c.MaxSockets = 6
	})
	e.declare("r1", "en")
	view := url.Values{"lang": {"en"}}
	expect := func(local string, q url.Values, path string, want int) *websocket.Conn {
		t.Helper()
		conn, resp, err := e.dialFrom(local, path, q)
		got := http.StatusSwitchingProtocols
		if err != nil {
			if resp == nil {
				t.Fatalf("dial from %s: %v", local, err)
			}
			got = resp.StatusCode
		}
		if got != want {
			t.Fatalf("socket from %s: %d, want %d", local, got, want)
		}
		if want != http.StatusSwitchingProtocols && resp.Header.Get("Retry-After") == "" {
			t.Fatalf("refusal %d without Retry-After", want)
		}
		return conn
	}
	var first []*websocket.Conn
	for range 3 {
		first = append(first, expect("127.0.0.1", view, "/captions/r1/ws", 101))
	}
	expect("127.0.0.1", view, "/captions/r1/ws", http.StatusTooManyRequests)
	expect("127.0.0.2", view, "/captions/r1/ws", 101) // another address
	// A captioner from the full address: its token lifts the address cap.
	capQ := url.Values{"lang": {"en"}, "token": {e.token(auth.RoleCaptioner, "r1", "en")}}
	expect("127.0.0.1", capQ, "/captions/r1/publish", 101)
	expect("127.0.0.2", view, "/captions/r1/ws", 101)                           // the 6th socket
	expect("127.0.0.3", view, "/captions/r1/ws", http.StatusServiceUnavailable) // the total
	if got := e.svc.RefusedViewers(); got["per_address"] != 1 || got["total"] != 1 {
		t.Errorf("refusals counted %v", got)
	}

	// A socket that closes gives its slot back.
	first[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		conn, _, err := e.dialFrom("127.0.0.3", "/captions/r1/ws", view)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slot not given back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
