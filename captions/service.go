package captions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/internal/limit"
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
	// nil means none. They are listed by Rooms (and Declared) and used to
	// map Zoom's language-COUNTRY codes, and viewers may wait for them
	// before any captioner: a declared language is created for its first
	// viewer. Any other language exists only once a captioner with a valid
	// token has used it (or its journal has it); viewers never create one.
	// So this is all the service needs to know of the configured rooms: a
	// configured room without languages has none until a captioner comes.
	Languages func(room string) []string
	// Private reports whether a room needs a viewer token to watch captions
	// and download transcripts; nil means every room is public.
	Private func(room string) bool

	// MaxRooms caps the rooms with caption state in memory; 0 means 1000.
	// Forgotten rooms (IdleAfter) do not count.
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
	// IdleAfter is how long a room stays in memory once nobody uses it: no
	// viewer, no captioner (socket, HTTP ingest source within IngestIdle,
	// the demo), no cue and no publisher (Live). It is then forgotten: it
	// leaves Rooms, its journal stays on disk, its transcript can still be
	// downloaded, and it comes back from the journal (backlog, ids, ingest
	// seqs) when a captioner, or a viewer of one of its languages, returns.
	// Rooms that never stored anything go as soon as nobody uses them. 0
	// means 15 minutes.
	IdleAfter time.Duration
	// Live reports whether the room's media has a publisher; such a room is
	// not forgotten. nil means none has. It is called only for rooms that
	// are otherwise idle.
	Live func(room string) bool
	// MaxSocketsPerAddr caps the caption WebSockets (viewers and captioners
	// counted together) that one client address holds: an IPv4 address or
	// an IPv6 /64. 0 means 500 (a hall's Wi-Fi may put hundreds of
	// delegates' phones behind one NAT address); negative means no cap
	// (behind a reverse proxy every client has the proxy's address).
	// Captioners are not held to it. Refused with 429 and Retry-After.
	MaxSocketsPerAddr int
	// MaxSockets caps the caption WebSockets in all; 0 means 20 000,
	// negative means no cap. The last 2% are kept for captioners. Refused
	// with 503 and Retry-After.
	MaxSockets int

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
	if c.IdleAfter <= 0 {
		c.IdleAfter = 15 * time.Minute
	}
	if c.MaxSocketsPerAddr == 0 {
		c.MaxSocketsPerAddr = 500
	}
	if c.MaxSockets == 0 {
		c.MaxSockets = 20000
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

	mu        sync.Mutex
	rooms     map[string]*room
	forgotten map[string]*forgotten // rooms out of memory, with a journal
	conns     map[*client]struct{}
	closed    bool

	fan     *fanout
	slots   *limit.Slots // caption sockets, per client address and in total
	refused refusals

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
		cfg:       cfg,
		log:       cfg.Logger,
		dir:       filepath.Join(cfg.DataDir, "captions"),
		rooms:     make(map[string]*room),
		forgotten: make(map[string]*forgotten),
		conns:     make(map[*client]struct{}),
		slots:     newSlots(cfg.MaxSocketsPerAddr, cfg.MaxSockets),
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
		// A failed handshake is answered like every other error, and says
		// what was wrong (the console's probe tells it from a refusal).
		Error: func(w http.ResponseWriter, r *http.Request, status int, reason error) {
			httperr.Write(w, r, s.log, httperr.New(status, "%v", reason))
		},
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

func (s *Service) backlogLen() int { return s.cfg.Backlog }

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
			s.sweep(now)
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
