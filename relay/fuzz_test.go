package relay

import (
	"testing"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/httperr"
)

// FuzzParseOffer: whatever a WHIP/WHEP client posts, parsing returns codecs
// or an error with a 4xx status, never a panic.
func FuzzParseOffer(f *testing.F) {
	f.Add(tinyOffer)
	f.Add(h264Offer)
	f.Add("v=0\r\n")
	f.Add("v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=fmtp:0 x\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		oc, err := parseOffer(raw)
		if err != nil {
			if st := httperr.Status(err); st < 400 || st > 499 {
				t.Fatalf("error %v is not a client error", err)
			}
			return
		}
		oc.supportedKinds()
		oc.anySupported()
		oc.canReceive(webrtc.RTPCodecTypeVideo, webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264})
	})
}

// FuzzStorePacket: arbitrary bytes from a publisher are parsed into the
// history without panics, and a stored packet's payload lies inside it.
func FuzzStorePacket(f *testing.F) {
	f.Add([]byte{0x80, 0x60, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0x65, 0x88})
	f.Add([]byte{0x90, 0x60, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0, 0x7c, 0x85})
	f.Add([]byte{0xa0, 0x60, 0, 3, 0, 0, 0, 1, 0, 0, 0, 1, 0x41, 0, 2})
	f.Add([]byte{0x8f, 0x60, 0, 4})
	f.Fuzz(func(t *testing.T, raw []byte) {
		for _, codec := range []codecKind{codecH264, keyframeVP8} {
			h := newHistory(16, codec)
			p, _ := h.store(raw, 1)
			if p == nil {
				continue
			}
			if p.hdrLen < 12 || p.hdrLen > p.n || p.n != len(raw) {
				t.Fatalf("payload bounds hdr=%d n=%d len=%d", p.hdrLen, p.n, len(raw))
			}
			_ = p.media()
			var out packet
			if !h.copyOut(p.seq, &out) || out.n != p.n {
				t.Fatal("stored packet not found again")
			}
		}
	})
}
