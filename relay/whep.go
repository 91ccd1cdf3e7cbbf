package relay

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
)

// whepGate admits viewers: an SDP offer, and a viewer token for a private
// room.
func (s *Server) whepGate() gate {
	return gate{method: http.MethodPost, contentType: "application/sdp", maxBody: maxOfferBytes, role: auth.RoleViewer, needToken: s.Private}
}

// handleWHEPPost starts a viewer session with the room's current tracks.
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
	var srcs []*source
	if err == nil {
		if srcs = room.liveSources(2 * time.Second); len(srcs) == 0 {
			err = httperr.Retry(http.StatusNotFound, 2*time.Second, "room is not live yet; retry later")
		}
	}
	if err == nil {
		// Kinds the player did not ask for are not sent (an audio-only player
		// gets audio); a kind it asked for in the wrong codec is an error.
		var wanted []*source
		for _, src := range srcs {
			if !codecs.has(src.kind) {
				continue
			}
			if !codecs.canReceive(src.kind, src.codec) {
				err = httperr.New(http.StatusNotAcceptable, "this room's %s is %s, which your player did not offer", src.kind, src.codec.MimeType)
				break
			}
			wanted = append(wanted, src)
		}
		if err == nil && len(wanted) == 0 {
			err = httperr.New(http.StatusNotAcceptable, "your offer asks for no media this room has")
		}
		srcs = wanted
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
	v.connecting = connecting
	if err := room.addViewer(v); err != nil {
		s.viewers.Add(-1)
		connecting()
		v.cancel()
		httperr.Write(w, r, s.log, httperr.Retry(http.StatusServiceUnavailable, 10*time.Second, "room is at its viewer limit; retry later"))
		return
	}
	answer, err := s.startViewerPeer(v, string(in.body), srcs)
	if err != nil {
		v.close("setup failed")
		httperr.Write(w, r, s.log, err)
		return
	}
	v.log.Info("viewer joined", "remote", r.RemoteAddr)
	w.Header().Set("Location", "/whep/"+in.room+"/"+v.id)
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(answer))
}

func (s *Server) newViewer(room *Room) *viewer {
	ctx, cancel := context.WithCancel(context.Background())
	v := &viewer{id: sessionID(), tag: fmt.Sprintf("v%d", s.newID()), room: room, srv: s, since: time.Now(), ctx: ctx, cancel: cancel}
	v.log = s.log.With("room", room.cfg.Name, "session", v.tag)
	return v
}

func (s *Server) startViewerPeer(v *viewer, offer string, srcs []*source) (string, error) {
	pc, err := s.viewAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	v.pc = pc
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", httperr.New(http.StatusBadRequest, "offer rejected: %v", err)
	}
	var senders []*webrtc.RTPSender
	for _, src := range srcs {
		t := &viewerTrack{v: v, group: src.group, kind: src.kind}
		sender, err := pc.AddTrack(t)
		if err != nil {
			return "", fmt.Errorf("add %s track: %w", src.kind, err)
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
