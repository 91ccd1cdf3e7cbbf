package load

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/keyframe"
	"github.com/relay-av/relay/relay/peer"
)

// maxLayers is how many layers a simulcast run publishes at most.
const maxLayers = 3

// layerRID names layer i of a simulcast run, best first: h, m, l.
func layerRID(i int) string { return [maxLayers]string{"h", "m", "l"}[i] }

// simulcastClips are the layer clips a simulcast run publishes unless told
// otherwise, best first, from the repository's root: 1280x720 at 1.5
// Mbit/s, 640x360 at 500 kbit/s, 320x180 at 150 kbit/s (2 s looping, a
// keyframe every second; relay/clip/testdata/make-simulcast.sh).
func simulcastClips() []string {
	return []string{
		"relay/clip/testdata/simulcast-720.h264",
		"relay/clip/testdata/simulcast-360.h264",
		"relay/clip/testdata/simulcast-180.h264",
	}
}

// FindSimulcastClips returns the default layer clips, best first, from the
// first of dir and its parents that holds them. The demo clip is embedded
// in the binary (clip.Demo); these 550 KB of test clips ship with the
// source only, so a binary run outside the repository does not find them
// and says how to give others.
func FindSimulcastClips(dir string) ([]string, error) {
	rel := simulcastClips()
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	for d := abs; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, rel[0])); err == nil {
			out := make([]string, len(rel))
			for i, p := range rel {
				out[i] = filepath.Join(d, p)
			}
			return out, nil
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) { // a file where a folder would be: not here either
			return nil, fmt.Errorf("simulcast clips: %w", err)
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return nil, fmt.Errorf("simulcast: the layer clips relay/clip/testdata/simulcast-{720,360,180}.h264 are not under %s or its parents: "+
		"they ship with the source, not the binary; run from the repository or give --simulcast-clips top.h264,middle.h264,low.h264", abs)
}

// LoadLayers reads clips (.h264 at fps, or .ivf; their audio is not
// used) as simulcast layers, best first, named h, m and l.
func LoadLayers(paths []string, fps int) ([]peer.Layer, error) {
	if len(paths) < 2 || len(paths) > maxLayers {
		return nil, fmt.Errorf("simulcast: %d clips given, want one per layer, 2 or 3, best first", len(paths))
	}
	layers := make([]peer.Layer, len(paths))
	for i, p := range paths {
		c, err := clip.Load(p, fps)
		if err != nil {
			return nil, fmt.Errorf("simulcast layer %s: %w", layerRID(i), err)
		}
		if c.Video == nil {
			return nil, fmt.Errorf("simulcast layer %s: %s has no video", layerRID(i), p)
		}
		layers[i] = peer.Layer{RID: layerRID(i), Clip: &clip.Clip{Video: c.Video}}
	}
	return layers, nil
}

// pictureSize reads the size of a video track's picture from its first
// keyframe; 0, 0 when the track has no keyframe the codec tells the size of.
func pictureSize(t *clip.Track) (width, height int) {
	codec := keyframe.Of(t.Mime)
	s := clip.NewStream(t, 96, 1)
	for range 4096 {
		p := s.Next()
		if !p.Key {
			continue
		}
		if w, h, ok := keyframe.Size(codec, p.Payload); ok {
			return w, h
		}
	}
	return 0, 0
}
