// Package testkit holds what the tests of several packages share: starting
// headless Chromium, running the test binary again as a child relay, and
// small HTTP helpers. Only tests import it.
package testkit

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/asticode/go-astisub"
	"github.com/chromedp/chromedp"
)

// Chromium is where Debian's chromium package puts the browser.
const Chromium = "/usr/bin/chromium"

// ChromiumOptions are the options every browser test starts Chromium with:
// headless, without the sandbox (CI runs as root), nothing that reaches
// the network on its own, a fresh profile in userDataDir and a 1280x800
// window. Callers append their own.
func ChromiumOptions(userDataDir string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(Chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(userDataDir),
		chromedp.WindowSize(1280, 800),
	}
}

// Child is the test binary run again as one of its own tests: a helper
// that serves on loopback, prints "ADDR host:port" on stdout and exits when
// its stdin closes.
type Child struct {
	Cmd   *exec.Cmd
	Addr  string
	Stdin io.WriteCloser // closing it asks the child to exit
}

// StartChild runs the test named test in a new process with env added and
// waits for its address. If the test ends with the child still running,
// the child is killed.
func StartChild(t testing.TB, test string, env ...string) *Child {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+test+"$", "-test.v=false")
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &Child{Cmd: cmd, Stdin: in}
	t.Cleanup(c.Kill)
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("%s did not start: %v", test, err)
	}
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "ADDR ")
	if !ok {
		t.Fatalf("%s said %q", test, line)
	}
	c.Addr = addr
	return c
}

// Kill ends the child with SIGKILL, unless it has already been waited for.
func (c *Child) Kill() {
	if c.Cmd.ProcessState == nil {
		_ = c.Cmd.Process.Kill()
		_ = c.Cmd.Wait()
	}
}

// HTTPGet fetches url and returns the status code and body.
func HTTPGet(t testing.TB, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TranscriptCounts reads the SRT transcript at url and counts each cue's
// text (its lines trimmed and joined with newlines): tests check that every
// acknowledged caption is there exactly once.
func TranscriptCounts(t testing.TB, url string) map[string]int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	subs, err := astisub.ReadFromSRT(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]int{}
	for _, it := range subs.Items {
		var lines []string
		for _, l := range it.Lines {
			lines = append(lines, strings.TrimSpace(l.String()))
		}
		have[strings.Join(lines, "\n")]++
	}
	return have
}

// LockedBuffer collects what other goroutines write (a relay's log, its
// start-up notes) and may be read while they write.
type LockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *LockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns what has been written so far.
func (l *LockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// DialerFrom dials from the loopback address ip: Linux routes all of
// 127.0.0.0/8 to lo, so tests play several client addresses (127.0.0.2,
// 127.0.0.3, ...) against one relay.
func DialerFrom(ip string) *net.Dialer {
	return &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
}

// ClientFrom is an HTTP client whose connections come from the loopback
// address ip (see DialerFrom); its idle connections close when t ends.
func ClientFrom(t testing.TB, ip string) *http.Client {
	tr := &http.Transport{DialContext: DialerFrom(ip).DialContext}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// Alone skips a test outside a run of its own: what it measures in time (a
// capped link, a socket that fills, a real-time encoder) changes when a
// 2-core machine runs the browser tests beside it. scripts/test runs these
// alone, after the parallel run, with RELAY_TEST_ALONE=1.
func Alone(t testing.TB) {
	t.Helper()
	if os.Getenv("RELAY_TEST_ALONE") == "" {
		t.Skip("runs alone: RELAY_TEST_ALONE=1 (scripts/test does)")
	}
}
