package captions

import (
	"bytes"
	"encoding/json"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

// slowDisk holds the journal's first write until the test lets it go, so
// that more finals queue behind it and are made durable together.
type slowDisk struct {
	*os.File
	entered, proceed chan struct{}
	once             sync.Once
}

func (d *slowDisk) Write(b []byte) (int, error) {
	d.once.Do(func() { close(d.entered); <-d.proceed })
	return d.File.Write(b)
}

// A captioner sends final 1, a partial of line 2 and final 2 while final 1
// is still being written. The partial is held back until the finals before
// it are durable; by then final 2 has ended its line, so the partial must
// not be shown after it (players would put the old partial text in place of
// final 2). Found as a rare failure of TestOrderFinalsThenPartials.
func TestDeferredPartialOfAFinalLineDropped(t *testing.T) {
	a, _ := auth.New(testSecret)
	svc, err := New(Config{DataDir: t.TempDir(), Auth: a, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	h, err := svc.hub("r", "en")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(h.room.j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	disk := &slowDisk{File: f, entered: make(chan struct{}), proceed: make(chan struct{})}
	h.room.j.f = disk // before any append: the journal's loop has not looked at it
	c := newClient(nil, nil, "v", svc.log, svc.limits())
	h.mu.Lock()
	h.subs[c] = struct{}{}
	h.mu.Unlock()

	acks := make(chan error, 2)
	ack := func(_ uint64, _ bool, err error) { acks <- err }
	h.final("one", "", time.Time{}, ack)
	<-disk.entered
	h.partialLine("two, still being ty")
	h.final("two", "", time.Time{}, ack)
	close(disk.proceed)
	for range 2 {
		if err := <-acks; err != nil {
			t.Fatal(err)
		}
	}
	// Acks come first, under the hub's lock; the fan-out follows under the
	// same lock: taking it once waits for the fan-out to finish.
	h.mu.Lock()
	//lint:ignore SA2001 the empty critical section is the wait
	h.mu.Unlock()

	var lastFinal uint64
	var got []string
	for _, m := range c.take() {
		var msg struct {
			Type  string `json:"type"`
			Seq   uint64 `json:"seq"`
			Text  string `json:"text"`
			Final bool   `json:"final"`
		}
		if err := json.Unmarshal(m.frame[bytes.IndexByte(m.frame, '{'):], &msg); err != nil {
			t.Fatal(err)
		}
		got = append(got, msg.Text)
		if msg.Final {
			lastFinal = msg.Seq
		} else if msg.Seq <= lastFinal {
			t.Errorf("partial %q of line %d shown after that line's final", msg.Text, msg.Seq)
		}
	}
	if lastFinal != 2 {
		t.Errorf("viewer got %q", got)
	}
}
