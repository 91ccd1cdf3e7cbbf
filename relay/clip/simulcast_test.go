package clip

import (
	"fmt"
	"testing"

	"github.com/relay-av/relay/relay/keyframe"
)

// simulcastLayers are the clips testdata/make-simulcast.sh makes: one scene
// at three sizes and rates, as a simulcast publisher sends it.
var simulcastLayers = []struct {
	height, width int
	kbps          int // the x264 target rate
}{
	{720, 1280, 1500},
	{360, 640, 500},
	{180, 320, 150},
}

func TestSimulcastClips(t *testing.T) {
	total := 0
	for _, l := range simulcastLayers {
		path := fmt.Sprintf("testdata/simulcast-%d.h264", l.height)
		t.Run(path, func(t *testing.T) {
			c, err := Load(path, 30)
			if err != nil {
				t.Fatal(err)
			}
			v := c.Video
			if v.Mime != MimeH264 || c.Audio != nil {
				t.Fatalf("mime %s, audio %v; want H.264 without audio", v.Mime, c.Audio != nil)
			}
			if len(v.Frames) != 60 {
				t.Fatalf("%d frames, want 60 (2 s at 30 fps)", len(v.Frames))
			}
			size := 0
			for i, f := range v.Frames {
				if f.Key != (i == 0 || i == 30) {
					t.Errorf("frame %d: key %v, want keyframes at 0 and 30 only", i, f.Key)
				}
				if n := sliceCount(f.Data); n != 1 {
					t.Errorf("frame %d: %d slices, want 1", i, n)
				}
				size += len(f.Data)
			}
			total += size
			kbps := size * 8 / 2 / 1000
			if kbps < l.kbps*85/100 || kbps > l.kbps*115/100 {
				t.Errorf("%d kbit/s, want %d ± 15 %%", kbps, l.kbps)
			}

			// Constrained baseline: profile_idc 66 with constraint_set1.
			sps := splitAnnexB(v.Frames[0].Data)[0]
			if sps[0]&0x1f != 7 || sps[1] != 66 || sps[2]&0x40 == 0 {
				t.Errorf("first NAL %x, want a constrained baseline SPS", sps[:3])
			}

			// Packetized, the first packet of each frame is a keyframe start
			// exactly for frames 0 and 30, and the first one gives the size.
			s := NewStream(v, 96, 1)
			frame := uint64(1 << 63)
			for {
				p := s.Next()
				if p.Frame >= 60 {
					break
				}
				if p.Frame == frame {
					continue
				}
				frame = p.Frame
				key, known := keyframe.IsStart(keyframe.H264, p.Payload)
				if !known || key != (frame == 0 || frame == 30) {
					t.Errorf("frame %d: IsStart = (%v, %v)", frame, key, known)
				}
				if frame == 0 {
					w, h, ok := keyframe.Size(keyframe.H264, p.Payload)
					if !ok || w != l.width || h != l.height {
						t.Errorf("keyframe.Size = %dx%d %v, want %dx%d", w, h, ok, l.width, l.height)
					}
				}
			}
			t.Logf("%dx%d: %d bytes, %d kbit/s", l.width, l.height, size, kbps)
		})
	}
	if total >= 600_000 {
		t.Errorf("the simulcast clips take %d bytes, want under 600 KB", total)
	}
}

// sliceCount counts the coded slice NAL units (types 1 and 5) of an access unit.
func sliceCount(au []byte) int {
	n := 0
	for _, nal := range splitAnnexB(au) {
		if t := nal[0] & 0x1f; t == 1 || t == 5 {
			n++
		}
	}
	return n
}
