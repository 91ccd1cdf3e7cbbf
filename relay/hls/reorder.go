package hls

import "time"

// reorder puts a track's packets back in sequence order. A publisher's
// lost packets come again (the relay NACKs it) after the ones that
// followed them; without this, every loss on the publisher's link would
// cost the HLS video the rest of its GOP. A gap is waited for at most
// reorderWait, then skipped (the track treats it as a loss). 400 ms:
// pion's NACK generator asks again only after its interval, and with 150
// ms the lossy-publisher test lost a sixth of its frames (all kept at 400).
type reorder struct {
	slots   [reorderSlots]rtpIn
	held    [reorderSlots]bool
	next    uint16 // the sequence number due
	started bool
	count   int
	oldest  time.Time // arrival of the oldest packet held
}

const (
	reorderSlots = 512
	reorderWait  = 400 * time.Millisecond
)

// push takes a packet and calls emit for every packet now in order; lost
// is true on the first packet after a skipped gap.
func (r *reorder) push(p rtpIn, now time.Time, emit func(p rtpIn, lost bool)) {
	if !r.started {
		r.started, r.next = true, p.seq
	}
	d := int16(p.seq - r.next)
	switch {
	case d < 0:
		return // late beyond the gap it filled, or a duplicate
	case d >= reorderSlots:
		// Far ahead (a jump): everything held is older; start again here.
		r.flushAll(emit)
		r.next = p.seq
	}
	i := int(p.seq % reorderSlots)
	if r.held[i] {
		return // duplicate
	}
	r.slots[i], r.held[i] = p, true
	if r.count == 0 {
		r.oldest = now
	}
	r.count++
	r.release(emit, false)
	r.expire(now, emit)
}

// release emits the packets due, in order.
func (r *reorder) release(emit func(rtpIn, bool), lost bool) {
	for r.count > 0 {
		i := int(r.next % reorderSlots)
		if !r.held[i] {
			return
		}
		p := r.slots[i]
		r.held[i], r.slots[i] = false, rtpIn{}
		r.count--
		r.next++
		emit(p, lost)
		lost = false
	}
}

// expire skips a gap that has been waited for long enough.
func (r *reorder) expire(now time.Time, emit func(rtpIn, bool)) {
	for r.count > 0 && now.Sub(r.oldest) >= reorderWait {
		for !r.held[int(r.next%reorderSlots)] {
			r.next++
		}
		r.release(emit, true)
		r.oldest = now // what is left waits for its own gap
	}
}

// flushAll emits everything held, gaps skipped.
func (r *reorder) flushAll(emit func(rtpIn, bool)) {
	for r.count > 0 {
		for !r.held[int(r.next%reorderSlots)] {
			r.next++
		}
		r.release(emit, true)
	}
}
