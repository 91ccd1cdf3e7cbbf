package keyframe

import "testing"

func TestIsStart(t *testing.T) {
	cases := []struct {
		name       string
		codec      Codec
		payload    []byte
		key, known bool
	}{
		{"h264 idr", H264, []byte{0x65, 0x88}, true, true},
		{"h264 sps", H264, []byte{0x67, 0x42}, true, true},
		{"h264 p slice", H264, []byte{0x41, 0x9a}, false, true},
		{"h264 stap-a with sps", H264, []byte{0x78, 0, 2, 0x67, 0x42, 0, 1, 0x68}, true, true},
		{"h264 stap-a without", H264, []byte{0x78, 0, 2, 0x41, 0x42}, false, true},
		{"h264 stap-a truncated", H264, []byte{0x78, 0, 9, 0x67}, false, false},
		{"h264 fu-a idr start", H264, []byte{0x7c, 0x85, 1}, true, true},
		{"h264 fu-a idr middle", H264, []byte{0x7c, 0x05, 1}, false, true},
		{"h264 fu-a truncated", H264, []byte{0x7c}, false, false},
		{"h264 empty", H264, nil, false, false},
		{"h264 reserved type", H264, []byte{0x1f}, false, false},
		{"vp8 key", VP8, []byte{0x10, 0x00}, true, true},
		{"vp8 delta", VP8, []byte{0x10, 0x01}, false, true},
		{"vp8 not start", VP8, []byte{0x00, 0x00}, false, true},
		{"vp8 extended pid", VP8, []byte{0x90, 0x80, 0x81, 0x02, 0x00}, true, true},
		{"vp8 truncated ext", VP8, []byte{0x90}, false, false},
		{"vp9 key", VP9, []byte{0x08}, true, true},
		{"vp9 inter", VP9, []byte{0x48}, false, true},
		{"av1 new sequence", AV1, []byte{0x08}, true, true},
		{"av1 other", AV1, []byte{0x00}, false, true},
		{"opus", Opus, []byte{0xfc}, true, true},
		{"unknown", Unknown, []byte{1}, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			key, known := IsStart(c.codec, c.payload)
			if key != c.key || known != c.known {
				t.Errorf("got (%v, %v), want (%v, %v)", key, known, c.key, c.known)
			}
		})
	}
	if Of("video/h264") != H264 || Of("VIDEO/VP8") != VP8 || Of("audio/opus") != Opus || Of("video/H265") != Unknown {
		t.Error("Of")
	}
}

// FuzzIsStart feeds arbitrary payloads to every codec's parser: it must
// never panic, whatever a publisher sends.
func FuzzIsStart(f *testing.F) {
	for _, seed := range [][]byte{{0x65}, {0x78, 0, 2, 0x67, 0x42}, {0x7c, 0x85}, {0x90, 0x80, 0x81}, {0x08}, {}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		for c := Unknown; c <= Opus; c++ {
			key, known := IsStart(c, p)
			if key && !known {
				t.Fatalf("codec %d: key without knowing", c)
			}
		}
	})
}
