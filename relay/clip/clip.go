// Package clip reads short media clips (H.264 Annex B or VP8 IVF video, Ogg
// Opus audio) and turns them into timed RTP packets, looping forever. The
// relay's demo room, its tests and the load tool all publish through it.
//
// The binary embeds the clips under media/: the demo room's picture and sound
// (Demo) and the audio-only interpretation booths of its language channels
// (Booth: French and Arabic sentences spoken by espeak-ng and encoded to Ogg
// Opus by ffmpeg). media/make-booths.sh regenerates the booth clips; its
// header says what it needs and what it makes.
package clip

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

//go:embed media/demo.h264 media/demo.ogg
var demoFS embed.FS

//go:embed media/booth-fr.ogg media/booth-ar.ogg
var boothFS embed.FS

// MIME types of the codecs a clip can carry.
const (
	MimeH264 = "video/H264"
	MimeVP8  = "video/VP8"
	MimeOpus = "audio/opus"
)

// Frame is one video access unit or one audio packet.
type Frame struct {
	Data     []byte        // Annex B access unit (H.264), VP8 frame, or Opus packet
	Duration time.Duration // how long it lasts
	Key      bool          // keyframe (always true for audio)
}

// Track is one elementary stream of a clip.
type Track struct {
	Mime      string
	ClockRate uint32
	Frames    []Frame
}

// Length is the track's playing time.
func (t *Track) Length() time.Duration {
	var d time.Duration
	for _, f := range t.Frames {
		d += f.Duration
	}
	return d
}

// Clip is a video track, an audio track, or both.
type Clip struct {
	Video *Track // nil when the clip is audio-only (Booth, FromOgg)
	Audio *Track // nil when the clip has no audio
}

// Demo returns the clip embedded in the binary: 10 s of 640x360 30 fps
// H.264 constrained baseline (a keyframe every second) and mono Opus.
func Demo() (*Clip, error) {
	v, err := demoFS.ReadFile("media/demo.h264")
	if err != nil {
		return nil, err
	}
	a, err := demoFS.ReadFile("media/demo.ogg")
	if err != nil {
		return nil, err
	}
	return FromBytes(MimeH264, v, a, 30)
}

// BoothLanguages returns the language tags Booth has a clip for, in the
// order the demo room lists its channels.
func BoothLanguages() []string { return []string{"fr", "ar"} }

// Booth returns the embedded interpretation booth clip for lang, "fr" or "ar"
// (see BoothLanguages): an audio-only clip (Video is nil) of an interpreter
// saying, in that language, that the listener hears the demo room's
// interpretation and can pick another language or go back to the floor,
// followed by a short pause so that it loops naturally. It is mono Ogg Opus
// at 24 kbit/s in 20 ms packets, 12 s (fr) and 18 s (ar) long.
func Booth(lang string) (*Clip, error) {
	if !slices.Contains(BoothLanguages(), lang) {
		return nil, fmt.Errorf("no booth clip for language %q", lang)
	}
	b, err := boothFS.ReadFile("media/booth-" + lang + ".ogg")
	if err != nil {
		return nil, err
	}
	c, err := FromOgg(b)
	if err != nil {
		return nil, fmt.Errorf("booth %s: %w", lang, err)
	}
	return c, nil
}

// FromOgg parses an Ogg Opus file as an audio-only clip: Video is nil.
func FromOgg(audio []byte) (*Clip, error) {
	a, err := parseOggOpus(audio)
	if err != nil {
		return nil, err
	}
	return &Clip{Audio: a}, nil
}

// Load reads a clip from path: a .h264 Annex B stream (fps frames per second)
// or a .ivf VP8 file, with the audio taken from a .ogg file of the same name
// when one exists.
func Load(path string, fps int) (*Clip, error) {
	v, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read clip: %w", err)
	}
	var mime string
	switch strings.ToLower(filepath.Ext(path)) {
	case ".h264", ".264":
		mime = MimeH264
	case ".ivf":
		mime = MimeVP8
	default:
		return nil, fmt.Errorf("clip %s: want a .h264 (Annex B) or .ivf (VP8) file", path)
	}
	var a []byte
	ogg := strings.TrimSuffix(path, filepath.Ext(path)) + ".ogg"
	if b, err := os.ReadFile(ogg); err == nil {
		a = b
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read clip audio: %w", err)
	}
	return FromBytes(mime, v, a, fps)
}

// FromBytes parses video (of mime) and optional Ogg Opus audio.
func FromBytes(mime string, video, audio []byte, fps int) (*Clip, error) {
	if fps <= 0 {
		fps = 30
	}
	c := &Clip{}
	var err error
	switch mime {
	case MimeH264:
		c.Video, err = parseH264(video, fps)
	case MimeVP8:
		c.Video, err = parseIVF(video)
	default:
		err = fmt.Errorf("unsupported clip codec %s", mime)
	}
	if err != nil {
		return nil, err
	}
	if len(audio) > 0 {
		if c.Audio, err = parseOggOpus(audio); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// parseH264 splits an Annex B stream into access units. Parameter sets and
// SEI are attached to the slice that follows them; each slice NAL whose
// first_mb_in_slice is 0 starts a new access unit.
func parseH264(b []byte, fps int) (*Track, error) {
	nals := splitAnnexB(b)
	if len(nals) == 0 {
		return nil, errors.New("h264 clip: no NAL units")
	}
	t := &Track{Mime: MimeH264, ClockRate: 90000}
	dur := time.Second / time.Duration(fps)
	var cur []byte
	var key, haveSlice bool
	flush := func() {
		if haveSlice {
			t.Frames = append(t.Frames, Frame{Data: cur, Duration: dur, Key: key})
		}
		cur, key, haveSlice = nil, false, false
	}
	for _, n := range nals {
		typ := n[0] & 0x1f
		isSlice := typ == 1 || typ == 5
		// A slice starting at macroblock 0 begins a picture: its first
		// exp-Golomb code is "1", i.e. the top bit of the byte after the
		// NAL header is set.
		if isSlice && haveSlice && len(n) > 1 && n[1]&0x80 != 0 {
			flush()
		}
		if !isSlice && haveSlice && (typ == 7 || typ == 8 || typ == 6 || typ == 9) {
			flush()
		}
		cur = append(cur, 0, 0, 0, 1)
		cur = append(cur, n...)
		if typ == 5 || typ == 7 {
			key = true
		}
		if isSlice {
			haveSlice = true
		}
	}
	flush()
	if len(t.Frames) == 0 {
		return nil, errors.New("h264 clip: no pictures")
	}
	if !t.Frames[0].Key {
		return nil, errors.New("h264 clip: does not start with a keyframe")
	}
	return t, nil
}

// splitAnnexB returns the NAL units between start codes.
func splitAnnexB(b []byte) [][]byte {
	var out [][]byte
	start := -1
	for i := 0; i+2 < len(b); {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 1 {
			if start >= 0 {
				out = appendNAL(out, b[start:i])
			}
			i += 3
			start = i
			continue
		}
		i++
	}
	if start >= 0 && start < len(b) {
		out = appendNAL(out, b[start:])
	}
	return out
}

func appendNAL(out [][]byte, n []byte) [][]byte {
	n = bytes.TrimRight(n, "\x00") // trailing zero of a 4-byte start code
	if len(n) > 0 {
		out = append(out, n)
	}
	return out
}

// parseIVF reads a VP8 IVF file (32-byte file header, 12-byte frame headers).
func parseIVF(b []byte) (*Track, error) {
	if len(b) < 32 || string(b[:4]) != "DKIF" {
		return nil, errors.New("ivf clip: bad file header")
	}
	if string(b[8:12]) != "VP80" {
		return nil, fmt.Errorf("ivf clip: codec %q, want VP80", b[8:12])
	}
	rate := le32(b[16:])
	scale := le32(b[20:])
	if rate == 0 || scale == 0 {
		return nil, errors.New("ivf clip: zero frame rate")
	}
	dur := time.Duration(float64(time.Second) * float64(scale) / float64(rate))
	t := &Track{Mime: MimeVP8, ClockRate: 90000}
	for i := int(le16(b[6:])); i+12 <= len(b); {
		size := int(le32(b[i:]))
		i += 12
		if size <= 0 || i+size > len(b) {
			return nil, errors.New("ivf clip: truncated frame")
		}
		f := b[i : i+size]
		t.Frames = append(t.Frames, Frame{Data: f, Duration: dur, Key: f[0]&1 == 0})
		i += size
	}
	if len(t.Frames) == 0 || !t.Frames[0].Key {
		return nil, errors.New("ivf clip: no frames or no leading keyframe")
	}
	return t, nil
}

func le16(b []byte) uint16 { return uint16(b[0]) | uint16(b[1])<<8 }
func le32(b []byte) uint32 {
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}
