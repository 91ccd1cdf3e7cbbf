package captions

import (
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
)

// fullDisk stands in for the journal's file: its first write stores half
// of what it is given and fails with ENOSPC, as write(2) does when the disk
// fills mid-record; once the test frees space, writes go through again.
type fullDisk struct {
	*os.File
	failed  chan struct{} // closed when the failing write is entered
	proceed chan struct{} // the failing write returns when this closes
	once    sync.Once
}

func (d *fullDisk) Write(b []byte) (int, error) {
	first := false
	d.once.Do(func() { first = true })
	if !first {
		return d.File.Write(b)
	}
	close(d.failed)
	<-d.proceed
	n, _ := d.File.Write(b[:len(b)/2])
	return n, &os.PathError{Op: "write", Path: d.Name(), Err: syscall.ENOSPC}
}

// TestJournalStopsAfterTornWrite: a write fails half-done (disk full) while
// more finals are already queued, and then the disk has room again. The
// queued finals must not be written after the torn record: on restart the
// torn bytes and the next record read as one corrupt line, and an
// acknowledged cue would be lost with it. Every final acknowledged before
// the failure is there after reopening; nothing after it is acknowledged.
func TestJournalStopsAfterTornWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.journal")
	var failures atomic.Uint64
	// One durable record first, so the journal has a file.
	j, _, err := loadJournal(path, quietLogger(), &failures)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	if err := j.append(record{T: recFinal, Lang: "en", Seq: 1, Text: "before"}, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	j.close()

	j, _, err = loadJournal(path, quietLogger(), &failures)
	if err != nil {
		t.Fatal(err)
	}
	disk := &fullDisk{File: j.f.(*os.File), failed: make(chan struct{}), proceed: make(chan struct{})}
	j.f = disk // before any append: the loop goroutine has not looked at it
	results := make(chan struct {
		seq uint64
		err error
	}, 10)
	appendSeq := func(seq uint64) {
		err := j.append(record{T: recFinal, Lang: "en", Seq: seq, Text: "cue"}, func(err error) {
			results <- struct {
				seq uint64
				err error
			}{seq, err}
		})
		if err != nil {
			results <- struct {
				seq uint64
				err error
			}{seq, err}
		}
	}
	appendSeq(2)
	<-disk.failed // seq 2 is being written; seq 3 and 4 queue behind it
	appendSeq(3)
	appendSeq(4)
	close(disk.proceed) // the write fails half-done; then there is room again
	acked := map[uint64]bool{1: true}
	for range 3 {
		r := <-results
		if r.err == nil {
			acked[r.seq] = true
		}
	}
	appendSeq(5)
	if r := <-results; r.err == nil {
		t.Error("a final appended after the failure was acknowledged")
	}
	if err := j.close(); err == nil {
		t.Error("close hid the failure")
	}

	j, recs, err := loadJournal(path, quietLogger(), &failures)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close()
	have := map[uint64]bool{}
	for _, r := range recs {
		have[r.Seq] = true
	}
	for seq := range acked {
		if !have[seq] {
			t.Errorf("final %d was acknowledged and is gone after reopening (acknowledged %v, stored %v)", seq, acked, have)
		}
	}
	if acked[2] {
		t.Error("the torn final was acknowledged")
	}
}
