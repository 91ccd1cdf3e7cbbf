package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

type resources struct {
	goroutines int
	fds        int
	heap       uint64
}

func measure(t *testing.T) resources {
	t.Helper()
	var r resources
	for i := 0; i < 3; i++ { // let finished goroutines and finalizers run
		runtime.GC()
		time.Sleep(200 * time.Millisecond)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	r.goroutines, r.fds, r.heap = runtime.NumGoroutine(), len(fds), ms.HeapAlloc
	return r
}

// TestChurn: 2 000 viewers join (WHEP and a caption socket) and leave a live
// room; afterwards goroutines, open files and heap are back to the baseline
// (the relay and the test's own clients share this process, so both are
// counted: a leak on either side shows).
func TestChurn(t *testing.T) {
	cycles := 2000
	if testing.Short() {
		cycles = 200
	}
	const secret = "churn-test-secret-0123456789"
	t.Setenv("RELAY_SECRET", secret)
	dir := t.TempDir()
	// Every client here shares 127.0.0.1: lift the per-address offer limit.
	cfgPath := filepath.Join(dir, "relay.yaml")
	if err := os.WriteFile(cfgPath, []byte("limits:\n  offers_per_second: -1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	base := startRelay(t, serveConfig{Addr: "127.0.0.1:0", DataDir: dir, Config: cfgPath, Shutdown: time.Second}, slog.New(slog.DiscardHandler))
	a, _ := auth.New([]byte(secret))
	tok, _ := a.Issue(auth.RolePublisher, "hall", "", time.Hour)
	c, _ := clip.Demo()
	ctx := context.Background()
	pub, err := peer.Publish(ctx, peer.PublishConfig{URL: base + "/whip/hall", Token: tok, Clip: c, Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(true)
	ws := "ws" + strings.TrimPrefix(base, "http") + "/captions/hall/ws?lang=en"

	cycle := func() error {
		cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		var v *peer.Viewer
		var err error
		for try := 0; try < 100; try++ {
			if v, err = peer.View(cctx, peer.ViewConfig{URL: base + "/whep/hall", Options: peer.Options{Loopback: true}}); err == nil {
				break
			}
			if se, ok := err.(*peer.StatusError); !ok || se.Status != 404 {
				return err
			}
			time.Sleep(50 * time.Millisecond) // not live yet
		}
		if err != nil {
			return err
		}
		cv, _, err := websocket.DefaultDialer.DialContext(cctx, ws, nil)
		if err != nil {
			v.Close(true)
			return err
		}
		if _, _, err := cv.ReadMessage(); err != nil { // the backlog
			cv.Close()
			v.Close(true)
			return err
		}
		for v.ConnectionState() != webrtc.PeerConnectionStateConnected && cctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		cv.Close()
		return v.Close(true)
	}
	for i := 0; i < 20; i++ { // warm up pools and caches before the baseline
		if err := cycle(); err != nil {
			t.Fatal(err)
		}
	}
	before := measure(t)
	start := time.Now()
	var failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	work := make(chan struct{})
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range work {
				if err := cycle(); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	for i := 0; i < cycles; i++ {
		work <- struct{}{}
	}
	close(work)
	wg.Wait()
	took := time.Since(start)
	if n := failed.Load(); n > 0 {
		t.Errorf("%d of %d cycles failed; first: %v", n, cycles, firstErr.Load())
	}
	var after resources
	deadline := time.Now().Add(20 * time.Second)
	for {
		after = measure(t)
		if after.goroutines <= before.goroutines+10 && after.fds <= before.fds+10 || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%d cycles in %v; goroutines %d -> %d, fds %d -> %d, heap %.1f -> %.1f MB",
		cycles, took.Round(time.Millisecond), before.goroutines, after.goroutines, before.fds, after.fds,
		float64(before.heap)/1e6, float64(after.heap)/1e6)
	if after.goroutines > before.goroutines+10 {
		t.Errorf("goroutines grew from %d to %d", before.goroutines, after.goroutines)
		buf := make([]byte, 1<<20)
		fmt.Fprintf(os.Stderr, "%s\n", buf[:runtime.Stack(buf, true)])
	}
	if after.fds > before.fds+10 {
		t.Errorf("open files grew from %d to %d", before.fds, after.fds)
	}
	if after.heap > before.heap+32<<20 {
		t.Errorf("heap grew from %.1f to %.1f MB", float64(before.heap)/1e6, float64(after.heap)/1e6)
	}
}
