package captions

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/relay-av/relay/internal/auth"
)

// Ingest styles: their seq counters are separate.
const (
	styleYouTube = "youtube"
	styleZoom    = "zoom"
)

// Seq rules of an ingest stream. A post is a retry only when its seq and
// body match one of the stream's last ingestWindow accepted posts: a lower
// seq with another body is a restarted tool and is stored, so no seq can
// make the stream swallow later posts.
const (
	ingestWindow = 16          // accepted posts remembered per stream, also across restarts
	maxSeq       = 1 << 53     // the largest seq taken: an integer exact in JavaScript
	maxSeqJump   = 1_000_000   // how far above the last accepted seq a post may jump (not a stream's first)
	seqBackLog   = time.Minute // a stream's seq going back is logged at most this often
)

// postMark is an accepted post with a seq: its seq and body hash.
type postMark struct {
	seq  uint64
	hash string
}

// ingestState is one HTTP ingest stream of a language: its last accepted
// seq, the recent posts (to recognise retries) and, for Zoom, the running
// text not yet committed. mu serialises the stream's posts, including the
// wait for durability, so a retry never races its original.
type ingestState struct {
	mu         sync.Mutex
	last       uint64     // seq of the last accepted post; 0 before the first
	recent     []postMark // the last ingestWindow accepted posts, oldest first
	running    string
	backLogged time.Time // when a seq going back was last logged
}

func (st *ingestState) isRetry(seq uint64, hash string) bool {
	for _, m := range st.recent {
		if m.seq == seq && m.hash == hash {
			return true
		}
	}
	return false
}

func (st *ingestState) accepted(seq uint64, hash string) {
	st.last = seq
	if len(st.recent) == ingestWindow {
		st.recent = append(st.recent[:0], st.recent[1:]...)
	}
	st.recent = append(st.recent, postMark{seq, hash})
}

// ingestFor returns the stream state of style; h.mu must be held (or the
// service not yet started).
func (h *langHub) ingestFor(style string) *ingestState {
	st, ok := h.ingest[style]
	if !ok {
		st = &ingestState{}
		h.ingest[style] = st
	}
	return st
}

func (h *langHub) ingestState(style string) *ingestState {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.ingestFor(style)
}

// restoreIngest applies an ingest record while the service starts. Records
// written before body hashes were journaled restore the last seq only.
func (h *langHub) restoreIngest(rec record) {
	st := h.ingestFor(rec.Style)
	st.running = rec.Pending
	if rec.Hash == "" {
		st.last = rec.N
		return
	}
	st.accepted(rec.N, rec.Hash)
}

// ingestPost is one HTTP caption post after parsing.
type ingestPost struct {
	style  string
	seq    uint64 // 0: none given, no dedupe
	hash   string // of the raw body: a retry has the same
	cues   []timedText
	zoom   string // Zoom: the raw post, appended to the running text
	source CaptionerInfo
}

// bodyHash identifies a post's body among the stream's recent posts.
func bodyHash(body string) string {
	sum := sha256.Sum256([]byte(body))
	return hex.EncodeToString(sum[:8])
}

// store commits a post: its finals and the stream's progress are durable
// when it returns nil. A post whose seq and body match a recent accepted
// post is a retry: it is acknowledged (dup true) and not stored again.
func (h *langHub) store(p ingestPost) (dup bool, err error) {
	st := h.ingestState(p.style)
	st.mu.Lock()
	defer st.mu.Unlock()
	h.seen(p.source.Session, p.source)
	if p.seq != 0 {
		if st.isRetry(p.seq, p.hash) {
			return true, nil
		}
		// A stream's first seq may be anything up to maxSeq (a tool may
		// count from a timestamp); after that, a jump is a broken tool.
		if st.last != 0 && p.seq > st.last && p.seq-st.last > maxSeqJump {
			return false, fmt.Errorf("%w: seq %d jumps more than %d over the last accepted seq %d", errBadQuery, p.seq, maxSeqJump, st.last)
		}
	}
	texts := p.cues
	rest := st.running
	if p.style == styleZoom {
		finals, r, err := splitRunning(st.running, p.zoom)
		if err != nil {
			return false, err
		}
		rest = r
		for _, f := range finals {
			texts = append(texts, timedText{Text: f})
		}
	}
	// The ids make a retry after a partially stored post store nothing
	// twice: they derive from the post and the stream state it met, which
	// is the same for the retry, and differ for a restarted tool's post
	// with a seq and body seen long ago.
	var idBase string
	if p.seq != 0 {
		sum := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s\x00%s", st.last, st.running, p.hash))
		idBase = fmt.Sprintf("%s-%d-%s", p.source.Session, p.seq, hex.EncodeToString(sum[:6]))
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []error
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for i, t := range texts {
		id := ""
		if idBase != "" {
			id = fmt.Sprintf("%s-%d", idBase, i)
		}
		wg.Add(1)
		h.final(t.Text, id, t.At, func(_ uint64, _ bool, err error) {
			if err != nil {
				fail(err)
			}
			wg.Done()
		})
	}
	if p.style == styleZoom && rest != st.running {
		h.partialLine(rest)
	}
	wg.Add(1)
	rec := record{T: recIngest, Lang: h.lang, Style: p.style, N: st.last, Pending: rest}
	if p.seq != 0 {
		rec.N, rec.Hash = p.seq, p.hash
	}
	if err := h.room.j.append(rec, func(err error) {
		if err != nil {
			fail(err)
		}
		wg.Done()
	}); err != nil {
		wg.Done()
		fail(err)
	}
	wg.Wait()
	if len(errs) > 0 {
		return false, fmt.Errorf("store %s post: %w", p.style, errors.Join(errs...))
	}
	st.running = rest
	if p.seq != 0 {
		if p.seq <= st.last && time.Since(st.backLogged) >= seqBackLog {
			st.backLogged = time.Now()
			h.room.svc.log.Info("ingest seq went back: a restarted captioning tool, its posts are stored",
				"room", h.room.name, "lang", h.lang, "style", p.style, "seq", p.seq, "last", st.last)
		}
		st.accepted(p.seq, p.hash)
	}
	return false, nil
}

// lastSeq returns the seq of an ingest stream's last accepted post.
func (h *langHub) lastSeq(style string) uint64 {
	st := h.ingestState(style)
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.last
}

// readBody reads a plain-text ingest body of at most maxBodySize bytes.
func readBody(w http.ResponseWriter, r *http.Request) (string, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !strings.HasPrefix(mt, "text/") && mt != "application/x-www-form-urlencoded" {
			return "", fmt.Errorf("%w: %q, want text/plain", errBadType, ct)
		}
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodySize))
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return "", fmt.Errorf("%w: over %d bytes", errTooLarge, maxBodySize)
	}
	if err != nil {
		return "", fmt.Errorf("%w: read: %w", errBadBody, err)
	}
	return string(b), nil
}

func seqOf(r *http.Request) (uint64, error) {
	v := r.URL.Query().Get("seq")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	switch {
	case errors.Is(err, strconv.ErrRange), err == nil && n > maxSeq:
		return 0, fmt.Errorf("%w: seq %s is above 2^53", errBadQuery, v)
	case err != nil:
		return 0, fmt.Errorf("%w: seq %q is not a number", errBadQuery, v)
	}
	return n, nil
}

// sourceOf names an HTTP ingest source for the captioner list: stable per
// token and style, so a stream's posts are one entry.
func sourceOf(style, token string, claims *auth.Claims) CaptionerInfo {
	sum := sha256.Sum256([]byte(token))
	name := style + " ingest"
	if claims != nil && claims.Subject != "" {
		name = claims.Subject
	}
	return CaptionerInfo{Session: style + "-" + hex.EncodeToString(sum[:4]), Name: name, Via: style, Since: serverNow()}
}

// ingestRequest checks an ingest post's token and scope, its seq and its
// body, in that order.
func (s *Service) ingestRequest(w http.ResponseWriter, r *http.Request, token, room string) (lang string, claims *auth.Claims, seq uint64, body string, err error) {
	if lang, claims, err = s.checkIngest(token, room, r.URL.Query().Get("lang")); err != nil {
		return
	}
	if seq, err = seqOf(r); err != nil {
		return
	}
	body, err = readBody(w, r)
	return
}

// checkIngest resolves the language of an ingest request (the lang query
// mapped onto the room's languages, else the token's language) and checks
// the captioner token for (room, lang).
func (s *Service) checkIngest(token, room, queryLang string) (string, *auth.Claims, error) {
	claims, err := s.cfg.Auth.Check(token, auth.Need{Role: auth.RoleCaptioner, Room: room})
	if err != nil {
		return "", nil, err
	}
	code := queryLang
	if code == "" && claims.Lang != "*" {
		code = claims.Lang
	}
	if code == "" {
		if d := s.declared(room); len(d) == 1 {
			code = d[0]
		}
	}
	if code == "" {
		return "", nil, errors.Join(errBadQuery, errors.New("lang is required (the token names none)"))
	}
	lang, err := s.mapLang(room, code)
	if err != nil {
		return "", nil, err
	}
	if _, err := s.cfg.Auth.Check(token, auth.Need{Role: auth.RoleCaptioner, Room: room, Lang: lang}); err != nil {
		return "", nil, err
	}
	return lang, claims, nil
}

// handleYouTube serves POST /closedcaption?cid=<captioner token>&seq=N. The
// token's room is the room (or ?room= for an any-room token), its language
// the language (or ?lang=).
func (s *Service) handleYouTube(w http.ResponseWriter, r *http.Request) {
	if !s.begin() {
		s.writeError(w, r, ErrClosed)
		return
	}
	defer s.wg.Done()
	token := tokenOf(r, "cid")
	if token == "" {
		s.writeError(w, r, auth.ErrMissing)
		return
	}
	var peek auth.Claims // only to route; Check verifies below
	if _, _, err := jwt.NewParser().ParseUnverified(token, &peek); err != nil {
		s.writeError(w, r, fmt.Errorf("%w: %w", auth.ErrInvalid, err))
		return
	}
	roomName := peek.Room
	if roomName == "" || roomName == "*" {
		roomName = r.URL.Query().Get("room")
	}
	if err := validRoom(roomName); err != nil {
		s.writeError(w, r, err)
		return
	}
	lang, claims, seq, body, err := s.ingestRequest(w, r, token, roomName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	now := time.Now().UTC()
	cues, err := parseYouTubeBody(body, now)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	src := sourceOf(styleYouTube, token, claims)
	h, err := s.attach(roomName, lang, func(h *langHub) { h.seenLocked(src.Session, src) })
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(cues) == 0 {
		// A heartbeat: the source is marked alive, nothing else.
	} else if dup, err := h.store(ingestPost{style: styleYouTube, seq: seq, hash: bodyHash(body), cues: cues, source: src}); err != nil {
		s.writeError(w, r, err)
		return
	} else if dup {
		s.log.Debug("youtube ingest: repeated seq acknowledged", "room", roomName, "lang", lang, "seq", seq)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintln(w, time.Now().UTC().Format(ytLayout))
}

// handleZoom serves POST /captions/{room}/post?lang=en-US&seq=N&token=...:
// running plain text.
func (s *Service) handleZoom(w http.ResponseWriter, r *http.Request) {
	if !s.begin() {
		s.writeError(w, r, ErrClosed)
		return
	}
	defer s.wg.Done()
	roomName := r.PathValue("room")
	if err := validRoom(roomName); err != nil {
		s.writeError(w, r, err)
		return
	}
	token := tokenOf(r, "token")
	lang, claims, seq, body, err := s.ingestRequest(w, r, token, roomName)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	src := sourceOf(styleZoom, token, claims)
	h, err := s.attach(roomName, lang, func(h *langHub) { h.seenLocked(src.Session, src) })
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if strings.TrimSpace(body) == "" {
		// A heartbeat: the source is marked alive, nothing else.
	} else if dup, err := h.store(ingestPost{style: styleZoom, seq: seq, hash: bodyHash(body), zoom: body, source: src}); err != nil {
		s.writeError(w, r, err)
		return
	} else if dup {
		s.log.Debug("zoom ingest: repeated seq acknowledged", "room", roomName, "lang", lang, "seq", seq)
	}
	w.WriteHeader(http.StatusOK)
}

// handleZoomSeq serves GET /captions/{room}/post/seq?token=...[&lang=]: the
// last accepted seq, as a bare number.
func (s *Service) handleZoomSeq(w http.ResponseWriter, r *http.Request) {
	roomName := r.PathValue("room")
	if err := validRoom(roomName); err != nil {
		s.writeError(w, r, err)
		return
	}
	lang, _, err := s.checkIngest(tokenOf(r, "token"), roomName, r.URL.Query().Get("lang"))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	var last uint64
	if rm := s.existingRoom(roomName); rm != nil {
		if h := rm.existing(lang); h != nil {
			last = h.lastSeq(styleZoom)
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprint(w, last)
}
