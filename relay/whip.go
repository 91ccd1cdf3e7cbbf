package relay

import (
	"net/http"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/internal/langtag"
)

// whipGate admits publishers: an SDP offer and a publisher's token (the
// floor or any channel) or an interpreter's (its own channel).
var whipGate = gate{method: http.MethodPost, contentType: "application/sdp", maxBody: maxOfferBytes, role: auth.RolePublisher, or: auth.RoleInterpreter}

// handleWHIPPost starts a publisher session (RFC 9725) for the floor or,
// with ?lang= or an interpreter's token, a language channel. A channel's
// new publisher replaces the current one; viewers stay.
func (s *Server) handleWHIPPost(w http.ResponseWriter, r *http.Request) {
	in, err := s.admit(w, r, whipGate)
	var lang string
	if err == nil {
		lang, err = publishLang(r.URL.Query().Get("lang"), in.claims)
	}
	var codecs offerCodecs
	if err == nil {
		codecs, err = parseOffer(string(in.body))
	}
	if err == nil && !codecs.anySupported() {
		err = httperr.New(http.StatusNotAcceptable, "offer has no codec the relay forwards (H264 packetization-mode 1, VP8, VP9, AV1, Opus)")
	}
	if err != nil {
		httperr.Write(w, r, s.log, err)
		return
	}
	room, err := s.room(in.room, true)
	if err != nil {
		httperr.Write(w, r, s.log, httperr.Retry(http.StatusServiceUnavailable, 30*time.Second, "too many rooms"))
		return
	}
	ch, err := room.channelFor(lang)
	if err != nil {
		httperr.Write(w, r, s.log, err)
		return
	}
	p := s.newPublisher(room, ch)
	p.expect = codecs.supportedKinds()
	room.addPending(p) // it takes the room over with its first media
	answer, err := s.startPublisherPeer(p, string(in.body))
	if err != nil {
		p.close("setup failed")
		httperr.Write(w, r, s.log, err)
		return
	}
	p.reapUnlessLive(s.publisherConnectTimeout())
	p.log.Info("publisher joined", "remote", r.RemoteAddr, "role", string(in.claims.Role))
	w.Header().Set("Location", "/whip/"+in.room+"/"+p.id)
	w.Header().Set("Content-Type", "application/sdp")
	s.linkICEServers(w, r)
	w.WriteHeader(http.StatusCreated)
	w.Write([]byte(answer))
}

// publishLang is the channel a WHIP request publishes: "" for the floor,
// else a canonical language tag. An interpreter publishes the language of
// its token and no other.
func publishLang(query string, claims *auth.Claims) (string, error) {
	lang := ""
	if query != "" && query != FloorLang {
		var err error
		if lang, err = langtag.Canonical(query); err != nil {
			return "", httperr.New(http.StatusBadRequest, "lang: %v", err)
		}
	}
	if claims.Role != auth.RoleInterpreter {
		return lang, nil
	}
	own, err := langtag.Canonical(claims.Lang)
	if err != nil {
		return "", httperr.New(http.StatusForbidden, "this interpreter token names no channel language")
	}
	if query != "" && lang != own {
		return "", httperr.New(http.StatusForbidden, "this token publishes the %s channel, not %s", own, orFloor(lang))
	}
	return own, nil
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
		p = room.publisherByID(r.PathValue("id"))
	}
	if p == nil {
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
	if s.cfg.ICEServers != nil {
		// Credentials are minted here: OPTIONS goes through admission
		// like an offer (room name, the per-address budget), so a client
		// cannot mint them by the thousand.
		if _, err := s.admit(w, r, gate{method: http.MethodOptions}); err != nil {
			httperr.Write(w, r, s.log, err)
			return
		}
	}
	s.linkICEServers(w, r)
	w.WriteHeader(http.StatusNoContent)
}

// linkICEServers adds the room's ICE servers as Link headers (RFC 9725
// §4.6), quoted: TURN REST usernames hold ':' and '/', passwords '+/='.
func (s *Server) linkICEServers(w http.ResponseWriter, r *http.Request) {
	if s.cfg.ICEServers == nil {
		return
	}
	for _, is := range s.cfg.ICEServers(r, r.PathValue("room")) {
		v := "<" + is.URL + `>; rel="ice-server"`
		if is.Username != "" {
			v += `; username="` + is.Username + `"; credential="` + is.Credential + `"; credential-type="password"`
		}
		w.Header().Add("Link", v)
	}
}
