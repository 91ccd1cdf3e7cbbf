package captions

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
)

// The caption load benchmark's viewers read their sockets with epoll
// (benchviewer_linux_test.go): it runs on Linux only.

// Loopback load: a child relay process (the test helper) serves captions;
// this process runs one captioner and n viewers. Each iteration sends one
// final and waits until every viewer has it.
//
//	go test -run '^$' -bench 'Viewers' -benchtime 100x ./captions/
func BenchmarkViewers1000(b *testing.B)  { benchViewers(b, 1000) }
func BenchmarkViewers10000(b *testing.B) { benchViewers(b, 10000) }

type benchCue struct {
	sent      time.Time
	remaining atomic.Int64
	done      chan struct{}
}

func benchViewers(b *testing.B, n int) {
	raiseFileLimit(b)
	ch := startChild(b, b.TempDir())
	defer func() { ch.Stdin.Close(); _ = ch.Cmd.Wait() }()
	base := "ws://" + ch.Addr
	memBefore := childMem(b, ch.Addr)

	cues := make([]*benchCue, b.N+1)
	for i := range cues {
		cues[i] = &benchCue{done: make(chan struct{})}
		cues[i].remaining.Store(int64(n))
	}
	lat := make([][]time.Duration, n)
	conns := make([]*rawViewer, n)
	var dialErr atomic.Value
	var dials sync.WaitGroup
	work := make(chan int)
	for range 16 {
		dials.Add(1)
		go func() {
			defer dials.Done()
			for i := range work {
				v, err := dialRawViewer(ch.Addr, "/captions/bench/ws?lang=en")
				if err != nil {
					dialErr.Store(err)
					continue
				}
				conns[i] = v
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	dials.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		b.Fatalf("dial viewers: %v", err)
	}
	// Each viewer must get every final once and in order: a cue's done
	// channel closes when all n viewers have it, and a missing, repeated
	// or reordered cue fails the benchmark.
	last := make([]int, n)
	seqKey := []byte(`"seq":`)
	for i, v := range conns {
		lat[i] = make([]time.Duration, 0, b.N)
		v.onText = func(data []byte, now time.Time) error {
			if !bytes.Contains(data, []byte(`"final":true`)) || bytes.HasPrefix(data, []byte(`{"type":"backlog"`)) {
				return nil
			}
			k := bytes.Index(data, seqKey)
			if k < 0 {
				return fmt.Errorf("final without seq: %s", data)
			}
			seq := 0
			for _, d := range data[k+len(seqKey):] {
				if d < '0' || d > '9' {
					break
				}
				seq = seq*10 + int(d-'0')
			}
			if seq != last[i]+1 || seq >= len(cues) {
				return fmt.Errorf("viewer %d: cue %d after %d", i, seq, last[i])
			}
			last[i] = seq
			lat[i] = append(lat[i], now.Sub(cues[seq].sent))
			if cues[seq].remaining.Add(-1) == 0 {
				close(cues[seq].done)
			}
			return nil
		}
	}
	readers, err := startViewerLoops(conns, runtime.GOMAXPROCS(0))
	if err != nil {
		b.Fatal(err)
	}
	defer func() {
		for _, v := range conns {
			v.Close()
		}
	}()
	memAfter := childMem(b, ch.Addr)

	a, _ := auth.New(testSecret)
	tok, _ := a.Issue(auth.RoleCaptioner, "bench", "en", time.Hour)
	cp, _, err := websocket.DefaultDialer.Dial(base+"/captions/bench/publish?lang=en&token="+tok, nil)
	if err != nil {
		b.Fatal(err)
	}
	var acks []time.Duration
	// What each side costs: the child's CPU time and this process's (the
	// viewers' readers and the captioner), and with RELAY_BENCH_PROFILE=dir
	// a CPU profile of each over the timed section.
	profDir := os.Getenv("RELAY_BENCH_PROFILE")
	var own profiler
	if profDir != "" {
		childPost(b, ch.Addr, "/debug/pprof/start?file="+url.QueryEscape(filepath.Join(profDir, fmt.Sprintf("server-%d.pprof", n))))
		if err := own.start(filepath.Join(profDir, fmt.Sprintf("client-%d.pprof", n))); err != nil {
			b.Fatal(err)
		}
	}
	serverCPU, clientCPU := childCPU(b, ch.Addr), processCPU()
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		cues[i].sent = time.Now()
		if err := cp.WriteJSON(map[string]any{"type": "final", "text": fmt.Sprintf("Benchmark caption number %d, of ordinary length.", i), "id": strconv.Itoa(i)}); err != nil {
			b.Fatal(err)
		}
		for {
			var m msg
			_ = cp.SetReadDeadline(time.Now().Add(30 * time.Second))
			if err := cp.ReadJSON(&m); err != nil {
				b.Fatal(err)
			}
			if m.Type == typeAck {
				acks = append(acks, time.Since(cues[i].sent))
				break
			}
		}
		select {
		case <-cues[i].done:
		case <-time.After(30 * time.Second):
			b.Fatalf("cue %d reached %d of %d viewers (%v)", i, int64(n)-cues[i].remaining.Load(), n, readers.firstErr())
		}
	}
	b.StopTimer()
	serverCPU, clientCPU = childCPU(b, ch.Addr)-serverCPU, processCPU()-clientCPU
	if profDir != "" {
		childPost(b, ch.Addr, "/debug/pprof/stop")
		if err := own.stop(); err != nil {
			b.Fatal(err)
		}
	}
	cp.Close()
	if err := readers.stop(); err != nil {
		b.Fatal(err)
	}
	for i, l := range last {
		if l != b.N {
			b.Fatalf("viewer %d got cues up to %d of %d", i, l, b.N)
		}
	}

	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(percentile(all, 50)), "delivery-p50-ms")
	b.ReportMetric(ms(percentile(all, 99)), "delivery-p99-ms")
	b.ReportMetric(ms(percentile(acks, 50)), "ack-p50-ms")
	b.ReportMetric(ms(percentile(acks, 99)), "ack-p99-ms")
	b.ReportMetric(ms(serverCPU)/float64(b.N), "server-cpu-ms/op")
	b.ReportMetric(ms(clientCPU)/float64(b.N), "client-cpu-ms/op")
	perViewer := float64(memAfter["heap"]+memAfter["stack"]-memBefore["heap"]-memBefore["stack"]) / float64(n)
	b.ReportMetric(perViewer, "server-B/viewer")
	b.ReportMetric(float64(memAfter["heap"]-memBefore["heap"])/float64(n), "server-heap-B/viewer")
	b.ReportMetric(float64(memAfter["goroutines"]-memBefore["goroutines"])/float64(n), "server-goroutines/viewer")
}

func percentile(d []time.Duration, p int) time.Duration {
	if len(d) == 0 {
		return 0
	}
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, len(s)*p/100)]
}

func childMem(b *testing.B, addr string) map[string]uint64 {
	resp, err := http.Get("http://" + addr + "/debug/mem")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	m := map[string]uint64{}
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		b.Fatal(err)
	}
	return m
}

// raiseFileLimit lifts the soft open-file limit to the hard one, for the
// 10 000-viewer run (the child inherits it).
func raiseFileLimit(b *testing.B) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			fmt.Fprintln(os.Stderr, "raise file limit:", err)
		}
	}
}

func childCPU(b *testing.B, addr string) time.Duration {
	resp, err := http.Get("http://" + addr + "/debug/cpu")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]int64
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		b.Fatal(err)
	}
	return time.Duration(m["cpu_ns"])
}

func childPost(b *testing.B, addr, path string) {
	resp, err := http.Post("http://"+addr+path, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		b.Fatalf("%s: %s %s", path, resp.Status, msg)
	}
}
