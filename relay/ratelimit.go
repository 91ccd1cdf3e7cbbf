package relay

import (
	"net"
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// ipLimiter rate-limits WHIP/WHEP offers per client address, so one
// address's flood of offers (each costs a PeerConnection) cannot starve the
// relay. Entries idle for a minute are forgotten; the table is bounded.
type ipLimiter struct {
	limit rate.Limit
	burst int

	mu      sync.Mutex
	entries map[netip.Addr]*ipEntry
	swept   time.Time
}

type ipEntry struct {
	lim  *rate.Limiter
	seen time.Time
}

const maxLimiterEntries = 100_000

func newIPLimiter(perSecond float64, burst int) *ipLimiter {
	if perSecond < 0 {
		return nil // disabled
	}
	if perSecond == 0 {
		perSecond = 20
	}
	if burst <= 0 {
		burst = 100
	}
	return &ipLimiter{limit: rate.Limit(perSecond), burst: burst, entries: map[netip.Addr]*ipEntry{}}
}

// allow reports whether a request from remote (host:port) may go on.
func (l *ipLimiter) allow(remote string) bool {
	if l == nil {
		return true
	}
	host, _, err := net.SplitHostPort(remote)
	if err != nil {
		host = remote
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return true // not an IP (a unix socket, a test): nothing to key on
	}
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > time.Minute || len(l.entries) >= maxLimiterEntries {
		for k, e := range l.entries {
			if now.Sub(e.seen) > time.Minute {
				delete(l.entries, k)
			}
		}
		l.swept = now
	}
	e := l.entries[ip]
	if e == nil {
		if len(l.entries) >= maxLimiterEntries {
			return false // under a distributed flood new addresses wait
		}
		e = &ipEntry{lim: rate.NewLimiter(l.limit, l.burst)}
		l.entries[ip] = e
	}
	e.seen = now
	return e.lim.AllowN(now, 1)
}
