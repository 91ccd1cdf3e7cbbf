package captions

import (
	"errors"
	"os"
	"runtime/pprof"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

// benchHub returns a hub of a fresh service with n subscribers that have no
// socket: it measures the broadcaster alone.
func benchHub(b *testing.B, n int) (*langHub, []*client) {
	a, _ := auth.New(testSecret)
	svc, err := New(Config{DataDir: b.TempDir(), Auth: a, Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	h, err := svc.hub("bench", "en")
	if err != nil {
		b.Fatal(err)
	}
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = newClient(nil, nil, "b", svc.log, svc.limits())
		h.subs[clients[i]] = struct{}{}
	}
	return h, clients
}

// BenchmarkHubBroadcast: one partial (encoded once) queued on 1 000
// subscribers.
func BenchmarkHubBroadcast(b *testing.B) {
	h, _ := benchHub(b, 1000)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		h.partialLine("the quick brown fox jumps over the lazy dog " + strconv.Itoa(i&1023))
	}
}

// BenchmarkHubFinal: finals through the journal (fsync, group commit when
// several are in flight) and fan-out to 100 subscribers whose queues are
// drained as a writer would.
func BenchmarkHubFinal(b *testing.B) {
	h, clients := benchHub(b, 100)
	b.ReportAllocs()
	var wg sync.WaitGroup
	const inflight = 16
	sem := make(chan struct{}, inflight)
	for i := 0; b.Loop(); i++ {
		sem <- struct{}{}
		wg.Add(1)
		h.final("A final caption line of ordinary length.", "", time.Time{}, func(uint64, bool, error) { <-sem; wg.Done() })
		if i%64 == 0 {
			for _, c := range clients {
				c.take()
			}
		}
	}
	wg.Wait()
}

func BenchmarkDecodeCaptionerMessage(b *testing.B) {
	msg := []byte(`{"type":"final","text":"Mesdames et messieurs, bienvenue à cette session.","id":"c-1234"}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeCaptionerMessage(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// processCPU is the user and system CPU time this process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// profiler writes one CPU profile at a time to a file.
type profiler struct {
	mu sync.Mutex
	f  *os.File
}

func (p *profiler) start(path string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f != nil {
		return errors.New("a profile is already running")
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return err
	}
	p.f = f
	return nil
}

func (p *profiler) stop() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.f == nil {
		return nil
	}
	pprof.StopCPUProfile()
	err := p.f.Close()
	p.f = nil
	return err
}
