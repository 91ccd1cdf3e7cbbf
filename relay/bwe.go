package relay

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
)

// Bandwidth estimation, per viewer, from transport-wide congestion-control
// feedback (TWCC). The viewer's video forwarders stamp each packet with a
// transport-wide sequence number and note its send time and size in a ring
// (an atomic store per packet, no lock, no allocation); each feedback
// report (every 50-100 ms from browsers) is then read in one pass on the
// viewer's RTCP goroutine: what arrived, when, what was lost. The cost is
// bounded per report, not per packet.
//
// The estimator is GCC-like and small: the mean queuing delay of a report
// (one-way delay over the lowest seen lately) and its loss say whether the
// path is overused; overuse cuts the estimate to 90 % of what arrived,
// a clean path lets it grow 25 % a second (until a layer switch up probes
// the link for real).

// bweRing holds the send records of a viewer's recent stamped packets.
const bweRing = 512

// sendRecord packs a stamped packet's send time (microseconds since the
// viewer's start, 40 bits), size (16 bits) and the low byte of its
// sequence number (to tell a stale slot).
type sendRecord = uint64

func packRecord(us int64, size int, seq uint16) sendRecord {
	return uint64(us)&(1<<40-1)<<24 | uint64(size&0xffff)<<8 | uint64(seq&0xff)
}

func unpackRecord(r sendRecord) (us int64, size int, seqLow uint8) {
	return int64(r >> 24), int(r >> 8 & 0xffff), uint8(r)
}

// Estimator tuning.
const (
	bweStart         = 10_000_000 // bits/s at first: a path is good until feedback says otherwise
	bweMin           = 50_000
	bweMax           = 50_000_000
	bweOveruseDelay  = 50 * time.Millisecond // a standing queue this long means overuse
	bweLossDecrease  = 0.10                  // a report losing more than this cuts the estimate
	bweLossHold      = 0.02                  // between bweLossHold and bweLossDecrease: hold
	bweGrowthPerSec  = 0.25
	bweBaseWindow    = 10 * time.Second // how long the lowest delay seen is remembered
	bweDecreaseRatio = 0.9
	bweAckWindow     = 500 * time.Millisecond
	bweSignalWindow  = 500 * time.Millisecond // loss and queue are judged over this
	bweQueueSpan     = 1500 * time.Millisecond
	// bweSettle is how long after a cut nothing is judged: the layer
	// changes at its next keyframe (a GOP away at worst) and the queue the
	// old one built drains.
	bweSettle = 4 * time.Second
	// bweDrainStep: a standing queue that shrank by this since the last
	// verdict is draining.
	bweDrainStep = 20 * time.Millisecond
)

// bwe is one viewer's estimator.
type bwe struct {
	start int64 // unix nanoseconds; send times are microseconds after it
	seq   atomic.Uint32
	ring  [bweRing]atomic.Uint64

	estimate atomic.Uint64 // bits/s; 0 before the first feedback

	// The rest is the RTCP goroutine's.
	mu        sync.Mutex    // feedback may come on any of the viewer's senders
	baseUs    int64         // lowest one-way delay seen (recv - send), µs
	baseAt    int64         // when it was seen, unix nanoseconds
	lastAt    int64         // the last report's time, unix nanoseconds
	ackFrom   int64         // receive time the current acked window starts at, µs
	ackBytes  int           // bytes received in it
	acked     uint64        // bits/s received over the last full window
	cutAt     int64         // the last decrease, unix nanoseconds
	lastFloor int64         // the standing queue at the last verdict, µs
	winAt     int64         // the current signal window's start, unix nanoseconds
	winLost   int           // packets lost in it
	winTotal  int           // packets reported in it
	rrLoss    atomic.Uint32 // the last receiver report's fraction lost, in 1/1000
	rrAt      atomic.Int64  // when it came, unix nanoseconds

	resendMu     sync.Mutex // the resend budget (RTCP goroutines of all tracks)
	resendTokens float64
	resendAt     int64
	// queues are recent reports' lowest queuing delays (µs) and when
	// they came: their minimum over bweQueueSpan is the standing queue.
	queues [64]struct{ at, us int64 }
	qi     int
}

// noteQueue records a report's lowest queuing delay.
func (b *bwe) noteQueue(us, at int64) {
	b.queues[b.qi%len(b.queues)] = struct{ at, us int64 }{at, us}
	b.qi++
}

// queueFloor is the lowest queuing delay reported over the last
// bweQueueSpan, in µs: a queue that never drained in that time is standing
// (the path carries less than is sent), a keyframe's burst drains.
func (b *bwe) queueFloor(now int64) int64 {
	floor := int64(-1)
	for _, q := range b.queues {
		if q.at == 0 || now-q.at > int64(bweQueueSpan) {
			continue
		}
		if floor < 0 || q.us < floor {
			floor = q.us
		}
	}
	return max(floor, 0)
}

func newBWE(now time.Time) *bwe {
	return &bwe{start: now.UnixNano()}
}

// stamp takes the next transport-wide sequence number for a packet of
// size bytes sent (or handed to the socket) at unix nanoseconds at.
func (b *bwe) stamp(at int64, size int) uint16 {
	seq := uint16(b.seq.Add(1))
	b.ring[int(seq)%bweRing].Store(packRecord((at-b.start)/1000, size, seq))
	return seq
}

// onFeedback reads one TWCC report and updates the estimate; it returns
// the estimate in bits/s.
func (b *bwe) onFeedback(fb *rtcp.TransportLayerCC, now time.Time) uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	nowNs := now.UnixNano()
	var (
		recvUs              = int64(fb.ReferenceTime) * 64000
		deltas              = fb.RecvDeltas
		received, lost      int
		bytes               int
		firstRecv, lastRecv int64
		minQueueUs          int64
		seq                 = fb.BaseSequenceNumber
		count               = int(fb.PacketStatusCount)
		seen                int
	)
	note := func(status uint16) {
		if seen >= count {
			return
		}
		s := seq
		seq++
		seen++
		if status == rtcp.TypeTCCPacketNotReceived {
			lost++
			return
		}
		if status == rtcp.TypeTCCPacketReceivedWithoutDelta || len(deltas) == 0 {
			return
		}
		recvUs += deltas[0].Delta
		deltas = deltas[1:]
		rec := b.ring[int(s)%bweRing].Load()
		sendUs, size, low := unpackRecord(rec)
		if rec == 0 || low != uint8(s) {
			return // not one of ours, or overwritten since
		}
		received++
		bytes += size
		if received == 1 {
			firstRecv = recvUs
		}
		lastRecv = recvUs
		// One-way delay up to a constant clock offset: its excess over
		// the lowest seen lately is queuing.
		d := recvUs - sendUs
		if b.baseAt == 0 || d < b.baseUs || nowNs-b.baseAt > int64(bweBaseWindow) {
			b.baseUs, b.baseAt = d, nowNs
		}
		if received == 1 || d-b.baseUs < minQueueUs {
			minQueueUs = d - b.baseUs
		}
	}
	for _, c := range fb.PacketChunks {
		switch c := c.(type) {
		case *rtcp.RunLengthChunk:
			for range c.RunLength {
				note(c.PacketStatusSymbol)
			}
		case *rtcp.StatusVectorChunk:
			for _, s := range c.SymbolList {
				note(s)
			}
		}
	}
	est := b.estimate.Load()
	if est == 0 {
		est = bweStart
	}
	if received+lost == 0 {
		return est
	}
	// Signals over windows, not single reports: a keyframe's burst fills
	// a bottleneck's queue for a moment and may lose a packet or two; a
	// path that carries less than is sent keeps its queue full and loses
	// steadily.
	if received > 0 {
		if b.ackFrom == 0 || firstRecv < b.ackFrom {
			b.ackFrom, b.ackBytes = firstRecv, 0
		}
		b.ackBytes += bytes
		if span := lastRecv - b.ackFrom; span >= bweAckWindow.Microseconds() {
			b.acked = uint64(b.ackBytes) * 8 * 1_000_000 / uint64(span)
			b.ackFrom, b.ackBytes = lastRecv, 0
		}
	}
	b.winLost += lost
	b.winTotal += received + lost
	if received > 0 {
		b.noteQueue(minQueueUs, nowNs)
	}
	elapsed := time.Duration(0)
	if b.lastAt != 0 {
		elapsed = time.Duration(min(nowNs-b.lastAt, int64(time.Second)))
	}
	b.lastAt = nowNs
	if b.winAt == 0 {
		b.winAt = nowNs
	}
	if nowNs-b.winAt < int64(bweSignalWindow) {
		// Between verdicts the estimate grows only if nothing is amiss so far.
		if b.winLost == 0 && b.queueFloor(nowNs) < bweOveruseDelay.Microseconds() {
			est = uint64(float64(est) * (1 + bweGrowthPerSec*elapsed.Seconds()))
		}
		est = min(max(est, bweMin), bweMax)
		b.estimate.Store(est)
		return est
	}
	loss := float64(b.winLost) / float64(b.winTotal)
	// Receiver reports are the second signal: what the viewer lost of a
	// stream over its last report interval, fresh for a second or two.
	if at := b.rrAt.Load(); at != 0 && nowNs-at < int64(2*time.Second) {
		loss = max(loss, float64(b.rrLoss.Load())/1000)
	}
	b.winAt, b.winLost, b.winTotal = nowNs, 0, 0
	// After a cut the viewer's layer changes at the next keyframe and the
	// queue the old one built drains: neither is judged until then.
	settling := nowNs-b.cutAt < int64(bweSettle)
	// A standing queue that is shrinking is draining, not overuse.
	floor := b.queueFloor(nowNs)
	standing := floor > bweOveruseDelay.Microseconds() && floor > b.lastFloor-bweDrainStep.Microseconds()
	b.lastFloor = floor
	switch {
	case settling:
	case loss > bweLossDecrease || standing:
		// Overused: back under what the path delivered.
		if b.acked > 0 {
			est = min(est, uint64(float64(b.acked)*bweDecreaseRatio))
		} else {
			est = uint64(float64(est) * bweDecreaseRatio)
		}
		b.cutAt = nowNs
		b.queues = [len(b.queues)]struct{ at, us int64 }{} // what follows is judged afresh
	case loss > bweLossHold:
		// Some loss: hold.
	default:
		est = uint64(float64(est) * (1 + bweGrowthPerSec*elapsed.Seconds()))
	}
	est = min(max(est, bweMin), bweMax)
	b.estimate.Store(est)
	return est
}

// Layer choice for "auto" viewers, from the estimate.
const (
	layerHeadroom    = 1.15            // a layer fits when its bitrate × this is under the estimate
	layerUpMargin    = 1.25            // moving up needs the estimate this far above the layer
	layerUpHold      = 3 * time.Second // ... for this long
	layerProbeWait   = 30 * time.Second
	layerProbeMax    = 4 * time.Minute
	layerFailedUp    = 10 * time.Second // a move down this soon after a move up: the probe failed
	videoPauseRatio  = 0.8              // below the lowest layer × this the video pauses
	videoResumeRatio = 1.2
	resumeWaitMin    = 15 * time.Second // after a resume that did not hold, doubling to layerProbeMax
)

// layerRank is one floor layer as the choice sees it.
type layerRank struct {
	rid string
	bps uint64
}

// autoPick is what the choice gave an "auto" viewer.
type autoPick struct {
	rid    string
	paused bool // the estimate is under the lowest layer: no video
}

// layerChooser decides an "auto" viewer's layer. Moving up is how the
// link is probed (the estimate cannot know more than it is sent), so a
// move up that has to be taken back soon makes the next one wait longer.
type layerChooser struct {
	mu         sync.Mutex
	pick       *autoPick
	upTo       int    // the layer index the estimate supports moving up to
	aboveSince int64  // ... since
	upAt       int64  // the last move up (or the first pick), unix nanoseconds
	upFrom     string // the layer that move left ("" for the first pick)
	failedAt   int64  // the last failed move up
	wait       time.Duration
	// Resuming the video after a pause probes the link too: a resume
	// that pauses again soon makes the next one wait, longer each time.
	pausedAt, resumedAt int64
	resumeWait          time.Duration
}

// choose returns the layer for estimate est among layers (best first, by
// measured bitrate), and whether it changed.
func (c *layerChooser) choose(est uint64, layers []layerRank, now int64) (*autoPick, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(layers) < 2 || est == 0 {
		return c.pick, false // nothing to choose between: "auto" is the best layer
	}
	fitting := func(margin float64) int {
		for i, l := range layers {
			if float64(l.bps)*margin <= float64(est) {
				return i
			}
		}
		return -1
	}
	lowest := layers[len(layers)-1]
	cur := -1
	if c.pick != nil && !c.pick.paused {
		for i, l := range layers {
			if l.rid == c.pick.rid {
				cur = i
			}
		}
	}
	next := c.pick
	switch best := fitting(layerHeadroom); {
	case c.pick == nil || (cur < 0 && !c.pick.paused):
		// First choice, or the layer is gone: the best that fits.
		next, c.upAt, c.upFrom = &autoPick{rid: layers[max(best, 0)].rid}, now, ""
		if best < 0 {
			next.rid = lowest.rid
		}
	case !c.pick.paused && est < layers[cur].bps:
		// Below the current layer: down at once, to the best layer under
		// the estimate (headroom is for moving up).
		switch down := fitting(1); {
		case down >= 0:
			next = &autoPick{rid: layers[down].rid}
		case float64(est) < float64(lowest.bps)*videoPauseRatio:
			next, c.pausedAt = &autoPick{paused: true}, now
			if c.resumedAt != 0 && now-c.resumedAt < int64(layerFailedUp) {
				c.resumeWait = min(max(2*c.resumeWait, resumeWaitMin), layerProbeMax)
			}
			c.resumedAt = 0
		default:
			next = &autoPick{rid: lowest.rid}
		}
		if c.upAt != 0 && now-c.upAt < int64(layerFailedUp) && (c.upFrom == "" || next.rid == c.upFrom) {
			// The last move up (or the first, optimistic pick) did not
			// hold: the next probe waits, longer each time. (Falling past
			// the layer it came from is the link changing, not the probe.)
			c.wait = min(max(2*c.wait, layerProbeWait), layerProbeMax)
			c.failedAt, c.upAt = now, 0
		}
		c.aboveSince = 0
	default:
		// Up, to the best layer the estimate has carried with margin for
		// layerUpHold, unless a failed probe asks to wait.
		if c.pick.paused {
			// Video resumes on the lowest layer once the estimate held
			// above it for 2 s, and a failed resume's wait is over (a
			// failed move up's wait does not apply).
			if float64(est) < float64(lowest.bps)*videoResumeRatio {
				c.aboveSince = 0
				break
			}
			if c.aboveSince == 0 {
				c.aboveSince = now
			}
			if now-c.aboveSince >= int64(2*time.Second) && now-c.pausedAt >= int64(c.resumeWait) {
				next, c.aboveSince, c.resumedAt = &autoPick{rid: lowest.rid}, 0, now
			}
			break
		}
		up := fitting(layerUpMargin)
		if up < 0 || up >= cur {
			c.aboveSince = 0
			break
		}
		if c.aboveSince == 0 || up != c.upTo {
			c.upTo, c.aboveSince = up, now
		}
		if now-c.aboveSince >= int64(layerUpHold) && now-c.failedAt >= int64(c.wait) {
			c.upFrom = layers[cur].rid
			next, c.upAt, c.aboveSince = &autoPick{rid: layers[up].rid}, now, 0
		}
	}
	if c.failedAt != 0 && now-c.failedAt > int64(layerProbeMax) {
		c.wait = 0 // a long calm: probing is cheap again
	}
	if !next.paused && c.pausedAt != 0 && now-c.pausedAt > int64(layerProbeMax) {
		c.resumeWait = 0
	}
	changed := next != c.pick && (c.pick == nil || *next != *c.pick)
	c.pick = next
	return next, changed
}

// current is the pick now (nil before the first estimate).
func (c *layerChooser) current() *autoPick {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pick
}

// Resend budget: a viewer's NACKed packets are resent within a share of
// its estimate (in packets, at a typical packet size), so that a viewer
// losing packets to congestion does not congest itself further with
// resends. Viewers without feedback have no estimate and no limit.
const (
	resendShare      = 0.15
	resendPacketBits = 1200 * 8
)

// allowResend takes one resend from the budget; nil-safe.
func (b *bwe) allowResend(now time.Time) bool {
	if b == nil {
		return true
	}
	est := b.estimate.Load()
	if est == 0 {
		return true
	}
	b.resendMu.Lock()
	defer b.resendMu.Unlock()
	rate := float64(est) * resendShare / resendPacketBits // packets per second
	burst := max(rate/2, 4)
	ns := now.UnixNano()
	if b.resendAt != 0 {
		b.resendTokens = min(burst, b.resendTokens+rate*float64(ns-b.resendAt)/1e9)
	} else {
		b.resendTokens = burst
	}
	b.resendAt = ns
	if b.resendTokens < 1 {
		return false
	}
	b.resendTokens--
	return true
}

// noteReceiverLoss records a receiver report's fraction lost (0..1).
func (b *bwe) noteReceiverLoss(fraction float64, now time.Time) {
	b.rrLoss.Store(uint32(fraction * 1000))
	b.rrAt.Store(now.UnixNano())
}
