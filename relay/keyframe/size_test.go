package keyframe

import (
	"bytes"
	"encoding/hex"
	"flag"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/relay-av/relay/relay/clip"
)

var genSPS = flag.Bool("gen-sps", false, "encode spsCases with ffmpeg and print the table with fresh SPS bytes")

// spsCases are SPS NAL units (header byte included) that Debian's ffmpeg
// 5.1 with libx264 164 wrote for testsrc2 at the given size and options.
// TestGenerateSPS remakes the table:
//
//	go test -run TestGenerateSPS ./relay/keyframe/ -args -gen-sps
var spsCases = []struct {
	name string
	args string // ffmpeg output options after -c:v libx264
	w, h int
	sps  string // hex
}{
	{"baseline 720p", "-profile:v baseline -pix_fmt yuv420p", 1280, 720,
		"6742c01fd9005005bb0110000003001000000303c0f1832480"},
	{"baseline 360p", "-profile:v baseline -pix_fmt yuv420p", 640, 360,
		"6742c01ed900a02ff970110000030001000003003c0f162e48"},
	{"baseline 180p", "-profile:v baseline -pix_fmt yuv420p", 320, 180,
		"6742c00dd901419f9f0110000003001000000303c0f142a480"},
	{"baseline 1080p", "-profile:v baseline -pix_fmt yuv420p", 1920, 1080,
		"6742c028d900780227e5c044000003000400000300f03c60c920"},
	{"main 720p", "-profile:v main -pix_fmt yuv420p", 1280, 720,
		"674d401feca02802dd8088000003000800000301e078c18cb0"},
	{"main 360p", "-profile:v main -pix_fmt yuv420p", 640, 360,
		"674d401eeca05017fcb80880000003008000001e078b16cb"},
	{"main 180p", "-profile:v main -pix_fmt yuv420p", 320, 180,
		"674d400deca0a0cfcf8088000003000800000301e078a14cb0"},
	{"main 1080p", "-profile:v main -pix_fmt yuv420p", 1920, 1080,
		"674d4028eca03c0113f2e022000003000200000300781e30632c"},
	{"high 720p", "-profile:v high -pix_fmt yuv420p", 1280, 720,
		"6764001facd9405005bb0110000003001000000303c0f1831960"},
	{"high 360p", "-profile:v high -pix_fmt yuv420p", 640, 360,
		"6764001eacd940a02ff970110000030001000003003c0f162d96"},
	{"high 180p", "-profile:v high -pix_fmt yuv420p", 320, 180,
		"6764000dacd941419f9f0110000003001000000303c0f1429960"},
	{"high 1080p", "-profile:v high -pix_fmt yuv420p", 1920, 1080,
		"67640028acd940780227e5c044000003000400000300f03c60c658"},
	{"high10 1080p", "-profile:v high10 -pix_fmt yuv420p10le", 1920, 1080,
		"676e0028a6cd940780227e5c0440000003004000000f03c60c6580"},
	{"high422 1080p", "-profile:v high422 -pix_fmt yuv422p", 1920, 1080,
		"677a0028bcd940780227e270110000030001000003003c0f183196"},
	{"high444 1080p", "-profile:v high444 -pix_fmt yuv444p", 1920, 1080,
		"67f40028919b280f0044fc4e0220000003002000000781e30632c0"},
	{"monochrome 1080p", "-profile:v high -pix_fmt gray", 1920, 1080,
		"67640028f36501e0089f89c05b20000003002000000781e30632c0"},
	{"interlaced 1080i", "-profile:v high -pix_fmt yuv420p -flags +ildct+ilme -x264-params interlaced=1", 1920, 1080,
		"67640028acd94078044fde0220000003002000000783e2c5b2c0"},
}

// TestGenerateSPS encodes three frames of each spsCases entry with ffmpeg,
// takes the SPS from the Annex B output and prints spsCases afresh. It runs
// only with -gen-sps.
func TestGenerateSPS(t *testing.T) {
	if !*genSPS {
		t.Skip("run with -args -gen-sps to regenerate spsCases")
	}
	var out strings.Builder
	out.WriteString("var spsCases = []struct {\n\tname string\n\targs string // ffmpeg output options after -c:v libx264\n\tw, h int\n\tsps  string // hex\n}{\n")
	for _, c := range spsCases {
		cmd := exec.Command("ffmpeg", "-hide_banner", "-loglevel", "error",
			"-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=30", c.w, c.h),
			"-frames:v", "3", "-c:v", "libx264")
		cmd.Args = append(cmd.Args, strings.Fields(c.args)...)
		cmd.Args = append(cmd.Args, "-f", "h264", "-")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		b, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: ffmpeg: %v: %s", c.name, err, stderr.Bytes())
		}
		sps := firstNAL(b, 7)
		if sps == nil {
			t.Fatalf("%s: no SPS in the ffmpeg output", c.name)
		}
		fmt.Fprintf(&out, "\t{%q, %q, %d, %d,\n\t\t%q},\n", c.name, c.args, c.w, c.h, hex.EncodeToString(sps))
	}
	out.WriteString("}\n")
	fmt.Print(out.String())
}

// firstNAL returns the first NAL unit of type typ in an Annex B stream.
func firstNAL(b []byte, typ byte) []byte {
	for {
		i := bytes.Index(b, []byte{0, 0, 1})
		if i < 0 {
			return nil
		}
		b = b[i+3:]
		end := bytes.Index(b, []byte{0, 0, 1})
		if end < 0 {
			end = len(b)
		}
		// A NAL unit ends in a 1 bit, so zeros before the next start code
		// (a 4-byte start code's first byte) are not part of it.
		nal := bytes.TrimRight(b[:end], "\x00")
		if len(nal) > 0 && nal[0]&0x1f == typ {
			return nal
		}
	}
}

// spsPayloads returns the RTP payloads that carry sps (a NAL unit with its
// header): alone, in a STAP-A after and before a PPS, and whole in the first
// fragment of an FU-A.
func spsPayloads(sps []byte) map[string][]byte {
	pps := []byte{0x68, 0xce, 0x38, 0x80}
	stap := func(nals ...[]byte) []byte {
		p := []byte{0x78}
		for _, n := range nals {
			p = append(p, byte(len(n)>>8), byte(len(n)))
			p = append(p, n...)
		}
		return p
	}
	return map[string][]byte{
		"single":         sps,
		"stap-a":         stap(sps, pps),
		"stap-a pps 1st": stap(pps, sps),
		"fu-a":           append([]byte{0x7c, 0x80 | 7}, sps[1:]...),
	}
}

func TestSizeH264(t *testing.T) {
	for _, c := range spsCases {
		sps, err := hex.DecodeString(c.sps)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for form, p := range spsPayloads(sps) {
			t.Run(c.name+"/"+form, func(t *testing.T) {
				w, h, ok := Size(H264, p)
				if !ok || w != c.w || h != c.h {
					t.Errorf("Size = %dx%d %v, want %dx%d", w, h, ok, c.w, c.h)
				}
			})
		}
		t.Run(c.name+"/fu-a middle", func(t *testing.T) {
			p := append([]byte{0x7c, 7}, sps[1:]...)
			if w, h, ok := Size(H264, p); ok {
				t.Errorf("a middle fragment gave %dx%d", w, h)
			}
		})
	}
}

// TestSizeH264Cut cuts every SPS, alone and as an FU-A fragment, at every
// length: a cut before the cropping fields gives ok=false, never a wrong
// size, and once a prefix is long enough every longer one is too.
func TestSizeH264Cut(t *testing.T) {
	for _, c := range spsCases {
		sps, _ := hex.DecodeString(c.sps)
		for form, p := range map[string][]byte{"single": sps, "fu-a": spsPayloads(sps)["fu-a"]} {
			first := -1
			for n := range len(p) + 1 {
				w, h, ok := Size(H264, p[:n])
				switch {
				case ok && (w != c.w || h != c.h):
					t.Fatalf("%s %s cut to %d bytes: %dx%d, want %dx%d", c.name, form, n, w, h, c.w, c.h)
				case ok && first < 0:
					first = n
				case !ok && first >= 0:
					t.Fatalf("%s %s: %d bytes parse, %d do not", c.name, form, first, n)
				case !ok && (w != 0 || h != 0):
					t.Fatalf("%s %s cut to %d bytes: %dx%d without ok", c.name, form, n, w, h)
				}
			}
			if first < 6 || first == len(p)+1 {
				t.Errorf("%s %s: parses from %d of %d bytes", c.name, form, first, len(p))
			}
		}
		// A STAP-A whose SPS is longer than the packet.
		p := append([]byte{0x78, 0, byte(len(sps) + 1)}, sps...)
		if _, _, ok := Size(H264, p); ok {
			t.Errorf("%s: STAP-A overrunning its packet parsed", c.name)
		}
	}
}

// bitWriter builds RBSPs for synthetic SPS tests.
type bitWriter struct{ bits []byte }

func (w *bitWriter) u(n int, v uint64) {
	for i := n - 1; i >= 0; i-- {
		w.bits = append(w.bits, byte(v>>i)&1)
	}
}

func (w *bitWriter) flag(b bool) {
	if b {
		w.u(1, 1)
	} else {
		w.u(1, 0)
	}
}

func (w *bitWriter) ue(v uint64) {
	n := 0
	for x := v + 1; x > 1; x >>= 1 {
		n++
	}
	w.u(n, 0)
	w.u(n+1, v+1)
}

func (w *bitWriter) se(v int64) {
	if v > 0 {
		w.ue(uint64(2*v - 1))
	} else {
		w.ue(uint64(-2 * v))
	}
}

// nal returns the NAL unit: header, then the RBSP with its stop bit and
// emulation-prevention bytes.
func (w *bitWriter) nal(header byte) []byte {
	w.u(1, 1)
	for len(w.bits)%8 != 0 {
		w.u(1, 0)
	}
	out := []byte{header}
	zeros := 0
	for i := 0; i < len(w.bits); i += 8 {
		var b byte
		for _, bit := range w.bits[i : i+8] {
			b = b<<1 | bit
		}
		if zeros >= 2 && b <= 3 {
			out = append(out, 3)
			zeros = 0
		}
		out = append(out, b)
		if b == 0 {
			zeros++
		} else {
			zeros = 0
		}
	}
	return out
}

// synthSPS is an SPS the tests write field by field, for syntax x264 does
// not produce (picture order count type 1, scaling lists in the SPS, separate
// colour planes) and for values at and past the limits.
type synthSPS struct {
	profile        uint8
	chroma         uint64    // chroma_format_idc, written for high profiles
	separate       bool      // separate_colour_plane_flag, written for chroma 3
	depth          uint64    // bit_depth_luma_minus8 and bit_depth_chroma_minus8
	scaling        [][]int64 // delta_scale of each list; nil: list absent; scaling nil: no matrix
	pocType        uint64
	pocOffsets     []int64 // offset_for_ref_frame, for pocType 1
	pocNonRef      int64   // offset_for_non_ref_pic, for pocType 1
	widthMBs       uint64
	heightUnits    uint64
	field          bool       // frame_mbs_only_flag = 0
	crop           *[4]uint64 // left, right, top, bottom
	spsID, refs    uint64
	log2FrameNumM4 uint64
}

func (s synthSPS) nal() []byte {
	var w bitWriter
	w.u(8, uint64(s.profile))
	w.u(8, 0)  // constraint flags
	w.u(8, 40) // level 4.0
	w.ue(s.spsID)
	if highProfile(s.profile) {
		w.ue(s.chroma)
		if s.chroma == 3 {
			w.flag(s.separate)
		}
		w.ue(s.depth)
		w.ue(s.depth)
		w.flag(false)
		w.flag(s.scaling != nil)
		if s.scaling != nil {
			lists := 8
			if s.chroma == 3 {
				lists = 12
			}
			for i := range lists {
				var deltas []int64
				if i < len(s.scaling) {
					deltas = s.scaling[i]
				}
				w.flag(deltas != nil)
				if deltas != nil {
					checkScalingList(deltas, i)
				}
				for _, d := range deltas {
					w.se(d)
				}
			}
		}
	}
	w.ue(s.log2FrameNumM4)
	w.ue(s.pocType)
	switch s.pocType {
	case 0:
		w.ue(2)
	case 1:
		w.flag(false)
		w.se(s.pocNonRef)
		w.se(-1)
		w.ue(uint64(len(s.pocOffsets)))
		for _, o := range s.pocOffsets {
			w.se(o)
		}
	}
	w.ue(s.refs)
	w.flag(false)
	w.ue(s.widthMBs - 1)
	w.ue(s.heightUnits - 1)
	w.flag(!s.field)
	if s.field {
		w.flag(true) // mb_adaptive_frame_field_flag
	}
	w.flag(true) // direct_8x8_inference_flag
	w.flag(s.crop != nil)
	if s.crop != nil {
		for _, v := range s.crop {
			w.ue(v)
		}
	}
	w.flag(false) // vui_parameters_present_flag
	return w.nal(0x67)
}

// checkScalingList panics unless deltas are exactly the delta_scale values
// scaling_list() reads for list i: it stops at a zero nextScale. A list
// with a delta out of range is meant to be refused and is not checked.
func checkScalingList(deltas []int64, i int) {
	for _, d := range deltas {
		if d < -128 || d > 127 {
			return
		}
	}
	n := 16
	if i >= 6 {
		n = 64
	}
	last, next, read := int64(8), int64(8), 0
	for range n {
		if next != 0 {
			if read == len(deltas) {
				panic(fmt.Sprintf("scaling list %d: %d deltas, too few", i, len(deltas)))
			}
			next = (last + deltas[read] + 256) % 256
			read++
		}
		if next != 0 {
			last = next
		}
	}
	if read != len(deltas) {
		panic(fmt.Sprintf("scaling list %d: reads %d of %d deltas", i, read, len(deltas)))
	}
}

func repeat(v int64, n int) []int64 {
	out := make([]int64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestSizeH264Synthetic(t *testing.T) {
	big := []int64{1<<30 - 1, -(1 << 30), 1 << 30} // 31 leading zeros each
	cases := []struct {
		name string
		sps  synthSPS
		w, h int // 0: refused
	}{
		{"baseline poc 2", synthSPS{profile: 66, pocType: 2, widthMBs: 80, heightUnits: 45}, 1280, 720},
		{"main poc 0", synthSPS{profile: 77, widthMBs: 40, heightUnits: 23, crop: &[4]uint64{0, 0, 0, 4}}, 640, 360},
		{"poc 1 offsets", synthSPS{profile: 77, pocType: 1, pocOffsets: []int64{1, -2, 3, 0, 7}, widthMBs: 20, heightUnits: 12, crop: &[4]uint64{0, 0, 0, 6}}, 320, 180},
		{"poc 1 huge offsets", synthSPS{profile: 88, pocType: 1, pocNonRef: 1 << 30, pocOffsets: big, widthMBs: 120, heightUnits: 68, crop: &[4]uint64{0, 0, 0, 4}}, 1920, 1080},
		{"poc 1 255 offsets", synthSPS{profile: 66, pocType: 1, pocOffsets: repeat(-5, 255), widthMBs: 80, heightUnits: 45}, 1280, 720},
		{"poc 1 256 offsets", synthSPS{profile: 66, pocType: 1, pocOffsets: repeat(1, 256), widthMBs: 80, heightUnits: 45}, 0, 0},
		{"scaling lists 4:2:0", synthSPS{profile: 100, chroma: 1, scaling: [][]int64{
			repeat(1, 16), nil, {-8}, {119, -128, 127, -8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, nil, nil,
			repeat(2, 64), {4, -12}, // the second 64-entry list ends early: 8+4-12 = 0
		}, widthMBs: 80, heightUnits: 45}, 1280, 720},
		{"scaling lists 4:4:4", synthSPS{profile: 244, chroma: 3, scaling: [][]int64{
			nil, nil, nil, nil, nil, nil, append(repeat(-1, 7), repeat(0, 57)...), nil, {-8}, repeat(3, 64), nil, repeat(1, 64),
		}, widthMBs: 120, heightUnits: 68, crop: &[4]uint64{0, 0, 0, 8}}, 1920, 1080},
		{"scaling delta out of range", synthSPS{profile: 100, chroma: 1, scaling: [][]int64{{128}}, widthMBs: 80, heightUnits: 45}, 0, 0},
		{"4:4:4 separate planes", synthSPS{profile: 244, chroma: 3, separate: true, widthMBs: 80, heightUnits: 45, crop: &[4]uint64{3, 5, 1, 7}}, 1272, 712},
		{"4:2:2 field crop", synthSPS{profile: 122, chroma: 2, field: true, widthMBs: 120, heightUnits: 34, crop: &[4]uint64{1, 1, 2, 2}}, 1916, 1080},
		{"4:2:0 field crop", synthSPS{profile: 100, chroma: 1, field: true, widthMBs: 120, heightUnits: 34, crop: &[4]uint64{0, 0, 0, 2}}, 1920, 1080},
		{"monochrome field crop", synthSPS{profile: 100, chroma: 0, field: true, widthMBs: 120, heightUnits: 34, crop: &[4]uint64{2, 2, 0, 4}}, 1916, 1080},
		{"14-bit", synthSPS{profile: 244, chroma: 1, depth: 6, widthMBs: 8, heightUnits: 8}, 128, 128},
		{"largest", synthSPS{profile: 100, chroma: 1, widthMBs: 1024, heightUnits: 1024}, 16384, 16384},
		{"too wide", synthSPS{profile: 100, chroma: 1, widthMBs: 1025, heightUnits: 45}, 0, 0},
		{"too tall field", synthSPS{profile: 100, chroma: 1, field: true, widthMBs: 80, heightUnits: 513}, 0, 0},
		{"cropped to nothing", synthSPS{profile: 66, widthMBs: 1, heightUnits: 1, crop: &[4]uint64{4, 4, 0, 0}}, 0, 0},
		{"cropped to one", synthSPS{profile: 66, widthMBs: 1, heightUnits: 1, crop: &[4]uint64{3, 4, 7, 0}}, 2, 2},
		{"crop past limit", synthSPS{profile: 66, widthMBs: 80, heightUnits: 45, crop: &[4]uint64{16385, 0, 0, 0}}, 0, 0},
		{"unknown profile", synthSPS{profile: 67, widthMBs: 80, heightUnits: 45}, 0, 0},
		{"chroma 4", synthSPS{profile: 100, chroma: 4, widthMBs: 80, heightUnits: 45}, 0, 0},
		{"bit depth 15", synthSPS{profile: 110, chroma: 1, depth: 7, widthMBs: 80, heightUnits: 45}, 0, 0},
		{"sps id 32", synthSPS{profile: 66, spsID: 32, widthMBs: 80, heightUnits: 45}, 0, 0},
		{"poc type 3", synthSPS{profile: 66, pocType: 3, widthMBs: 80, heightUnits: 45}, 0, 0},
		{"frame num 13", synthSPS{profile: 66, log2FrameNumM4: 13, widthMBs: 80, heightUnits: 45}, 0, 0},
		{"17 refs", synthSPS{profile: 66, refs: 17, widthMBs: 80, heightUnits: 45}, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nal := c.sps.nal()
			for form, p := range spsPayloads(nal) {
				w, h, ok := Size(H264, p)
				if c.w == 0 {
					if ok || w != 0 || h != 0 {
						t.Errorf("%s: %dx%d %v, want refused", form, w, h, ok)
					}
				} else if !ok || w != c.w || h != c.h {
					t.Errorf("%s: %dx%d %v, want %dx%d", form, w, h, ok, c.w, c.h)
				}
			}
		})
	}
	// The huge offsets make runs of zero bytes that must be escaped; the
	// reader drops the 03s again.
	if nal := cases[3].sps.nal(); !bytes.Contains(nal, []byte{0, 0, 3}) {
		t.Errorf("%s: no emulation-prevention byte in %x", cases[3].name, nal)
	}
}

func TestSizeHostile(t *testing.T) {
	ones := bytes.Repeat([]byte{0xff}, 64)
	cases := map[string][]byte{
		"empty":               nil,
		"header only":         {0x67},
		"all ones":            ones,
		"sps of all ones":     append([]byte{0x67}, ones...),
		"sps of zeros":        append([]byte{0x67, 0x42, 0xc0, 0x1f}, make([]byte, 64)...),
		"ue of 32 zeros":      {0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 0, 0x80, 0xff, 0xff},
		"width of 20 zeros":   {0x67, 0x42, 0xc0, 0x1f, 0xf8, 0, 0, 0x1f, 0xff, 0xff, 0xff, 0xff},
		"stap-a empty":        {0x78},
		"stap-a zero size":    {0x78, 0, 0, 0x67, 0x42},
		"stap-a huge size":    {0x78, 0xff, 0xff, 0x67, 0x42},
		"stap-a header only":  {0x78, 0, 1, 0x67},
		"stap-a without sps":  {0x78, 0, 2, 0x68, 0xce, 0, 2, 0x65, 0x88},
		"fu-a header only":    {0x7c},
		"fu-a idr":            {0x7c, 0x85, 0x88, 0x84},
		"fu-a sps empty":      {0x7c, 0x87},
		"idr slice":           {0x65, 0x88, 0x84, 0x00},
		"escapes everywhere":  bytes.Repeat([]byte{0, 0, 3}, 30),
		"sps of escapes":      append([]byte{0x67, 0x42, 0xc0, 0x1f}, bytes.Repeat([]byte{0, 0, 3}, 30)...),
		"sps cut in escape":   {0x67, 0x42, 0xc0, 0x1f, 0, 0, 3},
		"vp8-looking garbage": {0x10, 0x00, 0x00, 0x00, 0x9d, 0x01, 0x2a},
	}
	for name, p := range cases {
		for _, codec := range []Codec{H264, VP8} {
			if w, h, ok := Size(codec, p); ok || w != 0 || h != 0 {
				t.Errorf("%s (codec %d): %dx%d %v", name, codec, w, h, ok)
			}
		}
	}
}

// vp8Frame returns the first frame (a keyframe) of the clip package's VP8
// test clip, 320x180.
func vp8Frame(t testing.TB) []byte {
	t.Helper()
	c, err := clip.Load("../clip/testdata/small.ivf", 30)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Video.Frames[0].Key {
		t.Fatal("small.ivf does not start with a keyframe")
	}
	return c.Video.Frames[0].Data
}

func TestSizeVP8(t *testing.T) {
	frame := vp8Frame(t)
	c, err := clip.Load("../clip/testdata/small.ivf", 30)
	if err != nil {
		t.Fatal(err)
	}
	first := clip.NewStream(c.Video, 96, 1).Next()
	if w, h, ok := Size(VP8, first.Payload); !ok || w != 320 || h != 180 {
		t.Errorf("first packet of small.ivf: %dx%d %v, want 320x180", w, h, ok)
	}
	if w, h, ok := Size(VP8, clip.NewStream(c.Video, 96, 1).Next().Payload[:20]); !ok || w != 320 || h != 180 {
		t.Errorf("first 20 bytes: %dx%d %v", w, h, ok)
	}

	with := func(desc []byte, edit func(f []byte)) []byte {
		f := append([]byte(nil), frame[:16]...)
		if edit != nil {
			edit(f)
		}
		return append(append([]byte(nil), desc...), f...)
	}
	cases := []struct {
		name string
		p    []byte
		w, h int // 0: none
	}{
		{"short descriptor", with([]byte{0x10}, nil), 320, 180},
		{"7-bit picture id", with([]byte{0x90, 0x80, 0x05}, nil), 320, 180},
		{"15-bit picture id", with([]byte{0x90, 0x80, 0x81, 0x02}, nil), 320, 180},
		{"I L T K", with([]byte{0x90, 0xf0, 0x81, 0x02, 0x07, 0xe0}, nil), 320, 180},
		{"K only", with([]byte{0x90, 0x10, 0x1f}, nil), 320, 180},
		{"L only", with([]byte{0x90, 0x40, 0x00}, nil), 320, 180},
		{"N bit", with([]byte{0x30}, nil), 320, 180},
		{"scaling bits", with([]byte{0x10}, func(f []byte) { f[7] |= 0xc0; f[9] |= 0x40 }), 320, 180},
		{"largest", with([]byte{0x10}, func(f []byte) { f[6], f[7], f[8], f[9] = 0xff, 0x3f, 0xff, 0xff }), 16383, 16383},
		{"not start", with([]byte{0x00}, nil), 0, 0},
		{"partition 1", with([]byte{0x11}, nil), 0, 0},
		{"interframe", with([]byte{0x10}, func(f []byte) { f[0] |= 1 }), 0, 0},
		{"bad start code", with([]byte{0x10}, func(f []byte) { f[4] = 0x02 }), 0, 0},
		{"zero width", with([]byte{0x10}, func(f []byte) { f[6], f[7] = 0, 0xc0 }), 0, 0},
		{"zero height", with([]byte{0x10}, func(f []byte) { f[8], f[9] = 0, 0 }), 0, 0},
		{"extension cut", []byte{0x90}, 0, 0},
		{"picture id cut", []byte{0x90, 0x80}, 0, 0},
	}
	for _, c := range cases {
		w, h, ok := Size(VP8, c.p)
		if c.w == 0 {
			if ok || w != 0 || h != 0 {
				t.Errorf("%s: %dx%d %v, want none", c.name, w, h, ok)
			}
		} else if !ok || w != c.w || h != c.h {
			t.Errorf("%s: %dx%d %v, want %dx%d", c.name, w, h, ok, c.w, c.h)
		}
	}
	// Every cut before the height's last byte fails.
	p := with([]byte{0x90, 0x80, 0x81, 0x02}, nil)
	for n := range 4 + 10 {
		if w, h, ok := Size(VP8, p[:n]); ok {
			t.Errorf("cut to %d bytes: %dx%d", n, w, h)
		}
	}
}

func TestSizeOtherCodecs(t *testing.T) {
	sps, _ := hex.DecodeString(spsCases[0].sps)
	for _, codec := range []Codec{Unknown, VP9, AV1, Opus, Opus + 1} {
		for _, p := range [][]byte{sps, vp8Frame(t), {0x08}} {
			if w, h, ok := Size(codec, p); ok || w != 0 || h != 0 {
				t.Errorf("codec %d: %dx%d %v", codec, w, h, ok)
			}
		}
	}
}

func TestSizeAllocs(t *testing.T) {
	sps, _ := hex.DecodeString(spsCases[len(spsCases)-1].sps)
	stap := spsPayloads(sps)["stap-a"]
	vp8 := append([]byte{0x10}, vp8Frame(t)[:16]...)
	if n := testing.AllocsPerRun(100, func() {
		Size(H264, stap)
		Size(VP8, vp8)
	}); n != 0 {
		t.Errorf("Size allocates %v times per call", n)
	}
}

// FuzzSize feeds arbitrary payloads to Size for every codec: it never
// panics, and a size it reports is within 1..16384 on both sides.
func FuzzSize(f *testing.F) {
	for _, c := range spsCases {
		sps, _ := hex.DecodeString(c.sps)
		for _, p := range spsPayloads(sps) {
			f.Add(p)
		}
	}
	f.Add(synthSPS{profile: 244, chroma: 3, scaling: [][]int64{repeat(1, 16), nil, {-8}}, pocType: 1,
		pocOffsets: []int64{3, -3}, widthMBs: 80, heightUnits: 45, crop: &[4]uint64{1, 1, 1, 1}}.nal())
	f.Add(append([]byte{0x90, 0x80, 0x81, 0x02}, vp8Frame(f)[:16]...))
	f.Add([]byte{0x67, 0x42, 0xc0, 0x1f, 0, 0, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, p []byte) {
		for codec := Unknown; codec <= Opus+1; codec++ {
			w, h, ok := Size(codec, p)
			if ok && (w < 1 || w > maxSide || h < 1 || h > maxSide) {
				t.Fatalf("codec %d: size %dx%d", codec, w, h)
			}
			if !ok && (w != 0 || h != 0) {
				t.Fatalf("codec %d: %dx%d without ok", codec, w, h)
			}
		}
	})
}
