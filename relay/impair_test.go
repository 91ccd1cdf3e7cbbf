package relay

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/impair"
	"github.com/relay-av/relay/relay/peer"
)

// viaProxy routes one client's media through an impairment proxy: the
// relay's host candidate in the answer is replaced by the proxy's address,
// so the client sends there and the relay sees the proxy as the client (a
// peer-reflexive candidate).
func viaProxy(t *testing.T, r *testRelay, up, down impair.Damage, seed int64) (peer.Options, *impair.Proxy) {
	t.Helper()
	relayAddr := r.srv.UDPAddr().String()
	px, err := impair.New(impair.Config{Upstream: r.srv.udpConn.LocalAddr().(*net.UDPAddr), Up: up, Down: down, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { px.Close() })
	relayPort := relayAddr[strings.LastIndexByte(relayAddr, ':')+1:]
	proxyPort := fmt.Sprint(px.Addr().Port)
	return peer.Options{Loopback: true, RewriteAnswer: func(sdp string) string {
		return strings.ReplaceAll(sdp, " "+relayPort+" typ host", " "+proxyPort+" typ host")
	}}, px
}

// seqLog records which video sequence numbers a viewer got (extended past
// wraps) and which of them ended a frame, to count the frames that arrived
// whole once resends are in.
type seqLog struct {
	mu     sync.Mutex
	top    uint64
	marker map[uint64]bool
	dups   int
}

func newSeqLog() *seqLog { return &seqLog{marker: map[uint64]bool{}} }

func (l *seqLog) add(kind webrtc.RTPCodecType, h *rtp.Header, _ []byte, _ time.Time) {
	if kind != webrtc.RTPCodecTypeVideo {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	e := uint64(1<<32) + uint64(h.SequenceNumber)
	if l.top != 0 {
		e = uint64(int64(l.top) + int64(int16(h.SequenceNumber-uint16(l.top))))
	}
	if _, ok := l.marker[e]; ok {
		l.dups++
	}
	l.marker[e] = h.Marker
	l.top = max(l.top, e)
}

func (l *seqLog) newest() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.top
}

// frames counts, between two sequence numbers, the frames all of whose
// packets arrived (whole), the frames missing some (broken), and the
// packets that never came. Counting starts after the first frame end.
func (l *seqLog) frames(from, to uint64) (whole, broken, missing int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	started, ok := false, true
	for s := from + 1; s <= to; s++ {
		m, have := l.marker[s]
		switch {
		case !started:
			started = have && m
		case !have:
			ok = false
			missing++
		case m:
			if ok {
				whole++
			} else {
				broken++
			}
			ok = true
		}
	}
	return whole, broken, missing
}

type watched struct {
	name string
	v    *peer.Viewer
	log  *seqLog
	from uint64
}

// watch connects a viewer that logs its video sequence numbers.
func watch(t *testing.T, r *testRelay, room, name string, o peer.Options, interceptors bool) *watched {
	t.Helper()
	w := &watched{name: name, log: newSeqLog()}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v, err := peer.View(ctx, peer.ViewConfig{URL: r.url + "/whep/" + room, Options: o, Interceptors: interceptors, OnPacket: w.log.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close(true) })
	w.v = v
	return w
}

// window is what one viewer got of the frames sent during a window.
type window struct{ whole, broken, missing, frames int }

// measureWindow marks where each viewer is, lets the stream run for d
// checking every 250 ms that every viewer's video moves (no stall), waits a
// second for late resends, and returns each viewer's frames over the window.
func measureWindow(t *testing.T, d time.Duration, ws ...*watched) []window {
	t.Helper()
	waitFor(t, 15*time.Second, "video at every viewer", func() bool {
		for _, w := range ws {
			if w.v.Stats(webrtc.RTPCodecTypeVideo).Frames < 15 {
				return false
			}
		}
		return true
	})
	to := make([]uint64, len(ws))
	for _, w := range ws {
		w.from = w.log.newest()
	}
	last := make([]uint64, len(ws))
	stalled := make([]time.Duration, len(ws))
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(250 * time.Millisecond)
		for i, w := range ws {
			if n := w.log.newest(); n == last[i] {
				stalled[i] += 250 * time.Millisecond
				if stalled[i] >= time.Second {
					t.Errorf("%s: no video for %v", w.name, stalled[i])
				}
			} else {
				last[i], stalled[i] = n, 0
			}
		}
	}
	for i, w := range ws {
		to[i] = w.log.newest()
	}
	time.Sleep(time.Second) // resends of the window's last packets
	out := make([]window, len(ws))
	for i, w := range ws {
		out[i].whole, out[i].broken, out[i].missing = w.log.frames(w.from, to[i])
		out[i].frames = out[i].whole + out[i].broken
	}
	return out
}

// TestLossyPublisherLink: the publisher's link to the relay damages its
// packets (5 % loss; then loss with duplication, reordering and jitter).
// The relay's NACKs get the lost packets resent (the publisher has pion's
// default interceptors, as browsers and OBS answer NACKs), so three viewers
// of that room get as many whole frames as a viewer of a room published
// over a clean link, none of them stalls, and none gets a packet twice.
func TestLossyPublisherLink(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    impair.Damage
	}{
		{"loss5", impair.Damage{Loss: 0.05}},
		{"rough", impair.Damage{Loss: 0.03, Duplicate: 0.02, Reorder: 0.02, Delay: 5 * time.Millisecond, Jitter: 10 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newTestRelay(t, nil)
			control := r.publish(t, "clean")
			defer control.Close(true)
			opts, px := viaProxy(t, r, tc.d, impair.Damage{}, 1)
			pub := r.publishWith(t, "lossy", opts)
			defer pub.Close(true)
			r.waitLive(t, "clean")
			r.waitLive(t, "lossy")
			ws := []*watched{watch(t, r, "clean", "control", peer.Options{Loopback: true, SeeResends: true}, false)}
			for i := range 3 {
				// SeeResends: a packet sent twice would be seen twice.
				ws = append(ws, watch(t, r, "lossy", fmt.Sprint("viewer", i), peer.Options{Loopback: true, SeeResends: true}, false))
			}
			nacks0 := pub.NACKs()
			got := measureWindow(t, 4*time.Second, ws...)
			st := px.Stats().Up
			rs := roomStats(r, "lossy")
			t.Logf("proxy: %d of %d publisher packets dropped, %d duplicated, %d held back; relay: %d NACKs to the publisher in the window, %d duplicates not forwarded",
				st.Dropped, st.Received, st.Duplicated, st.Reordered, pub.NACKs()-nacks0, rs.Video.Duplicates)
			for i, w := range ws {
				t.Logf("%s: %d whole frames, %d broken, %d packets never came, %d packets twice", w.name, got[i].whole, got[i].broken, got[i].missing, w.log.dups)
			}
			if st.Dropped == 0 {
				t.Fatal("the proxy dropped nothing: the test proves nothing")
			}
			if pub.NACKs() == nacks0 {
				t.Error("the relay sent no NACK to the publisher during the window")
			}
			ref := got[0]
			if ref.broken != 0 || ref.missing != 0 || ref.whole < 90 {
				t.Fatalf("control viewer over a clean link: %+v (want >= 90 whole frames in 4 s, none broken)", ref)
			}
			for i, w := range ws[1:] {
				g := got[i+1]
				// Without NACK answers 5 % loss breaks about an eighth of the frames
				// and leaves a dozen packets missing (checked by breaking it).
				if float64(g.whole) < 0.95*float64(ref.whole) {
					t.Errorf("%s: %d whole frames, the control viewer %d", w.name, g.whole, ref.whole)
				}
				if g.missing > 3 {
					t.Errorf("%s: %d packets never came", w.name, g.missing)
				}
				if w.log.dups != 0 {
					t.Errorf("%s: %d packets arrived twice", w.name, w.log.dups)
				}
			}
		})
	}
}

func roomStats(r *testRelay, room string) RoomStats {
	for _, rs := range r.srv.Stats() {
		if rs.Room == room {
			return rs
		}
	}
	return RoomStats{}
}

// TestLossyViewerLink: one viewer loses 5 % of what the relay sends it; it
// NACKs (pion's generator, as a browser does) and the relay resends from the
// shared history, so it gets about as many whole frames as the others; two
// viewers on clean links see no gap and no repeat.
func TestLossyViewerLink(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := r.publish(t, "room")
	defer pub.Close(true)
	r.waitLive(t, "room")
	opts, px := viaProxy(t, r, impair.Damage{}, impair.Damage{Loss: 0.05}, 2)
	lossy := watch(t, r, "room", "lossy", opts, true)
	clean := []*watched{
		watch(t, r, "room", "clean0", peer.Options{Loopback: true, SeeResends: true}, false),
		watch(t, r, "room", "clean1", peer.Options{Loopback: true, SeeResends: true}, true),
	}
	before := roomStats(r, "room").Video
	got := measureWindow(t, 4*time.Second, append([]*watched{lossy}, clean...)...)
	after := roomStats(r, "room").Video
	st := px.Stats().Down
	t.Logf("proxy: %d of %d packets to the lossy viewer dropped; relay resent %d from the shared history in the window (%d no longer there)",
		st.Dropped, st.Received, after.NACKed-before.NACKed, after.NACKMisses-before.NACKMisses)
	for i, w := range append([]*watched{lossy}, clean...) {
		vs := w.v.Stats(webrtc.RTPCodecTypeVideo)
		t.Logf("%s: %d whole frames, %d broken, %d packets never came; %d gaps seen, %d late arrivals",
			w.name, got[i].whole, got[i].broken, got[i].missing, vs.SeqJumps, vs.Repeats)
	}
	if st.Dropped == 0 {
		t.Fatal("the proxy dropped nothing")
	}
	if after.NACKed == before.NACKed {
		t.Error("the relay resent nothing during the window")
	}
	if after.NACKMisses != before.NACKMisses {
		t.Errorf("%d NACKed packets were no longer in the history", after.NACKMisses-before.NACKMisses)
	}
	for i, w := range clean {
		g, vs := got[i+1], w.v.Stats(webrtc.RTPCodecTypeVideo)
		if g.missing != 0 || g.broken != 0 || vs.SeqJumps != 0 || vs.Repeats != 0 || w.log.dups != 0 {
			t.Errorf("%s on a clean link: %+v, %d gaps, %d repeats", w.name, g, vs.SeqJumps, vs.Repeats)
		}
	}
	ref := got[1]
	if ref.whole < 90 {
		t.Fatalf("clean viewer: %d whole frames in 4 s", ref.whole)
	}
	if l := got[0]; float64(l.whole) < 0.95*float64(ref.whole) || l.missing > 3 {
		t.Errorf("lossy viewer: %d whole frames (clean: %d), %d packets never came", l.whole, ref.whole, l.missing)
	}
	if vs := lossy.v.Stats(webrtc.RTPCodecTypeVideo); vs.SeqJumps == 0 {
		t.Error("the lossy viewer saw no gap: the loss did not reach it")
	}
}
