package clip

import (
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
