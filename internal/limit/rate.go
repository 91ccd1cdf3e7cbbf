package limit

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate limits requests per client address (Key), so that one client's
// flood of costly requests cannot starve the relay. Entries idle for a
// minute are forgotten; the table is bounded. A nil *Rate allows
// everything.
type Rate struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	entries map[netip.Addr]*rateEntry
	swept   time.Time
}

type rateEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

// maxRateEntries bounds the table: under a flood from more addresses than
// this, new addresses wait until old ones are forgotten.
const maxRateEntries = 100_000

// NewRate returns a limiter of perSecond requests per client address with
// a bucket of burst. perSecond 0 means 20, negative turns the limit off (a
// nil *Rate); burst 0 means 100.
func NewRate(perSecond float64, burst int) *Rate {
	if perSecond < 0 {
		return nil
	}
	if perSecond == 0 {
		perSecond = 20
	}
	if burst <= 0 {
		burst = 100
	}
	return &Rate{limit: rate.Limit(perSecond), burst: burst, entries: map[netip.Addr]*rateEntry{}}
}

// Allow reports whether a request from remote (host:port) may go on.
func (l *Rate) Allow(remote string) bool {
	if l == nil {
		return true
	}
	key := Key(remote)
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.entries) >= maxRateEntries {
		for k, e := range l.entries {
			if now.Sub(e.seen) > time.Minute {
				delete(l.entries, k)
			}
		}
		l.swept = now
	}
	e := l.entries[key]
	if e == nil {
		if len(l.entries) >= maxRateEntries {
			return false
		}
		e = &rateEntry{lim: rate.NewLimiter(l.limit, l.burst)}
		l.entries[key] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}
