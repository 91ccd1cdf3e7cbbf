package relay

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/testkit"
	"github.com/relay-av/relay/relay/impair"
	"github.com/relay-av/relay/relay/peer"
)

// layerLog samples the layer and estimate of a room's viewers.
type layerLog struct {
	mu    sync.Mutex
	steps map[string][]layerStep // by viewer tag
}

type layerStep struct {
	at    time.Time
	layer string
	est   uint64
}

// follow samples r's viewers of room every 200 ms until ctx ends.
func (l *layerLog) follow(ctx context.Context, r *testRelay, room string) {
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			vs, err := r.srv.Viewers(room)
			if err != nil {
				continue
			}
			l.mu.Lock()
			for _, v := range vs {
				l.steps[v.Tag] = append(l.steps[v.Tag], layerStep{now, v.Layer, v.EstimateBps})
			}
			l.mu.Unlock()
		}
	}
}

// layerOf is the viewer's layer now.
func (l *layerLog) layerOf(tag string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.steps[tag]
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1].layer
}

// switchesSince counts the viewer's layer changes after from.
func (l *layerLog) switchesSince(tag string, from time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, last := 0, ""
	for _, s := range l.steps[tag] {
		if s.at.Before(from) {
			last = s.layer
			continue
		}
		if s.layer != last {
			n++
		}
		last = s.layer
	}
	return n
}

func (l *layerLog) dump(t *testing.T, tag string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	line := ""
	for i, s := range l.steps[tag] {
		if i%5 == 0 {
			line += fmt.Sprintf(" %s:%dk", s.layer, s.est/1000)
		}
	}
	t.Logf("viewer %s:%s", tag, line)
}

// An "auto" viewer follows its link: capped at 700 kbit/s it settles on
// the middle layer with little loss, at 200 kbit/s on the low one, and
// back on the top layer once the cap is lifted; a viewer on a clean link
// stays on the top layer throughout.
func TestAdaptiveLayerFollowsLink(t *testing.T) {
	if testing.Short() {
		t.Skip("a minute of a capped link")
	}
	// Beside other packages' tests on a small machine the impairment proxy
	// is starved and the link it models changes under the test.
	testkit.Alone(t)
	r := newTestRelay(t, nil)
	publishSimulcast(t, r, "hall")
	// A link with half a second of buffer, as mobile and hotel links
	// have: a keyframe's burst waits in it rather than being dropped.
	opts, px := viaProxy(t, r, impair.Damage{}, impair.Damage{Rate: 700_000, Queue: 500 * time.Millisecond}, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	capped, err := peer.View(ctx, peer.ViewConfig{URL: r.url + "/whep/hall", Options: opts, Interceptors: true})
	if err != nil {
		t.Fatal(err)
	}
	defer capped.Close(true)
	clean, err := peer.View(ctx, peer.ViewConfig{URL: r.url + "/whep/hall", Options: peer.Options{Loopback: true}, Interceptors: true})
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close(true)
	// Which tag is which: the capped viewer joined first.
	var tags []string
	waitFor(t, 5*time.Second, "two viewers", func() bool {
		vs, _ := r.srv.Viewers("hall")
		tags = tags[:0]
		for _, v := range vs {
			tags = append(tags, v.Tag)
		}
		return len(tags) == 2
	})
	cappedTag, cleanTag := tags[0], tags[1]
	log := &layerLog{steps: map[string][]layerStep{}}
	fctx, fcancel := context.WithCancel(t.Context())
	defer fcancel()
	go log.follow(fctx, r, "hall")
	defer func() {
		log.dump(t, cappedTag)
		log.dump(t, cleanTag)
	}()
	start := time.Now()
	// The issue asks for 5 s, 10 s and 20 s; the waits allow twice that
	// (a shared machine is slow at times) and the log says what it took.
	waitFor(t, 10*time.Second, "the capped viewer on the middle layer", func() bool { return log.layerOf(cappedTag) == "m" })
	t.Logf("700 kbit/s: on the middle layer after %v", time.Since(start).Round(100*time.Millisecond))
	// Settled: 10 s after the cap. Then 20 s of a steady link.
	time.Sleep(time.Until(start.Add(10 * time.Second)))
	settled := time.Now()
	before := capped.Stats(webrtc.RTPCodecTypeVideo)
	time.Sleep(20 * time.Second)
	after := capped.Stats(webrtc.RTPCodecTypeVideo)
	got, missing := after.Packets-before.Packets, after.MissingTotal-before.MissingTotal
	switches := log.switchesSince(cappedTag, settled)
	t.Logf("after settling: %d video packets, %d missing (%.2f %%), %d layer switches in 20 s", got, missing, 100*float64(missing)/float64(max(got, 1)), switches)
	if log.layerOf(cappedTag) != "m" {
		t.Errorf("after 20 s at 700 kbit/s the viewer is on layer %q, want m", log.layerOf(cappedTag))
	}
	if switches > 2 {
		t.Errorf("%d layer switches in 20 s of a steady 700 kbit/s link; want at most one per 10 s", switches)
	}
	if got == 0 || float64(missing) > 0.01*float64(got) {
		t.Errorf("after settling %d of %d video packets missing: over 1 %%", missing, got)
	}
	px.SetRate(impair.Down, 200_000)
	start = time.Now()
	waitFor(t, 20*time.Second, "the capped viewer on the low layer", func() bool { return log.layerOf(cappedTag) == "l" })
	t.Logf("200 kbit/s: on the low layer after %v", time.Since(start).Round(100*time.Millisecond))
	px.SetRate(impair.Down, 0)
	start = time.Now()
	waitFor(t, 40*time.Second, "the viewer back on the top layer", func() bool { return log.layerOf(cappedTag) == "h" })
	t.Logf("lifted: on the top layer after %v", time.Since(start).Round(100*time.Millisecond))
	if n := log.switchesSince(cleanTag, time.Now().Add(-time.Hour)); n > 1 || log.layerOf(cleanTag) != "h" {
		t.Errorf("the clean viewer changed layers %d times (the first sample counts one), now on %q", n, log.layerOf(cleanTag))
	}
}

// A link that carries less than the lowest layer: the "auto" viewer's
// video pauses while its audio keeps playing, the pause holds instead of
// flapping, and the video comes back once the cap is lifted.
func TestAdaptiveVideoPausesUnderLowestLayer(t *testing.T) {
	if testing.Short() {
		t.Skip("half a minute of a capped link")
	}
	testkit.Alone(t)
	r := newTestRelay(t, nil)
	publishSimulcast(t, r, "hall")
	// 100 kbit/s: the audio (48 kbit/s) fits, the 150 kbit/s layer does not.
	opts, px := viaProxy(t, r, impair.Damage{}, impair.Damage{Rate: 100_000, Queue: 500 * time.Millisecond}, 1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	capped, err := peer.View(ctx, peer.ViewConfig{URL: r.url + "/whep/hall", Options: opts, Interceptors: true})
	if err != nil {
		t.Fatal(err)
	}
	defer capped.Close(true)
	var tag string
	waitFor(t, 5*time.Second, "the viewer", func() bool {
		vs, _ := r.srv.Viewers("hall")
		if len(vs) == 1 {
			tag = vs[0].Tag
		}
		return tag != ""
	})
	log := &layerLog{steps: map[string][]layerStep{}}
	fctx, fcancel := context.WithCancel(t.Context())
	defer fcancel()
	go log.follow(fctx, r, "hall")
	defer func() { log.dump(t, tag) }()
	start := time.Now()
	paused := func() bool {
		for _, rs := range r.srv.Stats() {
			if rs.Room == "hall" {
				return rs.VideoPaused == 1
			}
		}
		return false
	}
	waitFor(t, 15*time.Second, "the video paused", paused)
	t.Logf("100 kbit/s: video paused after %v", time.Since(start).Round(100*time.Millisecond))
	// 20 s at 100 kbit/s: the audio plays, the video stays paused (a
	// try at resuming that fails makes the next one wait).
	settled := time.Now()
	audio0, video0 := capped.Stats(webrtc.RTPCodecTypeAudio), capped.Stats(webrtc.RTPCodecTypeVideo)
	time.Sleep(20 * time.Second)
	audio1, video1 := capped.Stats(webrtc.RTPCodecTypeAudio), capped.Stats(webrtc.RTPCodecTypeVideo)
	got, missing := audio1.Packets-audio0.Packets, audio1.MissingTotal-audio0.MissingTotal
	resumes := log.switchesSince(tag, settled)
	t.Logf("paused 20 s: %d audio packets, %d missing (%.2f %%), %d video packets, %d layer changes",
		got, missing, 100*float64(missing)/float64(max(got, 1)), video1.Packets-video0.Packets, resumes)
	if got < 800 { // 50 a second
		t.Errorf("%d audio packets in 20 s of paused video; want the audio to keep playing", got)
	}
	if float64(missing) > 0.05*float64(got) {
		t.Errorf("%d of %d audio packets missing while the video is paused", missing, got)
	}
	if resumes > 4 {
		t.Errorf("%d layer changes in 20 s under the lowest layer; want the pause to hold", resumes)
	}
	px.SetRate(impair.Down, 0)
	start = time.Now()
	waitFor(t, 60*time.Second, "the video back", func() bool { return !paused() && log.layerOf(tag) != "" })
	t.Logf("lifted: video back on layer %s after %v", log.layerOf(tag), time.Since(start).Round(100*time.Millisecond))
}
