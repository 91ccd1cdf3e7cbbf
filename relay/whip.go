package relay

import (
	"net/http"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
)

// handleWHIPPost starts a publisher session (RFC 9725). A room's new
// publisher replaces the current one; viewers stay.
func (s *Server) handleWHIPPost(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("room")
	offer, err := readOffer(w, r)
	if err == nil && !s.limiter.allow(r.RemoteAddr) {
		err = httperr.Retry(http.StatusTooManyRequests, time.Second, "too many requests from your address; slow down")
	}
	if err == nil {
		err = s.authorize(auth.FromHeader(r.Header.Get("Authorization")), auth.RolePublisher, name)
	}
	if err == nil && !ValidRoomName(name) {
		err = httperr.New(http.StatusBadRequest, "bad room name: use letters, digits, '-' and '_' (at most 64)")
	}
	if err == nil && s.closing.Load() {
		err = httperr.Retry(http.StatusServiceUnavailable, 5*time.Second, "relay is shutting down")
	}
	var codecs offerCodecs
	if err == nil {
		codecs, err = parseOffer(offer)
	}
	if err == nil && !codecs.anySupported() {
		err = httperr.New(http.StatusNotAcceptable, "offer has no codec the relay forwards (H264 packetization-mode 1, VP8, VP9, AV1, Opus)")
	}
	if err != nil {
		httperr.Write(w, r, s.log, err)
		return
	}
	room, err := s.room(name, true)
	if err != nil {
		httperr.Write(w, r, s.log, httperr.Retry(http.StatusServiceUnavailable, 30*time.Second, "too many rooms"))
		return
	}
	p := s.newPublisher(room)
	p.expect = codecs.supportedKinds()
	answer, err := s.startPublisherPeer(p, offer)
	if err != nil {
		p.close("setup failed")
		httperr.Write(w, r, s.log, err)
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
		return "", httperr.New(http.StatusBadRequest, "offer rejected: %v", err)
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
		httperr.Write(w, r, s.log, httperr.New(http.StatusNotFound, "no such session"))
		return
	}
	p.close("ended by publisher")
	w.WriteHeader(http.StatusOK)
}

func (s *Server) handleNoTrickle(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "DELETE")
	httperr.Write(w, r, s.log, httperr.New(http.StatusMethodNotAllowed, "trickle ICE and ICE restarts are not supported: send a new offer"))
}

func (s *Server) handleOptions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "OPTIONS, POST")
	w.Header().Set("Accept-Post", "application/sdp")
	w.WriteHeader(http.StatusNoContent)
}

// authorize checks a token for role in room.
func (s *Server) authorize(token string, role auth.Role, room string) error {
	_, err := s.cfg.Auth.Check(token, auth.Need{Role: role, Room: room})
	return err
}
