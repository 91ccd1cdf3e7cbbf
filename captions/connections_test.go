package captions

import (
	"testing"
	"time"
)

// TestConnectionsCounted: monitoring's count of open sockets follows
// viewers (one per socket, whatever its languages) and captioners.
func TestConnectionsCounted(t *testing.T) {
	e := newEnv(t, "", nil)
	waitConns := func(wantV, wantC int) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			v, c := e.svc.Connections()
			if v == wantV && c == wantC {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Connections() = %d viewers, %d captioners; want %d, %d", v, c, wantV, wantC)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitConns(0, 0)
	v1 := e.viewer("r1", "en,fr")
	v1.readType(typeBacklog)
	v2 := e.viewer("r1", "en")
	v2.readType(typeBacklog)
	cp := e.captioner("r1", "en")
	cp.readType(typeStatus)
	waitConns(2, 1)
	v1.conn.Close()
	cp.conn.Close()
	waitConns(1, 0)
	v2.conn.Close()
	waitConns(0, 0)
}
