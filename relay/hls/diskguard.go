package hls

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// diskGuard stops recording before the disk fills: the journal of the
// captions and the live path need the room more than a recording does.
type diskGuard struct {
	dir     string
	minFree int64 // 0 means 1 GiB or 5 % of the disk, the larger

	mu        sync.Mutex
	checkedAt time.Time
	err       error
	free      int64
	total     int64
}

// guardEvery is how often the free space is read.
const guardEvery = 2 * time.Second

// check says whether there is room to record, reading the disk at most
// every guardEvery.
func (g *diskGuard) check() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if time.Since(g.checkedAt) < guardEvery {
		return g.err
	}
	g.checkedAt = time.Now()
	free, total, err := diskSpace(existing(g.dir))
	if err != nil {
		g.err = fmt.Errorf("reading the free disk space: %w", err)
		return g.err
	}
	g.free, g.total = free, total
	need := g.need()
	g.err = nil
	if free < need {
		g.err = fmt.Errorf("the disk is nearly full: %d MiB free, recording needs %d MiB", free>>20, need>>20)
	}
	return g.err
}

// need is the free space recording needs (g.mu held).
func (g *diskGuard) need() int64 {
	if g.minFree > 0 {
		return g.minFree
	}
	return max(1<<30, g.total/20)
}

// reading is the last reading, taken now if it is old.
func (g *diskGuard) reading() (free, total, minFree int64, err error) {
	checkErr := g.check()
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.total == 0 {
		return 0, 0, 0, checkErr
	}
	return g.free, g.total, g.need(), nil
}

// existing is dir, or its nearest parent that exists (the recordings
// directory is made by the first recording): the same file system.
func existing(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}
