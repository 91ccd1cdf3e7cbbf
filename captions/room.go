package captions

import (
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// ErrLimit is returned when a room or language cannot be created because a
// configured limit is reached.
var ErrLimit = errors.New("limit reached")

// room holds the languages of one room and its journal.
type room struct {
	name string
	svc  *Service
	j    *journal

	mu        sync.Mutex
	langs     map[string]*langHub
	start     time.Time // session start: the earliest cue's start; zero before the first cue
	idleSince time.Time // when the sweep first found nobody in the room; zero while in use
	dead      bool      // removed from the service (forgotten or collected), journal closed
}

func newRoom(s *Service, name string, j *journal) *room {
	return &room{name: name, svc: s, j: j, langs: make(map[string]*langHub)}
}

// roomUse is what the sweep learns of a room.
type roomUse struct {
	busy    bool      // a viewer, a captioner or a cue in flight (or a hub was locked: busy)
	empty   bool      // nothing stored, nothing held: the room may go at once
	lastCue time.Time // the latest cue of any language
}

// use drops the hubs nobody uses that hold nothing (a captioner who left
// without a word, a declared language whose viewers left) and tells how the
// room is used. Lock order is langHub before room, so the hubs are only
// tried.
func (r *room) use() roomUse {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := roomUse{empty: !r.j.inUse()}
	for lang, h := range r.langs {
		if !h.mu.TryLock() {
			u.busy, u.empty = true, false
			continue
		}
		switch {
		case h.usedLocked():
			u.busy, u.empty = true, false
		case h.emptyLocked():
			h.gone = true
			delete(r.langs, lang)
		default:
			u.empty = false
		}
		if h.lastCue.After(u.lastCue) {
			u.lastCue = h.lastCue
		}
		h.mu.Unlock()
	}
	return u
}

// idleFor returns how long the sweep has found the room unused (busy false)
// or resets the clock (busy true).
func (r *room) idleFor(now time.Time, busy bool) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	if busy {
		r.idleSince = time.Time{}
		return 0
	}
	if r.idleSince.IsZero() {
		r.idleSince = now
	}
	return now.Sub(r.idleSince)
}

// retire marks the room and its hubs dead if nobody uses it still (and,
// with empty, it still holds nothing), so that attach will not hand them
// out again. It returns the languages the journal holds.
func (r *room) retire(empty bool) (stored []string, ok bool) {
	if !r.j.idle() || empty && r.j.inUse() {
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	locked := make([]*langHub, 0, len(r.langs))
	defer func() {
		for _, h := range locked {
			h.mu.Unlock()
		}
	}()
	for _, h := range r.langs {
		if !h.mu.TryLock() {
			return nil, false
		}
		locked = append(locked, h)
		if h.usedLocked() || empty && !h.emptyLocked() {
			return nil, false
		}
		if h.storedLocked() {
			stored = append(stored, h.lang)
		}
	}
	for _, h := range locked {
		h.gone = true
	}
	r.dead = true
	sort.Strings(stored)
	return stored, true
}

// hub returns the language's hub, creating it if needed. Lock order: a
// langHub's mutex may be held while taking room.mu, never the reverse.
func (r *room) hub(lang string) (*langHub, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h, ok := r.langs[lang]; ok {
		return h, nil
	}
	if len(r.langs) >= r.svc.cfg.MaxLanguages {
		return nil, fmt.Errorf("room %s has %d languages: %w", r.name, len(r.langs), ErrLimit)
	}
	h := newLangHub(r, lang)
	r.langs[lang] = h
	return h, nil
}

// existing returns the language's hub or nil.
func (r *room) existing(lang string) *langHub {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.langs[lang]
}

// hubs returns the room's hubs ordered by language.
func (r *room) hubs() []*langHub {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := make([]*langHub, 0, len(r.langs))
	for _, h := range r.langs {
		list = append(list, h)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].lang < list[j].lang })
	return list
}

// languages returns the languages the room has hubs for.
func (r *room) languages() []string {
	var out []string
	for _, h := range r.hubs() {
		out = append(out, h.lang)
	}
	return out
}

func (r *room) noteStart(t time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.start.IsZero() || t.Before(r.start) {
		r.start = t
	}
}

func (r *room) sessionStart() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.start
}

// restore applies the records of the room's journal.
func (r *room) restore(recs []record) {
	for _, rec := range recs {
		lang, err := CanonicalLang(rec.Lang)
		if err != nil {
			r.svc.log.Warn("journal: record with a bad language skipped", "room", r.name, "lang", rec.Lang, "err", err)
			continue
		}
		r.mu.Lock()
		h, ok := r.langs[lang]
		if !ok {
			h = newLangHub(r, lang)
			r.langs[lang] = h
		}
		r.mu.Unlock()
		h.restore(rec)
		if rec.T == recFinal && !rec.Start.IsZero() {
			r.noteStart(rec.Start)
		}
	}
}
