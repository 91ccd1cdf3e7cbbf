package relay

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
)

// gate says what one endpoint lets in. Every endpoint that takes an offer
// or acts on a room's media (WHIP, WHEP, and the ones that follow them)
// admits requests through admit, so the same checks run in the same order
// everywhere.
type gate struct {
	method      string
	contentType string // the body's media type; "" means the request has no body
	maxBody     int64
	// role is the token role the request needs; "" means none. When
	// needToken is set, the token is needed only for rooms it says so of
	// (a WHEP viewer of a private room).
	role      auth.Role
	or        auth.Role // a second role that also does; "" for none
	needToken func(room string) bool
}

// admission is what admit let in.
type admission struct {
	room   string
	body   []byte
	claims *auth.Claims // nil when no token was needed
}

// admit checks a request against g in one fixed order: method, content
// type, size, token, room name, rate limit; then whether the relay still
// takes sessions. The order is part of the contract: a room that is not
// live still answers 415 to a wrong content type, and a request without a
// token learns nothing about the room.
func (s *Server) admit(w http.ResponseWriter, r *http.Request, g gate) (admission, error) {
	a := admission{room: r.PathValue("room")}
	if r.Method != g.method {
		w.Header().Set("Allow", g.method)
		return a, httperr.New(http.StatusMethodNotAllowed, "method %s not allowed here", r.Method)
	}
	if g.contentType != "" {
		var err error
		if a.body, err = readBody(w, r, g.contentType, g.maxBody); err != nil {
			return a, err
		}
	}
	if g.role != "" && (g.needToken == nil || g.needToken(a.room)) {
		claims, err := s.cfg.Auth.Check(auth.FromHeader(r.Header.Get("Authorization")), auth.Need{Role: g.role, Or: g.or, Room: a.room})
		if err != nil {
			return a, err
		}
		a.claims = claims
	}
	if !ValidRoomName(a.room) {
		return a, httperr.New(http.StatusBadRequest, "bad room name: use letters, digits, '-' and '_' (at most 64)")
	}
	if !s.limiter.Allow(r.RemoteAddr) {
		return a, httperr.Retry(http.StatusTooManyRequests, time.Second, "too many requests from your address; slow down")
	}
	if s.closing.Load() {
		return a, httperr.Retry(http.StatusServiceUnavailable, 5*time.Second, "relay is shutting down")
	}
	return a, nil
}

// readBody checks a request body's media type and size and returns it.
func readBody(w http.ResponseWriter, r *http.Request, contentType string, maxBytes int64) ([]byte, error) {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != contentType {
		return nil, httperr.New(http.StatusUnsupportedMediaType, "content type must be %s", contentType)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, httperr.New(http.StatusRequestEntityTooLarge, "body larger than %d bytes", maxBytes)
		}
		return nil, httperr.New(http.StatusBadRequest, "reading body: %v", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil, httperr.New(http.StatusBadRequest, "empty body")
	}
	return body, nil
}
