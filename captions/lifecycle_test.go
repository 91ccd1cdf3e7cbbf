package captions

import (
	"net/url"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

// TestCaptionerStatus: captioners of a language learn who else is connected
// and how many viewers watch.
func TestCaptionerStatus(t *testing.T) {
	e := newEnv(t, "", nil)
	c1, _, err := e.dial("/captions/r1/publish", url.Values{"lang": {"fr"}, "name": {"Alice"}, "token": {e.token(auth.RoleCaptioner, "r1", "fr")}})
	if err != nil {
		t.Fatal(err)
	}
	st := c1.readType(typeStatus)
	if st.Lang != "fr" || len(st.Captioners) != 1 || st.Captioners[0].Name != "Alice" || st.Captioners[0].Via != "ws" {
		t.Fatalf("first status: %+v", st)
	}
	c2, _, err := e.dial("/captions/r1/publish", url.Values{"lang": {"fr"}, "name": {"Bob"}, "token": {e.token(auth.RoleCaptioner, "r1", "fr")}})
	if err != nil {
		t.Fatal(err)
	}
	if st := c1.readType(typeStatus); len(st.Captioners) != 2 || st.Captioners[1].Name != "Bob" {
		t.Fatalf("after Bob joined: %+v", st)
	}
	e.viewer("r1", "fr")
	e.viewer("r1", "fr")
	deadline := time.Now().Add(3 * time.Second)
	for {
		st := c1.readType(typeStatus)
		if st.Viewers == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("viewer count never reached 2: %+v", st)
		}
	}
	c2.conn.Close()
	if st := c1.readType(typeStatus); len(st.Captioners) != 1 || st.Captioners[0].Name != "Alice" {
		t.Fatalf("after Bob left: %+v", st)
	}
	rs := e.svc.Rooms()
	if len(rs) != 1 || rs[0].Languages[0].Viewers != 2 || len(rs[0].Languages[0].Captioners) != 1 {
		t.Fatalf("Rooms: %+v", rs)
	}
}

// TestDeadPeerReaped: a viewer that never answers pings is dropped.
func TestDeadPeerReaped(t *testing.T) {
	e := newEnv(t, "", func(c *Config) { c.PingInterval = 100 * time.Millisecond })
	v := e.viewer("r1", "en")
	// Never read: gorilla answers pings only while reading.
	_ = v
	deadline := time.Now().Add(3 * time.Second)
	for {
		rs := e.svc.Rooms()
		if len(rs) == 1 && rs[0].Languages[0].Viewers == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("silent viewer not reaped: %+v", rs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCloseEndsEverything: Close says "going away" to every socket, ends all
// goroutines (goleak checks in TestMain) and refuses new work.
func TestCloseEndsEverything(t *testing.T) {
	e := newEnv(t, "", nil)
	v := e.viewer("r1", "en")
	v.readType(typeBacklog)
	cp := e.captioner("r1", "en")
	cp.final("last words", "")
	v.read()
	done := make(chan error, 1)
	go func() { done <- e.svc.Close() }()
	if err := readUntilClose(v); !isClose(err, closeGoingAway) {
		t.Fatalf("viewer: %v", err)
	}
	if err := readUntilClose(cp); !isClose(err, closeGoingAway) {
		t.Fatalf("captioner: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, resp, err := e.dial("/captions/r1/ws", url.Values{"lang": {"en"}}); err == nil || resp.StatusCode != 503 {
		t.Fatalf("after Close: %v %v", resp, err)
	}
	e.srv.Close()
	e.svc = nil
}

// TestEmptyRoomsCollected: rooms that only ever had viewers (of a declared
// language) are collected once empty, so viewers cannot exhaust MaxRooms.
func TestEmptyRoomsCollected(t *testing.T) {
	e := newEnv(t, "", func(c *Config) {
		c.MaxRooms = 2
		c.Languages = func(string) []string { return []string{"en"} }
	})
	keep := e.viewer("watched", "en")
	keep.readType(typeBacklog)
	ghost := e.viewer("ghost", "en")
	ghost.readType(typeBacklog)
	if _, resp, err := e.dial("/captions/third/ws", url.Values{"lang": {"en"}}); err == nil || resp.StatusCode != 429 {
		t.Fatalf("third room over MaxRooms: %v %v", resp, err)
	}
	ghost.conn.Close()
	deadline := time.Now().Add(5 * time.Second)
	for e.svc.existingRoom("ghost") != nil {
		if time.Now().After(deadline) {
			t.Fatal("empty room not collected")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if e.svc.existingRoom("watched") == nil {
		t.Fatal("a room with a viewer was collected")
	}
	v := e.viewer("third", "en")
	v.readType(typeBacklog)
	cp := e.captioner("third", "en")
	if a := cp.final("still works", ""); a.Seq != 1 {
		t.Fatalf("ack %+v", a)
	}
	if m := v.read(); m.Text != "still works" {
		t.Fatalf("viewer of a room created after a collection: %+v", m)
	}
}
