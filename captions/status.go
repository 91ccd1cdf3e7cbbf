package captions

import (
	"slices"
	"sort"
	"time"
)

// Who is captioning, who is watching: the status message to captioners and
// the snapshot for the lobby and the monitor.

// joinLocked registers a captioner and tells every captioner of the language.
func (h *langHub) joinLocked(cp *captioner) {
	h.joins++
	cp.order = h.joins
	h.caps[cp.info.Session] = cp
	h.sendStatusLocked()
}

func (h *langHub) leave(session string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.caps[session]; ok {
		delete(h.caps, session)
		h.sendStatusLocked()
	}
}

// seen marks an HTTP ingest source alive; it joins the captioner list.
func (h *langHub) seen(session string, info CaptionerInfo) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.seenLocked(session, info)
}

func (h *langHub) seenLocked(session string, info CaptionerInfo) {
	now := time.Now()
	if cp, ok := h.caps[session]; ok {
		cp.lastSeen = now
		return
	}
	h.joins++
	h.caps[session] = &captioner{info: info, lastSeen: now, order: h.joins}
	h.sendStatusLocked()
}

// tick sends a status if viewers changed, and forgets HTTP ingest sources
// quiet for longer than idle.
func (h *langHub) tick(now time.Time, idle time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s, cp := range h.caps {
		if cp.c == nil && now.Sub(cp.lastSeen) > idle {
			delete(h.caps, s)
			h.dirty = true
		}
	}
	if h.dirty {
		h.sendStatusLocked()
	}
}

func (h *langHub) captionersLocked() []CaptionerInfo {
	list := make([]*captioner, 0, len(h.caps))
	for _, cp := range h.caps {
		list = append(list, cp)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].order < list[j].order })
	out := make([]CaptionerInfo, len(list))
	for i, cp := range list {
		out[i] = cp.info
	}
	return out
}

// sendStatusLocked tells each WebSocket captioner who else holds the
// language and how many viewers watch it.
func (h *langHub) sendStatusLocked() {
	h.dirty = false
	st := statusMsg{Type: typeStatus, Lang: h.lang, Viewers: len(h.subs), Captioners: h.captionersLocked(), Seq: h.nextSeq - 1}
	for _, cp := range h.caps {
		if cp.c == nil {
			continue
		}
		st.You = cp.info.Session
		cp.c.enqueue(h.encode(st, kindStatus))
	}
}

// LangStats is a snapshot of one language of a room.
type LangStats struct {
	Lang string `json:"lang"`
	// Announced: a captioner has used the language, or the room config lists
	// it.
	Announced  bool              `json:"announced"`
	Viewers    int               `json:"viewers"`
	Captioners []CaptionerInfo   `json:"captioners"`
	Cues       uint64            `json:"cues"`
	LastSeq    uint64            `json:"lastSeq"`
	LastCue    time.Time         `json:"lastCue,omitzero"`
	Dropped    map[string]uint64 `json:"dropped"` // "partial": partials dropped; "slow": viewers disconnected
}

func (h *langHub) stats() LangStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := LangStats{Lang: h.lang, Viewers: len(h.subs), Captioners: h.captionersLocked(),
		Cues: h.cuesTotal, LastSeq: h.nextSeq - 1, LastCue: h.lastCue, Dropped: make(map[string]uint64, len(h.dropped))}
	for k, v := range h.dropped {
		st.Dropped[k] = v
	}
	return st
}

// RoomStats is a snapshot of one room's captions for the lobby and monitor.
type RoomStats struct {
	Room      string      `json:"room"`
	Languages []LangStats `json:"languages"`
}

// Rooms returns a snapshot of every room with caption state in memory (not
// the forgotten ones: Config.IdleAfter), with the languages declared in
// room config listed even before their first cue.
func (s *Service) Rooms() []RoomStats {
	var out []RoomStats
	for _, r := range s.allRooms() {
		rs := RoomStats{Room: r.name}
		seen := map[string]bool{}
		declared := s.declared(r.name)
		for _, h := range r.hubs() {
			st := h.stats()
			// Only viewers asked for it: listed (the AV team sees who waits)
			// but not as a language the room offers.
			st.Announced = h.announced() || slices.Contains(declared, h.lang)
			rs.Languages = append(rs.Languages, st)
			seen[h.lang] = true
		}
		for _, l := range declared {
			if !seen[l] {
				seen[l] = true
				rs.Languages = append(rs.Languages, declaredStats(l))
			}
		}
		sort.Slice(rs.Languages, func(i, j int) bool { return rs.Languages[i].Lang < rs.Languages[j].Lang })
		out = append(out, rs)
	}
	return out
}

// Declared returns the languages room's configuration declares, as a room
// without caption state has them: offered, no cue yet. Rooms lists only rooms
// with state; the relay's rooms from the configuration may have none yet,
// and delegates should be able to pick their language before captions start.
func (s *Service) Declared(room string) []LangStats {
	out := []LangStats{}
	for _, l := range s.declared(room) {
		if !slices.ContainsFunc(out, func(x LangStats) bool { return x.Lang == l }) {
			out = append(out, declaredStats(l))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Lang < out[j].Lang })
	return out
}

func declaredStats(lang string) LangStats {
	return LangStats{Lang: lang, Announced: true, Captioners: []CaptionerInfo{}, Dropped: map[string]uint64{}}
}

// announced says whether a language has been used by a captioner (a socket,
// an HTTP ingest post, a cue). Viewers create no language (table.go), so
// every hub is a captioner's or a declared one; a declared language is
// announced by Rooms whatever this says.
func (h *langHub) announced() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.joins > 0 || len(h.cues) > 0 || h.partial != nil || len(h.ingest) > 0 || h.nextSeq > 1
}
