//go:build linux

package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/testkit"
)

// The disk-full helper: this test binary re-executed with diskFullEnv set
// to a data directory runs `relay serve` on it, with the kernel's file size
// limit (RLIMIT_FSIZE) at the bytes given in diskFullLimitEnv when set: a
// journal write past it fails half-written with EFBIG, as one on a full
// disk fails with ENOSPC. It prints "ADDR host:port" and stops as on
// SIGTERM when its stdin closes.
const (
	diskFullEnv      = "RELAY_DISKFULL_HELPER"
	diskFullLimitEnv = "RELAY_DISKFULL_LIMIT"
)

func TestDiskFullHelper(t *testing.T) {
	dir := os.Getenv(diskFullEnv)
	if dir == "" {
		t.Skip("helper process only")
	}
	if n, err := strconv.ParseUint(os.Getenv(diskFullLimitEnv), 10, 64); err == nil {
		// Go ignores SIGXFSZ: the write returns the error instead.
		if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &syscall.Rlimit{Cur: n, Max: n}); err != nil {
			fmt.Fprintln(os.Stderr, "setrlimit:", err)
			os.Exit(2)
		}
	}
	// The failure is asserted on the wire, not in the log.
	serveChild(serveConfig{Addr: "127.0.0.1:0", DataDir: dir, Shutdown: 2 * time.Second})
}

// startDiskFullRelay runs the helper on dir (limit 0: no file size limit)
// and returns its base URL and a stop function that waits for it to exit.
func startDiskFullRelay(t *testing.T, dir string, limit int) (string, func()) {
	t.Helper()
	env := []string{diskFullEnv + "=" + dir}
	if limit > 0 {
		env = append(env, fmt.Sprintf("%s=%d", diskFullLimitEnv, limit))
	}
	c := testkit.StartChild(t, "TestDiskFullHelper", env...)
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		c.Stdin.Close()
		exited := make(chan struct{})
		go func() { c.Cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			c.Cmd.Process.Kill()
			<-exited
			t.Error("the relay did not stop within 10 s")
		}
	}
	t.Cleanup(stop)
	return "http://" + c.Addr, stop
}

type capReply struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Seq   uint64 `json:"seq"`
	Error string `json:"error"`
}

// TestDiskFull: the relay's data directory fills up (the kernel refuses
// journal writes past 4 KiB, half-writing the last) while a captioner sends
// finals. Every final gets an ack or an error, no ack after the first error;
// /readyz turns 503 and says why, /healthz stays 200, the journal error
// counter moves, HTTP ingest answers an error. After a restart with room on
// the disk every acknowledged cue is in the transcript exactly once, the
// torn record is gone, and resending the refused finals with their ids
// stores each once.
func TestDiskFull(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns processes")
	}
	const secret = "disk-full-secret-0123456789"
	t.Setenv("RELAY_SECRET", secret)
	a, _ := auth.New([]byte(secret))
	tok, _ := a.Issue(auth.RoleCaptioner, "hall", "en", time.Hour)
	dir := t.TempDir()
	base, stop := startDiskFullRelay(t, dir, 4096)
	if code, body := testkit.HTTPGet(t, base+"/readyz"); code != 200 {
		t.Fatalf("readyz before the disk fills: %d %s", code, body)
	}

	wsURL := "ws" + strings.TrimPrefix(base, "http") + "/captions/hall/publish?lang=en&token=" + tok
	conn, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	const n = 60
	text := func(i int) string {
		return fmt.Sprintf("Cue %02d: the speaker goes on about the budget for next year.", i)
	}
	go func() {
		// 15 a second (under the captioner's sustained rate), except for
		// 25 at once from the 10th: those are committed in groups, and the
		// write that crosses the limit fails a whole group at once.
		for i := range n {
			if conn.WriteJSON(map[string]any{"type": "final", "id": fmt.Sprint("f", i), "text": text(i)}) != nil {
				return
			}
			if i < 10 || i >= 35 {
				time.Sleep(60 * time.Millisecond)
			}
		}
	}()
	acked := map[string]uint64{}
	var refused []string
	firstError := ""
	for len(acked)+len(refused) < n {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m capReply
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("after %d acks and %d errors: %v", len(acked), len(refused), err)
		}
		switch m.Type {
		case "ack":
			if len(refused) > 0 {
				t.Errorf("%s acknowledged after an error: the journal cannot have it", m.ID)
			}
			acked[m.ID] = m.Seq
		case "error":
			if m.ID == "" {
				t.Fatalf("an error for no final: %q", m.Error)
			}
			if firstError == "" {
				firstError = m.Error
			}
			refused = append(refused, m.ID)
		}
	}
	t.Logf("%d finals acknowledged, %d refused; first error: %s", len(acked), len(refused), firstError)
	if len(acked) == 0 || len(refused) == 0 {
		t.Fatalf("want some acks, then errors: %d and %d", len(acked), len(refused))
	}
	if !strings.Contains(firstError, "file too large") {
		t.Errorf("the error does not say what failed: %q", firstError)
	}

	code, body := testkit.HTTPGet(t, base+"/readyz")
	t.Logf("readyz: %d %s", code, strings.TrimSpace(body))
	if code != 503 || !strings.Contains(body, "journal") {
		t.Errorf("readyz with a failed journal: %d %q", code, body)
	}
	if code, _ := testkit.HTTPGet(t, base+"/healthz"); code != 200 {
		t.Errorf("healthz: %d (the process is alive, only not ready)", code)
	}
	_, metrics := testkit.HTTPGet(t, base+"/metrics")
	var journalErrors float64
	for _, l := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(l, "relay_caption_journal_errors_total "); ok {
			journalErrors, _ = strconv.ParseFloat(v, 64)
		}
	}
	if journalErrors < 1 {
		t.Errorf("relay_caption_journal_errors_total = %v", journalErrors)
	}
	resp, err := http.Post(base+"/captions/hall/post?lang=en&seq=1&token="+tok, "text/plain", strings.NewReader("Posted while the disk is full.\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Logf("metrics: relay_caption_journal_errors_total %v; HTTP ingest answered %d", journalErrors, resp.StatusCode)
	if resp.StatusCode < 500 {
		t.Errorf("HTTP ingest with a failed journal answered %d", resp.StatusCode)
	}
	conn.Close()
	stop()
	journal, _ := os.ReadFile(filepath.Join(dir, "captions", "hall.journal"))
	torn := len(journal) > 0 && journal[len(journal)-1] != '\n'
	t.Logf("journal left at %d bytes, torn last record: %v", len(journal), torn)

	// Room on the disk again: start over on the same directory.
	base, _ = startDiskFullRelay(t, dir, 0)
	if code, body := testkit.HTTPGet(t, base+"/readyz"); code != 200 {
		t.Errorf("readyz after the restart: %d %s", code, body)
	}
	transcript := func() map[string]int {
		return testkit.TranscriptCounts(t, base+"/captions/hall/transcript.srt?lang=en")
	}
	have := transcript()
	for id := range acked {
		i, _ := strconv.Atoi(strings.TrimPrefix(id, "f"))
		if have[text(i)] != 1 {
			t.Errorf("acknowledged %s is in the transcript %d times", id, have[text(i)])
		}
	}
	stored := 0
	for _, id := range refused {
		i, _ := strconv.Atoi(strings.TrimPrefix(id, "f"))
		stored += have[text(i)]
	}
	t.Logf("after the restart: %d cues in the transcript; %d of the %d refused finals had reached the disk whole before the write failed",
		len(have), stored, len(refused))

	// The captioner resends what was refused, with the same ids.
	conn2, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/captions/hall/publish?lang=en&token="+tok, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	go func() {
		for _, id := range refused {
			i, _ := strconv.Atoi(strings.TrimPrefix(id, "f"))
			if conn2.WriteJSON(map[string]any{"type": "final", "id": id, "text": text(i)}) != nil {
				return
			}
			time.Sleep(60 * time.Millisecond)
		}
	}()
	for got := 0; got < len(refused); {
		conn2.SetReadDeadline(time.Now().Add(10 * time.Second))
		var m capReply
		if err := conn2.ReadJSON(&m); err != nil {
			t.Fatalf("resending: %v", err)
		}
		switch m.Type {
		case "ack":
			got++
		case "error":
			t.Fatalf("resent %s refused: %s", m.ID, m.Error)
		}
	}
	have = transcript()
	for i := range n {
		if have[text(i)] != 1 {
			t.Errorf("after the resend, cue %d is in the transcript %d times", i, have[text(i)])
		}
	}
}
