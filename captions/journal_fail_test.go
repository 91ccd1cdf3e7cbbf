package captions

import (
	"os"
	"strings"
	"testing"
)

// TestJournalWriteError: when the journal cannot be written (disk full, a
// failing disk: simulated by closing its file under it), captioners get an
// error instead of a false ack, the service reports itself unhealthy and
// counts the failure, and what was acknowledged before is still there.
func TestJournalWriteError(t *testing.T) {
	e := newEnv(t, t.TempDir(), nil)
	c := e.captioner("r1", "fr")
	c.final("Avant la panne.", "ok1")
	if err := e.svc.Healthy(); err != nil {
		t.Fatalf("healthy service reports %v", err)
	}
	r, err := e.svc.room("r1")
	if err != nil {
		t.Fatal(err)
	}
	r.j.f.Close() // every later write fails, as on a full or dead disk

	c.send(map[string]any{"type": "final", "text": "Pendant la panne.", "id": "lost1"})
	m := c.readNot(typeStatus)
	if m.Type != typeError {
		t.Fatalf("want an error for a final that could not be stored, got %+v", m)
	}
	c.send(map[string]any{"type": "final", "text": "Encore.", "id": "lost2"})
	if m := c.readNot(typeStatus); m.Type != typeError {
		t.Fatalf("after a failure finals keep being refused, got %+v", m)
	}
	if err := e.svc.Healthy(); err == nil {
		t.Error("service still healthy after a journal failure")
	}
	if n := e.svc.JournalErrors(); n < 2 {
		t.Errorf("journal errors counted %d, want at least 2", n)
	}
	body := e.get(t, "/captions/r1/transcript.vtt?lang=fr", 200)
	if !strings.Contains(body, "Avant la panne.") || strings.Contains(body, "Pendant la panne.") {
		t.Errorf("transcript after the failure:\n%s", body)
	}
	journal, _ := os.ReadFile(e.svc.journalPath("r1"))
	if !strings.Contains(string(journal), "Avant la panne.") {
		t.Error("the acknowledged cue is not in the journal file")
	}
	// Close reports the failure it could not repair; that is expected here.
	if err := e.svc.Close(); err == nil {
		t.Error("Close hid the journal failure")
	}
	e.srv.Close()
	e.svc = nil
}
