package hls

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/impair"
	"github.com/relay-av/relay/relay/peer"
)

// TestLossyPublisher: the publisher's link loses 5 % of its packets and
// reorders some. The relay NACKs them back; the packager's reorder buffer
// puts the resends in place, so the HLS video keeps (nearly) every frame
// instead of losing the rest of a GOP at each loss.
func TestLossyPublisher(t *testing.T) {
	w := startWHIPRelay(t)
	h := w.h
	up, ok := w.srv.UDPAddr().(*net.UDPAddr)
	if !ok {
		t.Fatal("no UDP address")
	}
	px, err := impair.New(impair.Config{Upstream: up, Seed: 3,
		Up: impair.Damage{Loss: 0.05, Reorder: 0.02, Jitter: 5 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	relayPort, proxyPort := portOf(up.String()), portOf(px.Addr().String())
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	pub, err := peer.Publish(ctx, peer.PublishConfig{URL: h.url + "/whip/hall", Token: w.token("hall"), Clip: demo,
		Options: peer.Options{Loopback: true, RewriteAnswer: func(sdp string) string {
			return strings.ReplaceAll(sdp, " "+relayPort+" typ host", " "+proxyPort+" typ host")
		}}})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(true)
	w.pk.Start()

	_, body := h.multivariant("hall")
	uri := renditionURIs("hall", body)["v"]
	m, _ := h.waitSegments(uri, 7)
	base := strings.TrimSuffix(uri, "index.m3u8")
	frames, long := 0, 0
	var total time.Duration
	for _, s := range m.Segments[1:] { // the first may start mid-way
		_, _, data := h.get(base + s.URI)
		var parts fmp4.Parts
		if err := parts.Unmarshal(data); err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			for _, sa := range p.Tracks[0].Samples {
				frames++
				if sa.Duration > 9000 { // over 100 ms: frames went missing
					long++
				}
			}
		}
		total += s.Duration
	}
	st := px.Stats().Up
	want := int(total.Seconds() * 30)
	t.Logf("proxy dropped %d of %d publisher packets; HLS has %d frames in %v (%d expected), %d stretched over a gap; %d NACKs",
		st.Dropped, st.Received, frames, total, want, long, pub.NACKs())
	if st.Dropped == 0 {
		t.Fatal("the proxy dropped nothing: the test proves nothing")
	}
	if frames < want*95/100 || long > 2 {
		t.Errorf("%d of %d frames, %d gaps: losses cost the HLS video frames", frames, want, long)
	}
}

func portOf(addr string) string { return addr[strings.LastIndexByte(addr, ':')+1:] }
