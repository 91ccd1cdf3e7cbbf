// Package monitoring exposes the relay's state to people and machines: the
// /api/rooms JSON the pages and the AV team read, health endpoints, and (with
// its collectors) Prometheus metrics.
package monitoring

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/relay-av/relay/captions"
	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/limit"
	"github.com/relay-av/relay/relay"
)

// Rooms is what the SFU tells monitoring; *relay.Server satisfies it.
type Rooms interface {
	Rooms() []relay.RoomInfo
}

// Admin is what the AV team may do to the SFU; *relay.Server satisfies it.
type Admin interface {
	Viewers(room string) ([]relay.ViewerInfo, error)
	DisconnectPublisher(room string) error
	DisconnectViewer(room, tag string) error
}

// Captions is what the caption service tells monitoring; *captions.Service
// satisfies it.
type Captions interface {
	Rooms() []captions.RoomStats
	Declared(room string) []captions.LangStats // configured languages of a room without caption state
	JournalErrors() uint64
	// RefusedViewers counts caption viewer sockets refused before the
	// upgrade, by reason.
	RefusedViewers() map[string]uint64
	Connections() (viewers, captioners int)
}

// Params builds a Monitor.
type Params struct {
	Relay    Rooms
	Captions Captions
	// Admin and Auth enable the AV team's actions; nil Admin disables them.
	Admin Admin
	Auth  auth.Authorizer
	// HLS adds each room's HLS session and recording state to /api/rooms;
	// nil means none is shown.
	HLS HLSStats
	// Ready reports why the relay is not ready, or nil when it is; nil
	// means always ready. /readyz calls it at most once a second (it may
	// do a synced write) and answers from that result meanwhile.
	Ready func() error
	// Interval is how often /api/rooms/events sends a snapshot; 0 means 1 s.
	Interval time.Duration
	// MaxStreams bounds the concurrent /api/rooms/events streams; 0 means 64.
	MaxStreams int
	// StreamsPerAddr bounds the streams of one client address (an IPv4
	// address, an IPv6 /64) without an admin token; 0 means 4, negative
	// means no per-address cap.
	StreamsPerAddr int
	// ReservedStreams is how many of MaxStreams only streams with an admin
	// token for every room may take, so that the AV team gets in while
	// anonymous streams hold all the others; 0 means MaxStreams/8 (8 of
	// 64), negative means none. With a nil Auth no stream is an admin's.
	ReservedStreams int
	// SilentAfter is how long a live room's caption language may go without
	// a final cue before the monitor page highlights it; 0 means 60 s.
	SilentAfter time.Duration
	// Done ends the event streams and makes /readyz fail (server shutdown);
	// nil means never.
	Done <-chan struct{}
	// Logger records admin actions; nil means slog.Default().
	Logger *slog.Logger
}

// Monitor serves the monitoring endpoints.
type Monitor struct {
	p       Params
	streams *limit.Slots // open /api/rooms/events streams

	readyMu  sync.Mutex
	readyAt  time.Time // when ready was computed; zero: never
	readyErr error
}

// New returns a Monitor.
func New(p Params) *Monitor {
	if p.Logger == nil {
		p.Logger = slog.Default()
	}
	if p.Interval <= 0 {
		p.Interval = time.Second
	}
	if p.MaxStreams <= 0 {
		p.MaxStreams = 64
	}
	if p.SilentAfter <= 0 {
		p.SilentAfter = time.Minute
	}
	return &Monitor{p: p, streams: newStreamSlots(p)}
}

// Register adds the monitoring routes to mux.
func (m *Monitor) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /api/rooms", m.handleRooms)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", m.handleReady)
	mux.HandleFunc("GET /api/rooms/events", m.handleEvents)
	if m.p.Admin != nil && m.p.Auth != nil {
		mux.HandleFunc("GET /api/rooms/{room}/viewers", m.admin(m.handleViewers))
		mux.HandleFunc("POST /api/rooms/{room}/publisher/disconnect", m.admin(m.handleKickPublisher))
		mux.HandleFunc("POST /api/rooms/{room}/viewers/{tag}/disconnect", m.admin(m.handleKickViewer))
	}
}

// RoomView is one room in /api/rooms: the SFU's view plus caption
// languages and the HLS session.
type RoomView struct {
	relay.RoomInfo
	Captions []captions.LangStats `json:"captions"`
	HLS      *HLSView             `json:"hls,omitempty"` // absent until the room's first HLS session (or without Params.HLS)
}

// HLSView is a room's current or last HLS session.
type HLSView struct {
	Live      bool   `json:"live"`
	Session   string `json:"session"`
	Recording bool   `json:"recording"` // being recorded now
	Stopped   string `json:"stopped"`   // why its recording stopped; "" while it goes on or when not recorded
}

// Snapshot merges the SFU's and the caption service's rooms, and adds
// their HLS sessions.
func (m *Monitor) Snapshot() []RoomView {
	byName := map[string]*RoomView{}
	var order []string
	for _, ri := range m.p.Relay.Rooms() {
		byName[ri.Name] = &RoomView{RoomInfo: ri, Captions: []captions.LangStats{}}
		order = append(order, ri.Name)
	}
	if m.p.Captions != nil {
		withState := map[string]bool{}
		for _, cr := range m.p.Captions.Rooms() {
			withState[cr.Room] = true
			rv := byName[cr.Room]
			if rv == nil {
				rv = &RoomView{RoomInfo: relay.RoomInfo{Name: cr.Room, Title: cr.Room, State: relay.StateIdle}}
				byName[cr.Room] = rv
				order = append(order, cr.Room)
			}
			rv.Captions = append(rv.Captions, cr.Languages...)
		}
		// A configured room's languages are offered before any caption
		// activity: delegates pick theirs before the session starts.
		for name, rv := range byName {
			if !withState[name] {
				rv.Captions = m.p.Captions.Declared(name)
			}
		}
	}
	if m.p.HLS != nil {
		for _, hs := range m.p.HLS.Stats() {
			if rv := byName[hs.Room]; rv != nil && hs.Session != "" {
				rv.HLS = &HLSView{Live: hs.Live, Session: hs.Session, Recording: hs.Recording, Stopped: hs.RecordingStopped}
			}
		}
	}
	sort.Strings(order)
	out := make([]RoomView, 0, len(order))
	for _, n := range order {
		rv := byName[n]
		if rv.Captions == nil {
			rv.Captions = []captions.LangStats{}
		}
		if rv.Tracks == nil {
			rv.Tracks = []relay.TrackInfo{}
		}
		out = append(out, *rv)
	}
	return out
}

// snapshotMessage is the body of /api/rooms and of each monitor event.
type snapshotMessage struct {
	Rooms []RoomView `json:"rooms"`
	Now   time.Time  `json:"now"`
	// SilentAfterSeconds: the page highlights a live room's language
	// quiet for longer.
	SilentAfterSeconds float64 `json:"silentAfterSeconds"`
}

func (m *Monitor) snapshotMessage(now time.Time) snapshotMessage {
	return snapshotMessage{Rooms: m.Snapshot(), Now: now, SilentAfterSeconds: m.p.SilentAfter.Seconds()}
}

func (m *Monitor) handleRooms(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	json.NewEncoder(w).Encode(m.snapshotMessage(time.Now()))
}

var errShuttingDown = errors.New("shutting down")

// ready is Params.Ready, called at most once a second.
func (m *Monitor) ready() error {
	select {
	case <-m.p.Done:
		return errShuttingDown
	default:
	}
	if m.p.Ready == nil {
		return nil
	}
	m.readyMu.Lock()
	defer m.readyMu.Unlock()
	if now := time.Now(); m.readyAt.IsZero() || now.Sub(m.readyAt) >= time.Second {
		m.readyErr = m.p.Ready()
		m.readyAt = now
	}
	return m.readyErr
}

func (m *Monitor) handleReady(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := m.ready(); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: " + err.Error() + "\n"))
		return
	}
	w.Write([]byte("ready\n"))
}
