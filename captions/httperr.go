package captions

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/http"
	"strings"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
)

// Errors of HTTP requests that a client caused.
var (
	errBadBody  = errors.New("bad body")
	errTooLarge = errors.New("body too large")
	errBadType  = errors.New("unsupported content type")
	errBadQuery = errors.New("bad query")
)

// statusOf maps an error to an HTTP status code: the one place where
// caption handlers decide it.
func statusOf(err error) int {
	var he *httperr.Error
	switch {
	case errors.As(err, &he): // a socket cap's 429/503 with Retry-After
		return he.Status
	case errors.Is(err, auth.ErrMissing), errors.Is(err, auth.ErrInvalid), errors.Is(err, auth.ErrScope):
		return auth.Status(err)
	case errors.Is(err, ErrBadRoom), errors.Is(err, ErrBadLang), errors.Is(err, ErrBadText),
		errors.Is(err, ErrBadMessage), errors.Is(err, errBadBody), errors.Is(err, errBadQuery),
		errors.Is(err, ErrUnknownSeq):
		return http.StatusBadRequest
	case errors.Is(err, ErrNoLanguage):
		return http.StatusNotFound
	case errors.Is(err, errTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, errBadType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrLimit):
		return http.StatusTooManyRequests
	case errors.Is(err, ErrClosed), errors.Is(err, ErrJournalClosed), errors.Is(err, ErrBusy):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError answers err through the relay's one error writer, with the
// status statusOf gives it. Errors statusOf does not know are logged there
// and answered 500 without their detail.
func (s *Service) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var he *httperr.Error
	if code := statusOf(err); code != http.StatusInternalServerError && !errors.As(err, &he) {
		err = &httperr.Error{Status: code, Msg: err.Error(), Cause: err}
	}
	httperr.Write(w, r, s.log, err)
}

// tokenOf returns the request's token: the token query parameter or a
// bearer Authorization header.
func tokenOf(r *http.Request, param string) string {
	if t := r.URL.Query().Get(param); t != "" {
		return t
	}
	return auth.FromHeader(r.Header.Get("Authorization"))
}

// newSession returns a short random id for a connection or an ingest source.
func newSession() string {
	var b [6]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}

// langsOf parses lang query values ("en,fr" or repeated) into canonical,
// distinct tags.
func langsOf(r *http.Request, max int) ([]string, error) {
	var out []string
	seen := map[string]bool{}
	for _, v := range r.URL.Query()["lang"] {
		for part := range strings.SplitSeq(v, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			l, err := CanonicalLang(part)
			if err != nil {
				return nil, err
			}
			if !seen[l] {
				seen[l] = true
				out = append(out, l)
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.Join(errBadQuery, errors.New("lang is required, e.g. ?lang=fr or ?lang=en,fr"))
	}
	if len(out) > max {
		return nil, errors.Join(errBadQuery, errors.New("too many languages"))
	}
	return out, nil
}
