package relay

import (
	"sync"
	"time"
)

// keyframeRequester collapses keyframe requests for one source into at most
// one PLI per interval: the first request sends at once, the ones that follow
// within the interval set a flag that one timer turns into a single PLI.
type keyframeRequester struct {
	interval time.Duration
	send     func() // writes the PLI toward the publisher; nil for sources that cannot be asked

	mu      sync.Mutex
	last    time.Time
	pending bool
	timer   *time.Timer
	closed  bool
	sent    uint64
}

func newKeyframeRequester(interval time.Duration, send func()) *keyframeRequester {
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	return &keyframeRequester{interval: interval, send: send}
}

// request asks for a keyframe.
func (k *keyframeRequester) request() {
	if k.send == nil {
		return
	}
	k.mu.Lock()
	if k.closed || k.pending {
		k.mu.Unlock()
		return
	}
	now := time.Now()
	if wait := k.interval - now.Sub(k.last); wait > 0 {
		k.pending = true
		k.timer = time.AfterFunc(wait, k.fire)
		k.mu.Unlock()
		return
	}
	k.last = now
	k.sent++
	k.mu.Unlock()
	k.send()
}

func (k *keyframeRequester) fire() {
	k.mu.Lock()
	if k.closed || !k.pending {
		k.mu.Unlock()
		return
	}
	k.pending = false
	k.last = time.Now()
	k.sent++
	k.mu.Unlock()
	k.send()
}

// keyframeArrived cancels a pending request: the keyframe it wanted came.
func (k *keyframeRequester) keyframeArrived() {
	k.mu.Lock()
	if k.pending && k.timer.Stop() {
		k.pending = false
	}
	k.mu.Unlock()
}

func (k *keyframeRequester) count() uint64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.sent
}

func (k *keyframeRequester) close() {
	k.mu.Lock()
	k.closed = true
	if k.timer != nil {
		k.timer.Stop()
	}
	k.mu.Unlock()
}
