package hls

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
)

// TestSegmentsReadBack reads the segments of the video and of two audio
// channels back with mediacommon's fMP4 reader and with ffprobe: the
// right codecs, a keyframe at each video segment's start, and
// timestamps that run on from one segment into the next.
func TestSegmentsReadBack(t *testing.T) {
	h := startHarness(t, harnessOpts{booths: []string{"fr"}})
	_, body := h.multivariant("demo")
	uris := renditionURIs("demo", body)
	for _, name := range []string{"v", "a", "a-fr"} {
		m, _ := h.waitSegments(uris[name], 4)
		base := strings.TrimSuffix(uris[name], "index.m3u8")
		_, _, initData := h.get(base + "init0.mp4")
		var in fmp4.Init
		if err := in.Unmarshal(bytes.NewReader(initData)); err != nil || len(in.Tracks) != 1 {
			t.Fatalf("%s init: %v", name, err)
		}
		switch c := in.Tracks[0].Codec.(type) {
		case *mp4codecs.H264:
			if name != "v" || len(c.SPS) == 0 || len(c.PPS) == 0 {
				t.Errorf("%s: H.264 init without parameter sets", name)
			}
		case *mp4codecs.Opus:
			if name == "v" || c.ChannelCount != 2 {
				t.Errorf("%s: Opus init with %d channels", name, c.ChannelCount)
			}
		default:
			t.Fatalf("%s: codec %T", name, c)
		}
		all := append([]byte(nil), initData...)
		var next uint64
		for i, s := range m.Segments {
			_, _, data := h.get(base + s.URI)
			all = append(all, data...)
			var parts fmp4.Parts
			if err := parts.Unmarshal(data); err != nil {
				t.Fatalf("%s %s: %v", name, s.URI, err)
			}
			first := parts[0].Tracks[0]
			if name == "v" && first.Samples[0].IsNonSyncSample {
				t.Errorf("%s %s does not start with a keyframe", name, s.URI)
			}
			if i > 0 && first.BaseTime != next {
				t.Errorf("%s %s starts at %d, the previous segment ended at %d", name, s.URI, first.BaseTime, next)
			}
			next = first.BaseTime
			var dur uint64
			for _, p := range parts {
				for _, pt := range p.Tracks {
					if pt.BaseTime != next {
						t.Errorf("%s %s: a part starts at %d, want %d", name, s.URI, pt.BaseTime, next)
					}
					for _, sa := range pt.Samples {
						next += uint64(sa.Duration)
						dur += uint64(sa.Duration)
					}
				}
			}
			got := float64(dur) / float64(in.Tracks[0].TimeScale)
			if diff := got - s.Duration.Seconds(); diff > 0.002 || diff < -0.002 {
				t.Errorf("%s %s: samples last %.3f s, EXTINF says %.3f", name, s.URI, got, s.Duration.Seconds())
			}
		}
		ffprobe(t, name, all, len(m.Segments))
	}
}

// ffprobe checks the init segment and segments, concatenated, with
// ffmpeg's reader: codec, and (video) one keyframe per segment at least.
func ffprobe(t *testing.T, name string, data []byte, segments int) {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Log("ffprobe not installed (Debian: ffmpeg): only mediacommon read the segments back")
		return
	}
	path := filepath.Join(t.TempDir(), name+".mp4")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "csv=p=0", path).CombinedOutput()
	want := map[bool]string{true: "h264", false: "opus"}[name == "v"]
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("ffprobe %s: %v %q, want %s", name, err, out, want)
	}
	if name != "v" {
		return
	}
	out, err = exec.Command("ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=key_frame", "-of", "csv=p=0", path).CombinedOutput()
	if err != nil {
		t.Fatalf("ffprobe frames: %v %s", err, out)
	}
	keys := strings.Count(string(out), "1")
	frames := len(strings.Fields(string(out)))
	if keys < segments || frames < segments*20 {
		t.Errorf("ffprobe decoded %d frames with %d keyframes over %d segments", frames, keys, segments)
	}
	t.Logf("ffprobe: %s %d frames, %d keyframes, %d segments", want, frames, keys, segments)
}
