package captions

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync/atomic"

	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/internal/limit"
)

// Admission of caption sockets, decided before the upgrade: a viewer only
// for languages that exist (it creates none), and every socket within the
// per-address and total caps.

// ErrNoLanguage is returned to a viewer asking for a language the room
// does not have (404).
var ErrNoLanguage = errors.New("no captions in this language")

// noLanguageError names the language asked for and those the room has.
type noLanguageError struct {
	room, lang string
	have       []string
}

func (e *noLanguageError) Error() string {
	have := "none yet"
	if len(e.have) > 0 {
		have = strings.Join(e.have, ", ")
	}
	return fmt.Sprintf("no captions in %q for room %q; languages: %s", e.lang, e.room, have)
}

func (e *noLanguageError) Unwrap() error { return ErrNoLanguage }

// refusals counts viewer sockets refused before the upgrade, by reason.
type refusals struct {
	unknownLang, perAddr, total atomic.Uint64
}

// RefusedViewers counts the caption viewer sockets refused before the
// upgrade since start, by reason: "unknown_language" (the room has no such
// language), "per_address" (the client's address holds its share of
// sockets), "total" (the relay holds all it takes).
func (s *Service) RefusedViewers() map[string]uint64 {
	return map[string]uint64{
		"unknown_language": s.refused.unknownLang.Load(),
		"per_address":      s.refused.perAddr.Load(),
		"total":            s.refused.total.Load(),
	}
}

// newSlots sets up the socket caps: negative means none, and captioners
// (privileged) may take the last 2% of the total.
func newSlots(perAddr, total int) *limit.Slots {
	return limit.NewSlots(limit.SlotsConfig{What: "caption sockets", PerAddr: max(perAddr, 0), Total: max(total, 0), Reserve: max(total, 0) / 50})
}

// takeSocket takes a socket slot for the request's client address; the
// returned function gives it back. A captioner (privileged) is not held
// to the per-address cap and may use the reserve.
func (s *Service) takeSocket(r *http.Request, captioner bool) (release func(), err error) {
	release, err = s.slots.Acquire(r.RemoteAddr, captioner)
	if err != nil && !captioner {
		if httperr.Status(err) == http.StatusTooManyRequests {
			s.refused.perAddr.Add(1)
		} else {
			s.refused.total.Add(1)
		}
		s.log.Debug("caption viewer refused", "room", r.PathValue("room"), "remote", r.RemoteAddr, "err", err)
	}
	return release, err
}

// checkLanguages refuses, without creating anything, a viewer asking for a
// language the room does not have: not in memory, not declared, not in the
// journal of a forgotten room. The player asks only for what /api/rooms
// offers, so one unknown language refuses the whole request.
func (s *Service) checkLanguages(roomName string, langs []string) error {
	have := s.offered(roomName)
	for _, l := range langs {
		if !slices.Contains(have, l) {
			s.refused.unknownLang.Add(1)
			return &noLanguageError{room: roomName, lang: l, have: have}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.rooms[roomName]; !ok && len(s.rooms) >= s.cfg.MaxRooms {
		return fmt.Errorf("%d caption rooms: %w", len(s.rooms), ErrLimit)
	}
	return nil
}

// noLanguage is the error for a language that vanished between the check
// and the subscription (a hub the sweep dropped).
func (s *Service) noLanguage(roomName, lang string) error {
	return &noLanguageError{room: roomName, lang: lang, have: s.offered(roomName)}
}

// offered returns, sorted, the languages a viewer may follow in the room:
// those in memory, the declared ones, and those of a forgotten room's
// journal.
func (s *Service) offered(roomName string) []string {
	have := s.declared(roomName)
	if r := s.liveRoom(roomName); r != nil {
		have = append(have, r.languages()...)
	} else {
		have = append(have, s.journaled(roomName)...)
	}
	sort.Strings(have)
	return slices.Compact(have)
}
