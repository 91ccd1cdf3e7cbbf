package load

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relay-av/relay/captions"
	"github.com/relay-av/relay/internal/auth"
)

// TestCaptionLoadSpreadsAddresses: the tool's caption viewers get past a
// relay's per-address cap of caption sockets by coming from several
// loopback addresses, and its captioner comes first, so that the language
// the viewers ask for exists (viewers create none).
func TestCaptionLoadSpreadsAddresses(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs 127.0.0.2, which only Linux routes to lo by default")
	}
	a, _ := auth.New([]byte("load-captions-secret-0123456789"))
	svc, err := captions.New(captions.Config{DataDir: t.TempDir(), Auth: a, Logger: slog.New(slog.DiscardHandler),
		MaxSocketsPerAddr: viewersPerAddr + 1}) // + the captioner, from 127.0.0.1 too
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	mux := http.NewServeMux()
	svc.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()

	tok, _ := a.Issue(auth.RoleCaptioner, "load", "en", time.Hour)
	const n = viewersPerAddr + 50
	c := newCaptionLoad(hs.URL, Config{Room: "load", Lang: "en", CaptionToken: tok, CaptionViewers: n, CueRate: 20})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	var measuring atomic.Bool
	measuring.Store(true)
	go func() {
		defer close(done)
		c.run(ctx, &measuring, t.Logf)
	}()
	deadline := time.Now().Add(20 * time.Second)
	for c.connected.Load() < n || c.received.Load() < n {
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	<-done
	if got := c.connected.Load(); got != n {
		t.Errorf("%d of %d caption viewers connected", got, n)
	}
	if c.sent.Load() == 0 || c.received.Load() < n {
		t.Errorf("cues sent %d, received %d: want every viewer to get one", c.sent.Load(), c.received.Load())
	}
	if got := svc.RefusedViewers(); got["per_address"]+got["unknown_language"] != 0 {
		t.Errorf("viewers refused: %v", got)
	}
}
