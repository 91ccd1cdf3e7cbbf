package captions

import (
	"net/url"
	"testing"
)

// A language only a viewer asked for does not exist: the viewer is refused
// and the room lists nothing until a captioner uses a language.
func TestViewerDoesNotAnnounceLanguages(t *testing.T) {
	e := newEnv(t, t.TempDir(), nil)
	defer e.close()
	if _, resp, err := e.dial("/captions/hall/ws", url.Values{"lang": {"de"}}); err == nil || resp.StatusCode != 404 {
		t.Fatalf("viewer of a language nobody captions: %v %v", resp, err)
	}
	langsOf := func() []string {
		var out []string
		for _, rs := range e.svc.Rooms() {
			if rs.Room == "hall" {
				for _, l := range rs.Languages {
					if l.Announced {
						out = append(out, l.Lang)
					}
				}
			}
		}
		return out
	}
	if got := langsOf(); len(got) != 0 {
		t.Fatalf("languages listed after a viewer asked: %v", got)
	}
	c := e.captioner("hall", "fr")
	defer c.conn.Close()
	c.final("Bonjour.", "b1")
	if got := langsOf(); len(got) != 1 || got[0] != "fr" {
		t.Fatalf("languages = %v, want [fr]", got)
	}
}
