package captions

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// Errors of the hub that a captioner caused.
var (
	ErrUnknownSeq = errors.New("no recent final cue with this seq")
	ErrBusy       = errors.New("cue not stored yet, retry")
)

// maxRememberedIDs bounds, per language, the captioner ids remembered for
// idempotent resends.
const maxRememberedIDs = 4096

// ackFunc receives the outcome of a final or a correction once it is durable
// (or failed). dup is true when the final's id had already been stored. It
// may run with the hub locked: it must not call back into the hub.
type ackFunc func(seq uint64, dup bool, err error)

// langHub is the state of one language of one room. Its mutex orders
// everything: seq assignment, journal appends, broadcasts.
type langHub struct {
	room *room
	lang string

	mu       sync.Mutex
	nextSeq  uint64
	partial  *Cue   // the current partial line, as viewers last saw it
	partMsg  outMsg // its encoded message
	deferred *Cue   // a partial waiting for earlier finals to become durable
	inflight int    // finals and corrections appended but not yet durable
	cues     []Cue  // every final of the session, ordered by seq
	ids      map[string]uint64
	idOrder  []string
	pending  map[string]*pendingFinal // id -> final being stored
	subs     map[*client]struct{}
	caps     map[string]*captioner // session -> captioner
	ingest   map[string]*ingestState
	backlog  *outMsg // cached; nil after a change
	dirty    bool    // viewers changed since the last status
	joins    uint64  // captioners ever joined, to order the list
	gone     bool    // removed from its room (or the room forgotten): attach takes a new hub

	cuesTotal uint64
	lastCue   time.Time
	dropped   map[string]uint64 // reason -> count
}

type pendingFinal struct {
	waiters []ackFunc
}

// captioner is someone publishing into a language: a WebSocket connection
// (c != nil) or an HTTP ingest source seen recently.
type captioner struct {
	info     CaptionerInfo
	c        *client
	lastSeen time.Time
	order    uint64 // join order, for a stable list
}

func newLangHub(r *room, lang string) *langHub {
	return &langHub{
		room: r, lang: lang, nextSeq: 1,
		ids:     make(map[string]uint64),
		pending: make(map[string]*pendingFinal),
		subs:    make(map[*client]struct{}),
		caps:    make(map[string]*captioner),
		ingest:  make(map[string]*ingestState),
		dropped: make(map[string]uint64),
	}
}

// restore applies a journal record while the service starts.
func (h *langHub) restore(rec record) {
	switch rec.T {
	case recFinal:
		if rec.Seq < h.nextSeq {
			return // already known
		}
		h.cues = append(h.cues, Cue{Seq: rec.Seq, Lang: h.lang, Text: rec.Text, Final: true, Start: rec.Start, ID: rec.ID})
		h.nextSeq = rec.Seq + 1
		h.rememberID(rec.ID, rec.Seq)
		h.cuesTotal++
		h.lastCue = rec.Start
	case recCorrect:
		if i := h.find(rec.Seq); i >= 0 {
			h.cues[i].Text = rec.Text
		}
	case recIngest:
		h.restoreIngest(rec)
	}
}

func (h *langHub) rememberID(id string, seq uint64) {
	if id == "" {
		return
	}
	if _, ok := h.ids[id]; ok {
		return
	}
	h.ids[id] = seq
	h.idOrder = append(h.idOrder, id)
	if len(h.idOrder) > maxRememberedIDs {
		delete(h.ids, h.idOrder[0])
		h.idOrder = h.idOrder[1:]
	}
}

// find returns the index of the final with seq, or -1.
func (h *langHub) find(seq uint64) int {
	i := sort.Search(len(h.cues), func(i int) bool { return h.cues[i].Seq >= seq })
	if i < len(h.cues) && h.cues[i].Seq == seq {
		return i
	}
	return -1
}

// partialLine shows text as the language's current line. An empty text
// clears the line.
func (h *langHub) partialLine(text string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	cue := Cue{Seq: h.nextSeq, Lang: h.lang, Text: text, Start: serverNow()}
	if cur := h.latestPartialLocked(); cur != nil && cur.Seq == cue.Seq && cur.Text != "" {
		cue.Start = cur.Start // the line started with its first partial
	}
	if h.inflight > 0 {
		h.deferred = &cue // shown after the finals before it
		return
	}
	h.showPartialLocked(cue)
}

func (h *langHub) latestPartialLocked() *Cue {
	if h.deferred != nil {
		return h.deferred
	}
	return h.partial
}

func (h *langHub) showPartialLocked(cue Cue) {
	h.partial = &cue
	h.partMsg = h.encode(wireCue(cue), kindPartial)
	h.broadcastLocked(h.partMsg)
}

// final stores text as the next final cue and calls ack once it is durable,
// then fans it out. A final whose id was stored before is acknowledged with
// its first seq and not stored again.
func (h *langHub) final(text, id string, start time.Time, ack ackFunc) {
	h.mu.Lock()
	if id != "" {
		if seq, ok := h.ids[id]; ok {
			h.mu.Unlock()
			ack(seq, true, nil)
			return
		}
		if p, ok := h.pending[id]; ok {
			p.waiters = append(p.waiters, func(seq uint64, _ bool, err error) { ack(seq, true, err) })
			h.mu.Unlock()
			return
		}
	}
	now := serverNow()
	if start.IsZero() {
		start = now
		if cur := h.latestPartialLocked(); cur != nil && cur.Seq == h.nextSeq && cur.Text != "" {
			start = cur.Start
		}
	}
	cue := Cue{Seq: h.nextSeq, Lang: h.lang, Text: text, Final: true, Start: start, ID: id}
	p := &pendingFinal{waiters: []ackFunc{ack}}
	err := h.room.j.append(record{T: recFinal, Lang: h.lang, Seq: cue.Seq, Text: text, Start: start, ID: id},
		func(err error) { h.finalDone(cue, p, err) })
	if err != nil {
		h.mu.Unlock()
		ack(0, false, fmt.Errorf("store final: %w", err))
		return
	}
	h.nextSeq++
	h.inflight++
	if id != "" {
		h.pending[id] = p
	}
	h.mu.Unlock()
}

// finalDone runs on the journal goroutine once cue is on disk (or not).
func (h *langHub) finalDone(cue Cue, p *pendingFinal, err error) {
	h.mu.Lock()
	h.inflight--
	if cue.ID != "" {
		delete(h.pending, cue.ID)
	}
	if err != nil {
		err = fmt.Errorf("store final: %w", err)
	}
	// Acks go first: the cue is durable, and the captioner's writer should
	// not queue behind thousands of viewers' writers.
	for _, w := range p.waiters {
		w(cue.Seq, false, err)
	}
	if err == nil {
		h.cues = append(h.cues, cue)
		h.rememberID(cue.ID, cue.Seq)
		h.cuesTotal++
		h.lastCue = serverNow()
		h.backlog = nil
		h.room.noteStart(cue.Start)
		if h.partial != nil && h.partial.Seq <= cue.Seq {
			h.partial = nil
		}
		// A partial held back behind this final may belong to the line this
		// final ends (the next final was typed before this one was durable,
		// and its own partial has not come yet): shown now, it would replace
		// the final's text in players.
		if h.deferred != nil && h.deferred.Seq <= cue.Seq {
			h.deferred = nil
		}
		m := h.encode(wireCue(cue), kindMust)
		m.at = time.Now()
		h.broadcastLocked(m)
	}
	h.flushDeferredLocked()
	h.mu.Unlock()
}

func (h *langHub) flushDeferredLocked() {
	if h.inflight == 0 && h.deferred != nil {
		cue := *h.deferred
		h.deferred = nil
		h.showPartialLocked(cue)
	}
}

// correct replaces the text of a recent final (one of the backlog) and calls
// ack once the correction is durable; viewers get the cue again with the
// same seq.
func (h *langHub) correct(seq uint64, text string, ack ackFunc) {
	h.mu.Lock()
	i := h.find(seq)
	if i < 0 || i < len(h.cues)-h.room.svc.backlogLen() {
		busy := seq < h.nextSeq && h.inflight > 0 && (len(h.cues) == 0 || seq > h.cues[len(h.cues)-1].Seq)
		h.mu.Unlock()
		if busy {
			ack(seq, false, fmt.Errorf("correct %d: %w", seq, ErrBusy))
		} else {
			ack(seq, false, fmt.Errorf("correct %d: %w", seq, ErrUnknownSeq))
		}
		return
	}
	err := h.room.j.append(record{T: recCorrect, Lang: h.lang, Seq: seq, Text: text, At: serverNow()},
		func(err error) { h.correctDone(seq, text, ack, err) })
	if err != nil {
		h.mu.Unlock()
		ack(seq, false, fmt.Errorf("store correction: %w", err))
		return
	}
	h.inflight++
	h.mu.Unlock()
}

func (h *langHub) correctDone(seq uint64, text string, ack ackFunc, err error) {
	h.mu.Lock()
	h.inflight--
	if err != nil {
		err = fmt.Errorf("store correction: %w", err)
	}
	ack(seq, false, err)
	if err == nil {
		if i := h.find(seq); i >= 0 {
			h.cues[i].Text = text
			h.backlog = nil
			m := h.encode(wireCue(h.withEndLocked(i)), kindMust)
			m.at = time.Now()
			h.broadcastLocked(m)
		}
	}
	h.flushDeferredLocked()
	h.mu.Unlock()
}

// encode marshals v once, as one frame for every subscriber.
func (h *langHub) encode(v any, kind msgKind) outMsg {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("captions: encoding a server message: %v", err)) // only plain types are encoded
	}
	f := frame(opText, data)
	return outMsg{frame: f, size: len(f), kind: kind, lang: h.lang}
}

// broadcastLocked queues m on every subscriber and hands them to the
// fan-out workers, which write it to every socket that takes it without
// waiting. It never blocks.
func (h *langHub) broadcastLocked(m outMsg) {
	batch := make([]*client, 0, len(h.subs))
	for c := range h.subs {
		res := c.queue(m)
		if res.dropped > 0 {
			h.dropped["partial"] += uint64(res.dropped)
		}
		if res.slow {
			h.dropped["slow"]++
			delete(h.subs, c)
			h.dirty = true
			h.room.svc.log.Info("caption viewer too slow, disconnected", "room", h.room.name, "lang", h.lang, "session", c.session)
		}
		if res.closed {
			delete(h.subs, c)
			h.dirty = true
		}
		if !res.slow && !res.closed {
			batch = append(batch, c)
		}
	}
	h.room.svc.fan.send(batch)
}

// withEndLocked returns final i ending where the next final starts (if that
// is not earlier: ingest timestamps may arrive out of order).
func (h *langHub) withEndLocked(i int) Cue {
	c := h.cues[i]
	if i+1 < len(h.cues) && !h.cues[i+1].Start.Before(c.Start) {
		c.End = h.cues[i+1].Start
	}
	return c
}

// backlogLocked returns the backlog message: the recent finals, each ending
// where the next begins (the newest has no end).
func (h *langHub) backlogLocked() outMsg {
	if h.backlog != nil {
		return *h.backlog
	}
	n := h.room.svc.backlogLen()
	from := max(0, len(h.cues)-n)
	msg := backlogMsg{Type: typeBacklog, Lang: h.lang, Cues: make([]cueMsg, 0, len(h.cues)-from)}
	for i := from; i < len(h.cues); i++ {
		msg.Cues = append(msg.Cues, wireCue(h.withEndLocked(i)))
	}
	m := h.encode(msg, kindMust)
	h.backlog = &m
	return m
}

// emptyLocked reports whether the hub holds nothing and nobody.
func (h *langHub) emptyLocked() bool {
	return !h.usedLocked() && !h.storedLocked() && h.partial == nil
}

// usedLocked reports whether someone uses the hub: a viewer, a captioner
// (a socket, a recent HTTP ingest source, the demo), or a cue on its way
// to the journal.
func (h *langHub) usedLocked() bool {
	return len(h.subs) > 0 || len(h.caps) > 0 || h.inflight > 0 || h.deferred != nil
}

// storedLocked reports whether the language has records in the journal
// (finals, or HTTP ingest progress).
func (h *langHub) storedLocked() bool {
	return len(h.cues) > 0 || h.nextSeq > 1 || len(h.ingest) > 0
}

// subscribeLocked adds c as a viewer: it gets the backlog, then the current
// partial, then every live message, in that order.
func (h *langHub) subscribeLocked(c *client) enqueueResult {
	res := c.enqueue(h.backlogLocked())
	if res.slow || res.closed {
		return res
	}
	if h.partial != nil && h.partial.Text != "" {
		c.enqueue(h.partMsg)
	}
	h.subs[c] = struct{}{}
	h.dirty = true
	return res
}

func (h *langHub) unsubscribe(c *client) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[c]; ok {
		delete(h.subs, c)
		h.dirty = true
	}
}

// transcript returns a copy of every final of the session.
func (h *langHub) transcript() []Cue {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Cue(nil), h.cues...)
}
