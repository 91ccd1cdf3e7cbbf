// Package httperr is the relay's one way to answer a request with an error:
// one error type that carries the status a client caused, and one writer
// that every package's handlers use, so that every error answer has the
// same headers (a 401 always says how to authenticate).
package httperr

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

// Error is an error a client caused (or may retry), with the status that
// says so. Its message is shown to the client: it must hold no secret.
type Error struct {
	Status int
	Msg    string
	// RetryAfter, when positive, is sent as Retry-After (whole seconds,
	// rounded up): how long a client should wait before trying again.
	RetryAfter time.Duration
	// Cause, if any, is what went wrong underneath (a token error, say):
	// errors.Is sees it; the client sees only Msg.
	Cause error
}

func (e *Error) Error() string { return e.Msg }

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Cause }

// New returns an Error with status and a formatted message.
func New(status int, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...)}
}

// Retry returns an Error that asks the client to try again after d.
func Retry(status int, d time.Duration, format string, args ...any) *Error {
	return &Error{Status: status, Msg: fmt.Sprintf(format, args...), RetryAfter: d}
}

// Status is the status Write would answer err with.
func Status(err error) int {
	var e *Error
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &e):
		return e.Status
	case errors.Is(err, auth.ErrMissing), errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrScope):
		return auth.Status(err)
	}
	return http.StatusInternalServerError
}

// Write answers err: an *Error (anywhere in err's chain) with its own status
// and message, a token error from package auth with 401 or 403 and its
// reason, anything else with a 500 whose detail goes to log, never to the
// client. Every answer is plain text, not sniffed, not cached, and a 401
// carries WWW-Authenticate: Bearer (RFC 6750).
func Write(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	status, msg := Status(err), ""
	var e *Error
	switch {
	case errors.As(err, &e):
		msg = e.Msg
		if e.RetryAfter > 0 {
			secs := math.Ceil(e.RetryAfter.Seconds())
			w.Header().Set("Retry-After", strconv.Itoa(int(secs)))
		}
	case status != http.StatusInternalServerError:
		msg = err.Error()
	default:
		if log == nil {
			log = slog.Default()
		}
		log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		msg = "internal error"
	}
	h := w.Header()
	if status == http.StatusUnauthorized {
		challenge := `Bearer realm="relay"`
		if errors.Is(err, auth.ErrInvalid) {
			challenge += `, error="invalid_token"`
		}
		h.Set("WWW-Authenticate", challenge)
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}
