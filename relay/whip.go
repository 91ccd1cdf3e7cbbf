package relay

import (
	"net/http"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
)

// handleWHIPPost starts a publisher session (RFC 9725). A room's new
// publisher replaces the current one; viewers stay.
func (s *Server) handleWHIPPost(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("room")
	offer, err := readOffer(w, r)
	if err == nil && !s.limiter.allow(r.RemoteAddr) {
		err = &httpError{status: http.StatusTooManyRequests, msg: "too many requests from your address; slow down", retryAfter: 1}
	}
	if err == nil {
		err = s.authorize(auth.FromHeader(r.Header.Get("Authorization")), auth.RolePublisher, name)
	}
	if err == nil && !ValidRoomName(name) {
		err = errorf(http.StatusBadRequest, "bad room name: use letters, digits, '-' and '_' (at most 64)")
	}
	if err == nil && s.closing.Load() {
		err = &httpError{status: http.StatusServiceUnavailable, msg: "relay is shutting down", retryAfter: 5}
	}
	var codecs offerCodecs
	if err == nil {
		codecs, err = parseOffer(offer)
	}
	if err == nil && !codecs.anySupported() {
		err = errorf(http.StatusNotAcceptable, "offer has no codec the relay forwards (H264 packetization-mode 1, VP8, VP9, AV1, Opus)")
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	room, err := s.room(name, true)
	if err != nil {
		s.writeError(w, r, &httpError{status: http.StatusServiceUnavailable, msg: "too many rooms", retryAfter: 30})
		return
	}
	p := s.newPublisher(room)
	p.expect = codecs.supportedKinds()
	answer, err := s.startPublisherPeer(p, offer)
	if err != nil {
		p.close("setup failed")
		s.writeError(w, r, err)
		return
	}
	if old := room.replacePublisher(p); old != nil {
		old.close("replaced by a new publisher")
	}
	p.log.Info("publisher joined", "remote", r.RemoteAddr)
	w.Header().Set("Location", "/whip/"+name+"/"+p.id)
	w.Header().Set("Content-Type", "application/sdp")
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(answer))
}

func (s *Server) startPublisherPeer(p *publisher, offer string) (string, error) {
	pc, err := s.pubAPI.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", err
	}
	p.pc = pc
	p.watchPeer()
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return "", errorf(http.StatusBadRequest, "offer rejected: %v", err)
	}
	return answerSDP(pc)
}

func (s *Server) handleWHIPDelete(w http.ResponseWriter, r *http.Request) {
	var p *publisher
	if room, err := s.room(r.PathValue("room"), false); err == nil {
		room.mu.Lock()
		p = room.publisher
		room.mu.Unlock()
	}
	if p == nil || p.id != r.PathValue("id") {
		if s.recentlyEnded(r.PathValue("id")) {
			w.WriteHeader(http.StatusOK) // already over: DELETE is idempotent
			return
		}
		s.writeError(w, r, errorf(http.StatusNotFound, "no such session"))
		return
	}
	p.close("ended by publisher")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleNoTrickle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "DELETE")
	s.writeError(w, r, errorf(http.StatusMethodNotAllowed, "trickle ICE and ICE restarts are not supported: send a new offer"))
}

func (s *Server) handleOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "OPTIONS, POST")
	w.Header().Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

// authorize checks a token for role in room.
func (s *Server) authorize(token string, role auth.Role, room string) error {
	if _, err := s.cfg.Auth.Check(token, auth.Need{Role: role, Room: room}); err != nil {
		he := &httpError{status: auth.Status(err), msg: err.Error()}
		return he
	}
	return nil
}
