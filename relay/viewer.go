package relay

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"
)

var errRoomFull = errors.New("room is full")

// viewer is one WHEP session.
type viewer struct {
	id    string // secret: the Location URL that ends the session
	tag   string // public name for the monitor
	room  *Room
	srv   *Server
	pc    *webrtc.PeerConnection
	since time.Time
	log   *slog.Logger

	// tracks is written while the session is set up, before ready is
	// set, and only read after.
	tracks []*viewerTrack

	// sel is the viewer's selection; selMu serialises changes to it and
	// the moves of its tracks between sources (retarget, Bind, Unbind).
	sel   atomic.Pointer[selection]
	selMu sync.Mutex
	// bwe estimates the viewer's path from its congestion feedback; chooser
	// turns the estimate into the layer of an "auto" selection.
	bwe     *bwe
	chooser layerChooser

	// connecting gives back the session's connecting slot (once ICE has
	// connected, or the session ends); deadline closes it if ICE has not
	// connected in time.
	connecting func()
	connected  atomic.Bool
	deadline   atomic.Pointer[time.Timer]

	quality   quality
	remote    atomic.Pointer[netip.AddrPort] // the selected UDP pair's remote address
	path      atomic.Pointer[string]         // how its media flows (Path* below)
	ready     atomic.Bool                    // pc and tracks are set; published after the answer
	ctx       context.Context
	cancel    context.CancelFunc
	closeOnce sync.Once
	wg        sync.WaitGroup
}

// quality is what the viewer's receiver reports say about its connection.
type quality struct {
	lossPermille atomic.Uint32 // fraction lost of the last report, in 1/1000
	jitterMicros atomic.Uint32
	rttMicros    atomic.Uint32
	reports      atomic.Uint64
}

// Quality is a snapshot of a viewer's reception.
type Quality struct {
	Loss    float64       // fraction of packets lost in the last report interval
	Jitter  time.Duration // interarrival jitter
	RTT     time.Duration // round-trip time from sender/receiver reports; 0 until known
	Reports uint64
}

func (q *quality) snapshot() Quality {
	return Quality{
		Loss:    float64(q.lossPermille.Load()) / 1000,
		Jitter:  time.Duration(q.jitterMicros.Load()) * time.Microsecond,
		RTT:     time.Duration(q.rttMicros.Load()) * time.Microsecond,
		Reports: q.reports.Load(),
	}
}

// trackRole is what one of a viewer's tracks carries.
type trackRole int

const (
	roleAudio      trackRole = iota // the selected audio channel; the floor meanwhile
	roleFloorAudio                  // the floor, while roleAudio carries a booth
	roleVideo                       // the floor's video
	roleSign                        // the selected sign-language channel, if live
)

// viewerTrack is the TrackLocal a viewer's PeerConnection sends: once the
// transport is up it binds a forwarder, which then lives in the track
// group its role and the viewer's selection point at, and moves between
// groups as they change (see retarget).
type viewerTrack struct {
	v    *viewer
	kind webrtc.RTPCodecType
	role trackRole

	fwd atomic.Pointer[forwarder] // set by Bind, kept after Unbind for the counts
	// group is the forwarder's group now (nil: none); unbound is set once
	// the transport is gone. Both change under v.selMu.
	group   atomic.Pointer[trackGroup]
	unbound bool
}

func (t *viewerTrack) ID() string                { return fmt.Sprintf("%s%d", t.kind, t.role) }
func (t *viewerTrack) RID() string               { return "" }
func (t *viewerTrack) StreamID() string          { return "relay" }
func (t *viewerTrack) Kind() webrtc.RTPCodecType { return t.kind }

func (t *viewerTrack) Bind(ctx webrtc.TrackLocalContext) (webrtc.RTPCodecParameters, error) {
	v := t.v
	v.selMu.Lock()
	defer v.selMu.Unlock()
	to := v.room.targets(*v.sel.Load(), v.chooser.current()).of(t.role)
	// A track that starts with nothing to carry still negotiates the
	// codec it will most likely carry: the floor's.
	want := v.room.floorCodec(t.kind)
	if to != nil {
		if c := to.codecCap(); c.MimeType != "" {
			want = c
		}
	}
	c, ok := pickCodec(ctx.CodecParameters(), want)
	if !ok {
		return webrtc.RTPCodecParameters{}, fmt.Errorf("viewer cannot receive %s", want.MimeType)
	}
	f := newForwarder(v, ctx.WriteStream(), uint32(ctx.SSRC()), c)
	f.negotiated(ctx.CodecParameters())
	for _, e := range ctx.HeaderExtensions() {
		if e.URI == sdp.TransportCCURI && e.ID > 0 && e.ID < 15 && v.bwe != nil {
			f.tw = v.bwe
			if err := f.hdr.SetExtension(uint8(e.ID), f.twBuf[:]); err != nil {
				f.tw = nil
			}
			f.twSize = f.hdr.MarshalSize()
		}
	}
	t.fwd.Store(f)
	t.moveTo(to)
	return c, nil
}

func (t *viewerTrack) Unbind(webrtc.TrackLocalContext) error {
	t.v.selMu.Lock()
	defer t.v.selMu.Unlock()
	t.moveTo(nil)
	t.unbound = true
	return nil
}

func (t *viewerTrack) forwarder() *forwarder { return t.fwd.Load() }

// moveTo moves the track's forwarder into g (nil: out of every group)
// and says whether it moved. The caller holds v.selMu.
func (t *viewerTrack) moveTo(g *trackGroup) bool {
	f := t.fwd.Load()
	if f == nil || t.unbound {
		return false
	}
	if c := g.codecCapOrNone(); c.MimeType != "" && !f.canPlay(c) {
		g = nil // none of the section's codecs plays this source
	}
	cur := t.group.Load()
	if cur == g {
		return false
	}
	if cur != nil {
		cur.remove(f)
		// Once the old group's fan-out in progress is over, nothing
		// writes f: its hot-path state is this goroutine's until f
		// joins g.
		cur.settle()
	}
	// The next packet, from whichever source, starts a new run on the
	// viewer's timeline (even from a source f had before: it has moved on
	// meanwhile).
	f.srcID, f.askedSrc = 0, 0
	t.group.Store(g)
	if g != nil {
		g.add(f)
	}
	return true
}

// evicted records that g dropped f (a source f cannot play took g over),
// then puts the track where its selection points now.
func (v *viewer) evicted(f *forwarder, g *trackGroup) {
	v.selMu.Lock()
	defer v.selMu.Unlock()
	if !v.ready.Load() {
		return // tracks still being set up; its Bind came after the codec change
	}
	for _, t := range v.tracks {
		if t.fwd.Load() == f && t.group.Load() == g {
			g.settle() // the old source's fan-out may still hold f
			f.srcID, f.askedSrc = 0, 0
			t.group.Store(nil)
		}
	}
	v.retargetLocked()
}

// retarget moves each of the viewer's tracks to where its selection
// points now.
func (v *viewer) retarget() {
	v.selMu.Lock()
	defer v.selMu.Unlock()
	v.retargetLocked()
}

func (v *viewer) retargetLocked() targets {
	to := v.room.targets(*v.sel.Load(), v.chooser.current())
	if !v.ready.Load() || v.ctx.Err() != nil {
		return to
	}
	for _, t := range v.tracks {
		from := t.group.Load()
		if t.moveTo(to.of(t.role)) {
			v.room.switches.Add(1)
			if t.role == roleVideo {
				v.room.countLayerSwitch(from, t.group.Load())
			}
		}
	}
	return v.playingLocked(to)
}

// playingLocked corrects what to says plays by what the tracks carry: a
// viewer without a second video section sees no sign channel, and a track
// negotiated for another codec than its target's carries nothing.
func (v *viewer) playingLocked(to targets) targets {
	signTrack := false
	for _, t := range v.tracks {
		if t.role == roleSign {
			signTrack = true
		}
		if t.fwd.Load() == nil {
			continue // not bound yet: it will carry its target
		}
		switch g := t.group.Load(); t.role {
		case roleAudio:
			if g != nil {
				to.playingAudio = g.lang
			}
		case roleSign:
			to.playingSign = ""
			if g != nil {
				to.playingSign = g.lang
			}
		case roleVideo:
			to.playingLayer, to.playingHeight = "", 0
			if g != nil {
				to.playingLayer, to.playingHeight = g.rid, g.height()
			}
		}
	}
	if !signTrack {
		to.playingSign = ""
	}
	return to
}

// choose changes the viewer's selection and moves its tracks; it returns
// the selection and where it points now.
func (v *viewer) choose(change func(*selection)) (selection, targets) {
	v.selMu.Lock()
	defer v.selMu.Unlock()
	sel := *v.sel.Load()
	change(&sel)
	v.sel.Store(&sel)
	return sel, v.retargetLocked()
}

// start watches the connection and reads RTCP from every sender. A
// session that has not connected within the server's ConnectTimeout is
// closed: an offer that never connects holds its slot only that long.
func (v *viewer) start(senders []*webrtc.RTPSender) {
	d := v.srv.cfg.ConnectTimeout
	v.deadline.Store(time.AfterFunc(d, func() {
		if !v.connected.Load() {
			v.close(fmt.Sprintf("did not connect within %v", d))
		}
	}))
	v.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		v.log.Debug("viewer connection", "state", st.String())
		switch st {
		case webrtc.PeerConnectionStateConnected:
			if !v.connected.Swap(true) {
				v.stopConnecting()
			}
		case webrtc.PeerConnectionStateFailed:
			go v.close("connection failed")
		case webrtc.PeerConnectionStateClosed:
			go v.close("peer closed the connection") // e.g. the tab was closed
		}
	})
	v.pc.SCTP().Transport().ICETransport().OnSelectedCandidatePairChange(func(p *webrtc.ICECandidatePair) {
		v.noteRemote(p)
	})
	for i, s := range senders {
		t := v.tracks[i]
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			v.readRTCP(s, t)
		}()
	}
}

// A viewer's path: how its media reaches it.
const (
	PathUDP     = "udp"      // ICE over UDP, straight
	PathTCP     = "tcp"      // ICE-TCP, straight
	PathTURNUDP = "turn-udp" // through the built-in TURN server, the client on UDP
	PathTURNTCP = "turn-tcp" // ... on TCP
	PathTURNTLS = "turn-tls" // ... on TLS (443 through strict firewalls)
)

// noteRemote keeps the address media goes to, for send batching (UDP only:
// an ICE-TCP viewer's packets do not go through the UDP socket), and the
// viewer's path.
func (v *viewer) noteRemote(p *webrtc.ICECandidatePair) {
	if p == nil || p.Remote == nil || p.Remote.Protocol != webrtc.ICEProtocolUDP {
		v.remote.Store(nil)
		if p != nil && p.Remote != nil {
			path := PathTCP
			v.path.Store(&path)
		}
		return
	}
	ip, err := netip.ParseAddr(p.Remote.Address)
	if err != nil {
		v.remote.Store(nil)
		return
	}
	a := netip.AddrPortFrom(ip.Unmap(), p.Remote.Port)
	v.remote.Store(&a)
	path := PathUDP
	if via := v.srv.cfg.TURNVia; via != nil {
		if t, ok := via(a); ok {
			path = "turn-" + t
		}
	}
	v.path.Store(&path)
}

// readRTCP answers NACKs from the shared history, passes keyframe requests
// to the source (rate limited there) and keeps receiver-report figures.
func (v *viewer) readRTCP(s *webrtc.RTPSender, t *viewerTrack) {
	buf := make([]byte, 1500)
	var scratch *packet // for resends; most viewers never NACK
	var hdr rtp.Header
	for {
		n, _, err := s.Read(buf)
		if err != nil {
			return
		}
		pkts, err := rtcp.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		f := t.forwarder()
		if f == nil {
			continue
		}
		for _, pkt := range pkts {
			switch p := pkt.(type) {
			case *rtcp.TransportLayerNack:
				if scratch == nil {
					scratch = new(packet)
				}
				for _, pair := range p.Nacks {
					for _, seq := range pair.PacketList() {
						// A congested viewer's resends would only add to its
						// congestion: they get a share of its estimate.
						if !v.bwe.allowResend(time.Now()) {
							f.resendsDropped.Add(1)
							continue
						}
						f.resend(seq, scratch, &hdr)
					}
				}
			case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
				if g := t.group.Load(); g != nil {
					if src := g.current.Load(); src != nil {
						src.requestKeyframe()
					}
				}
			case *rtcp.TransportLayerCC:
				v.noteFeedback(p)
			case *rtcp.ReceiverReport:
				v.noteReports(f, p.Reports)
			case *rtcp.SenderReport:
				v.noteReports(f, p.Reports)
			}
		}
	}
}

// noteFeedback updates the viewer's estimate from a congestion feedback
// report and, for an "auto" viewer, moves its video when the estimate
// calls for another layer (or none).
func (v *viewer) noteFeedback(fb *rtcp.TransportLayerCC) {
	if v.bwe == nil {
		return
	}
	now := time.Now()
	est := v.bwe.onFeedback(fb, now)
	if _, changed := v.chooser.choose(est, v.room.floorLayerRanks(), now.UnixNano()); changed && v.sel.Load().video == "auto" {
		v.retarget()
	}
}

func (v *viewer) noteReports(f *forwarder, reports []rtcp.ReceptionReport) {
	for _, r := range reports {
		if r.SSRC != f.ssrc {
			continue
		}
		v.quality.reports.Add(1)
		v.quality.lossPermille.Store(uint32(r.FractionLost) * 1000 / 256)
		if f.tw != nil {
			v.bwe.noteReceiverLoss(float64(r.FractionLost)/256, time.Now())
		}
		if f.clockRate > 0 {
			v.quality.jitterMicros.Store(uint32(uint64(r.Jitter) * 1e6 / uint64(f.clockRate)))
		}
		if r.LastSenderReport != 0 {
			now := ntpMiddle(time.Now())
			if rtt := now - r.LastSenderReport - r.Delay; int32(rtt) > 0 {
				v.quality.rttMicros.Store(uint32(uint64(rtt) * 1e6 / 65536))
			}
		}
	}
}

// sendReports writes a sender report per track: browsers need them for lip
// sync, and the receiver reports that echo them give the RTT. The server's
// one report loop calls it every second for every viewer.
func (v *viewer) sendReports(now time.Time) {
	if !v.ready.Load() || v.ctx.Err() != nil {
		return // still being set up (pc and tracks not yet written), or gone
	}
	var pkts []rtcp.Packet
	for _, t := range v.tracks {
		f := t.forwarder()
		if f == nil {
			continue
		}
		ts, ok := f.senderClock(now)
		if !ok {
			continue
		}
		pkts = append(pkts, &rtcp.SenderReport{
			SSRC: f.ssrc, NTPTime: ntpTime(now), RTPTime: ts,
			PacketCount: uint32(f.packets.Load()), OctetCount: uint32(f.bytes.Load()),
		})
	}
	if len(pkts) > 0 {
		if err := v.pc.WriteRTCP(pkts); err != nil {
			v.log.Debug("sender report not sent", "err", err)
		}
	}
}

// stopConnecting ends the connect deadline and gives back the connecting
// slot.
func (v *viewer) stopConnecting() {
	if t := v.deadline.Load(); t != nil {
		t.Stop()
	}
	if v.connecting != nil {
		v.connecting()
	}
}

// close ends the session and removes it from its room.
func (v *viewer) close(reason string) {
	v.closeOnce.Do(func() {
		v.cancel()
		v.stopConnecting()
		if v.ready.Load() {
			v.selMu.Lock()
			for _, t := range v.tracks {
				t.moveTo(nil)
			}
			v.selMu.Unlock()
		}
		if v.pc != nil {
			if err := v.pc.Close(); err != nil {
				v.log.Debug("viewer close", "err", err)
			}
		}
		v.wg.Wait()
		if v.room.removeViewer(v) {
			v.srv.viewers.Add(-1)
		}
		v.srv.sessionEnded(v.id)
		v.log.Info("viewer left", "reason", reason, "duration", time.Since(v.since).Round(time.Second).String())
	})
}

// ntpTime converts t to the 64-bit NTP format of sender reports.
func ntpTime(t time.Time) uint64 {
	const ntpEpochOffset = 2208988800
	secs := uint64(t.Unix()) + ntpEpochOffset
	frac := uint64(t.Nanosecond()) << 32 / 1e9
	return secs<<32 | frac
}

// ntpMiddle is the middle 32 bits of the NTP time, the unit of LSR and DLSR.
func ntpMiddle(t time.Time) uint32 { return uint32(ntpTime(t) >> 16) }
