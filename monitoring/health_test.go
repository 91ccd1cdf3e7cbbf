package monitoring

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/testkit"
	"github.com/relay-av/relay/relay"
)

// TestReadyFollowsTheJournal: /readyz is 200 with a writable data
// directory, 503 saying why once the directory is gone (the caption journal
// could not store a final), while /healthz stays 200; and 503 once the
// relay shuts down.
func TestReadyFollowsTheJournal(t *testing.T) {
	s := newStack(t)
	if code, body := testkit.HTTPGet(t, s.url+"/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("readyz: %d %q", code, body)
	}
	if err := os.RemoveAll(s.dataDir); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, "readyz 503 after the data directory went", func() bool {
		code, body := testkit.HTTPGet(t, s.url+"/readyz")
		return code == 503 && strings.Contains(body, "data directory not writable")
	})
	if code, _ := testkit.HTTPGet(t, s.url+"/healthz"); code != 200 {
		t.Errorf("healthz: %d", code)
	}
	if err := os.MkdirAll(filepath.Join(s.dataDir, "captions"), 0o755); err != nil {
		t.Fatal(err)
	}
	waitMetric(t, "ready again", func() bool { code, _ := testkit.HTTPGet(t, s.url+"/readyz"); return code == 200 })
	s.sfu.Close()
	waitMetric(t, "readyz 503 while shutting down", func() bool {
		code, body := testkit.HTTPGet(t, s.url+"/readyz")
		return code == 503 && strings.Contains(body, "shutting down")
	})
}

// TestReadyCheckedAtMostOnceASecond: a flood of probes does not turn into
// a flood of synced writes; Done makes the answer 503 at once.
func TestReadyCheckedAtMostOnceASecond(t *testing.T) {
	var calls atomic.Int64
	done := make(chan struct{})
	m := New(Params{Relay: noRooms{}, Done: done, Ready: func() error { calls.Add(1); return nil }})
	mux := http.NewServeMux()
	m.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	for i := 0; i < 50; i++ {
		if code, _ := testkit.HTTPGet(t, hs.URL+"/readyz"); code != 200 {
			t.Fatalf("readyz: %d", code)
		}
	}
	if n := calls.Load(); n > 2 {
		t.Errorf("Ready called %d times for 50 probes within a second", n)
	}
	close(done)
	if code, body := testkit.HTTPGet(t, hs.URL+"/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Errorf("after Done: %d %q", code, body)
	}
}

// TestEventStreamsBounded: past MaxStreams, a new stream gets 503 with
// Retry-After; when one ends, a new one is taken; Done ends them all.
func TestEventStreamsBounded(t *testing.T) {
	done := make(chan struct{})
	m := New(Params{Relay: noRooms{}, Done: done, MaxStreams: 2, Interval: 50 * time.Millisecond})
	mux := http.NewServeMux()
	m.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	open := func() (*http.Response, context.CancelFunc) {
		ctx, cancel := context.WithCancel(context.Background())
		req, _ := http.NewRequestWithContext(ctx, "GET", hs.URL+"/api/rooms/events", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp, cancel
	}
	r1, c1 := open()
	defer c1()
	r2, c2 := open()
	defer c2()
	for _, r := range []*http.Response{r1, r2} {
		if r.StatusCode != 200 {
			t.Fatalf("stream: %d", r.StatusCode)
		}
		line, _ := bufio.NewReader(r.Body).ReadString('\n')
		if !strings.HasPrefix(line, "retry: ") {
			t.Errorf("first line %q, want a retry hint", line)
		}
	}
	r3, c3 := open()
	if r3.StatusCode != 503 || r3.Header.Get("Retry-After") == "" {
		t.Errorf("third stream: %d, Retry-After %q", r3.StatusCode, r3.Header.Get("Retry-After"))
	}
	r3.Body.Close()
	c3()
	c1()
	r1.Body.Close()
	waitMetric(t, "a slot frees", func() bool {
		r, c := open()
		defer c()
		defer r.Body.Close()
		return r.StatusCode == 200
	})
	close(done)
	if _, err := io.Copy(io.Discard, r2.Body); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("stream 2 after Done: %v", err)
	}
	r2.Body.Close()
}

type noRooms struct{}

func (noRooms) Rooms() []relay.RoomInfo { return nil }
