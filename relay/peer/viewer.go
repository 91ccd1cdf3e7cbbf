package peer

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/keyframe"
)

// ViewConfig says what to watch.
type ViewConfig struct {
	URL   string // WHEP endpoint, e.g. http://127.0.0.1:8080/whep/room
	Token string
	Options
	// Interceptors gives the viewer pion's default NACK/report chain, as a
	// browser has; the load tool leaves it off to stay cheap.
	Interceptors bool
	// NoAudio offers video only.
	NoAudio bool
	// OnPacket, when set, sees every packet as it arrives (on the track's
	// reader goroutine; keep it quick).
	OnPacket func(kind webrtc.RTPCodecType, h *rtp.Header, payload []byte, at time.Time)
	// HeaderOnly makes the viewer cheap enough to run hundreds of beside a
	// relay (the load tool): after a track's first packets up to its first
	// complete keyframe, its packets are counted from their RTP headers as
	// they come off the socket, neither decrypted nor checked (see tap.go).
	// OnPacket then gets nil payloads, arrival times without pion's receive
	// path in them, and Bytes includes SRTP tags. Needs Loopback and its
	// own socket (no UDPMux, no TCPOnly).
	HeaderOnly bool
}

// TrackStats is what a viewer saw of one track.
type TrackStats struct {
	Kind         string
	Codec        string
	Packets      uint64
	Bytes        uint64
	Frames       uint64 // packets with the marker bit (video frames)
	FirstAt      time.Time
	FirstIsKey   bool      // the first packet started a keyframe
	FirstKeyAt   time.Time // the first keyframe was complete (its last packet arrived)
	Repeats      uint64    // sequence numbers at or behind the newest seen (resends, reordering)
	TSBackwards  uint64    // timestamps behind the previous packet's in sequence order
	LastSeq      uint16
	LastTS       uint32
	SSRC         uint32
	SeqJumps     uint64 // gaps in the sequence
	MissingTotal uint64 // sequence numbers skipped over
	HeaderOnly   uint64 // of Packets, those counted from their header alone (ViewConfig.HeaderOnly)
}

// Viewer watches a room over WHEP.
type Viewer struct {
	pc       *webrtc.PeerConnection
	session  string
	opts     Options
	started  time.Time
	mu       sync.Mutex
	tracks   map[webrtc.RTPCodecType]*TrackStats
	wg       sync.WaitGroup
	closed   bool // guarded by mu
	gotTrack chan struct{}
	once     sync.Once
	taps     *taps      // HeaderOnly viewers
	mux      ice.UDPMux // the HeaderOnly viewer's own socket
}

// View connects to the relay. Media flows in the background; Stats reads it.
func View(ctx context.Context, cfg ViewConfig) (*Viewer, error) {
	v := &Viewer{opts: cfg.Options, started: time.Now(), tracks: map[webrtc.RTPCodecType]*TrackStats{}, gotTrack: make(chan struct{})}
	if cfg.HeaderOnly {
		if !cfg.Loopback || cfg.UDPMux != nil || cfg.TCPOnly {
			return nil, errors.New("peer: a header-only viewer needs Loopback and its own UDP socket")
		}
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			return nil, err
		}
		v.taps = &taps{mu: &v.mu, hook: cfg.OnPacket}
		v.mux = ice.NewUDPMuxDefault(ice.UDPMuxParams{UDPConn: &tapConn{UDPConn: conn, taps: v.taps}})
		cfg.UDPMux = v.mux
	}
	api, err := NewAPI(cfg.Options, cfg.Interceptors)
	if err != nil {
		v.closeMux()
		return nil, err
	}
	conf, err := cfg.configuration(ctx, cfg.URL, cfg.Token)
	if err != nil {
		v.closeMux()
		return nil, err
	}
	pc, err := api.NewPeerConnection(conf)
	if err != nil {
		v.closeMux()
		return nil, err
	}
	v.pc = pc
	kinds := []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo}
	if !cfg.NoAudio {
		kinds = append(kinds, webrtc.RTPCodecTypeAudio)
	}
	for _, k := range kinds {
		if _, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly}); err != nil {
			pc.Close()
			v.closeMux()
			return nil, err
		}
	}
	pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		st := &TrackStats{Kind: tr.Kind().String(), Codec: tr.Codec().MimeType, SSRC: uint32(tr.SSRC())}
		v.mu.Lock()
		if v.closed {
			v.mu.Unlock()
			return
		}
		v.tracks[tr.Kind()] = st
		v.wg.Add(2)
		v.mu.Unlock()
		go func() {
			// Reading RTCP lets the interceptors see sender reports.
			defer v.wg.Done()
			buf := make([]byte, 1500)
			for {
				if _, _, err := recv.Read(buf); err != nil {
					return
				}
			}
		}()
		v.once.Do(func() { close(v.gotTrack) })
		go func() {
			defer v.wg.Done()
			v.read(tr, st, cfg.OnPacket)
		}()
	})
	session, err := Signal(ctx, cfg.Options, pc, cfg.URL, cfg.Token)
	if err != nil {
		pc.Close()
		v.closeMux()
		return nil, err
	}
	v.session = session
	return v, nil
}

func (v *Viewer) read(tr *webrtc.TrackRemote, st *TrackStats, hook func(webrtc.RTPCodecType, *rtp.Header, []byte, time.Time)) {
	codec := keyframe.Of(tr.Codec().MimeType)
	buf := make([]byte, 1500)
	var h rtp.Header
	var keyPending bool // a keyframe started; waiting for its last packet
	var keyTS uint32
	var switched bool // counted from headers from now on (HeaderOnly)
	for {
		n, _, err := tr.Read(buf)
		if err != nil {
			return
		}
		at := time.Now()
		hl, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		payload := buf[hl:n]
		if h.Padding && len(payload) > 0 {
			payload = payload[:len(payload)-int(payload[len(payload)-1])]
		}
		v.mu.Lock()
		if st.Packets == 0 {
			st.FirstAt = at
			st.FirstIsKey, _ = keyframe.IsStart(codec, payload)
			st.LastSeq = h.SequenceNumber - 1 // count takes it as the next in line
		}
		if st.FirstKeyAt.IsZero() {
			if key, _ := keyframe.IsStart(codec, payload); key && !keyPending {
				keyPending, keyTS = true, h.Timestamp
			}
			if keyPending && h.Marker && h.Timestamp == keyTS {
				st.FirstKeyAt = at
			}
		}
		count(st, h.SequenceNumber, h.Timestamp, h.Marker, len(payload))
		// Header-only viewers switch a track once its start is checked:
		// audio at once, video when its first keyframe is whole.
		switchNow := v.taps != nil && !switched && (tr.Kind() == webrtc.RTPCodecTypeAudio || !st.FirstKeyAt.IsZero())
		v.mu.Unlock()
		if hook != nil {
			hook(tr.Kind(), &h, payload, at)
		}
		if switchNow {
			switched = true
			v.taps.add(tr.Kind(), uint32(tr.SSRC()))
		}
	}
}

// WaitTrack waits until the first track arrives.
func (v *Viewer) WaitTrack(ctx context.Context) error {
	select {
	case <-v.gotTrack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats returns a copy of what the viewer has seen of a kind of track.
func (v *Viewer) Stats(kind webrtc.RTPCodecType) TrackStats {
	v.mu.Lock()
	defer v.mu.Unlock()
	if st := v.tracks[kind]; st != nil {
		s := *st
		if v.taps != nil {
			v.taps.merge(kind, &s)
		}
		return s
	}
	return TrackStats{Kind: kind.String()}
}

// Started is when View was called.
func (v *Viewer) Started() time.Time { return v.started }

// ConnectionState is the peer connection's state.
func (v *Viewer) ConnectionState() webrtc.PeerConnectionState { return v.pc.ConnectionState() }

// SendNACK asks the relay to resend video packets by sequence number.
func (v *Viewer) SendNACK(seqs ...uint16) error {
	st := v.Stats(webrtc.RTPCodecTypeVideo)
	return v.pc.WriteRTCP([]rtcp.Packet{&rtcp.TransportLayerNack{MediaSSRC: st.SSRC, Nacks: rtcp.NackPairsFromSequenceNumbers(seqs)}})
}

// SendPLI asks the relay for a video keyframe.
func (v *Viewer) SendPLI() error {
	st := v.Stats(webrtc.RTPCodecTypeVideo)
	return v.pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: st.SSRC}})
}

// Session is the session URL (its /select changes what the viewer gets).
func (v *Viewer) Session() string { return v.session }

// Close ends the session with DELETE (when hangUpFirst) and closes the peer.
// Without hangUpFirst the viewer just vanishes.
func (v *Viewer) Close(hangUpFirst bool) error {
	var err error
	if hangUpFirst {
		err = hangUp(v.opts, v.session)
	}
	v.mu.Lock()
	v.closed = true
	v.mu.Unlock()
	if cerr := v.pc.Close(); err == nil {
		err = cerr
	}
	v.wg.Wait()
	v.closeMux()
	return err
}

func (v *Viewer) closeMux() {
	if v.mux != nil {
		_ = v.mux.Close() // closes the socket
	}
}

// Transport says which network the selected ICE pair uses ("udp" or
// "tcp"), or "" before ICE has selected one.
func (v *Viewer) Transport() string {
	pair, err := v.pc.SCTP().Transport().ICETransport().GetSelectedCandidatePair()
	if err != nil || pair == nil {
		return ""
	}
	return pair.Local.Protocol.String()
}
