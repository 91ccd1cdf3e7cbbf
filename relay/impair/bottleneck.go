package impair

import (
	"math"
	"time"
)

// Bottleneck defaults, in bytes: a full-size packet on an Ethernet path,
// the bucket's depth when Damage.Burst is 0, and the least the queue holds
// whatever the rate.
const (
	fullPacket = 1500
	minQueue   = 3 * fullPacket
)

// defaultQueue is the queue's depth, as delay at the rate, when
// Damage.Queue is 0.
const defaultQueue = 100 * time.Millisecond

// SetRate changes the bandwidth cap of one direction (Up or Down) while
// the proxy runs, in bits per second; 0 lifts it and what waits in the
// queue is sent at once. The queue keeps what it holds; its bound follows
// the new rate (Damage.Queue is a delay).
func (p *Proxy) SetRate(dir Dir, bps int64) {
	d := p.dirs[dir]
	d.mu.Lock()
	d.link.setRate(time.Now(), bps)
	d.mu.Unlock()
	d.poke()
}

// forward hands a packet to the bottleneck, from the reader: it is written
// at once if it passes (always, without a cap), else it waits in the
// bottleneck's queue for the line goroutine, or is dropped when that is full.
func (d *direction) forward(pkt []byte) {
	now := time.Now()
	d.mu.Lock()
	if !d.sending && d.link.pass(now, len(pkt)) {
		d.mu.Unlock()
		d.write(pkt)
		return
	}
	d.enqueue(now, pkt)
	d.mu.Unlock()
	d.poke()
}

// enqueue puts a packet the bucket cannot pass yet in the bottleneck's
// queue, or counts it dropped. d.mu is held.
func (d *direction) enqueue(now time.Time, pkt []byte) {
	if d.link.enqueue(now, pkt) {
		d.queued.Add(1)
		return
	}
	d.queueDropped.Add(1)
	d.queueDroppedBytes.Add(uint64(len(pkt)))
}

// bottleneck is a narrow link in front of the receiver: a token bucket that
// lets bytes through at rate, behind a FIFO queue bounded in bytes that
// drops what arrives when it is full (tail drop), as a router does. While
// the queue fills, the delay grows; once it is full, packets are dropped.
//
// It is a discrete-event model driven by the caller's clock: a queued
// packet leaves at the instant the bucket holds enough tokens for it, and
// the next one is timed from that instant, so a goroutine that wakes late
// sends late but never lowers the rate. Its owner (a direction) guards it
// with a mutex.
type bottleneck struct {
	rate    int64         // bits per second; 0 means unlimited
	depth   time.Duration // the queue's size as delay at rate
	burst   float64       // bucket depth, bytes
	tokens  float64       // bytes in the bucket at time at; below 0 after a packet larger than the bucket
	at      time.Time
	fifo    []waiting
	bytes   int           // bytes in fifo
	maxWait time.Duration // the longest a packet has waited, by the bucket's clock
}

type waiting struct {
	pkt   []byte
	since time.Time
}

func newBottleneck(d Damage, now time.Time) bottleneck {
	b := bottleneck{rate: max(d.Rate, 0), depth: d.Queue, burst: float64(d.Burst), at: now}
	if b.depth <= 0 {
		b.depth = defaultQueue
	}
	if b.burst <= 0 {
		b.burst = fullPacket
	}
	b.tokens = b.burst
	return b
}

// fill adds the tokens earned since the last fill, up to the bucket's depth.
func (b *bottleneck) fill(now time.Time) {
	if !now.After(b.at) {
		return
	}
	if b.rate == 0 {
		b.tokens = b.burst
	} else {
		b.tokens = min(b.burst, b.tokens+float64(b.rate)/8*now.Sub(b.at).Seconds())
	}
	b.at = now
}

// setRate changes the rate from now on; tokens earned so far are kept.
func (b *bottleneck) setRate(now time.Time, bps int64) {
	b.fill(now)
	b.rate = max(bps, 0)
}

// limit is how many bytes the queue holds at the current rate.
func (b *bottleneck) limit() int {
	if b.rate == 0 {
		return math.MaxInt
	}
	return max(int(float64(b.rate)/8*b.depth.Seconds()), minQueue)
}

// need is what the bucket must hold for a packet to leave: its size, or the
// whole bucket for a packet larger than the bucket (which then owes the rest).
func (b *bottleneck) need(size int) float64 { return min(float64(size), b.burst) }

// pass reports whether a packet arriving now goes straight through, the
// queue being empty and the bucket full enough; it spends the tokens.
func (b *bottleneck) pass(now time.Time, size int) bool {
	if len(b.fifo) > 0 {
		return false
	}
	if b.rate == 0 {
		return true
	}
	b.fill(now)
	if b.tokens < b.need(size) {
		return false
	}
	b.tokens -= float64(size)
	return true
}

// enqueue puts a packet at the tail of the queue, or reports false when the
// queue is full and the packet is dropped.
func (b *bottleneck) enqueue(now time.Time, pkt []byte) bool {
	if b.bytes+len(pkt) > b.limit() {
		return false
	}
	b.fifo = append(b.fifo, waiting{pkt, now})
	b.bytes += len(pkt)
	return true
}

// release appends to out the queued packets that have left by now, in
// order, and returns when the next one leaves (zero if the queue is empty).
func (b *bottleneck) release(now time.Time, out [][]byte) ([][]byte, time.Time) {
	for len(b.fifo) > 0 {
		w := b.fifo[0]
		leave := now
		if b.rate > 0 {
			b.fill(w.since) // the bucket filled while the queue was empty
			leave = b.departure(len(w.pkt))
			if leave.After(now) {
				return out, leave
			}
			b.fill(leave)
			b.tokens -= float64(len(w.pkt))
		}
		b.maxWait = max(b.maxWait, leave.Sub(w.since))
		b.fifo[0] = waiting{}
		b.fifo = b.fifo[1:]
		b.bytes -= len(w.pkt)
		out = append(out, w.pkt)
	}
	b.fifo = nil // let the emptied backing array go
	return out, time.Time{}
}

// departure is when the bucket will hold enough for a packet of size.
func (b *bottleneck) departure(size int) time.Time {
	short := b.need(size) - b.tokens
	if short <= 0 {
		return b.at
	}
	return b.at.Add(time.Duration(math.Round(short * 8 * float64(time.Second) / float64(b.rate))))
}

// delay is what a packet arriving now would wait: the queue drained at the
// current rate.
func (b *bottleneck) delay() time.Duration {
	if b.rate == 0 || b.bytes == 0 {
		return 0
	}
	return time.Duration(float64(b.bytes) * 8 * float64(time.Second) / float64(b.rate))
}
