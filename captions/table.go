package captions

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"
)

// The room table: what creates a room or a language, what forgets one, and
// how a forgotten room comes back from its journal.
//
// A language exists when the room's configuration declares it
// (Config.Languages), when a captioner with a valid token uses it (socket,
// HTTP ingest, the demo), or when the room's journal has it. Viewers never
// create one: they are anonymous, and anything they could create they
// could create by the thousand. A room exists when one of its languages
// does. Rooms nobody uses are forgotten by the sweep; their journal stays,
// and the room comes back from it as at start-up.

// forgotten is a room that left memory with its journal on disk.
type forgotten struct {
	langs  []string      // the languages its journal holds
	closed chan struct{} // closed once its journal is closed: then it may be opened again
}

// loadRooms restores every room that has a journal.
func (s *Service) loadRooms() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("captions: read data directory: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".journal")
		if !ok || e.IsDir() {
			continue
		}
		if validRoom(name) != nil {
			s.log.Warn("captions: journal with a bad room name ignored", "file", e.Name())
			continue
		}
		j, recs, err := loadJournal(s.journalPath(name), s.log, &s.journalFailures)
		if err != nil {
			return fmt.Errorf("captions: room %s: %w", name, err)
		}
		r := newRoom(s, name, j)
		s.rooms[name] = r
		r.restore(recs)
		s.log.Info("captions: room restored", "room", name, "records", len(recs), "langs", r.languages())
	}
	return nil
}

// room returns the room, restoring it from its journal or creating it if
// needed. Only captioners (and viewers of a language that exists: see
// viewerHub) get here.
func (s *Service) room(name string) (*room, error) {
	if err := validRoom(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		if s.closed {
			return nil, ErrClosed
		}
		if r, ok := s.rooms[name]; ok {
			return r, nil
		}
		f := s.forgotten[name]
		if f == nil || isClosed(f.closed) {
			break
		}
		// Just forgotten: its journal is being closed. Wait, then look
		// again (someone else may have restored it meanwhile).
		s.mu.Unlock()
		<-f.closed
		s.mu.Lock()
	}
	if len(s.rooms) >= s.cfg.MaxRooms {
		return nil, fmt.Errorf("%d caption rooms: %w", len(s.rooms), ErrLimit)
	}
	j, recs, err := loadJournal(s.journalPath(name), s.log, &s.journalFailures)
	if err != nil {
		return nil, fmt.Errorf("room %s: %w", name, err)
	}
	r := newRoom(s, name, j)
	r.restore(recs)
	s.rooms[name] = r
	if _, ok := s.forgotten[name]; ok {
		delete(s.forgotten, name)
		s.log.Info("captions: forgotten room restored", "room", name, "records", len(recs), "langs", r.languages())
	}
	return r, nil
}

// hub returns the hub of (room, lang), creating both if needed: for
// captioners, whose token allows the language.
func (s *Service) hub(roomName, lang string) (*langHub, error) {
	r, err := s.room(roomName)
	if err != nil {
		return nil, err
	}
	return r.hub(lang)
}

// viewerHub returns the hub of (room, lang) for a viewer: one that exists,
// or one the room's configuration declares or its journal holds (the room
// then comes back from it). It never makes a language up.
func (s *Service) viewerHub(roomName, lang string) (*langHub, error) {
	declared := slices.Contains(s.declared(roomName), lang)
	r := s.liveRoom(roomName)
	if r == nil {
		if !declared && !slices.Contains(s.journaled(roomName), lang) {
			return nil, s.noLanguage(roomName, lang)
		}
		var err error
		if r, err = s.room(roomName); err != nil {
			return nil, err
		}
	}
	if h := r.existing(lang); h != nil {
		return h, nil
	}
	if !declared {
		return nil, s.noLanguage(roomName, lang)
	}
	return r.hub(lang)
}

// attach finds (or creates) the hub of (room, lang) and runs fn with the
// hub locked, unless the sweep just removed the hub, in which case it tries
// again with its successor. fn must make the hub used (a viewer, a
// captioner) so that it is not removed in turn.
func (s *Service) attach(roomName, lang string, fn func(h *langHub)) (*langHub, error) {
	return s.attachWith(roomName, func() (*langHub, error) { return s.hub(roomName, lang) }, fn)
}

// attachViewer is attach for a viewer: it creates nothing viewerHub would not.
func (s *Service) attachViewer(roomName, lang string, fn func(h *langHub)) (*langHub, error) {
	return s.attachWith(roomName, func() (*langHub, error) { return s.viewerHub(roomName, lang) }, fn)
}

func (s *Service) attachWith(roomName string, get func() (*langHub, error), fn func(h *langHub)) (*langHub, error) {
	for range 3 {
		h, err := get()
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		if !h.gone {
			fn(h)
			h.mu.Unlock()
			return h, nil
		}
		h.mu.Unlock()
	}
	return nil, fmt.Errorf("room %s: %w", roomName, ErrBusy)
}

// liveRoom returns the room if it is in memory, or nil.
func (s *Service) liveRoom(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[name]
}

// journaled returns the languages of a forgotten room's journal.
func (s *Service) journaled(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.forgotten[name]; f != nil {
		return f.langs
	}
	return nil
}

// existingRoom returns the room's caption state without creating any: the
// room in memory, or for a forgotten room a copy read from its journal that
// is not in the table (transcripts, ingest seqs and language mapping of a
// forgotten room; nothing done to the copy is kept), or nil.
func (s *Service) existingRoom(name string) *room {
	s.mu.Lock()
	r, f := s.rooms[name], s.forgotten[name]
	s.mu.Unlock()
	if r != nil || f == nil {
		return r
	}
	recs, err := readJournal(s.journalPath(name), s.log)
	if err != nil {
		s.log.Warn("captions: reading a forgotten room's journal", "room", name, "err", err)
		return nil
	}
	j := &journal{path: s.journalPath(name), log: s.log, closing: true, used: true,
		done: make(chan struct{}), failures: &s.journalFailures} // appends fail: read only
	close(j.done)
	copied := newRoom(s, name, j)
	copied.dead = true
	copied.restore(recs)
	return copied
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// allRooms returns the rooms in memory, ordered by name.
func (s *Service) allRooms() []*room {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := make([]*room, 0, len(s.rooms))
	for _, r := range s.rooms {
		list = append(list, r)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	return list
}

// sweep runs every second. It drops the hubs that hold nothing and nobody
// uses, collects rooms that never stored anything once nobody uses them,
// and forgets rooms with stored captions that nobody used for IdleAfter
// (no viewer, no captioner, no cue, no publisher: Config.Live). A
// forgotten room's journal is closed and stays on disk.
func (s *Service) sweep(now time.Time) {
	type candidate struct {
		r     *room
		empty bool
	}
	var cands []candidate
	for _, r := range s.allRooms() {
		u := r.use()
		idle := r.idleFor(now, u.busy)
		switch {
		case u.busy:
		case u.empty:
			cands = append(cands, candidate{r, true})
		case idle >= s.cfg.IdleAfter && now.Sub(u.lastCue) >= s.cfg.IdleAfter &&
			(s.cfg.Live == nil || !s.cfg.Live(r.name)):
			cands = append(cands, candidate{r, false})
		}
	}
	if len(cands) == 0 {
		return
	}
	type retired struct {
		r     *room
		f     *forgotten
		langs []string
	}
	var gone []retired
	s.mu.Lock()
	for _, c := range cands {
		if s.rooms[c.r.name] != c.r {
			continue
		}
		langs, ok := c.r.retire(c.empty)
		if !ok {
			continue
		}
		delete(s.rooms, c.r.name)
		var f *forgotten
		if c.r.j.inUse() {
			f = &forgotten{langs: langs, closed: make(chan struct{})}
			s.forgotten[c.r.name] = f
		}
		gone = append(gone, retired{c.r, f, langs})
	}
	s.mu.Unlock()
	for _, g := range gone {
		if err := g.r.j.close(); err != nil {
			s.log.Warn("captions: closing the journal of a room leaving memory", "room", g.r.name, "err", err)
		}
		if g.f != nil {
			close(g.f.closed)
			s.log.Info("captions: idle room forgotten; its journal stays", "room", g.r.name, "langs", g.langs)
		}
	}
}
