package captions

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

const replaySRT = "1\n00:00:01,000 --> 00:00:02,000\nFirst cue\n\n" +
	"2\n00:00:01,100 --> 00:00:02,000\nSecond <i>cue</i>\nwith two lines\n\n" +
	"3\n00:00:01,200 --> 00:00:03,000\nThird cue\n"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReplaySRT(t *testing.T) {
	e := newEnv(t, "", nil)
	v := e.viewer("talk", "fr")
	v.readType(typeBacklog)
	cfg := ReplayConfig{File: writeFile(t, "talk.srt", replaySRT), URL: e.srv.URL, Room: "talk", Lang: "fr",
		Token: e.token(auth.RoleCaptioner, "talk", "fr"), Speed: 2, Logger: quietLogger()}
	start := time.Now()
	if err := Replay(ctxT(t, 10*time.Second), cfg); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 90*time.Millisecond {
		t.Fatalf("replay took %v: cues 0.1 s apart at speed 2 should take >= 0.1 s", d)
	}
	for _, want := range []string{"First cue", "Second cue\nwith two lines", "Third cue"} {
		if m := v.read(); !m.Final || m.Text != want {
			t.Fatalf("got %+v, want %q", m, want)
		}
	}
	// Replaying the same file again stores nothing twice.
	if err := Replay(ctxT(t, 10*time.Second), cfg); err != nil {
		t.Fatal(err)
	}
	if n := len(e.svc.existingRoom("talk").existing("fr").transcript()); n != 3 {
		t.Fatalf("%d cues after replaying twice", n)
	}
	// Other formats astisub reads.
	vtt := writeFile(t, "talk.vtt", "WEBVTT\n\n00:00.000 --> 00:01.000\nvtt cue\n")
	cfg.File, cfg.Lang, cfg.Token = vtt, "en", e.token(auth.RoleCaptioner, "talk", "en")
	if err := Replay(ctxT(t, 10*time.Second), cfg); err != nil {
		t.Fatal(err)
	}
	if got := e.svc.existingRoom("talk").existing("en").transcript(); len(got) != 1 || got[0].Text != "vtt cue" {
		t.Fatalf("vtt replay: %+v", got)
	}
}

// TestReplayReconnect loses the acks of some stored cues (a proxy swallows
// what the relay sends), then cuts the connection. The replay reconnects,
// resends what was not acknowledged, and the relay stores every cue exactly
// once.
func TestReplayReconnect(t *testing.T) {
	e := newEnv(t, "", nil)
	proxy := newProxy(t, strings.TrimPrefix(e.srv.URL, "http://"))
	var b strings.Builder
	const n = 30
	for i := range n {
		b.WriteString(srtCue(i+1, 100*i, "line "+strconv.Itoa(i)))
	}
	cfg := ReplayConfig{File: writeFile(t, "long.srt", b.String()), URL: "http://" + proxy.ln.Addr().String(), Room: "talk", Lang: "en",
		Token: e.token(auth.RoleCaptioner, "talk", "en"), Speed: 4, Logger: quietLogger()}
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	v := e.viewer("talk", "en")
	v.readType(typeBacklog)
	go func() { done <- Replay(ctx, cfg) }()
	for seen := 0; seen < n; {
		m := v.read()
		if m.Type != typeCue || !m.Final {
			continue
		}
		seen++
		switch seen {
		case 5:
			proxy.swallow.Store(true) // the acks of the next cues are lost
		case 9:
			proxy.cut()
			proxy.swallow.Store(false)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := e.svc.existingRoom("talk").existing("en").transcript()
	if len(got) != n {
		t.Fatalf("%d cues stored, want %d", len(got), n)
	}
	for i, c := range got {
		if c.Text != "line "+strconv.Itoa(i) {
			t.Fatalf("cue %d is %q: duplicated or out of order", i, c.Text)
		}
	}
}

func TestReplayRefused(t *testing.T) {
	e := newEnv(t, "", nil)
	cfg := ReplayConfig{File: writeFile(t, "a.srt", replaySRT), URL: e.srv.URL, Room: "talk", Lang: "fr",
		Token: e.token(auth.RoleCaptioner, "talk", "en"), Logger: quietLogger()}
	if err := Replay(ctxT(t, 5*time.Second), cfg); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("wrong-language token: %v", err)
	}
	cfg.File = writeFile(t, "a.txt", "x")
	if err := Replay(ctxT(t, 5*time.Second), cfg); err == nil {
		t.Fatal("unknown format accepted")
	}
}

func TestRunDemo(t *testing.T) {
	e := newEnv(t, "", nil)
	v := e.viewer("demo", "ar")
	v.readType(typeBacklog)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- RunDemo(ctx, e.svc, "demo") }()
	sawPartial := false
	for {
		m := v.read()
		if !m.Final {
			sawPartial = true
			continue
		}
		if !strings.HasPrefix(m.Text, "مرحبا") || !sawPartial {
			t.Fatalf("first Arabic final %+v (partials before: %v)", m, sawPartial)
		}
		break
	}
	st := e.svc.Rooms()
	if len(st) != 1 || len(st[0].Languages) != 3 || st[0].Languages[0].Captioners[0].Via != "demo" {
		t.Fatalf("rooms: %+v", st)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func srtCue(i, ms int, text string) string {
	ts := func(ms int) string {
		return time.Time{}.Add(time.Duration(ms) * time.Millisecond).Format("15:04:05,000")
	}
	return strconv.Itoa(i) + "\n" + ts(ms) + " --> " + ts(ms+500) + "\n" + text + "\n\n"
}

// Malformed subtitle files are refused with an error, never a panic or a
// hang, and nothing reaches the room.
func TestReplayMalformedFiles(t *testing.T) {
	e := newEnv(t, "", nil)
	tok := e.token(auth.RoleCaptioner, "talk", "fr")
	for name, body := range map[string]string{
		"empty.srt":     "",
		"garbage.srt":   "1\n00:00:99,000 --> nonsense\n\n\x00\xff\xfe",
		"binary.vtt":    "\x00\x01\x02\x03WEBVTT?",
		"badxml.ttml":   "<tt><body><div><p begin=\"x\" end=\"y\">unclosed",
		"truncated.vtt": "WEBVTT\n\n00:00:01.000 --> 00:0",
		"bad.ssa":       "[Script Info]\n[Events]\nFormat: Start\nDialogue: nope",
	} {
		t.Run(name, func(t *testing.T) {
			cfg := ReplayConfig{File: writeFile(t, name, body), URL: e.srv.URL, Room: "talk", Lang: "fr", Token: tok, Logger: quietLogger()}
			err := Replay(ctxT(t, 5*time.Second), cfg)
			if err == nil {
				t.Error("accepted")
			}
		})
	}
	if r := e.svc.existingRoom("talk"); r != nil {
		if h := r.existing("fr"); h != nil && len(h.transcript()) > 0 {
			t.Errorf("malformed files stored %d cues", len(h.transcript()))
		}
	}
}
