package hls

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzFileName: any requested name parses without panic, and what parses
// names a file the packager could have written.
func FuzzFileName(f *testing.F) {
	for _, s := range []string{"init0.mp4", "seg12.mp4", "part3.4.mp4", "seg7.vtt", "part1.x.mp4", "seg-1.mp4", "init99999999.mp4", "part.mp4", "seg18446744073709551616.mp4"} {
		f.Add(s, "mp4")
		f.Add(s, "vtt")
	}
	f.Fuzz(func(t *testing.T, file, ext string) {
		n, _, _, ok := parseFileName(file, ext)
		if !ok {
			return
		}
		if !strings.HasSuffix(file, ".mp4") && !strings.HasSuffix(file, "."+ext) {
			t.Fatalf("%q parsed with extension %q", file, ext)
		}
		if n.part < 0 || n.initIndex < 0 {
			t.Fatalf("%q: negative index %+v", file, n)
		}
	})
}

// FuzzDepacketize: hostile RTP payloads never panic and never make an
// access unit larger than the limits.
func FuzzDepacketize(f *testing.F) {
	f.Add([]byte{0x67, 0x42, 0xc0, 0x1f}, []byte{0x7c, 0x85, 1, 2, 3}, []byte{0x7c, 0x45, 4, 5})
	f.Add([]byte{0x78, 0, 3, 0x67, 1, 2, 0, 2, 0x68, 3}, []byte{0x65, 1}, []byte{})
	f.Add([]byte{0x78, 0xff, 0xff}, []byte{0x7c}, []byte{0x7d, 0x80, 1})
	f.Fuzz(func(t *testing.T, a, b, c []byte) {
		var d h264Depacketizer
		for range 3 {
			for _, p := range [][]byte{a, b, c} {
				_ = d.push(p)
			}
		}
		if d.size > maxAUBytes || len(d.nalus) > maxAUNALUs {
			t.Fatalf("access unit of %d bytes, %d NAL units", d.size, len(d.nalus))
		}
		au := d.take()
		for _, n := range au {
			if len(n) == 0 {
				t.Fatal("an empty NAL unit in an access unit")
			}
		}
		_ = isIDR(au)
	})
}

// FuzzRecordedFiles: a recording torn by a crash (any bytes in its
// playlist body or cue log) reads without panic.
func FuzzRecordedFiles(f *testing.F) {
	f.Add("#EXT-X-MAP:URI=\"init0.mp4\"\n#EXT-X-PROGRAM-DATE-TIME:2026-12-02T03:50:54.999Z\n#EXTINF:2.000,\nseg0.mp4\n", `{"seq":1,"at":10000000000,"text":"a"}`+"\n"+`{"seq":1,"at":1,"text":"b"}`)
	f.Add("#EXTINF:nan,\nseg\n#EXT-X-MAP:URI=\"init", "{\"seq\":")
	dir := f.TempDir() // one per fuzzing process, whose inputs run one at a time
	f.Fuzz(func(t *testing.T, body, cues string) {
		_ = os.MkdirAll(filepath.Join(dir, "r", "id", "v"), 0o755)
		_ = os.MkdirAll(filepath.Join(dir, "r", "id", "s-en"), 0o755)
		_ = os.WriteFile(filepath.Join(dir, "r", "id", "v", "segments.m3u8"), []byte(body), 0o644)
		_ = os.WriteFile(filepath.Join(dir, "r", "id", "s-en", "cues.jsonl"), []byte(cues), 0o644)
		s := &Server{cfg: Config{Dir: dir}}
		m := sessionMeta{Room: "r", ID: "id", Start: time.Unix(0, 0), Lead: "v", Renditions: []string{"v"}, Subtitles: []string{"en"}}
		_, _ = readBody(filepath.Join(dir, "r", "id", "v", "segments.m3u8"))
		_, _ = s.vodPlaylist(m, "v", "")
		_ = writeVTT(s.readCues(m, "en"))
	})
}
