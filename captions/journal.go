package captions

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// The journal is one append-only file per room: one record per line,
//
//	<crc32c of the JSON, 8 hex digits> <JSON record>\n
//
// Appends are queued; one goroutine per journal writes everything queued in
// one write(2), fsyncs, and only then runs each append's callback, in append
// order (group commit). On open, a last record without its newline or with
// a bad checksum is a torn write from a crash: it is logged and cut off. A
// bad record in the middle is logged and skipped. After a failed write
// (disk full: possibly half a record written) nothing more is written, so a
// torn record stays the last one.

// Record kinds.
const (
	recFinal   = "final"   // a final cue
	recCorrect = "correct" // new text for an earlier final
	recIngest  = "ingest"  // HTTP ingest progress: last seq, its body hash (and running text)
)

type record struct {
	T     string    `json:"t"`
	Lang  string    `json:"lang"`
	Seq   uint64    `json:"seq,omitempty"`
	Text  string    `json:"text,omitempty"`
	Start time.Time `json:"start,omitzero"`
	At    time.Time `json:"at,omitzero"`
	ID    string    `json:"id,omitempty"`
	// Ingest progress: N is the last accepted seq, Hash the body hash of
	// that post (absent in older journals and for posts without a seq).
	Style   string `json:"style,omitempty"`
	N       uint64 `json:"n,omitempty"`
	Pending string `json:"pending,omitempty"`
	Hash    string `json:"hash,omitempty"`
}

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrJournalClosed is returned by appends after close or a write failure.
var ErrJournalClosed = errors.New("journal closed")

const maxRecordBytes = 1 << 20

// journalFile is the journal's open file (an *os.File; tests stand a
// failing disk in for it).
type journalFile interface {
	io.Writer
	Sync() error
	Close() error
}

type jentry struct {
	line []byte
	done func(error)
}

type journal struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex
	queue   []jentry
	closing bool
	used    bool  // something was appended: the room has durable state
	writing bool  // the loop holds a batch: writing it or running its callbacks
	err     error // sticky: once a write failed, every append fails

	wake chan struct{}
	done chan struct{}
	f    journalFile // owned by the loop goroutine after start

	// failures counts failed writes and appends refused after one, for the
	// service's relay_caption_journal_errors_total; shared by every room.
	failures *atomic.Uint64
}

// loadJournal reads the records of the journal at path (if it exists),
// cutting off a torn last record, and returns a journal ready to append.
func loadJournal(path string, log *slog.Logger, failures *atomic.Uint64) (*journal, []record, error) {
	j := &journal{path: path, log: log, wake: make(chan struct{}, 1), done: make(chan struct{}), failures: failures}
	recs, err := j.load()
	if err != nil {
		return nil, nil, err
	}
	go j.loop()
	return j, recs, nil
}

func (j *journal) load() ([]record, error) {
	f, err := os.OpenFile(j.path, os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil // created on the first append
	}
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	recs, good, off, err := scanRecords(f, j.path, j.log.Warn)
	if err != nil {
		f.Close()
		return nil, err
	}
	if good < off {
		if err := f.Truncate(good); err != nil {
			f.Close()
			return nil, fmt.Errorf("cut torn record of %s: %w", j.path, err)
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return nil, fmt.Errorf("sync %s: %w", j.path, err)
		}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, fmt.Errorf("seek %s: %w", j.path, err)
	}
	j.f = f
	j.used = true
	j.log.Debug("journal loaded", "path", j.path, "records", len(recs))
	return recs, nil
}

// readJournal reads the records of the journal at path without changing
// the file: a forgotten room's transcript is read this way. A torn last
// record is left alone (load cuts it off when the room comes back).
func readJournal(path string, log *slog.Logger) ([]record, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("open journal: %w", err)
	}
	defer f.Close()
	recs, _, _, err := scanRecords(f, path, log.Debug)
	return recs, err
}

// scanRecords reads every record of a journal. good is the offset after the
// last record to keep and off the end of what was read: a torn last record
// lies between. warn reports torn and corrupt records.
func scanRecords(f io.Reader, path string, warn func(msg string, args ...any)) (recs []record, good, off int64, err error) {
	r := bufio.NewReaderSize(f, 64<<10)
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			// A line longer than the buffer: read the rest of it.
			full := append([]byte(nil), line...)
			for errors.Is(err, bufio.ErrBufferFull) && len(full) <= maxRecordBytes {
				line, err = r.ReadSlice('\n')
				full = append(full, line...)
			}
			line = full
		}
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
			return nil, 0, 0, fmt.Errorf("read journal %s: %w", path, err)
		}
		if len(line) == 0 {
			return recs, good, off, nil
		}
		off += int64(len(line))
		last := err != nil // EOF: no newline, this is the tail
		rec, perr := parseRecord(line)
		switch {
		case perr == nil && !last:
			recs = append(recs, rec)
			good = off
		case last:
			warn("journal: torn last record cut off", "path", path, "offset", good, "bytes", len(line), "err", perr)
		default:
			good = off
			warn("journal: corrupt record skipped", "path", path, "offset", off-int64(len(line)), "err", perr)
		}
		if last {
			return recs, good, off, nil
		}
	}
}

func parseRecord(line []byte) (record, error) {
	line = bytes.TrimSuffix(line, []byte{'\n'})
	if len(line) < 10 || line[8] != ' ' {
		return record{}, errors.New("record too short")
	}
	want, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil {
		return record{}, fmt.Errorf("bad checksum field: %w", err)
	}
	body := line[9:]
	if crc32.Checksum(body, crcTable) != uint32(want) {
		return record{}, errors.New("checksum mismatch")
	}
	var rec record
	if err := json.Unmarshal(body, &rec); err != nil {
		return record{}, fmt.Errorf("bad record: %w", err)
	}
	return rec, nil
}

func encodeRecord(rec record) ([]byte, error) {
	body, err := json.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode record: %w", err)
	}
	line := make([]byte, 0, len(body)+10)
	line = fmt.Appendf(line, "%08x ", crc32.Checksum(body, crcTable))
	line = append(line, body...)
	return append(line, '\n'), nil
}

// append queues rec. done runs on the journal goroutine once rec is on disk
// (fsynced) or failed to get there, after the callbacks of earlier appends.
// If the journal cannot take rec, append returns the error and done never
// runs, so a caller may hold its own locks while appending.
func (j *journal) append(rec record, done func(error)) error {
	line, err := encodeRecord(rec)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.closing {
		return ErrJournalClosed
	}
	if j.err != nil {
		j.failures.Add(1)
		return fmt.Errorf("%w: %w", ErrJournalClosed, j.err)
	}
	j.used = true
	j.queue = append(j.queue, jentry{line: line, done: done})
	select {
	case j.wake <- struct{}{}:
	default:
	}
	return nil
}

func (j *journal) loop() {
	defer close(j.done)
	var buf []byte
	for {
		<-j.wake // closed by close: then the loop drains and returns
		for {
			j.mu.Lock()
			batch := j.queue
			j.queue = nil
			closing := j.closing
			j.writing = len(batch) > 0
			j.mu.Unlock()
			if len(batch) == 0 {
				if closing {
					j.closeFile()
					return
				}
				break
			}
			j.mu.Lock()
			err := j.err
			j.mu.Unlock()
			if err == nil {
				buf = buf[:0]
				for _, e := range batch {
					buf = append(buf, e.line...)
				}
				err = j.write(buf)
				if err != nil {
					j.log.Error("journal write failed; captions of this room are no longer stored", "path", j.path, "err", err)
					j.mu.Lock()
					j.err = err
					j.mu.Unlock()
				}
			} else {
				// Queued before the failure: not written after a torn
				// record, where it would be read back as part of it.
				err = fmt.Errorf("%w: %w", ErrJournalClosed, err)
			}
			if err != nil {
				j.failures.Add(1)
			}
			for _, e := range batch {
				e.done(err)
			}
			j.mu.Lock()
			j.writing = false
			j.mu.Unlock()
			if cap(buf) > 1<<20 {
				buf = nil
			}
		}
	}
}

func (j *journal) write(b []byte) error {
	if j.f == nil {
		if err := os.MkdirAll(filepath.Dir(j.path), 0o755); err != nil {
			return fmt.Errorf("create journal directory: %w", err)
		}
		f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("create journal: %w", err)
		}
		j.f = f
		if err := syncDir(filepath.Dir(j.path)); err != nil {
			return err
		}
	}
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("write journal: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("fsync journal: %w", err)
	}
	return nil
}

// inUse reports whether the journal has (or will have) a record.
func (j *journal) inUse() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.used
}

// idle reports whether nothing is queued or being written and no write
// failed: the journal may then be closed while its room is forgotten (a
// failed one stays, so that /readyz keeps saying so).
func (j *journal) idle() bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.queue) == 0 && !j.writing && j.err == nil
}

// syncDir makes a new file's directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open journal directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("fsync journal directory: %w", err)
	}
	return nil
}

func (j *journal) closeFile() {
	if j.f == nil {
		return
	}
	if err := j.f.Close(); err != nil {
		j.log.Error("journal close failed", "path", j.path, "err", err)
	}
	j.f = nil
}

// close writes what is queued, runs its callbacks, closes the file and ends
// the journal goroutine. Appends after close fail with ErrJournalClosed.
func (j *journal) close() error {
	j.mu.Lock()
	already := j.closing
	j.closing = true
	err := j.err
	j.mu.Unlock()
	if !already {
		close(j.wake)
	}
	<-j.done
	return err
}
