package monitoring

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/relay"
)

// admin wraps an action that needs an admin token for the room (in an
// Authorization: Bearer header, never in the URL).
func (m *Monitor) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		room := r.PathValue("room")
		if !relay.ValidRoomName(room) {
			httperr.Write(w, r, m.p.Logger, httperr.New(http.StatusBadRequest, "bad room name"))
			return
		}
		if _, err := m.p.Auth.Check(auth.FromHeader(r.Header.Get("Authorization")), auth.Need{Role: auth.RoleAdmin, Room: room}); err != nil {
			httperr.Write(w, r, m.p.Logger, &httperr.Error{Status: auth.Status(err), Msg: "admin token required: " + err.Error(), Cause: err})
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r)
	}
}

func (m *Monitor) handleViewers(w http.ResponseWriter, r *http.Request) {
	vs, err := m.p.Admin.Viewers(r.PathValue("room"))
	if err != nil {
		m.actionError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"viewers": vs})
}

func (m *Monitor) handleKickPublisher(w http.ResponseWriter, r *http.Request) {
	room := r.PathValue("room")
	if err := m.p.Admin.DisconnectPublisher(room); err != nil {
		m.actionError(w, r, err)
		return
	}
	m.p.Logger.Info("admin disconnected the publisher", "room", room)
	w.WriteHeader(http.StatusNoContent)
}

func (m *Monitor) handleKickViewer(w http.ResponseWriter, r *http.Request) {
	room, tag := r.PathValue("room"), r.PathValue("tag")
	if err := m.p.Admin.DisconnectViewer(room, tag); err != nil {
		m.actionError(w, r, err)
		return
	}
	m.p.Logger.Info("admin disconnected a viewer", "room", room, "session", tag)
	w.WriteHeader(http.StatusNoContent)
}

func (m *Monitor) actionError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, relay.ErrNotFound) {
		err = httperr.New(http.StatusNotFound, "no such room, publisher or viewer")
	}
	httperr.Write(w, r, m.p.Logger, err)
}
