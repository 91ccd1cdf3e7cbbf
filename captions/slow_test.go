package captions

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/testkit"
)

func testMsg(kind msgKind, lang string, size int) outMsg {
	return outMsg{frame: frame(opText, []byte("{}")), kind: kind, lang: lang, size: size}
}

// TestQueuePolicy checks the queue without a socket: partials coalesce per
// language, go first when the queue is full, and a final that still does not
// fit closes the client with reason "slow".
func TestQueuePolicy(t *testing.T) {
	c := newClient(nil, nil, "s1", quietLogger(), queueLimits{maxMsgs: 4, maxBytes: 1000})
	c.enqueue(testMsg(kindPartial, "en", 10))
	c.enqueue(testMsg(kindPartial, "en", 10)) // replaces the first
	c.enqueue(testMsg(kindPartial, "fr", 10))
	if len(c.q) != 2 {
		t.Fatalf("partials did not coalesce: %d queued", len(c.q))
	}
	c.enqueue(testMsg(kindMust, "en", 10))
	c.enqueue(testMsg(kindMust, "en", 10))
	// Full (4): a final drops both partials.
	if res := c.enqueue(testMsg(kindMust, "en", 10)); res.dropped != 2 || res.slow {
		t.Fatalf("full queue, final: %+v", res)
	}
	// Full of finals: a partial is dropped, the client stays.
	c.enqueue(testMsg(kindMust, "en", 10))
	if res := c.enqueue(testMsg(kindPartial, "en", 10)); res.dropped != 1 || res.slow {
		t.Fatalf("partial on a queue of finals: %+v", res)
	}
	// A final that cannot fit: the client is closed as slow.
	if res := c.enqueue(testMsg(kindMust, "en", 10)); !res.slow {
		t.Fatalf("final on a full queue: %+v", res)
	}
	if !c.closed || c.closeCode != closeSlow || c.closeText != "slow" || len(c.q) != 0 {
		t.Fatalf("closed=%v code=%d reason=%q queued=%d", c.closed, c.closeCode, c.closeText, len(c.q))
	}
	if res := c.enqueue(testMsg(kindMust, "en", 10)); !res.closed {
		t.Fatalf("enqueue after close: %+v", res)
	}
	// Byte bound, and a big message always fits an empty queue.
	b := newClient(nil, nil, "s2", quietLogger(), queueLimits{maxMsgs: 100, maxBytes: 100})
	if res := b.enqueue(testMsg(kindMust, "en", 500)); res.slow {
		t.Fatal("a message must fit an empty queue")
	}
	if res := b.enqueue(testMsg(kindMust, "en", 10)); !res.slow {
		t.Fatal("byte bound not enforced")
	}
}

// TestSlowViewer: a viewer that stops reading does not delay the others and
// is eventually disconnected (counted as "slow").
func TestSlowViewer(t *testing.T) {
	testkit.Alone(t)
	e := newEnv(t, "", func(c *Config) {
		c.QueueMessages = 64
		c.WriteTimeout = 300 * time.Millisecond
		c.CaptionerRate = 1e6
		c.CaptionerBurst = 1e6
	})
	// The stalled viewer shrinks its receive buffer so the socket fills fast.
	e.declare("r1", "en")
	d := smallBufferDialer()
	stalled, _, err := d.Dial(e.wsURL("/captions/r1/ws", map[string][]string{"lang": {"en"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	fast := e.viewer("r1", "en")
	fast.readType(typeBacklog)
	cp := e.captioner("r1", "en")

	text := strings.Repeat("x", 990)
	done := make(chan error, 1)
	received := 0
	const n = 3000
	go func() {
		for received < n {
			m, err := fast.tryRead(10 * time.Second)
			if err != nil {
				done <- err
				return
			}
			if m.Type == typeCue && m.Final {
				received++
			}
		}
		done <- nil
	}()
	start := time.Now()
	const batch = 8 // the captioner pipelines a few finals, as a CART tool would
	for i := 0; i < n; i += batch {
		for j := i; j < i+batch; j++ {
			if err := cp.conn.WriteJSON(map[string]any{"type": "final", "text": fmt.Sprint(j, text)}); err != nil {
				t.Fatal(err)
			}
		}
		for range batch {
			cp.readAck()
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("fast viewer got %d of %d finals: %v", received, n, err)
	}
	t.Logf("fast viewer got all %d finals in %v", n, time.Since(start))
	deadline := time.Now().Add(10 * time.Second)
	for {
		st := e.svc.Rooms()[0].Languages[0]
		if st.Dropped["slow"] == 1 && st.Viewers == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stalled viewer not disconnected: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestStalledViewerResumes: a viewer that stops reading until the server's
// socket buffers are full, then reads again, gets every final whole and in
// order. The fan-out's non-blocking writes leave the rest of a frame to the
// connection's writer goroutine; nothing may be lost, repeated or cut.
func TestStalledViewerResumes(t *testing.T) {
	testkit.Alone(t)
	e := newEnv(t, "", func(c *Config) {
		c.QueueMessages = 1 << 16
		c.QueueBytes = 64 << 20
		c.CaptionerRate = 1e6
		c.CaptionerBurst = 1e6
	})
	e.declare("r1", "en")
	d := smallBufferDialer()
	conn, _, err := d.Dial(e.wsURL("/captions/r1/ws", map[string][]string{"lang": {"en"}}), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	v := &wsc{t: t, conn: conn}
	v.readType(typeBacklog)
	cp := e.captioner("r1", "en")

	text := strings.Repeat("é", 990) // ~2 KB a frame: 3 000 of them overflow any socket buffer
	const n, batch = 3000, 50
	for i := 0; i < n; i += batch {
		for j := i; j < i+batch; j++ {
			cp.send(map[string]any{"type": "final", "text": fmt.Sprint(j, text)})
			if j%7 == 0 {
				cp.send(map[string]any{"type": "partial", "text": fmt.Sprint("partial ", j)})
			}
		}
		for range batch {
			cp.readAck()
		}
	}
	for i := range n {
		m := v.readNot(typeStatus)
		for !m.Final {
			m = v.readNot(typeStatus) // partials may be replaced while queued
		}
		if m.Seq != uint64(i+1) || m.Text != fmt.Sprint(i, text) {
			t.Fatalf("final %d: got seq %d, %d bytes of text", i+1, m.Seq, len(m.Text))
		}
	}
	if st := e.svc.Rooms()[0].Languages[0]; st.Dropped["slow"] != 0 {
		t.Fatalf("viewer dropped: %+v", st)
	}
}

// smallBufferDialer dials with a 4 KiB receive buffer, so that a client that
// stops reading fills the server's socket quickly.
func smallBufferDialer() websocket.Dialer {
	return websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		nd := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
			if err != nil {
				return err
			}
			return serr
		}}
		return nd.DialContext(ctx, network, addr)
	}}
}
