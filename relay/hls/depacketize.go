package hls

import (
	"errors"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
)

// Limits on what one access unit may hold: a publisher cannot make the
// packager buffer without bound.
const (
	maxAUBytes = 4 << 20
	maxAUNALUs = 256
)

var errAUTooBig = errors.New("access unit too large")

// h264Depacketizer gathers RTP payloads (RFC 6184, packetization mode 1:
// single NAL units, STAP-A, FU-A) into access units, one per RTP
// timestamp. It keeps the last SPS and PPS for the init segment.
type h264Depacketizer struct {
	nalus [][]byte
	size  int
	fu    []byte // the FU-A being reassembled; nil when none
	sps   []byte
	pps   []byte
}

// reset drops a partly gathered access unit (after a lost packet).
func (d *h264Depacketizer) reset() {
	d.nalus, d.size, d.fu = nil, 0, nil
}

// push adds one RTP payload to the access unit being gathered.
func (d *h264Depacketizer) push(payload []byte) error {
	if len(payload) < 1 {
		return errors.New("empty H.264 payload")
	}
	switch typ := h264.NALUType(payload[0] & 0x1f); typ {
	case h264.NALUTypeSTAPA:
		d.fu = nil
		for b := payload[1:]; len(b) > 0; {
			if len(b) < 2 {
				return errors.New("STAP-A truncated")
			}
			n := int(b[0])<<8 | int(b[1])
			if n == 0 || len(b) < 2+n {
				return errors.New("STAP-A NAL unit truncated")
			}
			if err := d.add(b[2 : 2+n]); err != nil {
				return err
			}
			b = b[2+n:]
		}
	case h264.NALUTypeFUA:
		if len(payload) < 3 {
			return errors.New("FU-A truncated")
		}
		start, end := payload[1]&0x80 != 0, payload[1]&0x40 != 0
		if start {
			d.fu = append(make([]byte, 0, 1500), payload[0]&0xe0|payload[1]&0x1f)
		} else if d.fu == nil {
			return errors.New("FU-A without its start")
		}
		if len(d.fu)+len(payload)-2 > maxAUBytes {
			d.fu = nil
			return errAUTooBig
		}
		d.fu = append(d.fu, payload[2:]...)
		if end {
			nalu := d.fu
			d.fu = nil
			return d.add(nalu)
		}
	case h264.NALUTypeSTAPB, h264.NALUTypeMTAP16, h264.NALUTypeMTAP24, h264.NALUTypeFUB:
		return errors.New("H.264 packetization not supported (mode 1 only)")
	default:
		d.fu = nil
		return d.add(append([]byte(nil), payload...))
	}
	return nil
}

func (d *h264Depacketizer) add(nalu []byte) error {
	if len(nalu) == 0 {
		return nil
	}
	if len(d.nalus) >= maxAUNALUs || d.size+len(nalu) > maxAUBytes {
		return errAUTooBig
	}
	switch h264.NALUType(nalu[0] & 0x1f) {
	case h264.NALUTypeSPS:
		d.sps = append(d.sps[:0], nalu...)
	case h264.NALUTypePPS:
		d.pps = append(d.pps[:0], nalu...)
	case h264.NALUTypeAccessUnitDelimiter:
		return nil // fMP4 samples carry none
	}
	d.nalus = append(d.nalus, nalu)
	d.size += len(nalu)
	return nil
}

// take returns the gathered access unit and starts the next one.
func (d *h264Depacketizer) take() [][]byte {
	au := d.nalus
	d.nalus, d.size, d.fu = nil, 0, nil
	return au
}

// isIDR says whether au starts a coded video sequence.
func isIDR(au [][]byte) bool {
	for _, n := range au {
		if h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
			return true
		}
	}
	return false
}
