//go:build linux

package captions

import (
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// TestStalledViewersKernelMemory: viewers that never read are held until
// the write timeout, and meanwhile the relay's kernel keeps what their
// sockets did not take. With the send buffer left to autotuning a stalled
// socket's queue grew to megabytes; it is now bounded by sendBuffer. The
// figures are logged (go test -v -run StalledViewers).
func TestStalledViewersKernelMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("sends 16 MB")
	}
	e := newEnv(t, "", func(c *Config) {
		c.QueueMessages = 1 << 16
		c.QueueBytes = 64 << 20
		c.WriteTimeout = time.Minute
		c.CaptionerRate = 1e6
		c.CaptionerBurst = 1 << 20
	})
	e.declare("r1", "en")
	const stalled = 8
	for range stalled {
		if _, _, err := e.dial("/captions/r1/ws", url.Values{"lang": {"en"}}); err != nil { // never read
			t.Fatal(err)
		}
	}
	cp := e.captioner("r1", "en")
	line := strings.Repeat("A stalled phone pins what the relay could not send. ", 20)[:990]
	const finals = 2000 // 2 MB to each viewer
	for i := range finals {
		cp.send(map[string]any{"type": "final", "text": line, "id": fmt.Sprint(i)})
	}
	for range finals {
		cp.readAck()
	}
	time.Sleep(500 * time.Millisecond) // the fan-out has written what the sockets take

	var maxQueued, maxBuf, total int
	h := e.svc.liveRoom("r1").existing("en")
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.subs) != stalled {
		t.Fatalf("%d viewers left, want %d", len(h.subs), stalled)
	}
	for c := range h.subs {
		queued := outq(t, c.sock.fd)
		buf, err := syscall.GetsockoptInt(c.sock.fd, syscall.SOL_SOCKET, syscall.SO_SNDBUF)
		if err != nil {
			t.Fatal(err)
		}
		maxQueued, maxBuf, total = max(maxQueued, queued), max(maxBuf, buf), total+queued
	}
	t.Logf("%d stalled viewers: kernel send queue %d KiB in all, at most %d KiB per socket (SO_SNDBUF %d KiB)",
		stalled, total>>10, maxQueued>>10, maxBuf>>10)
	if maxQueued > 4*sendBuffer {
		t.Errorf("a stalled socket holds %d KiB in the kernel, want at most %d KiB", maxQueued>>10, 4*sendBuffer>>10)
	}
}

// outq is the bytes in a socket's send queue, sent or not, not yet
// acknowledged by the peer (SIOCOUTQ).
func outq(t *testing.T, fd int) int {
	var n int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, uintptr(fd), syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Fatal(errno)
	}
	return int(n)
}
