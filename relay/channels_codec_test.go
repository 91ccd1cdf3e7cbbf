package relay

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// vp8SignBooth publishes the VP8 test clip as the sign-language channel
// lang of room, looping, until the test ends.
func vp8SignBooth(t *testing.T, r *testRelay, room, lang string) {
	t.Helper()
	c, err := clip.Load("clip/testdata/small.ivf", 30)
	if err != nil {
		t.Fatal(err)
	}
	api, err := peer.NewAPI(peer.Options{Loopback: true}, true)
	if err != nil {
		t.Fatal(err)
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		t.Fatal(err)
	}
	tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeVP8, ClockRate: 90000}, "video", "sign")
	if err == nil {
		_, err = pc.AddTransceiverFromTrack(tr, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionSendonly})
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	t.Cleanup(func() {
		cancel()
		pc.Close()
		<-done
	})
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if _, err := peer.Signal(sctx, peer.Options{Loopback: true}, pc, r.url+"/whip/"+room, interpreterToken(t, r, room, lang)); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(done)
		pz := rtp.NewPacketizer(clip.MTU, 96, 1, &codecs.VP8Payloader{}, rtp.NewRandomSequencer(), 90000)
		tick := time.NewTicker(33 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i = (i + 1) % len(c.Video.Frames) {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			for _, p := range pz.Packetize(c.Video.Frames[i].Data, 3000) {
				if err := tr.WriteRTP(p); errors.Is(err, io.ErrClosedPipe) {
					return
				}
			}
		}
	}()
}

// A sign interpreter in another codec than the floor (a browser's VP8
// beside an encoder's H.264) plays on a second video section negotiated
// while sign language was off: the section's other codec is used, under
// its own payload type.
func TestSignLanguageInAnotherCodec(t *testing.T) {
	r := newTestRelay(t, nil)
	floorBooth(t, r, "hall")
	vp8SignBooth(t, r, "hall", "ase")
	waitFor(t, 10*time.Second, "the VP8 sign channel live", func() bool {
		for _, ri := range r.srv.Rooms() {
			for _, ch := range ri.Channels {
				if ri.Name == "hall" && ch.Lang == "ase" && ch.Kind == KindSign && ch.Live {
					return true
				}
			}
		}
		return false
	})
	l := startTestListener(t, r, "hall", testListenConfig{audio: 1, video: 2})
	waitFor(t, 10*time.Second, "floor video", func() bool { return l.video[0].len() > 30 })
	if n := l.video[1].len(); n != 0 {
		t.Fatalf("second video section got %d packets with sign language off", n)
	}
	sel, ok := l.choose(t, `{"sign":"ase"}`)
	if !ok {
		return
	}
	if sel.Playing.Sign != "ase" {
		t.Fatalf("select answered playing %+v; want the sign channel", sel.Playing)
	}
	waitFor(t, 10*time.Second, "sign video on the second section", func() bool { return l.video[1].len() > 30 })
	l.video[1].mu.Lock()
	codec := l.video[1].codec
	l.video[1].mu.Unlock()
	if codec != webrtc.MimeTypeVP8 {
		t.Errorf("second section received %s, want VP8", codec)
	}
	if l.video[0].trackCount() != 1 || l.video[1].trackCount() != 1 {
		t.Errorf("tracks per section %d, %d; want one each (no new SSRC)", l.video[0].trackCount(), l.video[1].trackCount())
	}
}
