package hls

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"

	"github.com/relay-av/relay/relay/clip"
)

// TestPublisherReplaced: a second encoder takes the floor over mid-session
// (the AV team switches to the backup). It is the same source switch as
// for viewers: the HLS session goes on, its segments run on without a hole
// and each starts on a keyframe.
func TestPublisherReplaced(t *testing.T) {
	h := startHarness(t, harnessOpts{})
	_, body := h.multivariant("demo")
	uri := renditionURIs("demo", body)["v"]
	before, _ := h.waitSegments(uri, 3)

	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = h.relay.PublishClip(ctx, "demo", "", demo)
	}()
	defer func() { cancel(); <-done }()
	switched := time.Now()
	m, _ := h.waitSegments(uri, len(before.Segments)+4)
	if _, again := h.multivariant("demo"); sessionPrefix("demo", again) != sessionPrefix("demo", body) {
		t.Fatalf("a new session after the replacement: %s, was %s", sessionPrefix("demo", again), sessionPrefix("demo", body))
	}
	base := strings.TrimSuffix(uri, "index.m3u8")
	var next uint64
	for i, s := range m.Segments {
		_, _, data := h.get(base + s.URI)
		var parts fmp4.Parts
		if err := parts.Unmarshal(data); err != nil {
			t.Fatal(err)
		}
		first := parts[0].Tracks[0]
		if first.Samples[0].IsNonSyncSample {
			t.Errorf("%s does not start on a keyframe", s.URI)
		}
		if i > 0 {
			if gap := time.Duration(int64(first.BaseTime)-int64(next)) * time.Second / 90000; gap < 0 || gap > 200*time.Millisecond {
				t.Errorf("%s starts %v after the previous segment ended", s.URI, gap)
			}
		}
		next = first.BaseTime
		for _, p := range parts {
			for _, sa := range p.Tracks[0].Samples {
				next += uint64(sa.Duration)
			}
		}
	}
	t.Logf("replaced at %s; %d segments since, continuous", switched.Format("15:04:05.000"), len(m.Segments)-len(before.Segments))
}

// TestVP8FloorIsAudioOnly: a floor in a video codec HLS does not carry
// makes an audio-only session (the floor audio leads, subtitles follow
// it), not none.
func TestVP8FloorIsAudioOnly(t *testing.T) {
	w := startWHIPRelay(t)
	w.pk.cfg.Captions = newFakeCaptions("en")
	vp8, err := clip.Load("../clip/testdata/small.ivf", 30)
	if err != nil {
		t.Fatal(err)
	}
	demo, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.srv.PublishClip(ctx, "hall", "", &clip.Clip{Video: vp8.Video, Audio: demo.Audio})
	}()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(10 * time.Second)
	for len(w.srv.Rooms()) == 0 || len(w.srv.Rooms()[0].Tracks) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("the VP8 floor is not live: %+v", w.srv.Rooms())
		}
		time.Sleep(50 * time.Millisecond)
	}
	w.pk.Start()
	mv, body := w.h.multivariant("hall")
	if len(mv.Variants) != 1 || strings.Join(mv.Variants[0].Codecs, ",") != "opus" {
		t.Fatalf("want one audio-only variant:\n%s", body)
	}
	uris := renditionURIs("hall", body)
	if _, ok := uris["v"]; ok {
		t.Errorf("a video rendition for VP8:\n%s", body)
	}
	w.h.waitSegments(uris["a"], 2)
	w.h.waitSegments(uris["s-en"], 2)
}
