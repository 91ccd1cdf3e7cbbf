package httperr

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

func TestWrite(t *testing.T) {
	cases := []struct {
		name      string
		err       error
		status    int
		body      string
		retry     string
		challenge string
		logged    bool
	}{
		{name: "client error", err: New(400, "bad room name"), status: 400, body: "bad room name\n"},
		{name: "wrapped", err: fmt.Errorf("admitting: %w", New(415, "content type must be application/sdp")), status: 415,
			body: "content type must be application/sdp\n"},
		{name: "retry rounds up", err: Retry(503, 1500*time.Millisecond, "busy"), status: 503, body: "busy\n", retry: "2"},
		{name: "missing token", err: auth.ErrMissing, status: 401, body: "token missing\n", challenge: `Bearer realm="relay"`},
		{name: "invalid token", err: fmt.Errorf("%w: expired", auth.ErrInvalid), status: 401, body: "token invalid: expired\n",
			challenge: `Bearer realm="relay", error="invalid_token"`},
		{name: "wrong scope", err: auth.ErrScope, status: 403, body: "token does not allow this\n"},
		{name: "error with a token cause", err: &Error{Status: 401, Msg: "admin token required", Cause: auth.ErrInvalid}, status: 401,
			body: "admin token required\n", challenge: `Bearer realm="relay", error="invalid_token"`},
		{name: "unexpected", err: errors.New("open /secret/path: disk on fire"), status: 500, body: "internal error\n", logged: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			log := slog.New(slog.NewTextHandler(&logs, nil))
			w := httptest.NewRecorder()
			w.Header().Set("Content-Length", "99") // a handler's stale header must not survive
			Write(w, httptest.NewRequest("POST", "/whip/hall", nil), log, c.err)
			if w.Code != c.status || w.Body.String() != c.body {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), c.status, c.body)
			}
			h := w.Header()
			if h.Get("Content-Type") != "text/plain; charset=utf-8" || h.Get("X-Content-Type-Options") != "nosniff" ||
				h.Get("Cache-Control") != "no-store" || h.Get("Content-Length") != "" {
				t.Errorf("headers %v", h)
			}
			if got := h.Get("Retry-After"); got != c.retry {
				t.Errorf("Retry-After %q, want %q", got, c.retry)
			}
			if got := h.Get("WWW-Authenticate"); got != c.challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, c.challenge)
			}
			if got := strings.Contains(logs.String(), "disk on fire"); got != c.logged {
				t.Errorf("logged %v, want %v: %s", got, c.logged, logs.String())
			}
			if Status(c.err) != c.status {
				t.Errorf("Status %d, want %d", Status(c.err), c.status)
			}
		})
	}
	if Status(nil) != http.StatusOK {
		t.Error("Status(nil) is not 200")
	}
}
