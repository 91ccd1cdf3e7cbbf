package captions

import (
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
)

const (
	maxViewerLangs     = 8    // languages one viewer connection may follow
	maxViewerReadBytes = 4096 // viewers send nothing but control frames
)

// checkViewer lets anyone watch a public room; a private room needs a viewer
// token.
func (s *Service) checkViewer(r *http.Request, room string) error {
	if s.cfg.Private == nil || !s.cfg.Private(room) {
		return nil
	}
	_, err := s.cfg.Auth.Check(tokenOf(r, "token"), auth.Need{Role: auth.RoleViewer, Room: room})
	return err
}

// handleViewer serves GET /captions/{room}/ws?lang=fr[,en]: one backlog
// message per language, then the current partials, then live cues.
func (s *Service) handleViewer(w http.ResponseWriter, r *http.Request) {
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
	langs, err := langsOf(r, maxViewerLangs)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.checkViewer(r, roomName); err != nil {
		s.writeError(w, r, err)
		return
	}
	// Refused before the upgrade, creating nothing: a language the room does
	// not have, then the socket caps.
	if err := s.checkLanguages(roomName, langs); err != nil {
		s.writeError(w, r, err)
		return
	}
	release, err := s.takeSocket(r, false)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	conn, sock, err := s.upgrade(w, r)
	if err != nil {
		release()
		return // the upgrader has answered
	}
	// The connection lives on in its own goroutine so that this handler
	// returns and net/http's request, buffers and grown stack are freed:
	// an idle viewer then costs a few KB less.
	if !s.begin() {
		conn.Close()
		release()
		return
	}
	go func() {
		defer s.wg.Done()
		defer release()
		s.serveViewer(conn, sock, roomName, langs)
	}()
}

// serveViewer runs a viewer connection until it ends.
func (s *Service) serveViewer(conn *websocket.Conn, sock *sockConn, roomName string, langs []string) {
	session := newSession()
	log := s.log.With("room", roomName, "session", session)
	c := newClient(conn, sock, session, log, s.limits())
	s.startClient(c)
	defer s.endClient(c)
	s.viewerConns.Add(1)
	defer s.viewerConns.Add(-1)
	for _, l := range langs {
		var res enqueueResult
		h, err := s.attachViewer(roomName, l, func(h *langHub) { res = h.subscribeLocked(c) })
		if err != nil {
			c.close(websocket.CloseTryAgainLater, "try again")
			break
		}
		defer h.unsubscribe(c)
		if res.slow || res.closed {
			break
		}
	}
	log.Debug("caption viewer connected", "lang", langs)

	conn.SetReadLimit(maxViewerReadBytes)
	_ = conn.SetReadDeadline(time.Now().Add(s.pongWait()))
	conn.SetPongHandler(func(string) error { return conn.SetReadDeadline(time.Now().Add(s.pongWait())) })
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			break
		}
		_ = conn.SetReadDeadline(time.Now().Add(s.pongWait()))
	}
	c.close(closeNormal, "")
	<-c.done()
	log.Debug("caption viewer gone", "lang", langs)
}
