package captions

import (
	"fmt"
	"net/http"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

func TestFanOutByLanguage(t *testing.T) {
	e := newEnv(t, "", nil)
	fr := e.viewer("r1", "fr")
	en := e.viewer("r1", "en")
	if m := fr.read(); m.Type != typeBacklog || m.Lang != "fr" || len(m.Cues) != 0 {
		t.Fatalf("fr backlog: %+v", m)
	}
	en.readType(typeBacklog)

	capEn := e.captioner("r1", "en")
	capFr := e.captioner("r1", "fr")
	if a := capEn.final("Hello everyone", "e1"); a.Seq != 1 || a.ID != "e1" {
		t.Fatalf("en ack: %+v", a)
	}
	if a := capFr.final("Bonjour à tous", "f1"); a.Seq != 1 {
		t.Fatalf("fr ack: %+v", a)
	}
	m := fr.read()
	if m.Type != typeCue || m.Lang != "fr" || m.Text != "Bonjour à tous" || !m.Final || m.Seq != 1 || m.Start.IsZero() {
		t.Fatalf("fr viewer got %+v", m)
	}
	if m := en.read(); m.Lang != "en" || m.Text != "Hello everyone" {
		t.Fatalf("en viewer got %+v", m)
	}
	fr.noMessage(200 * time.Millisecond) // never sees English
}

func TestBacklogOnConnectAndPartial(t *testing.T) {
	e := newEnv(t, "", func(c *Config) { c.Backlog = 3 })
	cp := e.captioner("r1", "en")
	for i, text := range []string{"one", "two", "three", "four"} {
		if a := cp.final(text, ""); a.Seq != uint64(i+1) {
			t.Fatalf("ack %d: %+v", i, a)
		}
	}
	cp.send(map[string]any{"type": "partial", "text": "fi"})
	cp.send(map[string]any{"type": "partial", "text": "five is"})
	time.Sleep(100 * time.Millisecond) // partials are not acknowledged

	v := e.viewer("r1", "en")
	b := v.read()
	if b.Type != typeBacklog || len(b.Cues) != 3 {
		t.Fatalf("backlog: %+v", b)
	}
	for i, want := range []string{"two", "three", "four"} {
		c := b.Cues[i]
		if c.Text != want || c.Seq != uint64(i+2) || !c.Final || c.Type != typeCue {
			t.Fatalf("backlog cue %d: %+v", i, c)
		}
		if i < 2 && (c.End == nil || !c.End.Equal(b.Cues[i+1].Start)) {
			t.Fatalf("backlog cue %d should end at the next start: %+v", i, c)
		}
		if i == 2 && c.End != nil {
			t.Fatalf("newest final has an end: %+v", c)
		}
	}
	p := v.read()
	if p.Type != typeCue || p.Final || p.Text != "five is" || p.Seq != 5 {
		t.Fatalf("current partial: %+v", p)
	}
	// partial -> final: same seq, line replaced in place.
	cp.send(map[string]any{"type": "partial", "text": "five is here"})
	if p := v.read(); p.Final || p.Seq != 5 || p.Text != "five is here" {
		t.Fatalf("partial: %+v", p)
	}
	if a := cp.final("Five is here.", "x"); a.Seq != 5 {
		t.Fatalf("final ack %+v", a)
	}
	f := v.read()
	if !f.Final || f.Seq != 5 || f.Text != "Five is here." || !f.Start.Equal(p.Start) {
		t.Fatalf("final: %+v (partial started %v)", f, p.Start)
	}
}

func TestIdempotentResend(t *testing.T) {
	e := newEnv(t, "", nil)
	v := e.viewer("r1", "fr")
	v.readType(typeBacklog)
	cp := e.captioner("r1", "fr")
	a1 := cp.final("Une phrase.", "id-1")
	a2 := cp.final("Une phrase.", "id-1")
	if a1.Seq != 1 || a2.Seq != 1 || !a2.Duplicate {
		t.Fatalf("acks %+v %+v", a1, a2)
	}
	// Numeric ids work too, and are distinct from other ids.
	cp.send(map[string]any{"type": "final", "text": "Deux.", "id": 7})
	if a := cp.readAck(); a.Seq != 2 || a.ID != "7" {
		t.Fatalf("numeric id ack: %+v", a)
	}
	if m := v.read(); m.Seq != 1 {
		t.Fatalf("first cue %+v", m)
	}
	if m := v.read(); m.Seq != 2 || m.Text != "Deux." {
		t.Fatalf("second cue %+v (the resend must not be stored)", m)
	}
	// A new connection (the captioner reconnected) resending the id.
	cp2 := e.captioner("r1", "fr")
	if a := cp2.final("Une phrase.", "id-1"); a.Seq != 1 || !a.Duplicate {
		t.Fatalf("resend after reconnect: %+v", a)
	}
	if got := len(e.svc.existingRoom("r1").existing("fr").transcript()); got != 2 {
		t.Fatalf("transcript has %d cues, want 2", got)
	}
	v.noMessage(150 * time.Millisecond)
}

func TestCorrection(t *testing.T) {
	e := newEnv(t, "", func(c *Config) { c.Backlog = 2 })
	cp := e.captioner("r1", "en")
	cp.final("The quick brwn fox", "")
	cp.final("jumps over", "")
	cp.final("the lazy dog", "")
	v := e.viewer("r1", "en")
	v.readType(typeBacklog)

	cp.send(map[string]any{"type": "correct", "seq": 2, "text": "jumps over,"})
	if a := cp.readAck(); a.Seq != 2 {
		t.Fatalf("correction ack: %+v", a)
	}
	m := v.read()
	if m.Type != typeCue || m.Seq != 2 || m.Text != "jumps over," || !m.Final || m.End == nil {
		t.Fatalf("correction cue: %+v", m)
	}
	// Seq 1 is outside the backlog of 2: too old to correct. Seq 9 does not exist.
	for _, c := range []struct {
		name string
		seq  int
	}{{"too old", 1}, {"unknown", 9}} {
		t.Run(c.name, func(t *testing.T) {
			cp := &wsc{t: t, conn: cp.conn} // fails this subtest, not its parent
			cp.send(map[string]any{"type": "correct", "seq": c.seq, "text": "x"})
			if m := cp.readNot(typeStatus); m.Type != typeError || m.Seq != uint64(c.seq) {
				t.Fatalf("correct %d: %+v", c.seq, m)
			}
		})
	}
	// A new viewer's backlog has the corrected text, and so has the export.
	v2 := e.viewer("r1", "en")
	if b := v2.read(); b.Cues[0].Text != "jumps over," {
		t.Fatalf("backlog after correction: %+v", b)
	}
	srt := e.get(t, "/captions/r1/transcript.srt?lang=en", http.StatusOK)
	if !contains(srt, "jumps over,") || contains(srt, "jumps over\n") {
		t.Fatalf("export not corrected:\n%s", srt)
	}
}

func TestTwoLanguageSubscription(t *testing.T) {
	e := newEnv(t, "", nil)
	capEn := e.captioner("r1", "en")
	capEn.final("before", "")
	v := e.viewer("r1", "en,fr")
	b1, b2 := v.read(), v.read()
	if b1.Type != typeBacklog || b2.Type != typeBacklog || b1.Lang != "en" || b2.Lang != "fr" || len(b1.Cues) != 1 || len(b2.Cues) != 0 {
		t.Fatalf("backlogs: %+v %+v", b1, b2)
	}
	capFr := e.captioner("r1", "fr")
	capFr.final("après", "")
	capEn.final("after", "")
	got := map[string]string{}
	for range 2 {
		m := v.read()
		got[m.Lang] = m.Text
	}
	if got["en"] != "after" || got["fr"] != "après" {
		t.Fatalf("got %v", got)
	}
	// Language tags come out canonical.
	v2 := e.viewer("r1", "EN")
	if m := v2.read(); m.Lang != "en" {
		t.Fatalf("canonical lang: %+v", m)
	}
}

func TestTokenScopes(t *testing.T) {
	e := newEnv(t, "", func(c *Config) { c.Private = func(room string) bool { return room == "secret" } })
	e.declare("r1", "fr")
	e.declare("secret", "fr")
	other, _ := auth.New([]byte("some-other-secret-0123456789"))
	foreign, _ := other.Issue(auth.RoleCaptioner, "r1", "fr", time.Hour)
	cases := []struct {
		name  string
		path  string
		q     url.Values
		want  int
		dials bool
	}{
		{"no token", "/captions/r1/publish", url.Values{"lang": {"fr"}}, 401, false},
		{"bad signature", "/captions/r1/publish", url.Values{"lang": {"fr"}, "token": {foreign}}, 401, false},
		{"viewer token", "/captions/r1/publish", url.Values{"lang": {"fr"}, "token": {e.token(auth.RoleViewer, "r1", "")}}, 403, false},
		{"other room", "/captions/r1/publish", url.Values{"lang": {"fr"}, "token": {e.token(auth.RoleCaptioner, "r2", "fr")}}, 403, false},
		{"other lang", "/captions/r1/publish", url.Values{"lang": {"en"}, "token": {e.token(auth.RoleCaptioner, "r1", "fr")}}, 403, false},
		{"bad lang", "/captions/r1/publish", url.Values{"lang": {"not a tag"}, "token": {e.token(auth.RoleCaptioner, "r1", "fr")}}, 400, false},
		{"bad room", "/captions/..%2Fx/publish", url.Values{"lang": {"fr"}}, 400, false},
		{"any-lang token", "/captions/r1/publish", url.Values{"lang": {"de"}, "token": {e.token(auth.RoleCaptioner, "r1", "*")}}, 101, true},
		{"admin token", "/captions/r1/publish", url.Values{"lang": {"de"}, "token": {e.token(auth.RoleAdmin, "*", "")}}, 101, true},
		{"public viewer", "/captions/r1/ws", url.Values{"lang": {"fr"}}, 101, true},
		{"private viewer, no token", "/captions/secret/ws", url.Values{"lang": {"fr"}}, 401, false},
		{"private viewer, other room", "/captions/secret/ws", url.Values{"lang": {"fr"}, "token": {e.token(auth.RoleViewer, "r1", "")}}, 403, false},
		{"private viewer", "/captions/secret/ws", url.Values{"lang": {"fr"}, "token": {e.token(auth.RoleViewer, "secret", "")}}, 101, true},
		{"viewer without lang", "/captions/r1/ws", url.Values{}, 400, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, resp, err := e.dial(tc.path, tc.q)
			if tc.dials {
				if err != nil {
					t.Fatalf("dial: %v (%v)", err, resp)
				}
				c.conn.Close()
				return
			}
			if err == nil || resp == nil || resp.StatusCode != tc.want {
				t.Fatalf("want %d before the upgrade, got %v %v", tc.want, resp, err)
			}
		})
	}
	if code := e.status(t, "/captions/secret/transcript.srt?lang=fr"); code != 401 {
		t.Fatalf("private transcript without token: %d", code)
	}
	if code := e.status(t, "/captions/secret/transcript.srt?lang=fr&token="+e.token(auth.RoleViewer, "secret", "")); code != 200 {
		t.Fatalf("private transcript with token: %d", code)
	}
}

func TestBadMessagesAnsweredNotFatal(t *testing.T) {
	e := newEnv(t, "", nil)
	cp := e.captioner("r1", "en")
	for _, c := range []struct{ name, raw string }{
		{"unknown type", `{"type":"shout","text":"x"}`},
		{"not json", `not json`},
		{"empty final", `{"type":"final","text":""}`},
		{"final without text", `{"type":"final"}`},
		{"correction without seq", `{"type":"correct","text":"x"}`},
		{"invalid UTF-8", "{\"type\":\"final\",\"text\":\"" + string(make([]byte, 0)) + "\xff\"}"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cp := &wsc{t: t, conn: cp.conn} // fails this subtest, not its parent
			if err := cp.conn.WriteMessage(1, []byte(c.raw)); err != nil {
				t.Fatal(err)
			}
			if m := cp.readNot(typeStatus); m.Type != typeError || m.Error == "" {
				t.Fatalf("%s: want error, got %+v", c.raw, m)
			}
		})
	}
	// A binary frame is answered with an error; the connection stays.
	if err := cp.conn.WriteMessage(2, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	if m := cp.readNot(typeStatus); m.Type != typeError {
		t.Fatalf("binary frame: %+v", m)
	}
	long := make([]rune, 1001)
	for i := range long {
		long[i] = 'é'
	}
	cp.send(map[string]any{"type": "final", "text": string(long)})
	if m := cp.readNot(typeStatus); m.Type != typeError {
		t.Fatalf("long text: %+v", m)
	}
	// Control characters are stripped; the connection still works.
	if a := cp.final("ok\x07 \x1b[31mnow", ""); a.Seq != 1 {
		t.Fatalf("ack %+v", a)
	}
	if got := e.svc.existingRoom("r1").existing("en").transcript()[0].Text; got != "ok [31mnow" {
		t.Fatalf("stored %q", got)
	}
}

func TestAbuseCloses(t *testing.T) {
	e := newEnv(t, "", func(c *Config) {
		c.MaxMessageBytes = 1024
		c.CaptionerRate = 5
		c.CaptionerBurst = 5
	})
	big := e.captioner("r1", "en")
	_ = big.conn.WriteMessage(1, make([]byte, 4096))
	if err := readUntilClose(big); !isClose(err, closeTooBig) {
		t.Fatalf("oversized message: %v", err)
	}
	fast := e.captioner("r1", "en")
	sawRateError := false
	for range 100 {
		if err := fast.conn.WriteMessage(1, []byte(`{"type":"partial","text":"x"}`)); err != nil {
			break
		}
	}
	for {
		m, err := fast.tryRead(5 * time.Second)
		if err != nil {
			if !isClose(err, closeRate) {
				t.Fatalf("flooding: %v", err)
			}
			break
		}
		if m.Type == typeError {
			sawRateError = true
		}
	}
	if !sawRateError {
		t.Fatal("no rate-limit error before the close")
	}
}

// TestOrderFinalsThenPartials: a partial sent right after a final (before
// its ack) reaches viewers after that final, never before; delivery is
// observed for every final.
func TestOrderFinalsThenPartials(t *testing.T) {
	var observed atomic.Int64
	e := newEnv(t, "", func(c *Config) {
		c.ObserveDelivery = func(time.Duration) { observed.Add(1) }
		c.CaptionerRate, c.CaptionerBurst = 1000, 1000
	})
	v := e.viewer("r1", "en")
	v.readType(typeBacklog)
	cp := e.captioner("r1", "en")
	const n = 20
	for i := range n {
		cp.send(map[string]any{"type": "final", "text": fmt.Sprint("final ", i)})
		cp.send(map[string]any{"type": "partial", "text": fmt.Sprint("partial after ", i)})
	}
	var lastFinal uint64
	for lastFinal < n {
		m := v.read()
		if m.Final {
			if m.Seq != lastFinal+1 {
				t.Fatalf("final %d after final %d", m.Seq, lastFinal)
			}
			lastFinal = m.Seq
			continue
		}
		if m.Seq <= lastFinal {
			t.Fatalf("partial of seq %d after final %d: %+v", m.Seq, lastFinal, m)
		}
	}
	for i := 0; i < n; {
		if cp.readNot(typeStatus).Type == typeAck {
			i++
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for observed.Load() < n && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if got := observed.Load(); got != n {
		t.Fatalf("ObserveDelivery called %d times, want %d", got, n)
	}
}
