package monitoring

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/relay-av/relay/internal/httperr"
)

// handleEvents streams a room snapshot as server-sent events every
// Interval, for the monitor page. The stream ends when the client goes or
// the server shuts down. At most MaxStreams run at once: the endpoint is as
// public as /api/rooms, and each stream costs a snapshot a second.
func (m *Monitor) handleEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		httperr.Write(w, r, m.p.Logger, errors.New("response writer cannot stream"))
		return
	}
	if n := m.streams.Add(1); n > int64(m.p.MaxStreams) {
		m.streams.Add(-1)
		httperr.Write(w, r, m.p.Logger, httperr.Retry(http.StatusServiceUnavailable, 10*time.Second, "too many monitor streams"))
		return
	}
	defer m.streams.Add(-1)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Accel-Buffering", "no") // nginx in front: do not buffer
	rc := http.NewResponseController(w)
	tick := time.NewTicker(m.p.Interval)
	defer tick.Stop()
	// The browser's EventSource reconnects after this long when the
	// stream breaks (relay restart).
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
