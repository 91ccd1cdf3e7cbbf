package relay

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
)

// waitChannelLive waits for a language channel of room to be live (or down)
// in /api/rooms.
func waitChannelLive(t *testing.T, r *testRelay, room, lang, kind string, live bool, d time.Duration) {
	t.Helper()
	waitFor(t, d, fmt.Sprintf("channel %s (%s) live=%v", lang, kind, live), func() bool {
		for _, c := range roomInfo(t, r, room).Channels {
			if c.Lang == lang && c.Kind == kind {
				return c.Live == live
			}
		}
		return false
	})
}

// waitUntil polls cond until it says nothing is missing, and fails the
// test after d with what it said last.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		missing := cond()
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %s", d, what, missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitFloorLive waits for the floor's video and audio.
func waitFloorLive(t *testing.T, r *testRelay, room string) {
	t.Helper()
	waitFor(t, 10*time.Second, "floor live", func() bool {
		ri := roomInfo(t, r, room)
		var v, a bool
		for _, tr := range ri.Tracks {
			v = v || tr.Kind == "video"
			a = a || tr.Kind == "audio"
		}
		return ri.State == StateLive && v && a
	})
}

// channelInterpreter is the public tag of a channel's interpreter.
func channelInterpreter(t *testing.T, r *testRelay, room, lang string) string {
	t.Helper()
	for _, c := range roomInfo(t, r, room).Channels {
		if c.Lang == lang && c.Kind == KindAudio {
			return c.Interpreter
		}
	}
	return ""
}

// plannedSwitch is a planned change of a track's source: from at on, the first
// packet with mark ends the source before.
type plannedSwitch struct {
	at   time.Time
	mark byte
}

// rxSetupGrace is how many packets at a track's start may come from the floor
// while the selected channel is being set up.
const rxSetupGrace = 5

// inSeqOrder returns a track's packets in the order of their (unwrapped)
// sequence numbers, and how many arrived after one numbered later. The
// checks of what the relay sent run in that order: the way from the relay
// to a listener may reorder packets on a loaded machine. Each packet keeps
// its arrival time.
func inSeqOrder(pkts []rxPkt) ([]rxPkt, int) {
	ext := make([]int64, len(pkts))
	late := 0
	var top int64
	for i := 1; i < len(pkts); i++ {
		ext[i] = ext[i-1] + int64(int16(pkts[i].seq-pkts[i-1].seq))
		if ext[i] < top {
			late++
		}
		top = max(top, ext[i])
	}
	idx := make([]int, len(pkts))
	for i := range idx {
		idx[i] = i
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(ext[a], ext[b]) })
	out := make([]rxPkt, len(pkts))
	for i, j := range idx {
		out[i] = pkts[j]
	}
	return out, late
}

// checkChannelSources checks an audio track against its plan: every packet comes
// from the planned source, a switch happens at the first packet of the new
// source after it was asked for and never goes back, and within a source no
// packet is lost or repeated. It returns each switch's latency (request to
// the first packet of the new source).
func checkChannelSources(t *testing.T, name string, pkts []rxPkt, plan []plannedSwitch) []time.Duration {
	t.Helper()
	pkts, _ = inSeqOrder(pkts)
	var lat []time.Duration
	cur, errs, lost := 0, 0, 0
	fail := func(format string, args ...any) {
		if errs++; errs <= 5 {
			t.Errorf(name+": "+format, args...)
		}
	}
	for i, p := range pkts {
		for cur+1 < len(plan) && !p.at.Before(plan[cur+1].at) && p.mark == plan[cur+1].mark {
			cur++
			lat = append(lat, p.at.Sub(plan[cur].at))
		}
		if p.mark != plan[cur].mark {
			if cur == 0 && i < rxSetupGrace && p.mark == markFloor {
				t.Logf("%s: packet %d of the set-up came from the floor", name, i)
				continue
			}
			fail("packet %d (seq %d) from source %#x, want %#x", i, p.seq, p.mark, plan[cur].mark)
			continue
		}
		if i > 0 && pkts[i-1].mark == p.mark && p.n != pkts[i-1].n+1 {
			q := pkts[i-1]
			// A packet the kernel dropped (a loaded machine's receive
			// buffer overflows) skips the source's counter and the track's
			// sequence number alike; anything else is the relay's doing.
			if int16(p.n-q.n) <= 0 || p.seq-q.seq != p.n-q.n {
				fail("packet %d: source %#x counter %d after %d, sequence %d after %d (repeated, or renumbered wrong)", i, p.mark, p.n, q.n, p.seq, q.seq)
			} else {
				lost += int(p.n - q.n - 1)
			}
		}
	}
	if cur != len(plan)-1 {
		fail("switched %d times, want %d (packets: %d)", cur, len(plan)-1, len(pkts))
	}
	if lost > 0 {
		t.Logf("%s: %d packets lost on the way (of %d)", name, lost, len(pkts))
	}
	if lost*100 > len(pkts) {
		fail("%d of %d packets lost: more than 1 %%", lost, len(pkts))
	}
	return lat
}

// checkTrackContinuous checks a track is one SSRC with sequence numbers one
// after the other (short gaps, at most 1 % of the packets, are packets a
// loaded machine's kernel dropped) and timestamps going forward in that
// order: strictly for audio, never back for video (a frame's packets
// share one).
func checkTrackContinuous(t *testing.T, name string, pkts []rxPkt, video bool) {
	t.Helper()
	pkts, late := inSeqOrder(pkts)
	if late > 0 {
		t.Logf("%s: %d packets arrived after one numbered later", name, late)
	}
	errs, lost := 0, 0
	for i := 1; i < len(pkts); i++ {
		a, b := pkts[i-1], pkts[i]
		var msg string
		switch gap := int16(b.seq - a.seq); {
		case b.ssrc != a.ssrc:
			msg = fmt.Sprintf("SSRC %x -> %x", a.ssrc, b.ssrc)
		case gap <= 0 || gap > 16:
			msg = fmt.Sprintf("sequence %d -> %d", a.seq, b.seq)
		case int32(b.ts-a.ts) < 0 || !video && b.ts == a.ts:
			msg = fmt.Sprintf("timestamp %d -> %d", a.ts, b.ts)
		default:
			lost += int(gap) - 1 // a few dropped by a loaded machine's kernel
		}
		if msg != "" {
			if errs++; errs <= 5 {
				t.Errorf("%s: packet %d: %s", name, i, msg)
			}
		}
	}
	if lost > 0 {
		t.Logf("%s: %d packets missing (of %d)", name, lost, len(pkts))
	}
	if lost*100 > len(pkts) {
		t.Errorf("%s: %d of %d packets missing: more than 1 %%", name, lost, len(pkts))
	}
}

// rxMarks counts a track's packets by mark (video: its marked frame ends).
func rxMarks(pkts []rxPkt) map[byte]int {
	m := map[byte]int{}
	for _, p := range pkts {
		if p.mark != 0 {
			m[p.mark]++
		}
	}
	return m
}

// firstAt is when the first packet with mark arrived at or after from.
func firstAt(pkts []rxPkt, from time.Time, mark byte) time.Time {
	for _, p := range pkts {
		if !p.at.Before(from) && p.mark == mark {
			return p.at
		}
	}
	return time.Time{}
}

// packetsAfter returns the packets that arrived after from.
func packetsAfter(pkts []rxPkt, from time.Time) []rxPkt {
	var out []rxPkt
	for _, p := range pkts {
		if p.at.After(from) {
			out = append(out, p)
		}
	}
	return out
}

// latencyPercentile is the p-th percentile (0-100) of ds.
func latencyPercentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}

// TestChannelsTwentyListenersSwitch: a floor and two interpreter booths
// (fr, ar); twenty listeners, each hearing exactly its channel; then rounds
// of /select switches, each on the listener's one audio track (same SSRC,
// sequence and timeline going on) at the new source's next packet.
func TestChannelsTwentyListenersSwitch(t *testing.T) {
	r := newTestRelay(t, nil)
	const room = "un"
	startTestBooth(t, testBoothConfig{url: r.url + "/whip/" + room, token: r.token(t, auth.RolePublisher, room), audio: markFloor, video: markFloorV})
	waitFloorLive(t, r, room)
	startTestBooth(t, testBoothConfig{url: r.url + "/whip/" + room, token: interpreterToken(t, r, room, "fr"), audio: markFR})
	startTestBooth(t, testBoothConfig{url: r.url + "/whip/" + room + "?lang=ar", token: interpreterToken(t, r, room, "ar"), audio: markAR})
	waitChannelLive(t, r, room, "fr", KindAudio, true, 10*time.Second)
	waitChannelLive(t, r, room, "ar", KindAudio, true, 10*time.Second)

	choices := []struct {
		sel  string
		mark byte
	}{{"floor", markFloor}, {"fr", markFR}, {"ar", markAR}}
	const n = 20
	ls := make([]*testListener, n)
	cur := make([]int, n) // index in choices
	plans := make([][]plannedSwitch, n)
	var wg sync.WaitGroup
	for i := range ls {
		cur[i] = i % 3
		plans[i] = []plannedSwitch{{mark: choices[cur[i]].mark}}
		query := "audio=" + choices[cur[i]].sel
		if i == 0 {
			query = "" // the floor is the default
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := dialTestListener(r, room, testListenConfig{audio: 1, video: 1, query: query})
			if err != nil {
				t.Errorf("listener %d (%s): %v", i, query, err)
				return
			}
			ls[i] = l
		}()
	}
	wg.Wait()
	for _, l := range ls {
		if l != nil {
			t.Cleanup(l.close)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	waitUntil(t, 20*time.Second, "audio and floor video at every listener", func() string {
		for i, l := range ls {
			if a, v := l.audio[0].len(), l.video[0].since(time.Time{}, markFloorV); a < 50 || v < 10 {
				return fmt.Sprintf("listener %d (connection %s) has %d audio packets and %d floor frames", i, l.pc.ConnectionState(), a, v)
			}
		}
		return ""
	})

	// Three rounds; in each, every other listener moves to another channel.
	var lat []time.Duration
	switches := 0
	for round := range 3 {
		var moved []int
		for i := round % 2; i < n; i += 2 {
			cur[i] = (cur[i] + 1 + i%2) % 3
			moved = append(moved, i)
		}
		for _, i := range moved {
			c := choices[cur[i]]
			wg.Add(1)
			go func() {
				defer wg.Done()
				at := time.Now()
				sel, ok := ls[i].choose(t, `{"audio":"`+c.sel+`"}`)
				if !ok {
					return
				}
				if sel.Audio != c.sel || sel.Playing.Audio != c.sel || sel.Video != "auto" || sel.Sign != "" {
					t.Errorf("listener %d: select %s answered %+v", i, c.sel, sel)
				}
				plans[i] = append(plans[i], plannedSwitch{at: at, mark: c.mark})
			}()
		}
		wg.Wait()
		switches += len(moved)
		waitUntil(t, 5*time.Second, fmt.Sprintf("round %d: the new channels at the listeners", round), func() string {
			for _, i := range moved {
				last := plans[i][len(plans[i])-1]
				if n := ls[i].audio[0].since(last.at, last.mark); n < 10 {
					return fmt.Sprintf("listener %d has %d packets from %#x", i, n, last.mark)
				}
			}
			return ""
		})
	}

	for i, l := range ls {
		name := fmt.Sprintf("listener %d", i)
		audio := l.audio[0].snapshot()
		lat = append(lat, checkChannelSources(t, name+" audio", audio, plans[i])...)
		checkTrackContinuous(t, name+" audio", audio, false)
		video := l.video[0].snapshot()
		checkTrackContinuous(t, name+" video", video, true)
		if m := rxMarks(video); len(m) != 1 || m[markFloorV] == 0 {
			t.Errorf("%s: video frames by source %v, want the floor's only", name, m)
		}
		for _, rx := range []*rxTrack{l.audio[0], l.video[0]} {
			if rx.trackCount() != 1 {
				t.Errorf("%s: %d tracks on one m-line", name, rx.trackCount())
			}
		}
	}
	t.Logf("audio switch latency (select to the new source's first packet) over %d switches: p50 %v, p99 %v, max %v",
		len(lat), latencyPercentile(lat, 50).Round(100*time.Microsecond), latencyPercentile(lat, 99).Round(100*time.Microsecond), latencyPercentile(lat, 100).Round(100*time.Microsecond))

	// The API counts each listener where it is now.
	want := map[string]int{}
	for i := range ls {
		want[choices[cur[i]].sel]++
	}
	ri := roomInfo(t, r, room)
	got := map[string]int{"floor": ri.Floor.Listeners}
	for _, c := range ri.Channels {
		if c.Kind == KindAudio {
			got[c.Lang] = c.Viewers
		}
	}
	if !maps.Equal(got, want) {
		t.Errorf("/api/rooms listeners %v, want %v", got, want)
	}
	for _, rs := range r.srv.Stats() {
		if rs.Room == room && rs.ChannelSwitches < uint64(switches) {
			t.Errorf("%d channel switches counted, want at least %d", rs.ChannelSwitches, switches)
		}
	}
}

// TestBoothHandover: the French booth's second interpreter publishes while
// the first is on air; from the second's first packet on its listeners
// hear it, on the same track, with no gap over 100 ms; the first is let go.
func TestBoothHandover(t *testing.T) {
	r := newTestRelay(t, nil)
	const room = "hall"
	floorBooth(t, r, room)
	first := interpreter(t, r, room, "fr", markFR, false)
	waitChannelLive(t, r, room, "fr", KindAudio, true, 10*time.Second)
	tag := channelInterpreter(t, r, room, "fr")
	var ls []*testListener
	for range 5 {
		ls = append(ls, startTestListener(t, r, room, testListenConfig{audio: 1, query: "audio=fr"}))
	}
	floorOnly := startTestListener(t, r, room, testListenConfig{audio: 1})
	waitFor(t, 10*time.Second, "the French booth at its listeners", func() bool {
		for _, l := range ls {
			if l.audio[0].since(time.Time{}, markFR) < 25 {
				return false
			}
		}
		return floorOnly.audio[0].since(time.Time{}, markFloor) >= 25
	})

	at := time.Now()
	second := interpreter(t, r, room, "fr", markFR2, false)
	waitFor(t, 10*time.Second, "the second interpreter at the listeners", func() bool {
		for _, l := range ls {
			if l.audio[0].since(at, markFR2) < 25 {
				return false
			}
		}
		return true
	})
	waitFor(t, 5*time.Second, "the first interpreter's session ended", func() bool {
		st := first.pc.ConnectionState()
		return st == webrtc.PeerConnectionStateClosed || st == webrtc.PeerConnectionStateFailed || st == webrtc.PeerConnectionStateDisconnected
	})
	booths := map[byte]*testBooth{markFR: first, markFR2: second}
	for i, l := range ls {
		name := fmt.Sprintf("listener %d", i)
		pkts := l.audio[0].snapshot()
		checkChannelSources(t, name, pkts, []plannedSwitch{{mark: markFR}, {at: at, mark: markFR2}})
		checkTrackContinuous(t, name, pkts, false)
		// Around the handover, in the order the relay numbered them: the
		// time between two packets' arrivals (what the listener hears),
		// between their sending (the media the relay let through: a hole
		// means it dropped packets), and how much longer the first was.
		pkts, _ = inSeqOrder(pkts)
		var hand, held, worst time.Duration
		var firstNew rxPkt
		for k := 1; k < len(pkts); k++ {
			a, b := pkts[k-1], pkts[k]
			if b.at.Before(at) {
				continue
			}
			arrival, sent := b.at.Sub(a.at), booths[b.mark].sentTime(b.n).Sub(booths[a.mark].sentTime(a.n))
			if a.mark == markFR && b.mark == markFR2 {
				firstNew = b
				hand = arrival
				if sent > 100*time.Millisecond {
					t.Errorf("%s: the relay let %v of media go at the handover (packet %d of the first, %d of the second)", name, sent, a.n, b.n)
				}
			}
			worst, held = max(worst, arrival), max(held, arrival-sent)
			if !firstNew.at.IsZero() && b.at.After(firstNew.at.Add(500*time.Millisecond)) {
				break
			}
		}
		t.Logf("%s: heard the second interpreter from its packet %d, %v after it was sent; handover gap %v, largest gap %v (%v more than at the sending)",
			name, firstNew.n, firstNew.at.Sub(booths[markFR2].sentTime(firstNew.n)).Round(time.Millisecond),
			hand.Round(time.Millisecond), worst.Round(time.Millisecond), held.Round(time.Millisecond))
		if hand > 100*time.Millisecond || held > 100*time.Millisecond {
			t.Errorf("%s: a gap of %v across the handover (%v of it not at the sending)", name, max(hand, worst), held)
		}
		if firstNew.n > 1 {
			t.Errorf("%s: the second interpreter was heard from its packet %d, not its first", name, firstNew.n)
		}
		if l.audio[0].trackCount() != 1 {
			t.Errorf("%s: %d tracks on one m-line", name, l.audio[0].trackCount())
		}
	}
	if m := rxMarks(floorOnly.audio[0].snapshot()); len(m) != 1 {
		t.Errorf("floor listener heard %v", m)
	}
	if now := channelInterpreter(t, r, room, "fr"); now == tag || now == "" {
		t.Errorf("the French channel's interpreter is %q after the handover, was %q", now, tag)
	}
}

// TestInterpreterGoneWithoutDelete: the French interpreter's machine drops
// off the network and the Arabic one stops sending, neither with DELETE:
// within 3 s their listeners hear the floor, on the same track; a new
// French interpreter and the Arabic one sending again bring them back.
func TestInterpreterGoneWithoutDelete(t *testing.T) {
	r := newTestRelay(t, nil)
	const room = "booths"
	floorBooth(t, r, room)
	opts, cut := vanishingPeer(t)
	startTestBooth(t, testBoothConfig{url: r.url + "/whip/" + room, token: interpreterToken(t, r, room, "fr"), audio: markFR, opts: opts})
	ar := interpreter(t, r, room, "ar", markAR, false)
	waitChannelLive(t, r, room, "fr", KindAudio, true, 10*time.Second)
	waitChannelLive(t, r, room, "ar", KindAudio, true, 10*time.Second)
	type group struct {
		ls         []*testListener
		mark, back byte
	}
	fr, arab := &group{mark: markFR, back: markFR2}, &group{mark: markAR, back: markAR}
	for range 3 {
		fr.ls = append(fr.ls, startTestListener(t, r, room, testListenConfig{audio: 1, query: "audio=fr"}))
		arab.ls = append(arab.ls, startTestListener(t, r, room, testListenConfig{audio: 1, query: "audio=ar"}))
	}
	floorOnly := startTestListener(t, r, room, testListenConfig{audio: 1, query: "audio=floor"})
	groups := []*group{fr, arab}
	waitFor(t, 10*time.Second, "the booths at their listeners", func() bool {
		for _, g := range groups {
			for _, l := range g.ls {
				if l.audio[0].since(time.Time{}, g.mark) < 25 {
					return false
				}
			}
		}
		return true
	})

	gone := time.Now()
	cut()
	ar.paused.Store(true)
	waitFor(t, 3*time.Second, "the floor at the booths' listeners", func() bool {
		for _, g := range groups {
			for _, l := range g.ls {
				if l.audio[0].since(gone, markFloor) == 0 {
					return false
				}
			}
		}
		return true
	})
	waitChannelLive(t, r, room, "fr", KindAudio, false, 3*time.Second)
	waitChannelLive(t, r, room, "ar", KindAudio, false, 3*time.Second)
	time.Sleep(500 * time.Millisecond) // the listeners hear the floor a while

	back := time.Now()
	interpreter(t, r, room, "fr", markFR2, false)
	ar.paused.Store(false)
	waitFor(t, 5*time.Second, "the booths back at their listeners", func() bool {
		for _, g := range groups {
			for _, l := range g.ls {
				if l.audio[0].since(back, g.back) < 25 {
					return false
				}
			}
		}
		return true
	})
	for _, g := range groups {
		for i, l := range g.ls {
			name := fmt.Sprintf("%#x listener %d", g.mark, i)
			pkts := l.audio[0].snapshot()
			checkChannelSources(t, name, pkts, []plannedSwitch{{mark: g.mark}, {at: gone, mark: markFloor}, {at: back, mark: g.back}})
			checkTrackContinuous(t, name, pkts, false)
			down, up := firstAt(pkts, gone, markFloor).Sub(gone), firstAt(pkts, back, g.back).Sub(back)
			if i == 0 {
				t.Logf("%s: the floor %v after the booth went, the booth %v after it came back", name, down.Round(time.Millisecond), up.Round(time.Millisecond))
			}
			if down > 3*time.Second {
				t.Errorf("%s: the floor came %v after the booth went", name, down)
			}
		}
	}
	fl := floorOnly.audio[0].snapshot()
	checkTrackContinuous(t, "floor listener", fl, false)
	if m := rxMarks(fl); len(m) != 1 || m[markFloor] == 0 {
		t.Errorf("floor listener heard %v", m)
	}
}
