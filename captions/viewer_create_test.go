package captions

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

// TestJunkLanguagesCreateNothing is the attack of anonymous viewers asking
// for made-up languages: each request created a language hub that was
// never removed from a room with captions, so that a Zoom-style post with
// lang=en-US and an en token then mapped onto the junk "en-US" (403), and
// four requests of eight tags filled the room's 32 languages (429 for a
// real captioner of a new one) until a restart. Now the viewer gets 404
// before the upgrade and nothing is created.
func TestJunkLanguagesCreateNothing(t *testing.T) {
	e := newEnv(t, "", nil)
	fr := e.captioner("hall", "fr")
	fr.final("Bonjour.", "f1") // the room has captions, and a journal

	junk := func(i int) string { // eight valid tags, the first request's with en-US
		var tags []string
		for k := range 8 {
			tags = append(tags, fmt.Sprintf("en-x-j%d", i*8+k))
		}
		if i == 0 {
			tags[0] = "en-US"
		}
		return strings.Join(tags, ",")
	}
	for i := range 5 { // 40 tags: more than MaxLanguages
		// Without a WebSocket handshake: the upgrade then fails.
		resp, body := e.do(t, http.MethodGet, "/captions/hall/ws?"+url.Values{"lang": {junk(i)}}.Encode(), "", "")
		if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, `for room "hall"; languages: fr`) {
			t.Errorf("plain GET of junk languages %d: %d %q, want 404 naming the room's languages", i, resp.StatusCode, body)
		}
	}
	for i := range 5 { // with a handshake that would complete
		c, resp, err := e.dial("/captions/hall/ws", url.Values{"lang": {junk(5 + i)}})
		if err == nil || resp == nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("WebSocket to junk languages %d: %v, want 404 before the upgrade", i, err)
		}
		if c != nil {
			c.conn.Close() // gone at once: what it created must go too
		}
	}
	// One unknown language refuses the whole request.
	if c, _, err := e.dial("/captions/hall/ws", url.Values{"lang": {"fr,de"}}); err == nil {
		t.Errorf("fr,de: upgraded, want 404")
		c.conn.Close()
	}
	// A room nobody captions: no room, no journal.
	if c, _, err := e.dial("/captions/nowhere/ws", url.Values{"lang": {"en"}}); err == nil {
		t.Errorf("viewer of a room without captions: upgraded, want 404")
		c.conn.Close()
	}
	time.Sleep(1500 * time.Millisecond) // a sweep: what it would collect is gone

	var langs []string
	for _, rs := range e.svc.Rooms() {
		if rs.Room != "hall" {
			t.Errorf("room %q created by viewers", rs.Room)
		}
		for _, l := range rs.Languages {
			langs = append(langs, l.Lang)
		}
	}
	if !slices.Equal(langs, []string{"fr"}) {
		t.Errorf("%d languages after the junk, want [fr]", len(langs))
	}
	files, _ := os.ReadDir(filepath.Join(e.dir, "captions"))
	for _, f := range files {
		if f.Name() != "hall.journal" {
			t.Errorf("viewers created %s", f.Name())
		}
	}
	if got := e.svc.RefusedViewers()["unknown_language"]; got != 12 {
		t.Errorf("refused viewers counted %d, want 12", got)
	}

	// A Zoom-style post with lang=en-US and an en token lands in en.
	tok := e.token(auth.RoleCaptioner, "hall", "en")
	resp, body := e.do(t, http.MethodPost, "/captions/hall/post?"+url.Values{"token": {tok}, "seq": {"1"}, "lang": {"en-US"}}.Encode(),
		"text/plain", "Good morning.")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("Zoom post with lang=en-US and an en token: %d %q", resp.StatusCode, body)
	} else if h := e.svc.existingRoom("hall").existing("en"); h == nil || len(h.transcript()) != 1 || h.transcript()[0].Text != "Good morning." {
		t.Errorf("the Zoom post is not stored under en")
	}

	// A real captioner of a new language still gets in.
	de, resp, err := e.dial("/captions/hall/publish", url.Values{"lang": {"de"}, "token": {e.token(auth.RoleCaptioner, "hall", "de")}})
	if err != nil {
		t.Fatalf("captioner of a new language after the junk: %v %v", resp, err)
	}
	if a := de.final("Guten Morgen.", "d1"); a.Seq != 1 {
		t.Fatalf("ack %+v", a)
	}
}
