package captions

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
)

// The helper process: the test binary re-executed with helperEnv set to a
// data directory serves a captions Service on 127.0.0.1 and prints
// "ADDR host:port". It exits when its stdin closes (or on SIGKILL).
const helperEnv = "RELAY_CAPTIONS_HELPER"

func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	a, err := auth.New(testSecret)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	// The benchmarks' viewers (10 000 from 127.0.0.1) subscribe before their
	// captioner: no socket caps, and the bench room declares en.
	svc, err := New(Config{DataDir: dir, Auth: a, Logger: quietLogger(), CaptionerRate: 1e6, CaptionerBurst: 1 << 20,
		QueueMessages: 1 << 16, QueueBytes: 64 << 20, MaxSocketsPerAddr: -1, MaxSockets: -1,
		Languages: func(room string) []string {
			if room == "bench" {
				return []string{"en"}
			}
			return nil
		}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	mux.HandleFunc("GET /debug/mem", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		json.NewEncoder(w).Encode(map[string]uint64{
			"heap": ms.HeapInuse, "stack": ms.StackInuse, "sys": ms.Sys, "goroutines": uint64(runtime.NumGoroutine()),
		})
	})
	var prof profiler
	// Benchmarks ask for the child's CPU time and, with RELAY_BENCH_PROFILE,
	// a CPU profile of their timed section.
	mux.HandleFunc("GET /debug/cpu", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]int64{"cpu_ns": processCPU().Nanoseconds()})
	})
	mux.HandleFunc("POST /debug/pprof/start", func(w http.ResponseWriter, r *http.Request) {
		if err := prof.start(r.URL.Query().Get("file")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	mux.HandleFunc("POST /debug/pprof/stop", func(w http.ResponseWriter, r *http.Request) {
		if err := prof.stop(); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	fmt.Printf("ADDR %s\n", ln.Addr())
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // parent gone or done
	_ = srv.Close()
	_ = svc.Close()
	os.Exit(0)
}

// startChild runs a helper serving dir and returns it.
func startChild(t testing.TB, dir string) *testkit.Child {
	t.Helper()
	return testkit.StartChild(t, "TestHelperProcess", helperEnv+"="+dir)
}

// TestSIGKILLDurability pushes a burst of finals into a child relay, kills
// it with SIGKILL while acks are still arriving, restarts it on the same
// data directory and checks that every acknowledged cue is in the transcript.
func TestSIGKILLDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	a, _ := auth.New(testSecret)
	tok, _ := a.Issue(auth.RoleCaptioner, "durable", "en", time.Hour)
	dir := t.TempDir()
	ch := startChild(t, dir)

	u := fmt.Sprintf("ws://%s/captions/durable/publish?lang=en&token=%s", ch.Addr, tok)
	conn, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const burst = 2000
	acked := map[string]uint64{}
	go func() {
		for i := range burst {
			if conn.WriteJSON(map[string]any{"type": "final", "id": fmt.Sprint("c", i), "text": fmt.Sprintf("cue number %d", i)}) != nil {
				return
			}
		}
	}()
	for len(acked) < burst/2 {
		_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m msg
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("after %d acks: %v", len(acked), err)
		}
		if m.Type == typeAck {
			acked[m.ID] = m.Seq
		}
	}
	ch.Kill() // SIGKILL right in the middle of the burst
	// Acks that were already in flight count too: read what the socket holds.
	for {
		_ = conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		var m msg
		if err := conn.ReadJSON(&m); err != nil {
			break
		}
		if m.Type == typeAck {
			acked[m.ID] = m.Seq
		}
	}
	t.Logf("%d of %d finals acknowledged before SIGKILL", len(acked), burst)

	ch2 := startChild(t, dir)
	have := testkit.TranscriptCounts(t, fmt.Sprintf("http://%s/captions/durable/transcript.srt?lang=en", ch2.Addr))
	for id := range acked {
		text := "cue number " + strings.TrimPrefix(id, "c")
		if have[text] != 1 {
			t.Errorf("acknowledged %s (%q) is in the transcript %d times", id, text, have[text])
		}
	}
	cues := 0
	for _, n := range have {
		cues += n
	}
	if cues < len(acked) || cues > burst {
		t.Fatalf("transcript has %d cues; %d were acknowledged", cues, len(acked))
	}
	// Resending an acknowledged id after the restart is still idempotent.
	conn2, _, err := websocket.DefaultDialer.Dial(strings.Replace(u, ch.Addr, ch2.Addr, 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	conn2.WriteJSON(map[string]any{"type": "final", "id": "c0", "text": "cue number 0"})
	for {
		_ = conn2.SetReadDeadline(time.Now().Add(5 * time.Second))
		var m msg
		if err := conn2.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type == typeAck {
			if !m.Duplicate || m.Seq != acked["c0"] {
				t.Fatalf("resend after restart: %+v, first ack seq %d", m, acked["c0"])
			}
			break
		}
	}
	ch2.Stdin.Close()
	_ = ch2.Cmd.Wait()
}

// TestJournalTornTail: a torn last record (a crash mid-write) is cut off and
// logged; a corrupt record in the middle is skipped; neither is fatal.
func TestJournalTornTail(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, nil)
	cp := e.captioner("r1", "en")
	cp.final("one", "")
	cp.final("two", "")
	cp.final("three", "")
	e.close()

	path := filepath.Join(dir, "captions", "r1.journal")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	// Corrupt the second record's text (checksum no longer matches) and
	// append half a record.
	lines[1] = bytes.Replace(lines[1], []byte("two"), []byte("TWO"), 1)
	torn := append(bytes.Join(lines, nil), []byte(`1234abcd {"t":"final","lang":"en","seq":4,"te`)...)
	if err := os.WriteFile(path, torn, 0o644); err != nil {
		t.Fatal(err)
	}
	e2 := newEnv(t, dir, nil)
	h := e2.svc.existingRoom("r1").existing("en")
	got := h.transcript()
	if len(got) != 2 || got[0].Text != "one" || got[1].Text != "three" {
		t.Fatalf("after restart: %+v", got)
	}
	cp2 := e2.captioner("r1", "en")
	if a := cp2.final("four", ""); a.Seq != 4 {
		t.Fatalf("seq after restart: %+v", a)
	}
	e2.close()
	after, _ := os.ReadFile(path)
	if bytes.Contains(after, []byte(`"te`+"\n")) || !bytes.HasSuffix(after, []byte("\n")) {
		t.Fatalf("torn tail not cut:\n%s", after)
	}
	e3 := newEnv(t, dir, nil)
	if got := e3.svc.existingRoom("r1").existing("en").transcript(); len(got) != 3 || got[2].Text != "four" {
		t.Fatalf("third start: %+v", got)
	}
}

// TestRestartKeepsBacklog: viewers of a restarted service get the backlog.
func TestRestartKeepsBacklog(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, nil)
	cp := e.captioner("r1", "ar")
	cp.final("مرحبا", "a")
	cp.send(map[string]any{"type": "correct", "seq": 1, "text": "مرحبا بكم"})
	cp.readAck()
	e.close()
	e2 := newEnv(t, dir, nil)
	b := e2.viewer("r1", "ar").read()
	if b.Type != typeBacklog || len(b.Cues) != 1 || b.Cues[0].Text != "مرحبا بكم" {
		t.Fatalf("backlog after restart: %+v", b)
	}
}
