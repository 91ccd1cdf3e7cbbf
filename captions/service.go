package captions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
)

// Config configures a Service. Zero values mean the documented defaults.
type Config struct {
	// DataDir holds the journals, in DataDir/captions/<room>.journal. Required.
	DataDir string
	// Backlog is how many recent finals per language a new viewer gets and a
	// captioner may correct; 0 means 50.
	Backlog int
	// Auth checks captioner and viewer tokens. Required.
	Auth auth.Authorizer
	// Logger; nil means slog.Default().
	Logger *slog.Logger
	// Languages returns the languages declared in a room's configuration;
	// nil means none. They are listed by Rooms and used to map Zoom's
	// language-COUNTRY codes.
	Languages func(room string) []string
	// Private reports whether a room needs a viewer token to watch captions
	// and download transcripts; nil means every room is public.
	Private func(room string) bool

	// MaxRooms caps the rooms with caption state; 0 means 1000.
	MaxRooms int
	// MaxLanguages caps the languages per room; 0 means 32.
	MaxLanguages int
	// QueueMessages caps one connection's outgoing queue in messages; 0 means 512.
	QueueMessages int
	// QueueBytes caps one connection's outgoing queue in bytes; 0 means 512 KiB.
	// A message always fits an empty queue.
	QueueBytes int
	// WriteTimeout bounds every socket write; 0 means 10 s.
	WriteTimeout time.Duration
	// PingInterval is the keep-alive period; a peer silent (no pong, no
	// message) for 2.5 intervals is dropped. 0 means 25 s.
	PingInterval time.Duration
	// MaxMessageBytes caps one captioner message; a bigger one closes the
	// connection (1009). 0 means 16 KiB.
	MaxMessageBytes int64
	// CaptionerRate is the sustained messages per second one captioner
	// connection may send; 0 means 20. CaptionerBurst is the bucket; 0 means 40.
	CaptionerRate  float64
	CaptionerBurst int
	// IngestIdle is how long an HTTP ingest source stays listed as a
	// captioner after its last post or heartbeat; 0 means 60 s.
	IngestIdle time.Duration
	// ObserveDelivery, if set, is called with the time from a final entering
	// the hub (durable) to its write on each viewer socket.
	ObserveDelivery func(time.Duration)
	// ObserveAck, if set, is called with the time from a captioner's final
	// arriving to its acknowledgement (the journal fsync included).
	ObserveAck func(time.Duration)
}

func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.Backlog, 50)
	def(&c.MaxRooms, 1000)
	def(&c.MaxLanguages, 32)
	def(&c.QueueMessages, 512)
	def(&c.QueueBytes, 512<<10)
	def(&c.CaptionerBurst, 40)
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = 10 * time.Second
	}
	if c.PingInterval <= 0 {
		c.PingInterval = 25 * time.Second
	}
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = 16 << 10
	}
	if c.CaptionerRate <= 0 {
		c.CaptionerRate = 20
	}
	if c.IngestIdle <= 0 {
		c.IngestIdle = 60 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

// Service is the caption side of the relay: hubs, journals and handlers.
type Service struct {
	cfg      Config
	log      *slog.Logger
	dir      string
	upgrader websocket.Upgrader

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // handlers, writers, the status loop

	mu     sync.Mutex
	rooms  map[string]*room
	conns  map[*client]struct{}
	closed bool

	fan *fanout

	journalFailures atomic.Uint64
	// Open WebSocket connections by role, for monitoring.
	viewerConns, captionerConns atomic.Int64
}

// ErrClosed is returned for work that arrives after Close.
var ErrClosed = errors.New("captions service closed")

// New opens the journals under cfg.DataDir, rebuilds every room's backlog
// and transcript from them, and starts the service.
func New(cfg Config) (*Service, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("captions: DataDir is required")
	}
	if cfg.Auth == nil {
		return nil, errors.New("captions: Auth is required")
	}
	cfg = cfg.withDefaults()
	s := &Service{
		cfg:   cfg,
		log:   cfg.Logger,
		dir:   filepath.Join(cfg.DataDir, "captions"),
		rooms: make(map[string]*room),
		conns: make(map[*client]struct{}),
	}
	s.upgrader = websocket.Upgrader{
		// Viewers only send pongs and captioners short JSON: a small read
		// buffer (larger frames are still read, in pieces) instead of
		// keeping net/http's 4 KiB reader for the connection's life.
		ReadBufferSize:  256,
		WriteBufferSize: 1024,
		// Write buffers are only held during a write (cues go out as prepared
		// messages, which need none): idle viewers cost less.
		WriteBufferPool: &sync.Pool{},
		// Tokens travel in the URL, not in cookies, so a cross-origin page
		// gains nothing it does not already hold: any origin may connect.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("captions: create data directory: %w", err)
	}
	if err := s.loadRooms(); err != nil {
		s.closeJournals()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.fan = newFanout(s.ctx, func(run func()) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			run()
		}()
	})
	s.wg.Add(1)
	go s.statusLoop()
	return s, nil
}

func (s *Service) journalPath(room string) string {
	return filepath.Join(s.dir, room+".journal")
}

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
		r := &room{name: name, svc: s, j: j, langs: make(map[string]*langHub)}
		s.rooms[name] = r
		r.restore(recs)
		s.log.Info("captions: room restored", "room", name, "records", len(recs), "langs", r.languages())
	}
	return nil
}

func (s *Service) backlogLen() int { return s.cfg.Backlog }

// room returns the room, creating it (and its journal) if needed.
func (s *Service) room(name string) (*room, error) {
	if err := validRoom(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	if r, ok := s.rooms[name]; ok {
		return r, nil
	}
	if len(s.rooms) >= s.cfg.MaxRooms {
		return nil, fmt.Errorf("%d caption rooms: %w", len(s.rooms), ErrLimit)
	}
	j, _, err := loadJournal(s.journalPath(name), s.log, &s.journalFailures) // new room: no file yet
	if err != nil {
		return nil, fmt.Errorf("room %s: %w", name, err)
	}
	r := &room{name: name, svc: s, j: j, langs: make(map[string]*langHub)}
	s.rooms[name] = r
	return r, nil
}

// attach finds (or creates) the hub of (room, lang) and runs fn with the
// hub locked, unless the room was just collected, in which case it tries
// again with the room's successor. fn must make the hub non-empty (a viewer,
// a captioner) so that it is not collected in turn.
func (s *Service) attach(roomName, lang string, fn func(h *langHub)) (*langHub, error) {
	for range 3 {
		h, err := s.hub(roomName, lang)
		if err != nil {
			return nil, err
		}
		h.mu.Lock()
		if !h.room.isDead() {
			fn(h)
			h.mu.Unlock()
			return h, nil
		}
		h.mu.Unlock()
	}
	return nil, fmt.Errorf("room %s: %w", roomName, ErrBusy)
}

// collect forgets rooms that never stored anything and have nobody in them.
func (s *Service) collect() {
	s.mu.Lock()
	var dead []*room
	for name, r := range s.rooms {
		if r.collectable() {
			delete(s.rooms, name)
			dead = append(dead, r)
		}
	}
	s.mu.Unlock()
	for _, r := range dead {
		if err := r.j.close(); err != nil {
			s.log.Warn("captions: closing the journal of an empty room", "room", r.name, "err", err)
		}
	}
}

// existingRoom returns the room or nil, without creating it.
func (s *Service) existingRoom(name string) *room {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rooms[name]
}

// hub returns the hub of (room, lang), creating both if needed.
func (s *Service) hub(roomName, lang string) (*langHub, error) {
	r, err := s.room(roomName)
	if err != nil {
		return nil, err
	}
	return r.hub(lang)
}

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

// begin registers a unit of work (a handler) that Close waits for.
func (s *Service) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.wg.Add(1)
	return true
}

// startClient tracks c and starts its writer; Close closes it.
func (s *Service) startClient(c *client) {
	s.mu.Lock()
	if s.closed {
		c.close(closeGoingAway, "server shutting down")
	} else {
		s.conns[c] = struct{}{}
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		c.writeLoop()
	}()
}

func (s *Service) endClient(c *client) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

func (s *Service) limits() queueLimits {
	return queueLimits{
		maxMsgs: s.cfg.QueueMessages, maxBytes: s.cfg.QueueBytes,
		writeTimeout: s.cfg.WriteTimeout, pingInterval: s.cfg.PingInterval,
		observe: s.cfg.ObserveDelivery,
	}
}

// pongWait is how long a silent peer is kept.
func (s *Service) pongWait() time.Duration { return s.cfg.PingInterval * 5 / 2 }

func (s *Service) statusLoop() {
	defer s.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case now := <-t.C:
			for _, r := range s.allRooms() {
				for _, h := range r.hubs() {
					h.tick(now, s.cfg.IngestIdle)
				}
			}
			s.collect()
		}
	}
}

// Close closes every caption socket (1001), waits for all handlers and
// goroutines to end, then flushes and closes the journals.
func (s *Service) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	conns := make([]*client, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	s.cancel()
	for _, c := range conns {
		c.close(closeGoingAway, "server shutting down")
	}
	s.wg.Wait()
	return s.closeJournals()
}

func (s *Service) closeJournals() error {
	var errs []error
	for _, r := range s.allRooms() {
		if err := r.j.close(); err != nil {
			errs = append(errs, fmt.Errorf("room %s: %w", r.name, err))
		}
	}
	return errors.Join(errs...)
}

// declared returns the room's configured languages in canonical form.
func (s *Service) declared(room string) []string {
	if s.cfg.Languages == nil {
		return nil
	}
	var out []string
	for _, l := range s.cfg.Languages(room) {
		if c, err := CanonicalLang(l); err == nil {
			out = append(out, c)
		}
	}
	return out
}

// Connections counts the open caption WebSocket connections: viewer
// sockets (whatever languages they asked for) and captioner sockets (HTTP
// ingest sources are not connections).
func (s *Service) Connections() (viewers, captioners int) {
	return int(s.viewerConns.Load()), int(s.captionerConns.Load())
}

// JournalErrors counts failed journal writes and the finals refused after
// them (captioners get an error, never a false ack).
func (s *Service) JournalErrors() uint64 { return s.journalFailures.Load() }

// Healthy reports whether captions can be stored: the data directory takes
// a synced write and no room's journal has failed.
func (s *Service) Healthy() error {
	for _, r := range s.allRooms() {
		r.j.mu.Lock()
		err := r.j.err
		r.j.mu.Unlock()
		if err != nil {
			return fmt.Errorf("journal of room %s failed: %w", r.name, err)
		}
	}
	probe := filepath.Join(s.dir, ".ready-probe")
	f, err := os.OpenFile(probe, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("data directory not writable: %w", err)
	}
	_, werr := f.Write([]byte("ok\n"))
	serr := f.Sync()
	cerr := f.Close()
	os.Remove(probe)
	if err := errors.Join(werr, serr, cerr); err != nil {
		return fmt.Errorf("data directory not writable: %w", err)
	}
	return nil
}
