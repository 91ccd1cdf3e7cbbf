package captions

import "testing"

// A viewer may subscribe to a language before its captioner starts, but a
// language only viewers asked for is not announced as one the room has.
func TestViewerDoesNotAnnounceLanguages(t *testing.T) {
	e := newEnv(t, t.TempDir(), nil)
	defer e.close()
	v := e.viewer("hall", "de")
	defer v.conn.Close()
	v.readType("backlog")
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
		t.Fatalf("languages listed after a viewer subscribed: %v", got)
	}
	c := e.captioner("hall", "fr")
	defer c.conn.Close()
	c.final("Bonjour.", "b1")
	if got := langsOf(); len(got) != 1 || got[0] != "fr" {
		t.Fatalf("languages = %v, want [fr]", got)
	}
}
