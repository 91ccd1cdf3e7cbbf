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

	mu    sync.Mutex
	langs map[string]*langHub
	start time.Time // session start: the earliest cue's start; zero before the first cue
	dead  bool      // collected: removed from the service, journal closed
}

// collectable marks the room dead if it never stored anything and nobody
// uses it: viewers of rooms that never get captions must not pin them
// forever (anyone may open a viewer socket). Lock order is langHub before
// room, so the hubs are only tried.
func (r *room) collectable() bool {
	if r.j.inUse() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var locked []*langHub
	defer func() {
		for _, h := range locked {
			h.mu.Unlock()
		}
	}()
	for _, h := range r.langs {
		if !h.mu.TryLock() {
			return false
		}
		locked = append(locked, h)
		if !h.emptyLocked() {
			return false
		}
	}
	r.dead = true
	return true
}

func (r *room) isDead() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dead
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
