package clip

import (
	"time"

	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
)

// MTU is the largest RTP packet a Stream makes.
const MTU = 1200

// Stream turns a track into RTP packets, looping over the track forever with
// timestamps and sequence numbers that keep moving forward.
type Stream struct {
	track     *Track
	pz        rtp.Packetizer
	next      int           // next frame index in the track
	frames    uint64        // frames emitted so far, across loops
	at        time.Duration // due time of the next frame, from the stream's start
	pending   []*rtp.Packet
	pendingAt time.Duration
	pendingN  uint64
}

// Packet is one RTP packet of a Stream with the time it is due.
type Packet struct {
	*rtp.Packet
	Due   time.Duration // from the stream's start
	Frame uint64        // index of the frame it belongs to, counting across loops
	Key   bool          // part of a keyframe
	Last  bool          // last packet of its frame
}

// NewStream packetizes track with payload type pt and ssrc.
func NewStream(track *Track, pt uint8, ssrc uint32) *Stream {
	var pl rtp.Payloader
	switch track.Mime {
	case MimeH264:
		pl = &codecs.H264Payloader{}
	case MimeVP8:
		pl = &codecs.VP8Payloader{EnablePictureID: true}
	default:
		pl = &codecs.OpusPayloader{}
	}
	return &Stream{
		track: track,
		pz:    rtp.NewPacketizer(MTU, pt, ssrc, pl, rtp.NewRandomSequencer(), track.ClockRate),
	}
}

// Next returns the next packet.
func (s *Stream) Next() Packet {
	for len(s.pending) == 0 {
		f := s.track.Frames[s.next]
		samples := uint32(f.Duration.Seconds()*float64(s.track.ClockRate) + 0.5)
		s.pending = s.pz.Packetize(f.Data, samples)
		s.pendingAt, s.pendingN = s.at, s.frames
		s.at += f.Duration
		s.frames++
		s.next = (s.next + 1) % len(s.track.Frames)
	}
	p := s.pending[0]
	s.pending = s.pending[1:]
	key := s.track.Frames[(s.next+len(s.track.Frames)-1)%len(s.track.Frames)].Key
	return Packet{Packet: p, Due: s.pendingAt, Frame: s.pendingN, Key: key, Last: len(s.pending) == 0}
}
