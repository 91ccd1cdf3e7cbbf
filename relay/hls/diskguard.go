package hls

import (
	"fmt"
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
	free, total, err := diskSpace(g.dir)
	if err != nil {
		g.err = fmt.Errorf("reading the free disk space: %w", err)
		return g.err
	}
	g.free, g.total = free, total
	need := g.minFree
	if need <= 0 {
		need = max(1<<30, total/20)
	}
	g.err = nil
	if free < need {
		g.err = fmt.Errorf("the disk is nearly full: %d MiB free, recording needs %d MiB", free>>20, need>>20)
	}
	return g.err
}
