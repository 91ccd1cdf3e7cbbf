package captions

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

// waitGone waits until room has left memory (and Rooms).
func waitGone(t *testing.T, e *env, room string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.svc.liveRoom(room) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("idle room %s still in memory", room)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, rs := range e.svc.Rooms() {
		if rs.Room == room {
			t.Fatalf("forgotten room %s still listed", room)
		}
	}
}

// TestIdleRoomForgotten: rooms stayed in memory for the relay's life, so
// that every room ever captioned was held and listed. An idle room now
// leaves memory; its transcript is still downloadable without bringing it
// back, and a captioner coming back finds the backlog, ids and ingest seqs
// as they were.
func TestIdleRoomForgotten(t *testing.T) {
	e := newEnv(t, "", func(c *Config) {
		c.IdleAfter = 300 * time.Millisecond
		c.IngestIdle = 200 * time.Millisecond // an ingest source counts as a captioner this long
	})
	cp := e.captioner("r1", "en")
	cp.final("one", "a")
	cp.final("two", "b")
	tok := e.token(auth.RoleCaptioner, "r1", "en")
	zoom := func(seq, text string) int {
		resp, _ := e.do(t, http.MethodPost, "/captions/r1/post?"+url.Values{"token": {tok}, "seq": {seq}, "lang": {"en"}}.Encode(), "text/plain", text)
		return resp.StatusCode
	}
	if code := zoom("5", "three."); code != 200 {
		t.Fatalf("zoom post: %d", code)
	}
	cp.conn.Close()
	waitGone(t, e, "r1")

	// Reading a forgotten room creates nothing.
	srt := e.get(t, "/captions/r1/transcript.srt?lang=en", http.StatusOK)
	for _, want := range []string{"one", "two", "three."} {
		if !strings.Contains(srt, want) {
			t.Fatalf("transcript of a forgotten room lacks %q:\n%s", want, srt)
		}
	}
	if got := strings.TrimSpace(e.get(t, "/captions/r1/post/seq?"+url.Values{"token": {tok}, "lang": {"en"}}.Encode(), http.StatusOK)); got != "5" {
		t.Fatalf("ingest seq of a forgotten room: %q, want 5", got)
	}
	if _, resp, err := e.dial("/captions/r1/ws", url.Values{"lang": {"de"}}); err == nil || resp.StatusCode != 404 {
		t.Fatalf("viewer of a language the journal lacks: %v %v", resp, err)
	}
	if e.svc.liveRoom("r1") != nil {
		t.Fatal("reading a forgotten room brought it back")
	}

	// A viewer of a language the journal has brings the room back.
	v, _, err := e.dial("/captions/r1/ws", url.Values{"lang": {"en"}})
	if err != nil {
		t.Fatalf("viewer of a forgotten room's language: %v", err)
	}
	if b := v.readType(typeBacklog); len(b.Cues) != 3 || b.Cues[0].Text != "one" || b.Cues[2].Text != "three." {
		t.Fatalf("backlog after the room came back: %+v", b)
	}
	v.conn.Close()
	waitGone(t, e, "r1")

	// The captioner comes back: seqs and ids continue, ingest seqs too.
	cp = e.captioner("r1", "en")
	if a := cp.final("one", "a"); a.Seq != 1 || !a.Duplicate {
		t.Fatalf("resend after the room came back: %+v", a)
	}
	if a := cp.final("four", "d"); a.Seq != 4 {
		t.Fatalf("next final after the room came back: %+v, want seq 4", a)
	}
	if code := zoom("5", "three."); code != 200 { // a retry: stored once
		t.Fatalf("zoom retry: %d", code)
	}
	if code := zoom("6", "five."); code != 200 {
		t.Fatalf("zoom post: %d", code)
	}
	var texts []string
	for _, c := range e.svc.liveRoom("r1").existing("en").transcript() {
		texts = append(texts, c.Text)
	}
	if got := strings.Join(texts, "|"); got != "one|two|three.|four|five." {
		t.Fatalf("transcript after the room came back: %s", got)
	}
}

// TestLiveRoomNotForgotten: a room whose media has a publisher stays.
func TestLiveRoomNotForgotten(t *testing.T) {
	e := newEnv(t, "", func(c *Config) {
		c.IdleAfter = 100 * time.Millisecond
		c.Live = func(room string) bool { return room == "stage" }
	})
	for _, room := range []string{"stage", "side"} {
		cp := e.captioner(room, "en")
		cp.final("hello", "")
		cp.conn.Close()
	}
	waitGone(t, e, "side")
	time.Sleep(1500 * time.Millisecond) // a sweep or two more
	if e.svc.liveRoom("stage") == nil {
		t.Fatal("a room with a publisher was forgotten")
	}
}
