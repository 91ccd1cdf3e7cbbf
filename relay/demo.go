package relay

import (
	"context"
	"errors"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/langtag"
	"github.com/relay-av/relay/relay/clip"
)

// PublishClip publishes c into a channel of room (lang "" is the floor,
// otherwise a language tag), looping, through the same source path as a
// WHIP publisher. It returns when ctx ends or a real publisher takes the
// channel over.
func (s *Server) PublishClip(ctx context.Context, roomName, lang string, c *clip.Clip) error {
	if !ValidRoomName(roomName) {
		return errors.New("bad room name")
	}
	if lang != "" {
		var err error
		if lang, err = langtag.Canonical(lang); err != nil {
			return err
		}
	}
	room, err := s.room(roomName, true)
	if err != nil {
		return err
	}
	ch, err := room.channelFor(lang)
	if err != nil {
		return err
	}
	p := s.newPublisher(room, ch)
	p.tag = "clip"
	if c.Video != nil {
		p.expect = append(p.expect, webrtc.RTPCodecTypeVideo)
	}
	if c.Audio != nil {
		p.expect = append(p.expect, webrtc.RTPCodecTypeAudio)
	}
	if len(p.expect) == 0 {
		return errors.New("clip has no media")
	}
	room.addPending(p) // takes the channel over with its first source
	start := time.Now()
	if c.Video != nil {
		video := webrtc.RTPCodecCapability{MimeType: c.Video.Mime, ClockRate: c.Video.ClockRate}
		if c.Video.Mime == clip.MimeH264 {
			video.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		}
		p.addSource(webrtc.RTPCodecTypeVideo, "", video, newClipReader(ctx, p.done, clip.NewStream(c.Video, 96, 0x1234), start), nil, 0)
	}
	if c.Audio != nil {
		audio := webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"}
		p.addSource(webrtc.RTPCodecTypeAudio, "", audio, newClipReader(ctx, p.done, clip.NewStream(c.Audio, 111, 0x5678), start), nil, 0)
	}
	p.log.Info("clip publishing", "length", clipLength(c).Round(time.Millisecond).String())
	select {
	case <-ctx.Done():
		p.close("clip stopped")
	case <-p.done:
	}
	return nil
}

func clipLength(c *clip.Clip) time.Duration {
	if c.Video != nil {
		return c.Video.Length()
	}
	return c.Audio.Length()
}

// clipReader paces a clip stream in real time as a packetReader.
type clipReader struct {
	ctx    context.Context
	done   <-chan struct{}
	stream *clip.Stream
	start  time.Time
	timer  *time.Timer
}

func newClipReader(ctx context.Context, done <-chan struct{}, st *clip.Stream, start time.Time) *clipReader {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return &clipReader{ctx: ctx, done: done, stream: st, start: start, timer: t}
}

func (r *clipReader) ReadPacket(buf []byte) (int, error) {
	p := r.stream.Next()
	if wait := time.Until(r.start.Add(p.Due)); wait > 0 {
		r.timer.Reset(wait)
		select {
		case <-r.ctx.Done():
			return 0, r.ctx.Err()
		case <-r.done:
			return 0, errors.New("publisher closed")
		case <-r.timer.C:
		}
	}
	select {
	case <-r.done:
		return 0, errors.New("publisher closed")
	default:
	}
	return p.MarshalTo(buf)
}
