package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
)

// whepGate admits viewers: an SDP offer, and a viewer token for a private
// room (an interpreter's token does too: the console hears the floor).
func (s *Server) whepGate() gate {
	return gate{method: http.MethodPost, contentType: "application/sdp", maxBody: maxOfferBytes, role: auth.RoleViewer, or: auth.RoleInterpreter, needToken: s.Private}
}

// selectGate admits selection changes: the session URL is the capability.
var selectGate = gate{method: http.MethodPost, contentType: "application/json", maxBody: maxSelectBytes}

const maxSelectBytes = 1 << 10

// trackSpec is one track a viewer's answer will carry.
type trackSpec struct {
	kind webrtc.RTPCodecType
	role trackRole
}

// handleWHEPPost starts a viewer session with the room's current tracks
// and the selection of ?audio=, ?sign= and ?video=.
func (s *Server) handleWHEPPost(w http.ResponseWriter, r *http.Request) {
	in, err := s.admit(w, r, s.whepGate())
	var codecs offerCodecs
	if err == nil {
		codecs, err = parseOffer(string(in.body))
	}
	var room *Room
	if err == nil {
		room, err = s.room(in.room, false)
		if err != nil {
			err = httperr.Retry(http.StatusNotFound, 2*time.Second, "room is not live yet; retry later")
		}
	}
	var sel selection
	if err == nil {
		sel, err = room.querySelection(r.URL.Query())
	}
	var specs []trackSpec
	if err == nil {
		specs, err = room.viewerTracks(codecs)
	}
	if err != nil {
		httperr.Write(w, r, s.log, err)
		return
	}
	// Until it connects, a session holds one of its address's few
	// connecting slots besides its viewer slot.
	connecting, err := s.pending.Acquire(r.RemoteAddr, false)
	if err != nil {
		httperr.Write(w, r, s.log, err)
		return
	}
	if s.viewers.Add(1) > int64(s.cfg.MaxViewers) {
		s.viewers.Add(-1)
		connecting()
		httperr.Write(w, r, s.log, httperr.Retry(http.StatusServiceUnavailable, 10*time.Second, "relay is at its viewer limit; retry later"))
		return
	}
	v := s.newViewer(room)
	v.sel.Store(&sel)
	v.connecting = connecting
	if err := room.addViewer(v); err != nil {
		s.viewers.Add(-1)
		connecting()
		v.cancel()
		httperr.Write(w, r, s.log, httperr.Retry(http.StatusServiceUnavailable, 10*time.Second, "room is at its viewer limit; retry later"))
		return
	}
	answer, err := s.startViewerPeer(v, string(in.body), specs)
	if err != nil {
		v.close("setup failed")
		httperr.Write(w, r, s.log, err)
		return
	}
	v.log.Info("viewer joined", "remote", r.RemoteAddr)
	w.Header().Set("Location", "/whep/"+in.room+"/"+v.id)
	w.Header().Set("Content-Type", "application/sdp")
	s.linkICEServers(w, r)
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(answer))
}

func (s *Server) newViewer(room *Room) *viewer {
	ctx, cancel := context.WithCancel(context.Background())
	v := &viewer{id: sessionID(), tag: fmt.Sprintf("v%d", s.newID()), room: room, srv: s, since: time.Now(), ctx: ctx, cancel: cancel,
		bwe: newBWE(time.Now())}
	v.log = s.log.With("room", room.cfg.Name, "session", v.tag)
	return v
}

// querySelection reads a WHEP request's selection.
func (r *Room) querySelection(q url.Values) (selection, error) {
	var sel selection
	var err error
	if sel.audio, err = r.selectValue("audio", q.Get("audio")); err != nil {
		return sel, err
	}
	if sel.sign, err = r.selectValue("sign", q.Get("sign")); err != nil {
		return sel, err
	}
	sel.video, err = r.selectValue("video", q.Get("video"))
	return sel, err
}

// viewerTracks lists the tracks a viewer's answer carries: each kind the
// room's floor has and the offer asks for (an audio-only player gets
// audio), in the offer's codecs (406 otherwise), and a second track of a
// kind the offer has a second section for: the floor under the
// interpretation (audio), the sign-language channel (video).
func (r *Room) viewerTracks(codecs offerCodecs) ([]trackSpec, error) {
	srcs := r.liveSources(2 * time.Second)
	if len(srcs) == 0 {
		return nil, httperr.Retry(http.StatusNotFound, 2*time.Second, "room is not live yet; retry later")
	}
	var specs []trackSpec
	for _, src := range srcs {
		if !codecs.has(src.kind) {
			continue
		}
		if !codecs.canReceive(src.kind, src.codec) {
			return nil, httperr.New(http.StatusNotAcceptable, "this room's %s is %s, which your player did not offer", src.kind, src.codec.MimeType)
		}
		first, second := roleVideo, roleSign
		if src.kind == webrtc.RTPCodecTypeAudio {
			first, second = roleAudio, roleFloorAudio
		}
		specs = append(specs, trackSpec{src.kind, first})
		if codecs.lines[src.kind] >= 2 {
			specs = append(specs, trackSpec{src.kind, second})
		}
	}
	if len(specs) == 0 {
		return nil, httperr.New(http.StatusNotAcceptable, "your offer asks for no media this room has")
	}
	return specs, nil
}

func (s *Server) startViewerPeer(v *viewer, offer string, specs []trackSpec) (string, error) {
	pc, err := s.viewAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	v.pc = pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", httperr.New(http.StatusBadRequest, "offer rejected: %v", err)
	}
	var senders []*webrtc.RTPSender
	// pion gives each track the offer's next unused section of its kind,
	// in order: the first audio section the selected channel, the second
	// the floor.
	for _, sp := range specs {
		t := &viewerTrack{v: v, kind: sp.kind, role: sp.role}
		sender, err := pc.AddTrack(t)
		if err != nil {
			return "", fmt.Errorf("add %s track: %w", sp.kind, err)
		}
		v.tracks = append(v.tracks, t)
		senders = append(senders, sender)
	}
	answer, err := answerSDP(pc)
	if err != nil {
		return "", err
	}
	v.start(senders)
	v.ready.Store(true)
	// pion bound the tracks while answering, before ready: a booth that
	// went live or down since then is caught up with here.
	v.retarget()
	return answer, nil
}

func (s *Server) handleWHEPDelete(w http.ResponseWriter, r *http.Request) {
	room, err := s.room(r.PathValue("room"), false)
	var v *viewer
	if err == nil {
		v = room.viewer(r.PathValue("id"))
	}
	if v == nil {
		if s.recentlyEnded(r.PathValue("id")) {
			w.WriteHeader(http.StatusOK) // already over: DELETE is idempotent
			return
		}
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no such session"))
		return
	}
	v.close("ended by viewer")
	w.WriteHeader(http.StatusOK)
}

// handleSelect changes a viewer's selection without renegotiation: audio
// at the next packet of the new source, video at its next keyframe.
func (s *Server) handleSelect(w http.ResponseWriter, r *http.Request) {
	in, err := s.admit(w, r, selectGate)
	var v *viewer
	if err == nil {
		if room, rerr := s.room(in.room, false); rerr == nil {
			v = room.viewer(r.PathValue("id"))
		}
		if v == nil {
			err = httperr.New(http.StatusNotFound, "no such session")
		}
	}
	var change selectionChange
	if err == nil {
		change, err = parseSelectionChange(v.room, in.body)
	}
	if err != nil {
		httperr.Write(w, r, s.log, err)
		return
	}
	sel, to := v.choose(change.apply)
	v.log.Debug("selection", "audio", orFloor(sel.audio), "sign", sel.sign, "playing", orFloor(to.playingAudio))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	answer := sel.json(to)
	if v.bwe != nil {
		answer.EstimateBps = v.bwe.estimate.Load()
	}
	json.NewEncoder(w).Encode(answer)
}

// selectionChange is a /select body: the fields present change.
type selectionChange struct {
	Audio, Sign, Video *string
}

func (c selectionChange) apply(sel *selection) {
	if c.Audio != nil {
		sel.audio = *c.Audio
	}
	if c.Sign != nil {
		sel.sign = *c.Sign
	}
	if c.Video != nil {
		sel.video = *c.Video
	}
}

// parseSelectionChange reads and validates a /select body: a JSON object
// with audio, sign and video strings, nothing else.
func parseSelectionChange(room *Room, body []byte) (selectionChange, error) {
	var raw struct {
		Audio *string `json:"audio"`
		Sign  *string `json:"sign"`
		Video *string `json:"video"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return selectionChange{}, httperr.New(http.StatusBadRequest, "body must be a JSON object with audio, sign or video strings: %v", err)
	}
	if dec.More() {
		return selectionChange{}, httperr.New(http.StatusBadRequest, "body must be one JSON object")
	}
	var c selectionChange
	for _, f := range []struct {
		name string
		in   *string
		out  **string
	}{{"audio", raw.Audio, &c.Audio}, {"sign", raw.Sign, &c.Sign}, {"video", raw.Video, &c.Video}} {
		if f.in == nil {
			continue
		}
		v, err := room.selectValue(f.name, *f.in)
		if err != nil {
			return selectionChange{}, err
		}
		*f.out = &v
	}
	return c, nil
}
