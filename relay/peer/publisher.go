package peer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/clip"
)

// PublishConfig says what to publish where.
type PublishConfig struct {
	URL   string // WHIP endpoint, e.g. http://127.0.0.1:8080/whip/room
	Token string
	// Clip is sent looping: its video and its audio. With Layers only its
	// audio is sent, and it may be nil (no audio).
	Clip *clip.Clip
	// Layers, when set, sends the video as simulcast: one video section
	// whose offer lists one rid per layer (a=simulcast:send, in this
	// order), each layer its own SSRC looping its own clip's video. All
	// layers share one codec. Nil sends Clip's video as one stream.
	Layers []Layer
	Options
	// OnPacket, when set, is called after each video packet is sent (of
	// every layer) with the rid of its layer ("" without Layers), the clip
	// packet and the send time. Each layer has its own RTP timestamps and
	// sequence numbers, so a caller matching what viewers get to what was
	// sent keeps them apart by rid.
	OnPacket func(rid string, p clip.Packet, at time.Time)
}

// Layer is one simulcast encoding of the published video.
type Layer struct {
	// RID names the layer in the offer (RFC 8851) and in the rid header
	// extension of its packets (RFC 8852): 1 to 16 letters, digits, '-'
	// or '_', e.g. "h", "m", "l".
	RID string
	// Clip's video is the layer's picture; its audio is not sent.
	Clip *clip.Clip
}

// LayerStats is what one simulcast layer sent and was asked for.
type LayerStats struct {
	RID     string
	SSRC    uint32
	Packets uint64
	Frames  uint64
	// PLIs counts keyframe requests (PLI, FIR) naming the layer's SSRC. A
	// clip.Stream cannot jump to its next keyframe, so the layer plays on:
	// the request is answered by the clip's next keyframe in its turn.
	PLIs uint64
}

// Publisher sends a clip to a relay over WHIP, looping, until closed.
type Publisher struct {
	pc      *webrtc.PeerConnection
	session string
	opts    Options
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	layers  []*layer // in PublishConfig.Layers order; nil without simulcast

	plis        atomic.Uint64
	nacks       atomic.Uint64
	packets     atomic.Uint64
	videoFrames atomic.Uint64
}

// layer is a simulcast layer's identity and counters.
type layer struct {
	rid                   string
	ssrc                  uint32 // pion's, known from AddEncoding on
	packets, frames, plis atomic.Uint64
	stopped               atomic.Bool // sends nothing, as an encoder that dropped the layer
}

// sendTrack is one stream the send loop paces.
type sendTrack struct {
	t      *webrtc.TrackLocalStaticRTP
	stream *clip.Stream
	video  bool
	layer  *layer // nil unless simulcast
	// midID and ridID are the negotiated ids of the mid and rid header
	// extensions a layer's packets carry; 0 without simulcast.
	midID, ridID uint8
	mid, rid     []byte
}

// Publish connects to the relay and starts sending.
func Publish(ctx context.Context, cfg PublishConfig) (*Publisher, error) {
	if err := cfg.check(); err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	register := (*webrtc.MediaEngine).RegisterDefaultCodecs
	if len(cfg.Layers) > 0 {
		register = simulcastCodecs(cfg.Layers[0].Clip.Video.Mime)
	}
	api, err := newAPI(cfg.Options, true, register)
	if err != nil {
		return nil, err
	}
	conf, err := cfg.configuration(ctx, cfg.URL, cfg.Token)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p := &Publisher{pc: pc, opts: cfg.Options, cancel: cancel}
	fail := func(err error) (*Publisher, error) {
		cancel()
		pc.Close()
		p.wg.Wait()
		return nil, err
	}
	tracks, err := p.addTracks(cfg)
	if err != nil {
		return fail(err)
	}
	session, err := Signal(ctx, cfg.Options, pc, cfg.URL, cfg.Token)
	if err != nil {
		return fail(err)
	}
	p.session = session
	if err := tagLayers(pc, tracks); err != nil {
		_ = hangUp(cfg.Options, session)
		return fail(fmt.Errorf("publish: %w", err))
	}

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
		p.send(runCtx, tracks, cfg.OnPacket)
	}()
	return p, nil
}

// check says what is wrong with cfg, if anything.
func (cfg PublishConfig) check() error {
	if len(cfg.Layers) == 0 {
		if cfg.Clip == nil || cfg.Clip.Video == nil && cfg.Clip.Audio == nil {
			return errors.New("no clip")
		}
		return nil
	}
	// RFC 8851 rid-ids short enough for a one-byte header extension.
	const ridChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_"
	seen := map[string]bool{}
	for _, l := range cfg.Layers {
		if len(l.RID) == 0 || len(l.RID) > 16 || strings.Trim(l.RID, ridChars) != "" {
			return fmt.Errorf("layer rid %q: want 1 to 16 letters, digits, '-' or '_'", l.RID)
		}
		if seen[l.RID] {
			return fmt.Errorf("layer rid %q twice", l.RID)
		}
		seen[l.RID] = true
		if l.Clip == nil || l.Clip.Video == nil {
			return fmt.Errorf("layer %s: no video", l.RID)
		}
		if l.Clip.Video.Mime != cfg.Layers[0].Clip.Video.Mime {
			return fmt.Errorf("layer %s is %s, layer %s %s: simulcast layers share a codec",
				l.RID, l.Clip.Video.Mime, cfg.Layers[0].RID, cfg.Layers[0].Clip.Video.Mime)
		}
	}
	return nil
}

// addTracks adds the video (one track, or one encoding per layer) and the
// audio to the peer connection, and starts reading their RTCP.
func (p *Publisher) addTracks(cfg PublishConfig) ([]sendTrack, error) {
	var tracks []sendTrack
	if len(cfg.Layers) > 0 {
		lt, err := p.addLayers(cfg.Layers)
		if err != nil {
			return nil, err
		}
		tracks = append(tracks, lt...)
	} else if cfg.Clip.Video != nil {
		vt, err := webrtc.NewTrackLocalStaticRTP(videoCapability(cfg.Clip.Video.Mime), "video", "relay-peer")
		if err != nil {
			return nil, err
		}
		sender, err := p.pc.AddTrack(vt)
		if err != nil {
			return nil, err
		}
		p.readRTCP(readAll(sender), nil)
		tracks = append(tracks, sendTrack{t: vt, stream: clip.NewStream(cfg.Clip.Video, 96, 1), video: true})
	}
	// An audio-only clip is an interpretation booth.
	if cfg.Clip != nil && cfg.Clip.Audio != nil {
		at, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "relay-peer")
		if err != nil {
			return nil, err
		}
		sender, err := p.pc.AddTrack(at)
		if err != nil {
			return nil, err
		}
		p.readRTCP(readAll(sender), nil)
		tracks = append(tracks, sendTrack{t: at, stream: clip.NewStream(cfg.Clip.Audio, 111, 2)})
	}
	return tracks, nil
}

// addLayers adds one video sender with an encoding per layer: AddTrack for
// the first, AddEncoding for the others (pion then offers the rids).
func (p *Publisher) addLayers(layers []Layer) ([]sendTrack, error) {
	var sender *webrtc.RTPSender
	tracks := make([]sendTrack, 0, len(layers))
	for i, l := range layers {
		t, err := webrtc.NewTrackLocalStaticRTP(videoCapability(l.Clip.Video.Mime), "video", "relay-peer", webrtc.WithRTPStreamID(l.RID))
		if err != nil {
			return nil, err
		}
		if i == 0 {
			sender, err = p.pc.AddTrack(t)
		} else {
			err = sender.AddEncoding(t)
		}
		if err != nil {
			return nil, fmt.Errorf("add layer %s: %w", l.RID, err)
		}
		lay := &layer{rid: l.RID}
		for _, enc := range sender.GetParameters().Encodings {
			if enc.RID == l.RID {
				lay.ssrc = uint32(enc.SSRC)
			}
		}
		p.layers = append(p.layers, lay)
		s := sender
		p.readRTCP(func() ([]rtcp.Packet, error) {
			pkts, _, err := s.ReadSimulcastRTCP(lay.rid)
			return pkts, err
		}, lay)
		tracks = append(tracks, sendTrack{t: t, stream: clip.NewStream(l.Clip.Video, 96, uint32(i+1)), video: true, layer: lay})
	}
	return tracks, nil
}

// tagLayers gives each layer's packets the mid and rid header extensions
// (RFC 8843, RFC 8852) with their negotiated ids: a simulcast offer names
// rids, not SSRCs, so the relay learns which layer an SSRC carries from
// them. pion does not add them itself. It fails when the answer accepted
// no simulcast or left out either extension.
func tagLayers(pc *webrtc.PeerConnection, tracks []sendTrack) error {
	if !slices.ContainsFunc(tracks, func(t sendTrack) bool { return t.layer != nil }) {
		return nil
	}
	var tr *webrtc.RTPTransceiver
	for _, t := range pc.GetTransceivers() {
		if s := t.Sender(); s != nil && s.Track() != nil && s.Track().RID() != "" {
			tr = t
		}
	}
	if tr == nil || tr.Mid() == "" {
		return errors.New("no video section for the layers")
	}
	if !answerHasSimulcast(pc, tr.Mid()) {
		return errors.New("the answer does not accept simulcast (no a=simulcast in the video section)")
	}
	var midID, ridID uint8
	for _, e := range tr.Sender().GetParameters().HeaderExtensions {
		switch e.URI {
		case sdp.SDESMidURI:
			midID = uint8(e.ID)
		case sdp.SDESRTPStreamIDURI:
			ridID = uint8(e.ID)
		}
	}
	if midID == 0 || ridID == 0 {
		return errors.New("the answer did not negotiate the mid and rid header extensions simulcast needs")
	}
	for i := range tracks {
		if l := tracks[i].layer; l != nil {
			tracks[i].midID, tracks[i].ridID = midID, ridID
			tracks[i].mid, tracks[i].rid = []byte(tr.Mid()), []byte(l.rid)
		}
	}
	return nil
}

// answerHasSimulcast reports whether the remote answer's section mid has
// an a=simulcast line.
func answerHasSimulcast(pc *webrtc.PeerConnection, mid string) bool {
	// Parse a copy: pion's own ops parse the description it holds.
	var d sdp.SessionDescription
	if err := d.UnmarshalString(pc.RemoteDescription().SDP); err != nil {
		return false
	}
	for _, m := range d.MediaDescriptions {
		if v, _ := m.Attribute(sdp.AttrKeyMID); v == mid {
			_, ok := m.Attribute("simulcast")
			return ok
		}
	}
	return false
}

// send paces the tracks' clip streams in real time, the earliest due
// packet next, until ctx ends or the peer connection closes.
func (p *Publisher) send(ctx context.Context, tracks []sendTrack, onPacket func(string, clip.Packet, time.Time)) {
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
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		pkt, tr := next[i], &tracks[i]
		if tr.layer != nil && tr.layer.stopped.Load() {
			next[i] = tr.stream.Next()
			continue
		}
		if tr.ridID != 0 {
			// pion's WriteRTP keeps the header's extensions. Cannot fail:
			// the ids are 1 to 14, mid and rid at most 16 bytes.
			_ = pkt.Header.SetExtension(tr.midID, tr.mid)
			_ = pkt.Header.SetExtension(tr.ridID, tr.rid)
		}
		if err := tr.t.WriteRTP(pkt.Packet); errors.Is(err, io.ErrClosedPipe) {
			return
		}
		p.packets.Add(1)
		rid := ""
		if l := tr.layer; l != nil {
			rid = l.rid
			l.packets.Add(1)
			if pkt.Last {
				l.frames.Add(1)
			}
		}
		if tr.video {
			if pkt.Last {
				p.videoFrames.Add(1)
			}
			if onPacket != nil {
				onPacket(rid, pkt, time.Now())
			}
		}
		next[i] = tr.stream.Next()
	}
}

// StopLayer stops sending layer rid (or resumes it), as an encoder under
// load drops its top layer; it says whether the layer exists.
func (p *Publisher) StopLayer(rid string, stop bool) bool {
	for _, l := range p.layers {
		if l.rid == rid {
			l.stopped.Store(stop)
			return true
		}
	}
	return false
}

// readAll reads a sender's RTCP, whatever SSRC it names.
func readAll(s *webrtc.RTPSender) func() ([]rtcp.Packet, error) {
	return func() ([]rtcp.Packet, error) {
		pkts, _, err := s.ReadRTCP()
		return pkts, err
	}
}

// readRTCP drains RTCP with read until it fails (pion's interceptors act
// on RTCP as it is read) and counts keyframe requests and NACKs. For a
// layer it counts only those naming the layer's SSRC: a compound packet
// reaches the reader of every SSRC it names.
func (p *Publisher) readRTCP(read func() ([]rtcp.Packet, error), l *layer) {
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			pkts, err := read()
			if err != nil {
				return
			}
			for _, pkt := range pkts {
				if l != nil && !slices.Contains(pkt.DestinationSSRC(), l.ssrc) {
					continue
				}
				switch pkt.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					p.plis.Add(1)
					if l != nil {
						l.plis.Add(1)
					}
				case *rtcp.TransportLayerNack:
					p.nacks.Add(1)
				}
			}
		}
	}()
}

// PLIs is how many keyframe requests the relay sent (for every layer).
func (p *Publisher) PLIs() uint64 { return p.plis.Load() }

// NACKs is how many NACK packets the relay sent (pion's responder resends
// the packets they name from its own buffer).
func (p *Publisher) NACKs() uint64 { return p.nacks.Load() }

// Packets is how many RTP packets were sent (of every layer).
func (p *Publisher) Packets() uint64 { return p.packets.Load() }

// VideoFrames is how many video frames were sent (of every layer).
func (p *Publisher) VideoFrames() uint64 { return p.videoFrames.Load() }

// Layers returns each simulcast layer's counts in PublishConfig.Layers
// order; nil when the publisher sends no simulcast.
func (p *Publisher) Layers() []LayerStats {
	var out []LayerStats
	for _, l := range p.layers {
		out = append(out, LayerStats{RID: l.rid, SSRC: l.ssrc, Packets: l.packets.Load(), Frames: l.frames.Load(), PLIs: l.plis.Load()})
	}
	return out
}

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
