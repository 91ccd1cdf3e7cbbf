package limit

import (
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/relay-av/relay/internal/httperr"
)

// Slots caps what clients hold at once (open sockets, streams): per client
// address and in total, with part of the total kept for privileged holders
// (the AV team's admin token), so that anonymous clients holding every
// other slot cannot lock them out.
type Slots struct {
	what    string // "caption sockets", for the error messages
	perAddr int
	total   int
	reserve int

	mu     sync.Mutex
	n      int // slots held
	anon   int // of which by holders that are not privileged
	byAddr map[netip.Addr]int
}

// SlotsConfig sets up Slots.
type SlotsConfig struct {
	What    string // what a slot is, plural ("caption sockets"); "" means "connections"
	PerAddr int    // slots one client address may hold; 0 means no per-address cap
	Total   int    // slots in all; 0 means no total cap
	// Reserve is how many of Total only privileged holders may take:
	// holders that are not privileged hold at most Total-Reserve. 0 means
	// none; it is capped at Total.
	Reserve int
}

// Retry-After of a refusal: a client over its own cap may come back soon
// (its other sockets close); a full relay is busy for longer.
const (
	retryPerAddr = 5 * time.Second
	retryTotal   = 10 * time.Second
)

// NewSlots returns Slots for c.
func NewSlots(c SlotsConfig) *Slots {
	if c.What == "" {
		c.What = "connections"
	}
	return &Slots{what: c.What, perAddr: c.PerAddr, total: c.Total, reserve: min(c.Reserve, c.Total), byAddr: map[netip.Addr]int{}}
}

// Acquire takes a slot for a client at remote. It returns the function that
// gives the slot back (call it once), or an *httperr.Error: 429 when the
// client's address holds its share, 503 when the relay holds its total.
// A privileged holder is not held to the per-address cap and may take the
// reserved slots.
func (s *Slots) Acquire(remote string, privileged bool) (release func(), err error) {
	key := Key(remote)
	s.mu.Lock()
	defer s.mu.Unlock()
	if !privileged && s.perAddr > 0 && s.byAddr[key] >= s.perAddr {
		return nil, httperr.Retry(http.StatusTooManyRequests, retryPerAddr, "too many %s from your address (at most %d)", s.what, s.perAddr)
	}
	if s.total > 0 && (s.n >= s.total || !privileged && s.anon >= s.total-s.reserve) {
		return nil, httperr.Retry(http.StatusServiceUnavailable, retryTotal, "the relay has no free %s; retry later", s.what)
	}
	s.n++
	if !privileged {
		s.anon++
	}
	s.byAddr[key]++
	var once sync.Once
	return func() { once.Do(func() { s.release(key, privileged) }) }, nil
}

func (s *Slots) release(key netip.Addr, privileged bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n--
	if !privileged {
		s.anon--
	}
	if s.byAddr[key]--; s.byAddr[key] <= 0 {
		delete(s.byAddr, key)
	}
}

// InUse is how many slots are held.
func (s *Slots) InUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
