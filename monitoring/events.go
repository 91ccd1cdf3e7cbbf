package monitoring

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/internal/limit"
)

// handleEvents streams a room snapshot as server-sent events every
// Interval, for the monitor page. The stream ends when the client goes or
// the server shuts down. The endpoint is as public as /api/rooms and each
// stream costs a snapshot a second, so streams are capped per client
// address and in total; part of the total is kept for the AV team's admin
// token, so that anonymous streams holding every other slot cannot lock
// the monitor page out.
func (m *Monitor) handleEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		httperr.Write(w, r, m.p.Logger, errors.New("response writer cannot stream"))
		return
	}
	admin, err := m.streamAdmin(r)
	if err != nil {
		httperr.Write(w, r, m.p.Logger, err)
		return
	}
	release, err := m.streams.Acquire(r.RemoteAddr, admin)
	if err != nil {
		httperr.Write(w, r, m.p.Logger, err)
		return
	}
	defer release()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx in front: do not buffer
	rc := http.NewResponseController(w)
	tick := time.NewTicker(m.p.Interval)
	defer tick.Stop()
	// A browser's EventSource reconnects after this long when the stream
	// breaks (relay restart); it gives up after a refusal, which is why
	// the monitor page runs its own reconnect loop instead.
	fmt.Fprintf(w, "retry: %d\n\n", (2 * time.Second).Milliseconds())
	for {
		b, err := json.Marshal(m.snapshotMessage(time.Now()))
		if err != nil {
			return
		}
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := fmt.Fprintf(w, "event: rooms\ndata: %s\n\n", b); err != nil {
			return
		}
		flusher.Flush()
		select {
		case <-r.Context().Done():
			return
		case <-m.p.Done:
			return
		case <-tick.C:
		}
	}
}

// streamAdmin reports whether the request carries an admin token for every
// room: in ?token= (an EventSource cannot set headers) or in an
// Authorization: Bearer header. No token is an anonymous stream. A token
// that does not check is refused (401, or 403 for a valid token of another
// role or room) rather than treated as anonymous, so that a client that
// counts on the reserve learns at once that it has none. The token is
// never logged: the error carries only the reason.
func (m *Monitor) streamAdmin(r *http.Request) (bool, error) {
	token := r.URL.Query().Get("token")
	if token == "" {
		token = auth.FromHeader(r.Header.Get("Authorization"))
	}
	if token == "" || m.p.Auth == nil {
		return false, nil
	}
	if _, err := m.p.Auth.Check(token, auth.Need{Role: auth.RoleAdmin, Room: "*"}); err != nil {
		return false, &httperr.Error{Status: auth.Status(err), Msg: "monitor stream: admin token for every room required: " + err.Error(), Cause: err}
	}
	return true, nil
}

// newStreamSlots caps the event streams of p (its defaults applied).
func newStreamSlots(p Params) *limit.Slots {
	perAddr := p.StreamsPerAddr
	switch {
	case perAddr == 0:
		perAddr = 4
	case perAddr < 0:
		perAddr = 0 // limit.Slots: no per-address cap
	}
	reserve := p.ReservedStreams
	switch {
	case reserve == 0:
		reserve = p.MaxStreams / 8
	case reserve < 0:
		reserve = 0
	}
	return limit.NewSlots(limit.SlotsConfig{What: "monitor streams", PerAddr: perAddr, Total: p.MaxStreams, Reserve: reserve})
}
