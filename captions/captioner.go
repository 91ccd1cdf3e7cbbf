package captions

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
	"golang.org/x/time/rate"

	"github.com/relay-av/relay/internal/auth"
)

const maxNameRunes = 64

// captionerLang returns the language a captioner request is for: the lang
// query parameter, canonical.
func captionerLang(r *http.Request) (string, error) {
	q := r.URL.Query().Get("lang")
	if q == "" {
		return "", errors.Join(errBadQuery, errors.New("lang is required, e.g. ?lang=fr"))
	}
	return CanonicalLang(q)
}

// captionerName is how the console lists a captioner: ?name=, else the
// token's subject, else "captioner".
func captionerName(r *http.Request, claims *auth.Claims) string {
	name := r.URL.Query().Get("name")
	if name == "" && claims != nil {
		name = claims.Subject
	}
	name, err := cleanText(name)
	if err != nil || name == "" {
		return "captioner"
	}
	name = strings.ReplaceAll(name, "\n", " ")
	if utf8.RuneCountInString(name) > maxNameRunes {
		name = string([]rune(name)[:maxNameRunes])
	}
	return name
}

// handleCaptioner serves GET /captions/{room}/publish?lang=fr&token=...: the
// captioner sends partial, final and correct messages and gets acks (once
// durable), errors and status messages back.
func (s *Service) handleCaptioner(w http.ResponseWriter, r *http.Request) {
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
	lang, err := captionerLang(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	claims, err := s.cfg.Auth.Check(tokenOf(r, "token"), auth.Need{Role: auth.RoleCaptioner, Room: roomName, Lang: lang})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if _, err := s.hub(roomName, lang); err != nil { // refuse before the upgrade
		s.writeError(w, r, err)
		return
	}
	release, err := s.takeSocket(r, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	defer release()
	conn, sock, err := s.upgrade(w, r)
	if err != nil {
		return
	}
	session := newSession()
	log := s.log.With("room", roomName, "lang", lang, "session", session)
	c := newClient(conn, sock, session, log, s.limits())
	s.startClient(c)
	defer s.endClient(c)
	s.captionerConns.Add(1)
	defer s.captionerConns.Add(-1)
	cp := &captioner{info: CaptionerInfo{Session: session, Name: captionerName(r, claims), Via: "ws", Since: serverNow()}, c: c}
	h, err := s.attach(roomName, lang, func(h *langHub) { h.joinLocked(cp) })
	if err != nil {
		c.close(websocket.CloseTryAgainLater, "try again")
		<-c.done()
		return
	}
	defer h.leave(session)
	log.Info("captioner connected", "name", cp.info.Name)

	s.readCaptioner(conn, c, h)
	<-c.done()
	log.Info("captioner gone", "name", cp.info.Name)
}

// readCaptioner reads messages until the connection ends. A bad message is
// answered with an error message; only abuse (size, rate) closes.
func (s *Service) readCaptioner(conn *websocket.Conn, c *client, h *langHub) {
	conn.SetReadLimit(s.cfg.MaxMessageBytes)
	_ = conn.SetReadDeadline(time.Now().Add(s.pongWait()))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(s.pongWait())) })
	limiter := rate.NewLimiter(rate.Limit(s.cfg.CaptionerRate), s.cfg.CaptionerBurst)
	strikes := 0
	for {
		typ, data, err := conn.ReadMessage()
		if err != nil {
			if errors.Is(err, websocket.ErrReadLimit) {
				c.log.Warn("captioner message too big, closing", "limit", s.cfg.MaxMessageBytes)
				c.readerStopped()
				c.close(closeTooBig, "message too big")
				return
			}
			c.close(closeNormal, "")
			return
		}
		_ = conn.SetReadDeadline(time.Now().Add(s.pongWait()))
		if !limiter.Allow() {
			strikes++
			if strikes > 2*s.cfg.CaptionerBurst {
				c.log.Warn("captioner over the rate limit, closing", "rate", s.cfg.CaptionerRate)
				c.readerStopped()
				c.close(closeRate, "rate")
				return
			}
			sendJSON(c, errorMsg{Type: typeError, Error: "rate limit exceeded; message dropped"}, kindMust)
			continue
		}
		strikes = 0
		if typ != websocket.TextMessage {
			sendJSON(c, errorMsg{Type: typeError, Error: "text messages only"}, kindMust)
			continue
		}
		m, err := decodeCaptionerMessage(data)
		if err != nil {
			sendJSON(c, errorMsg{Type: typeError, Error: err.Error(), ID: m.ID, Seq: m.Seq}, kindMust)
			continue
		}
		switch m.Type {
		case typePartial:
			h.partialLine(m.Text)
		case typeFinal:
			id, arrived := m.ID, time.Now()
			h.final(m.Text, id, time.Time{}, func(seq uint64, dup bool, err error) {
				if err != nil {
					sendJSON(c, errorMsg{Type: typeError, Error: err.Error(), ID: id}, kindMust)
					return
				}
				if s.cfg.ObserveAck != nil {
					s.cfg.ObserveAck(time.Since(arrived))
				}
				sendJSON(c, ackMsg{Type: typeAck, ID: id, Seq: seq, Duplicate: dup}, kindMust)
			})
		case typeCorrect:
			h.correct(m.Seq, m.Text, func(seq uint64, _ bool, err error) {
				if err != nil {
					sendJSON(c, errorMsg{Type: typeError, Error: err.Error(), Seq: seq}, kindMust)
					return
				}
				sendJSON(c, ackMsg{Type: typeAck, Seq: seq}, kindMust)
			})
		}
	}
}

// sendJSON queues one message for one client.
func sendJSON(c *client, v any, kind msgKind) {
	data, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("captions: encoding a server message: %v", err))
	}
	f := frame(opText, data)
	if res := c.enqueue(outMsg{frame: f, size: len(f), kind: kind}); res.slow {
		c.log.Warn("captioner too slow to take acks, disconnected")
	}
}
