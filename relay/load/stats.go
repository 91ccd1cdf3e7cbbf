package load

import (
	"math"
	"sort"
	"sync"
	"time"
)

// histogram keeps latencies in 0.1 ms buckets up to 10 s (and one bucket
// above), so percentiles over millions of samples cost no memory growth.
type histogram struct {
	buckets [100001]uint32
	n       uint64
	max     time.Duration
}

const bucketWidth = 100 * time.Microsecond

func (h *histogram) add(d time.Duration) {
	if d < 0 {
		d = 0
	}
	i := int(d / bucketWidth)
	if i >= len(h.buckets) {
		i = len(h.buckets) - 1
	}
	h.buckets[i]++
	h.n++
	if d > h.max {
		h.max = d
	}
}

func (h *histogram) merge(o *histogram) {
	for i, c := range o.buckets {
		h.buckets[i] += c
	}
	h.n += o.n
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the q-th quantile (0..1), at bucket resolution.
func (h *histogram) quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	if rank == 0 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.buckets {
		seen += uint64(c)
		if seen >= rank {
			return time.Duration(i)*bucketWidth + bucketWidth/2
		}
	}
	return h.max
}

// durations summarises a small set of samples (one per viewer) exactly.
func percentile(samples []time.Duration, q float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), samples...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(math.Ceil(q*float64(len(s)))) - 1
	return s[max(0, min(i, len(s)-1))]
}

// sendTimes remembers, for one published video stream (the one video
// stream, or one simulcast layer), when each frame left and how many packets
// the stream had sent by the frame's end, keyed by RTP timestamp: viewers
// compute end-to-end frame latency from the first, and what they should
// have received from the second. Both ends live in this process and use the
// same clock. Each stream starts at its own random timestamp, and the relay
// passes the timestamps of a viewer's first stream through unchanged, so a
// viewer's frames are found in its stream's sendTimes and in no other.
type sendTimes struct {
	mu      sync.RWMutex
	byTS    map[uint32]sentFrame
	order   []uint32
	keep    int
	packets uint64 // sent so far
}

// sentFrame is one frame of a stream.
type sentFrame struct {
	at   time.Time // its first packet left
	upTo uint64    // the stream's packets sent up to its last one; 0 until that left
}

func newSendTimes(keep int) *sendTimes {
	return &sendTimes{byTS: make(map[uint32]sentFrame, keep), keep: keep}
}

// sent records one packet of the frame with timestamp ts, sent at at; last
// marks the frame's last packet. A frame is "sent" when its first packet
// leaves, and "arrives" when its last packet does.
func (s *sendTimes) sent(ts uint32, at time.Time, last bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.packets++
	f, ok := s.byTS[ts]
	if !ok {
		f.at = at
		s.order = append(s.order, ts)
		if len(s.order) > s.keep {
			delete(s.byTS, s.order[0])
			s.order = s.order[1:]
		}
	}
	if last {
		f.upTo = s.packets
	}
	s.byTS[ts] = f
}

// latency returns how long ago the frame with timestamp ts was sent.
func (s *sendTimes) latency(ts uint32, arrived time.Time) (time.Duration, bool) {
	s.mu.RLock()
	f, ok := s.byTS[ts]
	s.mu.RUnlock()
	if !ok {
		return 0, false
	}
	return arrived.Sub(f.at), true
}

// through returns how many packets the stream had sent up to the last one
// of the frame with timestamp ts; false while that packet has not left (or
// the frame is not the stream's, or long forgotten).
func (s *sendTimes) through(ts uint32) (uint64, bool) {
	s.mu.RLock()
	f, ok := s.byTS[ts]
	s.mu.RUnlock()
	return f.upTo, ok && f.upTo > 0
}
