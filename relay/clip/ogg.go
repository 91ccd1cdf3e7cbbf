package clip

import (
	"errors"
	"fmt"
	"time"
)

// parseOggOpus reads the Opus packets of an Ogg file (RFC 7845), skipping the
// OpusHead and OpusTags header packets. Packets may span pages and pages may
// hold several packets; the lacing table says where each one ends.
func parseOggOpus(b []byte) (*Track, error) {
	t := &Track{Mime: MimeOpus, ClockRate: 48000}
	var pkt []byte
	n := 0
	for len(b) > 0 {
		if len(b) < 27 || string(b[:4]) != "OggS" {
			return nil, errors.New("ogg clip: bad page header")
		}
		segs := int(b[26])
		if len(b) < 27+segs {
			return nil, errors.New("ogg clip: truncated lacing table")
		}
		lacing := b[27 : 27+segs]
		body := b[27+segs:]
		for _, l := range lacing {
			if len(body) < int(l) {
				return nil, errors.New("ogg clip: truncated page")
			}
			pkt = append(pkt, body[:l]...)
			body = body[l:]
			if l < 255 {
				if n >= 2 && len(pkt) > 0 {
					d, err := opusDuration(pkt)
					if err != nil {
						return nil, err
					}
					t.Frames = append(t.Frames, Frame{Data: pkt, Duration: d, Key: true})
				} else if n == 0 && (len(pkt) < 8 || string(pkt[:8]) != "OpusHead") {
					return nil, errors.New("ogg clip: not Opus")
				}
				n++
				pkt = nil
			}
		}
		b = body
	}
	if len(t.Frames) == 0 {
		return nil, errors.New("ogg clip: no audio packets")
	}
	return t, nil
}

// opusDuration reads an Opus packet's TOC byte (RFC 6716 3.1).
func opusDuration(p []byte) (time.Duration, error) {
	if len(p) == 0 {
		return 0, errors.New("opus: empty packet")
	}
	cfg := p[0] >> 3
	var frame time.Duration
	switch {
	case cfg < 12: // SILK
		frame = [4]time.Duration{10, 20, 40, 60}[cfg&3] * time.Millisecond
	case cfg < 16: // hybrid
		frame = [2]time.Duration{10, 20}[cfg&1] * time.Millisecond
	default: // CELT
		frame = [4]time.Duration{2500, 5000, 10000, 20000}[cfg&3] * time.Microsecond
	}
	frames := 1
	switch p[0] & 3 {
	case 1, 2:
		frames = 2
	case 3:
		if len(p) < 2 {
			return 0, errors.New("opus: truncated frame count")
		}
		frames = int(p[1] & 0x3f)
	}
	d := frame * time.Duration(frames)
	if d <= 0 || d > 120*time.Millisecond {
		return 0, fmt.Errorf("opus: packet lasts %v", d)
	}
	return d, nil
}
