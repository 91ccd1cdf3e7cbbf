package peer

import (
	"context"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/clip"
)

// PublishConfig says what to publish where.
type PublishConfig struct {
	URL   string // WHIP endpoint, e.g. http://127.0.0.1:8080/whip/room
	Token string
	Clip  *clip.Clip
	Options
	// OnPacket, when set, is called after each video packet is sent with its
	// RTP timestamp, the clip frame it belongs to and the send time.
	OnPacket func(p clip.Packet, at time.Time)
}

// Publisher sends a clip to a relay over WHIP, looping, until closed.
type Publisher struct {
	pc      *webrtc.PeerConnection
	session string
	opts    Options
	cancel  context.CancelFunc
	wg      sync.WaitGroup

	plis        atomic.Uint64
	nacks       atomic.Uint64
	packets     atomic.Uint64
	videoFrames atomic.Uint64
}

// Publish connects to the relay and starts sending.
func Publish(ctx context.Context, cfg PublishConfig) (*Publisher, error) {
	if cfg.Clip == nil || cfg.Clip.Video == nil && cfg.Clip.Audio == nil {
		return nil, errors.New("publish: no clip")
	}
	api, err := NewAPI(cfg.Options, true)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	p := &Publisher{pc: pc, opts: cfg.Options}
	type sendTrack struct {
		t      *webrtc.TrackLocalStaticRTP
		stream *clip.Stream
		video  bool
	}
	var tracks []sendTrack
	if cfg.Clip.Video != nil {
		vcap := webrtc.RTPCodecCapability{MimeType: cfg.Clip.Video.Mime, ClockRate: 90000}
		if cfg.Clip.Video.Mime == clip.MimeH264 {
			vcap.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
		}
		vt, err := webrtc.NewTrackLocalStaticRTP(vcap, "video", "relay-peer")
		if err != nil {
			pc.Close()
			return nil, err
		}
		tracks = append(tracks, sendTrack{vt, clip.NewStream(cfg.Clip.Video, 96, 1), true})
	}
	// An audio-only clip is an interpretation booth.
	if cfg.Clip.Audio != nil {
		at, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "relay-peer")
		if err != nil {
			pc.Close()
			return nil, err
		}
		tracks = append(tracks, sendTrack{at, clip.NewStream(cfg.Clip.Audio, 111, 2), false})
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, tr := range tracks {
		sender, err := pc.AddTrack(tr.t)
		if err != nil {
			cancel()
			pc.Close()
			return nil, err
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.readRTCP(sender)
		}()
	}
	session, err := Signal(ctx, cfg.Options, pc, cfg.URL, cfg.Token)
	if err != nil {
		cancel()
		pc.Close()
		p.wg.Wait()
		return nil, err
	}
	p.session = session

	// Start the clip once media can flow, as an encoder's first keyframe
	// would: packets written before then are dropped by pion.
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	if pc.ConnectionState() == webrtc.PeerConnectionStateConnected {
		once.Do(func() { close(connected) })
	}

	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		select {
		case <-connected:
		case <-runCtx.Done():
			return
		case <-time.After(10 * time.Second):
		}
		start := time.Now()
		timer := time.NewTimer(time.Hour)
		defer timer.Stop()
		next := make([]clip.Packet, len(tracks))
		for i := range tracks {
			next[i] = tracks[i].stream.Next()
		}
		for {
			i := 0
			for j := range next {
				if next[j].Due < next[i].Due {
					i = j
				}
			}
			if wait := time.Until(start.Add(next[i].Due)); wait > 0 {
				timer.Reset(wait)
				select {
				case <-runCtx.Done():
					return
				case <-timer.C:
				}
			} else if runCtx.Err() != nil {
				return
			}
			pkt := next[i]
			if err := tracks[i].t.WriteRTP(pkt.Packet); errors.Is(err, io.ErrClosedPipe) {
				return
			}
			p.packets.Add(1)
			if tracks[i].video {
				if pkt.Last {
					p.videoFrames.Add(1)
				}
				if cfg.OnPacket != nil {
					cfg.OnPacket(pkt, time.Now())
				}
			}
			next[i] = tracks[i].stream.Next()
		}
	}()
	return p, nil
}

func (p *Publisher) readRTCP(s *webrtc.RTPSender) {
	for {
		pkts, _, err := s.ReadRTCP()
		if err != nil {
			return
		}
		for _, pkt := range pkts {
			switch pkt.(type) {
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				p.plis.Add(1)
			case *rtcp.TransportLayerNack:
				p.nacks.Add(1)
			}
		}
	}
}

// PLIs is how many keyframe requests the relay sent.
func (p *Publisher) PLIs() uint64 { return p.plis.Load() }

// NACKs is how many NACK packets the relay sent (pion's responder resends
// the packets they name from its own buffer).
func (p *Publisher) NACKs() uint64 { return p.nacks.Load() }

// Packets is how many RTP packets were sent.
func (p *Publisher) Packets() uint64 { return p.packets.Load() }

// VideoFrames is how many video frames were sent.
func (p *Publisher) VideoFrames() uint64 { return p.videoFrames.Load() }

// ConnectionState is the peer connection's state.
func (p *Publisher) ConnectionState() webrtc.PeerConnectionState { return p.pc.ConnectionState() }

// Close ends the session with DELETE (when hangUp is set) and stops sending.
// Without hangUp the publisher just vanishes, as a crashed encoder would.
func (p *Publisher) Close(hangUpFirst bool) error {
	var err error
	if hangUpFirst {
		err = hangUp(p.opts, p.session)
	}
	p.cancel()
	if cerr := p.pc.Close(); err == nil {
		err = cerr
	}
	p.wg.Wait()
	return err
}
