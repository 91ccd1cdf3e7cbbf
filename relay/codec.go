package relay

import (
	"strings"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/keyframe"
)

type codecKind = keyframe.Codec

const (
	codecUnknown = keyframe.Unknown
	codecH264    = keyframe.H264
	keyframeVP8  = keyframe.VP8
)

func codecOf(mime string) codecKind { return keyframe.Of(mime) }

// newMediaEngine registers what the relay accepts from publishers and offers
// to viewers: H.264 (packetization-mode 1; constrained baseline, baseline,
// main and high), VP8, VP9, AV1 and Opus. No RTX or FEC payload types: lost
// packets are resent under their own SSRC from the shared history.
func newMediaEngine() (*webrtc.MediaEngine, error) {
	m := &webrtc.MediaEngine{}
	fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}, {Type: "nack"}, {Type: "nack", Parameter: "pli"}, {Type: "transport-cc"}}
	video := []struct {
		mime, fmtp string
		pt         webrtc.PayloadType
	}{
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", 102},
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f", 104},
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f", 106},
		{webrtc.MimeTypeH264, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032", 108},
		{webrtc.MimeTypeVP8, "", 96},
		{webrtc.MimeTypeVP9, "profile-id=0", 98},
		{webrtc.MimeTypeAV1, "", 45},
	}
	for _, c := range video {
		err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: c.mime, ClockRate: 90000, SDPFmtpLine: c.fmtp, RTCPFeedback: fb},
			PayloadType:        c.pt,
		}, webrtc.RTPCodecTypeVideo)
		if err != nil {
			return nil, err
		}
	}
	err := m.RegisterCodec(webrtc.RTPCodecParameters{
		RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
		PayloadType:        111,
	}, webrtc.RTPCodecTypeAudio)
	return m, err
}

// pickCodec chooses, among the codecs a viewer negotiated, the one that
// carries want: same MIME type and, for H.264, packetization mode 1 with the
// same profile when offered (any profile decodes on the browsers we target).
func pickCodec(offered []webrtc.RTPCodecParameters, want webrtc.RTPCodecCapability) (webrtc.RTPCodecParameters, bool) {
	var fallback *webrtc.RTPCodecParameters
	for i, c := range offered {
		if !strings.EqualFold(c.MimeType, want.MimeType) {
			continue
		}
		if codecOf(want.MimeType) != codecH264 {
			return c, true
		}
		if fmtpValue(c.SDPFmtpLine, "packetization-mode") != "1" {
			continue
		}
		if strings.EqualFold(profileOf(c.SDPFmtpLine), profileOf(want.SDPFmtpLine)) {
			return c, true
		}
		if fallback == nil {
			fallback = &offered[i]
		}
	}
	if fallback != nil {
		return *fallback, true
	}
	return webrtc.RTPCodecParameters{}, false
}

// profileOf returns the profile_idc + constraint bytes of an H.264 fmtp line
// (the level does not matter for choosing a decoder).
func profileOf(fmtp string) string {
	p := fmtpValue(fmtp, "profile-level-id")
	if len(p) >= 4 {
		return p[:4]
	}
	return p
}

func fmtpValue(fmtp, key string) string {
	for _, kv := range strings.Split(fmtp, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if ok && strings.EqualFold(k, key) {
			return v
		}
	}
	return ""
}
