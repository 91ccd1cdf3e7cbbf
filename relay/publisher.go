package relay

import (
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/webrtc/v4"
)

// publisher is one WHIP session (or the demo clip player) feeding one
// channel of a room: the floor, or a language channel.
type publisher struct {
	id    string // secret: the Location URL that ends the session
	tag   string // public name for the monitor
	room  *Room
	ch    *channel
	srv   *Server
	pc    *webrtc.PeerConnection // nil for local publishers
	since time.Time
	log   *slog.Logger
	// expect lists the kinds of media the publisher offered, set before it
	// becomes the room's publisher and not changed after.
	expect []webrtc.RTPCodecType

	mu      sync.Mutex
	sources []*source
	closed  bool
	reaper  *time.Timer // closes a publisher that sends no media in time

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup // source readers and RTCP drains
}

func (s *Server) newPublisher(room *Room, ch *channel) *publisher {
	n := s.newID()
	p := &publisher{id: sessionID(), tag: fmt.Sprintf("p%d", n), room: room, ch: ch, srv: s, since: time.Now(), done: make(chan struct{})}
	p.log = s.log.With("room", room.cfg.Name, "session", p.tag)
	if ch.lang != "" {
		p.log = p.log.With("channel", ch.lang)
	}
	return p
}

// addSource starts forwarding one track of p to its channel: rid names a
// simulcast layer of its video ("" without simulcast). levelExt is the
// RFC 6464 extension id of an audio track (0: none).
func (p *publisher) addSource(kind webrtc.RTPCodecType, rid string, codec webrtc.RTPCodecCapability, r packetReader, sendPLI func(), levelExt uint8) {
	g := p.ch.groups[kind]
	if kind == webrtc.RTPCodecTypeVideo && rid != "" {
		g = p.room.layerGroup(p.ch, rid)
	}
	if g == nil {
		p.log.Warn("track not forwarded", "kind", kind.String(), "rid", rid)
		return
	}
	src := newSource(sourceParams{
		id: p.srv.newID(), kind: kind, codec: codec, group: g, sendPLI: sendPLI,
		log: p.log, shardSize: p.srv.cfg.ShardSize, out: p.srv.udpConn, levelExt: levelExt,
	})
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	// The first media takes the room over from the publisher before.
	old, ok := p.room.promote(p)
	if !ok {
		p.mu.Unlock()
		return // closed while its first packet came in
	}
	p.sources = append(p.sources, src)
	p.wg.Add(1)
	p.mu.Unlock()
	for _, f := range g.attach(src) {
		if p.ch == p.room.floor {
			// The floor is every viewer's main picture and sound: the
			// player reconnects and negotiates the new codec.
			f.viewer.close("publisher changed codec")
		} else {
			// A booth's new codec only takes that track out of the channel
			// (the floor, or nothing for sign video, meanwhile).
			f.viewer.evicted(f, g)
		}
	}
	if old != nil {
		// The new source is already current: the old one's packets are no
		// longer forwarded. Closing it waits for its readers, so not here
		// on the new publisher's first packet.
		p.srv.background(func() { old.close("replaced by a new publisher") })
	}
	go func() {
		defer p.wg.Done()
		src.run(r)
	}()
	if p.room.isPublisher(p) {
		p.room.setState(p.ch, StateLive)
		p.room.refresh(p.ch) // a second track (a layer, a booth's sign video) changes what flows too
	}
	p.log.Info("track published", "kind", kind.String(), "rid", rid, "codec", codec.MimeType)
}

// close ends the session. The room keeps its viewers.
func (p *publisher) close(reason string) {
	p.closeWith(reason, StateIdle)
}

func (p *publisher) closeWith(reason string, st State) {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		srcs := p.sources
		if p.reaper != nil {
			p.reaper.Stop()
		}
		p.mu.Unlock()
		close(p.done)
		if p.pc != nil {
			if err := p.pc.Close(); err != nil {
				p.log.Debug("publisher close", "err", err)
			}
		}
		for _, src := range srcs {
			src.group.detach(src)
		}
		p.room.publisherGone(p, st)
		p.srv.sessionEnded(p.id)
		p.wg.Wait()
		p.log.Info("publisher left", "reason", reason, "duration", time.Since(p.since).Round(time.Second).String())
	})
}

// reapUnlessLive closes p unless it has sent media within d: until then it
// is only pending, and the room's publisher before it stays on air.
func (p *publisher) reapUnlessLive(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.reaper = time.AfterFunc(d, func() {
		p.mu.Lock()
		live := len(p.sources) > 0
		p.mu.Unlock()
		if !live {
			p.close(fmt.Sprintf("sent no media within %v", d))
		}
	})
}

// watchPeer follows the publisher's connection: a silent publisher makes the
// room "lost" and is closed when ICE gives up.
func (p *publisher) watchPeer() {
	p.pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		switch st {
		case webrtc.PeerConnectionStateConnected:
			p.log.Info("publisher connected")
			p.mu.Lock()
			has := len(p.sources) > 0
			p.mu.Unlock()
			if has && p.room.isPublisher(p) {
				p.room.setState(p.ch, StateLive)
			}
		case webrtc.PeerConnectionStateDisconnected:
			if p.room.isPublisher(p) {
				p.log.Warn("publisher connection lost; waiting for it to come back")
				p.room.setState(p.ch, StateLost)
			}
		case webrtc.PeerConnectionStateFailed:
			go p.closeWith("connection failed", StateLost)
		case webrtc.PeerConnectionStateClosed:
			// The encoder closed without DELETE (or we closed it; then
			// closeWith has already run and this does nothing).
			go p.closeWith("peer closed the connection", StateLost)
		}
	})
	p.pc.OnTrack(func(tr *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		ssrc := uint32(tr.SSRC())
		pc := p.pc
		sendPLI := func() {
			if err := pc.WriteRTCP([]rtcp.Packet{&rtcp.PictureLossIndication{MediaSSRC: ssrc}}); err != nil {
				p.log.Debug("PLI not sent", "err", err)
			}
		}
		if tr.Kind() != webrtc.RTPCodecTypeVideo {
			sendPLI = nil
		}
		// Read the receiver's RTCP so sender reports reach the interceptors
		// (they make our receiver reports, which the encoder adapts to).
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return
		}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			buf := make([]byte, 1500)
			rid := tr.RID()
			for {
				var err error
				if rid != "" {
					_, _, err = recv.ReadSimulcast(buf, rid) // one RTCP stream per layer
				} else {
					_, _, err = recv.Read(buf)
				}
				if err != nil {
					return
				}
			}
		}()
		var levelExt uint8
		for _, e := range recv.GetParameters().HeaderExtensions {
			if e.URI == AudioLevelURI && tr.Kind() == webrtc.RTPCodecTypeAudio && e.ID > 0 && e.ID < 15 {
				levelExt = uint8(e.ID)
			}
		}
		p.addSource(tr.Kind(), tr.RID(), tr.Codec().RTPCodecCapability, &trackReader{t: tr}, sendPLI, levelExt)
	})
}

// trackReader reads a published track; it is a drainReader.
type trackReader struct {
	t        *webrtc.TrackRemote
	draining bool // a read deadline is set: reads wait at most until then
}

// gatherWindow is how long after a packet the reader waits for more of
// the same burst before fanning out what it has: a frame's packets come
// through pion's receive goroutines one by one, tens of microseconds
// apart. (pion's buffer cannot be asked whether a packet is waiting: a
// deadline in the past fails the read even when one is.)
const gatherWindow = 300 * time.Microsecond

func (r *trackReader) ReadPacket(b []byte) (int, error) {
	if r.draining {
		r.draining = false
		if err := r.t.SetReadDeadline(time.Time{}); err != nil {
			return 0, err
		}
	}
	n, _, err := r.t.Read(b)
	return n, err
}

func (r *trackReader) ReadArrived(b []byte) (int, bool, error) {
	if !r.draining {
		r.draining = true
		if err := r.t.SetReadDeadline(time.Now().Add(gatherWindow)); err != nil {
			return 0, false, err
		}
	}
	n, _, err := r.t.Read(b)
	if err != nil {
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			return 0, false, nil // nothing waiting
		}
		return 0, false, err
	}
	return n, true, nil
}
