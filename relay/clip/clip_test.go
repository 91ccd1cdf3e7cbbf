package clip

import (
	"encoding/binary"
	"io/fs"
	"testing"
	"time"
)

func TestDemoClip(t *testing.T) {
	c, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Video.Frames); n != 300 {
		t.Errorf("video frames = %d, want 300 (10 s at 30 fps)", n)
	}
	keys := 0
	for _, f := range c.Video.Frames {
		if f.Key {
			keys++
		}
	}
	if keys != 10 {
		t.Errorf("keyframes = %d, want 10", keys)
	}
	if c.Audio == nil {
		t.Fatal("no audio")
	}
	if d := c.Audio.Length(); d < 9900*time.Millisecond || d > 10100*time.Millisecond {
		t.Errorf("audio length %v, want about 10 s", d)
	}
}

func TestStreamLoops(t *testing.T) {
	c, err := Demo()
	if err != nil {
		t.Fatal(err)
	}
	s := NewStream(c.Video, 96, 1234)
	first := s.Next()
	if !first.Key || first.Frame != 0 || first.Due != 0 {
		t.Fatalf("first packet: key=%v frame=%d due=%v", first.Key, first.Frame, first.Due)
	}
	prevSeq, prevTS := first.SequenceNumber, first.Timestamp
	var last Packet
	for i := 0; i < 20000; i++ {
		p := s.Next()
		if p.SequenceNumber != prevSeq+1 {
			t.Fatalf("seq jumped %d -> %d", prevSeq, p.SequenceNumber)
		}
		if int32(p.Timestamp-prevTS) < 0 {
			t.Fatalf("timestamp went back %d -> %d", prevTS, p.Timestamp)
		}
		prevSeq, prevTS = p.SequenceNumber, p.Timestamp
		last = p
	}
	if last.Frame < 300 {
		t.Fatalf("did not loop: frame %d", last.Frame)
	}
	if want := time.Duration(last.Frame) * time.Second / 30; last.Due < want-time.Millisecond || last.Due > want+time.Millisecond {
		t.Errorf("due %v for frame %d, want %v", last.Due, last.Frame, want)
	}
}

func TestBadInput(t *testing.T) {
	for name, f := range map[string]func() error{
		"empty h264":  func() error { _, err := FromBytes(MimeH264, nil, nil, 30); return err },
		"garbage ivf": func() error { _, err := FromBytes(MimeVP8, []byte("nope"), nil, 30); return err },
		"bad ogg": func() error {
			_, err := FromBytes(MimeH264, []byte{0, 0, 1, 0x65, 0x88}, []byte("OggS"), 30)
			return err
		},
		"codec": func() error { _, err := FromBytes("video/H265", nil, nil, 30); return err },
	} {
		t.Run(name, func(t *testing.T) {
			if f() == nil {
				t.Error("accepted")
			}
		})
	}
}

func TestLoadVP8IVF(t *testing.T) {
	c, err := Load("testdata/small.ivf", 30)
	if err != nil {
		t.Fatal(err)
	}
	if c.Video.Mime != MimeVP8 || len(c.Video.Frames) != 90 || c.Audio != nil {
		t.Fatalf("mime %s, %d frames, audio %v", c.Video.Mime, len(c.Video.Frames), c.Audio != nil)
	}
	keys := 0
	for _, f := range c.Video.Frames {
		if f.Key {
			keys++
		}
	}
	if keys != 3 {
		t.Errorf("keyframes = %d, want 3 (one a second)", keys)
	}
	p := NewStream(c.Video, 96, 1).Next()
	if !p.Key || p.Payload[0]&0x10 == 0 {
		t.Errorf("first VP8 packet: key %v, descriptor %x", p.Key, p.Payload[0])
	}
}

func TestBoothClips(t *testing.T) {
	for _, lang := range BoothLanguages() {
		t.Run(lang, func(t *testing.T) {
			c, err := Booth(lang)
			if err != nil {
				t.Fatal(err)
			}
			if c.Video != nil {
				t.Error("booth clip has video")
			}
			a := c.Audio
			if a == nil {
				t.Fatal("no audio")
			}
			if a.Mime != MimeOpus || a.ClockRate != 48000 {
				t.Errorf("audio %s/%d, want %s/48000", a.Mime, a.ClockRate, MimeOpus)
			}
			d := a.Length()
			if d < 10*time.Second || d > 25*time.Second {
				t.Errorf("length %v, want 10-25 s", d)
			}
			for i, f := range a.Frames {
				if f.Duration != 20*time.Millisecond || !f.Key || len(f.Data) == 0 {
					t.Fatalf("packet %d: %v, key %v, %d bytes; want 20 ms keyed packets", i, f.Duration, f.Key, len(f.Data))
				}
			}
			// The packets' TOC durations agree with the Ogg end position:
			// they cover it and overshoot by less than one packet (the
			// final packet is trimmed by the granule position).
			b, err := boothFS.ReadFile("media/booth-" + lang + ".ogg")
			if err != nil {
				t.Fatal(err)
			}
			end := oggEnd(t, b)
			if d < end || d-end >= 20*time.Millisecond {
				t.Errorf("packets last %v, Ogg granule position says %v", d, end)
			}
			t.Logf("%s: %v, %d packets, %d bytes", lang, d, len(a.Frames), len(b))
		})
	}
}

// oggEnd returns the playing time an Ogg Opus file declares: the granule
// position of its last page, pre-skip included, at 48 kHz.
func oggEnd(t *testing.T, b []byte) time.Duration {
	t.Helper()
	var granule uint64
	for len(b) >= 27 && string(b[:4]) == "OggS" {
		granule = binary.LittleEndian.Uint64(b[6:])
		segs := int(b[26])
		size := 27 + segs
		for _, l := range b[27 : 27+segs] {
			size += int(l)
		}
		b = b[size:]
	}
	if len(b) != 0 || granule == 0 {
		t.Fatalf("bad Ogg pages: %d bytes left, granule %d", len(b), granule)
	}
	return time.Duration(granule) * time.Second / 48000
}

func TestBoothSize(t *testing.T) {
	files, err := fs.Glob(boothFS, "media/booth-*.ogg")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(BoothLanguages()) {
		t.Errorf("embedded %v, want one file per language of %v", files, BoothLanguages())
	}
	total := 0
	for _, f := range files {
		b, err := boothFS.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		total += len(b)
	}
	if total >= 500_000 {
		t.Errorf("booth clips take %d bytes, want under 500 KB", total)
	}
}

func TestBoothUnknownLanguage(t *testing.T) {
	for _, lang := range []string{"", "de", "FR", "../demo", "demo"} {
		t.Run(lang, func(t *testing.T) {
			if c, err := Booth(lang); err == nil {
				t.Errorf("Booth(%q) = %v, want an error", lang, c)
			}
		})
	}
}

func TestAudioOnlyStreamLoops(t *testing.T) {
	c, err := Booth("fr")
	if err != nil {
		t.Fatal(err)
	}
	s := NewStream(c.Audio, 111, 42)
	n := len(c.Audio.Frames)
	prev := s.Next()
	if prev.Due != 0 || prev.Frame != 0 || !prev.Key || !prev.Last || prev.PayloadType != 111 || prev.SSRC != 42 {
		t.Fatalf("first packet: due %v frame %d key %v last %v pt %d ssrc %d", prev.Due, prev.Frame, prev.Key, prev.Last, prev.PayloadType, prev.SSRC)
	}
	for i := 1; i < 2*n+10; i++ { // twice round the loop
		p := s.Next()
		if p.Frame != uint64(i) || p.SequenceNumber != prev.SequenceNumber+1 || p.Timestamp-prev.Timestamp != 960 || p.Due-prev.Due != 20*time.Millisecond {
			t.Fatalf("packet %d: frame %d, seq +%d, ts +%d, due +%v; want one 20 ms packet each", i, p.Frame, p.SequenceNumber-prev.SequenceNumber, p.Timestamp-prev.Timestamp, p.Due-prev.Due)
		}
		prev = p
	}
}

func TestFromOggBadInput(t *testing.T) {
	for name, b := range map[string][]byte{
		"empty":     nil,
		"garbage":   []byte("not an ogg file at all, nothing like one"),
		"h264":      {0, 0, 0, 1, 0x67, 0x42},
		"truncated": []byte("OggS\x00\x02"),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := FromOgg(b); err == nil {
				t.Error("accepted")
			}
		})
	}
}
