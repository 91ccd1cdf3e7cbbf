// Package keyframe finds keyframes in RTP payloads, per codec.
package keyframe

import (
	"strings"
)

// Codec is a codec whose keyframes the package can find.
type Codec uint8

// The codecs known here.
const (
	Unknown Codec = iota
	H264
	VP8
	VP9
	AV1
	Opus
)

// Of returns the Codec of a MIME type such as "video/H264".
func Of(mime string) Codec {
	switch strings.ToLower(mime) {
	case "video/h264":
		return H264
	case "video/vp8":
		return VP8
	case "video/vp9":
		return VP9
	case "video/av1":
		return AV1
	case "audio/opus":
		return Opus
	}
	return Unknown
}

// IsStart reports whether an RTP payload (without padding) is the first
// packet of a keyframe for the codec, and whether the answer is known at all
// (a codec the package does not parse, or a truncated payload, gives
// known=false so callers can choose a safe default instead of a guess).
func IsStart(codec Codec, payload []byte) (isKey, known bool) {
	switch codec {
	case H264:
		return h264KeyframeStart(payload)
	case VP8:
		return vp8KeyframeStart(payload)
	case VP9:
		return vp9KeyframeStart(payload)
	case AV1:
		return av1KeyframeStart(payload)
	case Opus:
		return true, true // every audio packet can start playback
	}
	return false, false
}

// H.264 (RFC 6184): a keyframe starts with an SPS or an IDR slice, either as a
// single NAL unit, inside a STAP-A, or as the first fragment of an FU-A.
func h264KeyframeStart(p []byte) (bool, bool) {
	if len(p) < 1 {
		return false, false
	}
	const (
		nalIDR  = 5
		nalSPS  = 7
		nalSTAP = 24
		nalFUA  = 28
	)
	switch t := p[0] & 0x1f; t {
	case nalIDR, nalSPS:
		return true, true
	case nalSTAP:
		for i := 1; i+2 < len(p); {
			size := int(p[i])<<8 | int(p[i+1])
			if size == 0 || i+2+size > len(p) {
				return false, false
			}
			if nt := p[i+2] & 0x1f; nt == nalIDR || nt == nalSPS {
				return true, true
			}
			i += 2 + size
		}
		return false, true
	case nalFUA:
		if len(p) < 2 {
			return false, false
		}
		start := p[1]&0x80 != 0
		return start && p[1]&0x1f == nalIDR, true
	default:
		if t == 0 || t > nalFUA+1 {
			return false, false
		}
		return false, true
	}
}

// VP8 (RFC 7741): the payload descriptor, then on the first partition's first
// packet (S=1, PID=0) the frame tag whose bit 0 is 0 for a keyframe.
func vp8KeyframeStart(p []byte) (bool, bool) {
	if len(p) < 1 {
		return false, false
	}
	i := 1
	x := p[0]&0x80 != 0
	start := p[0]&0x10 != 0
	pid := p[0] & 0x07
	if x {
		if len(p) < 2 {
			return false, false
		}
		ext := p[1]
		i = 2
		if ext&0x80 != 0 { // I: picture id
			if len(p) <= i {
				return false, false
			}
			if p[i]&0x80 != 0 {
				i += 2
			} else {
				i++
			}
		}
		if ext&0x40 != 0 { // L: tl0picidx
			i++
		}
		if ext&0x30 != 0 { // T or K
			i++
		}
	}
	if len(p) <= i {
		return false, false
	}
	if !start || pid != 0 {
		return false, true
	}
	return p[i]&0x01 == 0, true
}

// VP9 (RFC 9628): B (start of frame) set and P (inter-picture predicted) clear.
func vp9KeyframeStart(p []byte) (bool, bool) {
	if len(p) < 1 {
		return false, false
	}
	predicted := p[0]&0x40 != 0
	begin := p[0]&0x08 != 0
	return begin && !predicted, true
}

// AV1 (AV1 RTP spec 4.4): the aggregation header's N bit marks the first
// packet of a coded video sequence, which starts with a keyframe.
func av1KeyframeStart(p []byte) (bool, bool) {
	if len(p) < 1 {
		return false, false
	}
	return p[0]&0x08 != 0, true
}
