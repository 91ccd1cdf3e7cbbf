package relay

import (
	"errors"
	"sync"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/keyframe"
)

// A Tap is a listener without a PeerConnection: the HLS packager's view of
// one audio channel or one video layer of a room. It is one more use of the
// viewer's mechanism: a forwarder that follows a selection, moved between
// track groups by the same retarget when booths go up and down, publishers
// are replaced or layers come and go, so its timeline stays continuous
// through all of them (sequence numbers +1, timestamps + the wall-clock
// gap). A tap never catches up from the history (that squeezes
// timestamps): it starts at the next keyframe.
type Tap struct {
	room  *Room
	sel   selection
	track *viewerTrack
	mu    sync.Mutex // serialises moves, like viewer.selMu
	done  bool
}

// TapWriter receives a tap's packets, on the fan-out goroutine of the
// source: it must not block. The payload type says the codec (TapMime).
type TapWriter interface {
	WriteRTP(h *rtp.Header, payload []byte) (int, error)
}

// tapCodecs are the payload type and MIME type a tap writes each codec
// with (the relay's own numbering, see newMediaEngine).
var tapCodecs = map[codecKind]struct {
	pt   uint8
	mime string
}{
	keyframe.H264: {102, webrtc.MimeTypeH264}, keyframe.VP8: {96, webrtc.MimeTypeVP8},
	keyframe.VP9: {98, webrtc.MimeTypeVP9}, keyframe.AV1: {45, webrtc.MimeTypeAV1},
	keyframe.Opus: {111, webrtc.MimeTypeOpus},
}

// TapMime is the MIME type of the codec a tap writes under payload type pt
// ("" for none).
func TapMime(pt uint8) string {
	for _, c := range tapCodecs {
		if c.pt == pt {
			return c.mime
		}
	}
	return ""
}

// tapWriter is a TapWriter as the forwarder's TrackLocalWriter.
type tapWriter struct{ TapWriter }

func (tapWriter) Write([]byte) (int, error) { return 0, errTapRaw }

var errTapRaw = errors.New("a tap takes RTP packets only")

var errTapKind = errors.New("a tap is audio or video")

// Tap starts a tap on room (creating it, as a first publish would): kind
// audio follows channel lang ("" the floor; the floor while the booth is
// down), kind video follows layer rid of the floor (the best flowing layer
// while rid is not). Close ends it.
func (s *Server) Tap(roomName string, kind webrtc.RTPCodecType, lang, rid string, w TapWriter) (*Tap, error) {
	room, err := s.room(roomName, false)
	if err != nil {
		return nil, err
	}
	t := &Tap{room: room}
	switch kind {
	case webrtc.RTPCodecTypeAudio:
		t.sel = selection{audio: lang}
		t.track = &viewerTrack{kind: kind, role: roleAudio}
	case webrtc.RTPCodecTypeVideo:
		t.sel = selection{video: rid}
		if rid == "" {
			t.sel.video = "auto"
		}
		t.track = &viewerTrack{kind: kind, role: roleVideo}
	default:
		return nil, errTapKind
	}
	clock := uint32(90000)
	if kind == webrtc.RTPCodecTypeAudio {
		clock = 48000
	}
	f := &forwarder{writer: tapWriter{w}, ssrc: uint32(s.newID()), clockRate: clock, tap: true}
	f.hdr = rtp.Header{Version: 2, SSRC: f.ssrc}
	for k, c := range tapCodecs {
		f.pts[k] = c.pt
	}
	t.track.fwd.Store(f)
	room.addTap(t)
	t.retarget()
	return t, nil
}

// retarget moves the tap's forwarder to where its selection points now.
func (t *Tap) retarget() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	// A fixed layer that is not flowing gives the best one that is, as
	// pickLayer does for viewers; "auto" without an estimate is the best.
	t.track.moveTo(t.room.targets(t.sel, nil).of(t.track.role))
}

// RequestKeyframe asks the tap's current source for a keyframe (the
// requester collapses requests): HLS segments start on keyframes.
func (t *Tap) RequestKeyframe() {
	if g := t.track.group.Load(); g != nil {
		if s := g.current.Load(); s != nil {
			s.requestKeyframe()
		}
	}
}

// Close takes the tap out of its group. No packet is written to its
// writer once Close has returned.
func (t *Tap) Close() {
	t.room.removeTap(t)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = true
	t.track.moveTo(nil)
	t.track.unbound = true
}

func (r *Room) addTap(t *Tap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.taps[t] = struct{}{}
}

func (r *Room) removeTap(t *Tap) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.taps, t)
}

// tapsFor are the taps that follow ch (Room.mu held): every video tap
// follows the floor's layers, an audio tap its channel and the floor.
func (r *Room) tapsForLocked(ch *channel) []*Tap {
	var out []*Tap
	for t := range r.taps {
		if ch == r.floor || t.sel.audio == ch.lang {
			out = append(out, t)
		}
	}
	return out
}
