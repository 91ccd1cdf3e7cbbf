// Package relay is the SFU: rooms, WHIP ingest, WHEP egress, publisher
// sources and per-viewer forwarders.
package relay

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/sdp/v3"
	"github.com/pion/transport/v5/stdnet"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/limit"
)

// RoomConfig declares a room ahead of its first publisher.
type RoomConfig struct {
	Name    string
	Title   string // shown in the lobby; "" means the name
	Private bool   // viewers need a viewer token
	// Languages are the room's languages (BCP 47): a viewer may select
	// their channels before a booth is live (it hears the floor until
	// then). Channels that have been live are selectable too.
	Languages []string
}

// Config sets up a Server. Zero values are usable except for Auth.
type Config struct {
	Logger *slog.Logger // nil means slog.Default()
	Auth   auth.Authorizer

	// BindIP is the address the ICE UDP (and TCP) muxes listen on; nil means
	// every interface. When it is set, it is the only host candidate offered
	// and remote candidates on other networks are ignored.
	BindIP    net.IP
	UDPPort   int      // ICE UDP mux port; 0 picks a free port
	TCPPort   int      // ICE-TCP mux port; 0 means ICE-TCP off, -1 picks a free port
	PublicIPs []string // NAT 1:1 addresses advertised instead of the host address

	Rooms             []RoomConfig
	MaxRooms          int // rooms created by publishing; 0 means 64
	MaxViewers        int // viewers over all rooms; 0 means 1000
	MaxViewersPerRoom int // 0 means MaxViewers
	ShardSize         int // forwarders per fan-out goroutine; 0 means 64

	// PublisherTimeout is how long a silent publisher stays "live" before
	// its room shows "lost"; 0 means 3 s. Its session closes after twice that.
	PublisherTimeout time.Duration
	// ViewerTimeout is how long a silent viewer is kept; 0 means 15 s.
	ViewerTimeout time.Duration
	// ConnectTimeout is how long a new viewer may take from its answer to
	// a connected ICE transport; until then it holds a viewer slot and is
	// closed when the time is up. A new publisher gets twice as long to
	// send its first media (nothing waits on it: the room's publisher
	// before it stays on air meanwhile). 0 means 5 s.
	ConnectTimeout time.Duration
	// MaxPendingPerAddr caps the viewer sessions one client address (an
	// IPv4 address, an IPv6 /64) may hold that are answered but not yet
	// connected, so a few addresses cannot fill the viewer slots with
	// offers that never connect. 0 means 32; negative means no cap.
	MaxPendingPerAddr int

	// RequestRate caps WHIP/WHEP offers per client address (an IPv4
	// address, an IPv6 /64) per second; 0 means 20, negative turns the
	// limit off. RequestBurst is the bucket; 0 means
	// 100. Behind a reverse proxy every request shares the proxy's address:
	// raise or disable the limit there and rate-limit at the proxy.
	RequestRate  float64
	RequestBurst int

	// ObserveRequest, when set, is told the outcome of every WHIP and WHEP
	// request: endpoint is "whip" or "whep", method the HTTP method.
	ObserveRequest func(endpoint, method string, status int)

	// ICEServers, when set, gives the ICE servers (the built-in TURN) a
	// client of room should use, sent as RFC 9725 Link headers on OPTIONS
	// and on every 201 of WHIP and WHEP.
	ICEServers func(r *http.Request, room string) []ICEServer
	// TURNVia, when set, tells whether a viewer's remote address is a TURN
	// allocation, and how its client reached the TURN server ("udp",
	// "tcp", "tls"): the viewer's path is then "turn-" that.
	TURNVia func(netip.AddrPort) (string, bool)
}

// ICEServer is one STUN or TURN server for clients (RFC 8489/8656 URL).
type ICEServer struct {
	URL        string
	Username   string
	Credential string
}

// Server owns the rooms and the WebRTC machinery.
type Server struct {
	cfg      Config
	log      *slog.Logger
	pubAPI   *webrtc.API
	viewAPI  *webrtc.API
	udpConn  *batchConn
	udpMux   ice.UDPMux
	pionLogs *pionLogs
	// net is the interface list every ICE agent gathers from, read once:
	// pion would otherwise enumerate the interfaces (a netlink dump) and
	// keep its own copy for each PeerConnection.
	net         *stdnet.Net
	tcpLn       net.Listener
	tcpMux      ice.TCPMux
	nextID      atomic.Uint64
	viewers     atomic.Int64
	closing     atomic.Bool
	closeOnce   sync.Once
	stop        chan struct{} // closed by Close; ends the report loop
	loopDone    chan struct{}
	loopRunning bool           // set once New has started the loop
	limiter     *limit.Rate    // offers per client address
	pending     *limit.Slots   // viewer sessions not yet connected, per client address
	bg          sync.WaitGroup // background closes (a replaced publisher); Close waits
	bgDone      bool           // Close is waiting for bg: run the rest at once (under mu)

	mu    sync.Mutex
	rooms map[string]*Room
	// ended remembers recently ended session ids for a minute, so a DELETE
	// racing the relay's own clean-up (the page closed its connection first)
	// still answers 200: DELETE is idempotent.
	ended map[string]time.Time
}

var roomNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// ValidRoomName says whether name can name a room.
func ValidRoomName(name string) bool { return roomNameRE.MatchString(name) }

// New binds the ICE ports and returns a Server ready to Register.
func New(cfg Config) (*Server, error) {
	if cfg.Auth == nil {
		return nil, errors.New("relay: Config.Auth is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRooms <= 0 {
		cfg.MaxRooms = 64
	}
	if cfg.MaxViewers <= 0 {
		cfg.MaxViewers = 1000
	}
	if cfg.MaxViewersPerRoom <= 0 || cfg.MaxViewersPerRoom > cfg.MaxViewers {
		cfg.MaxViewersPerRoom = cfg.MaxViewers
	}
	if cfg.PublisherTimeout <= 0 {
		cfg.PublisherTimeout = 3 * time.Second
	}
	if cfg.ViewerTimeout <= 0 {
		cfg.ViewerTimeout = 15 * time.Second
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	if cfg.MaxPendingPerAddr == 0 {
		cfg.MaxPendingPerAddr = 32
	}
	s := &Server{cfg: cfg, log: cfg.Logger, rooms: map[string]*Room{}, ended: map[string]time.Time{},
		stop: make(chan struct{}), loopDone: make(chan struct{}), limiter: limit.NewRate(cfg.RequestRate, cfg.RequestBurst),
		pending:  limit.NewSlots(limit.SlotsConfig{What: "viewer sessions still connecting", PerAddr: max(cfg.MaxPendingPerAddr, 0)}),
		pionLogs: newPionLogs(cfg.Logger)}
	for _, rc := range cfg.Rooms {
		if !ValidRoomName(rc.Name) {
			return nil, fmt.Errorf("relay: room name %q: use letters, digits, '-' and '_' (at most 64)", rc.Name)
		}
		langs, err := canonicalLanguages(rc.Name, rc.Languages)
		if err != nil {
			return nil, err
		}
		rc.Languages = langs
		s.rooms[rc.Name] = newRoom(rc, s)
	}
	if err := s.listen(); err != nil {
		return nil, err
	}
	var err error
	if s.pubAPI, err = s.newAPI(true); err != nil {
		s.Close()
		return nil, err
	}
	if s.viewAPI, err = s.newAPI(false); err != nil {
		s.Close()
		return nil, err
	}
	s.loopRunning = true
	go s.reportLoop()
	return s, nil
}

// reportLoop sends every viewer its sender reports once a second, and
// watches the language channels for booths that stopped sending: one
// goroutine for the server rather than one per viewer or channel.
func (s *Server) reportLoop() {
	defer close(s.loopDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	watch := time.NewTicker(channelWatchEvery)
	defer watch.Stop()
	var viewers []*viewer
	for {
		select {
		case <-s.stop:
			return
		case <-watch.C:
			for _, r := range s.roomList() {
				r.watchChannels()
			}
		case now := <-tick.C:
			viewers = viewers[:0]
			for _, r := range s.roomList() {
				viewers = r.appendViewers(viewers)
			}
			for _, v := range viewers {
				v.sendReports(now)
			}
		}
	}
}

func (s *Server) listen() error {
	ip := s.cfg.BindIP
	udp, err := net.ListenUDP("udp4", &net.UDPAddr{IP: ip, Port: s.cfg.UDPPort})
	if err != nil {
		return fmt.Errorf("relay: ICE UDP port: %w", err)
	}
	s.udpConn = newBatchConn(udp)
	if s.net, err = stdnet.NewNet(); err != nil {
		s.udpConn.Close()
		return fmt.Errorf("relay: network interfaces: %w", err)
	}
	s.udpMux = webrtc.NewICEUDPMux(s.pionLogs.NewLogger("ice"), s.udpConn)
	if s.cfg.TCPPort != 0 {
		port := max(s.cfg.TCPPort, 0)
		s.tcpLn, err = net.ListenTCP("tcp4", &net.TCPAddr{IP: ip, Port: port})
		if err != nil {
			s.udpMux.Close()
			return fmt.Errorf("relay: ICE TCP port: %w", err)
		}
		s.tcpMux = webrtc.NewICETCPMux(s.pionLogs.NewLogger("ice"), s.tcpLn, 8)
	}
	return nil
}

// UDPAddr is the ICE UDP mux's address.
func (s *Server) UDPAddr() net.Addr { return s.udpConn.LocalAddr() }

// tcpAddr is the ICE-TCP mux's address, or nil when ICE-TCP is off.
func (s *Server) tcpAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

func (s *Server) newAPI(publisher bool) (*webrtc.API, error) {
	m, err := newMediaEngine()
	if err != nil {
		return nil, err
	}
	if publisher {
		// Publishers tell each audio packet's level (RFC 6464): the monitor
		// shows booths' levels and notices a silent one without decoding.
		if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: AudioLevelURI}, webrtc.RTPCodecTypeAudio); err != nil {
			return nil, err
		}
		// Simulcast (RFC 8853): each layer's packets carry the MID and
		// their RID, by which pion tells the layers apart.
		if err := webrtc.ConfigureSimulcastExtensionHeaders(m); err != nil {
			return nil, err
		}
	} else {
		// Viewers get transport-wide congestion feedback negotiated: their
		// reports drive the bandwidth estimate that picks their layer. The
		// relay stamps the sequence numbers itself (forwarder.send), no
		// interceptor.
		for _, kind := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeVideo, webrtc.RTPCodecTypeAudio} {
			if err := m.RegisterHeaderExtension(webrtc.RTPHeaderExtensionCapability{URI: sdp.TransportCCURI}, kind); err != nil {
				return nil, err
			}
		}
		m.RegisterFeedback(webrtc.RTCPFeedback{Type: webrtc.TypeRTCPFBTransportCC}, webrtc.RTPCodecTypeAudio)
	}
	ir := &interceptor.Registry{}
	if publisher {
		// Publishers get NACK generation, receiver reports and transport-wide
		// congestion feedback so encoders can adapt. Viewers get none: the
		// relay answers their NACKs and writes their sender reports itself,
		// once per source, not through a per-viewer chain.
		if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
			return nil, err
		}
	}
	se := webrtc.SettingEngine{LoggerFactory: s.pionLogs}
	se.SetNet(s.net)
	se.SetICEUDPMux(s.udpMux)
	types := []webrtc.NetworkType{webrtc.NetworkTypeUDP4}
	if s.tcpMux != nil {
		se.SetICETCPMux(s.tcpMux)
		types = append(types, webrtc.NetworkTypeTCP4)
	}
	se.SetNetworkTypes(types)
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if ip := s.cfg.BindIP; ip != nil && !ip.IsUnspecified() {
		se.SetIPFilter(func(c net.IP) bool { return c.Equal(ip) })
		if ip.IsLoopback() {
			// A loopback relay never talks to any other address.
			se.SetIncludeLoopbackCandidate(true)
			se.SetRemoteIPFilter(func(c net.IP) bool { return c.IsLoopback() })
		}
	}
	if len(s.cfg.PublicIPs) > 0 {
		if err := se.SetICEAddressRewriteRules(webrtc.ICEAddressRewriteRule{
			External: s.cfg.PublicIPs, AsCandidateType: webrtc.ICECandidateTypeHost,
		}); err != nil {
			return nil, err
		}
	}
	// pion reports "failed" after disconnected+failed timeouts of silence.
	// Keepalives go out well within the disconnected timeout so that a
	// quiet but healthy peer (a recvonly viewer) answers in time.
	if publisher {
		d := s.cfg.PublisherTimeout
		se.SetICETimeouts(d, d, min(time.Second, d/3))
	} else {
		d := s.cfg.ViewerTimeout / 3
		se.SetICETimeouts(d, s.cfg.ViewerTimeout-d, min(2*time.Second, d/3))
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// Register adds the WHIP and WHEP routes to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /whip/{room}", s.observed("whip", s.handleWHIPPost))
	mux.HandleFunc("OPTIONS /whip/{room}", s.handleOptions)
	mux.HandleFunc("DELETE /whip/{room}/{id}", s.observed("whip", s.handleWHIPDelete))
	mux.HandleFunc("PATCH /whip/{room}/{id}", s.observed("whip", s.handleNoTrickle))
	mux.HandleFunc("POST /whep/{room}", s.observed("whep", s.handleWHEPPost))
	mux.HandleFunc("OPTIONS /whep/{room}", s.handleOptions)
	mux.HandleFunc("DELETE /whep/{room}/{id}", s.observed("whep", s.handleWHEPDelete))
	mux.HandleFunc("/whep/{room}/{id}/select", s.observed("whep", s.handleSelect))
	mux.HandleFunc("PATCH /whep/{room}/{id}", s.observed("whep", s.handleNoTrickle))
}

// observed reports each request's status to Config.ObserveRequest.
func (s *Server) observed(endpoint string, h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.ObserveRequest == nil {
		return h
	}
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r)
		s.cfg.ObserveRequest(endpoint, r.Method, sw.status)
	}
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Close ends every session and releases the ports.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.closing.Store(true)
		close(s.stop)
		for _, r := range s.roomList() {
			r.close()
		}
		if s.udpMux != nil {
			s.udpMux.Close()
		}
		if s.tcpMux != nil {
			s.tcpMux.Close()
		}
		if s.loopRunning {
			<-s.loopDone
		}
		s.mu.Lock()
		s.bgDone = true
		s.mu.Unlock()
		s.bg.Wait()
	})
	return nil
}

// background runs f in a goroutine that Close waits for (once Close
// waits, f runs at once instead).
func (s *Server) background(f func()) {
	s.mu.Lock()
	if s.bgDone {
		s.mu.Unlock()
		f()
		return
	}
	s.bg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.bg.Done()
		f()
	}()
}

// publisherConnectTimeout is how long a new publisher may take to send
// its first media.
func (s *Server) publisherConnectTimeout() time.Duration { return 2 * s.cfg.ConnectTimeout }

// Limits returns the viewer limits in force (defaults applied).
func (s *Server) Limits() (maxViewers, maxViewersPerRoom int) {
	return s.cfg.MaxViewers, s.cfg.MaxViewersPerRoom
}

// Ready says whether the server accepts sessions.
func (s *Server) Ready() bool { return !s.closing.Load() }

// room returns the room called name, creating it when create is set.
func (s *Server) room(name string, create bool) (*Room, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rooms[name]; r != nil {
		return r, nil
	}
	if !create {
		return nil, errNoRoom
	}
	if len(s.rooms) >= s.cfg.MaxRooms+len(s.cfg.Rooms) {
		return nil, errTooManyRooms
	}
	r := newRoom(RoomConfig{Name: name}, s)
	s.rooms[name] = r
	return r, nil
}

// Rooms returns a snapshot of every room, sorted by name.
func (s *Server) Rooms() []RoomInfo {
	rooms := s.roomList()
	out := make([]RoomInfo, 0, len(rooms))
	for _, r := range rooms {
		out = append(out, r.info())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// roomList is a snapshot of the rooms, to walk without holding s.mu.
func (s *Server) roomList() []*Room {
	s.mu.Lock()
	defer s.mu.Unlock()
	rooms := make([]*Room, 0, len(s.rooms))
	for _, r := range s.rooms {
		rooms = append(rooms, r)
	}
	return rooms
}

// Private says whether room requires viewer tokens.
func (s *Server) Private(room string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rooms[room]
	return r != nil && r.cfg.Private
}

func (s *Server) newID() uint64 { return s.nextID.Add(1) }

// sessionID is an unguessable id: the Location URL is the capability to end
// a session.
func sessionID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b)
}

// sessionEnded records that session id is over.
func (s *Server) sessionEnded(id string) {
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.ended) > 1000 { // sweep the expired ones now and then
		for k, at := range s.ended {
			if now.Sub(at) > time.Minute {
				delete(s.ended, k)
			}
		}
	}
	s.ended[id] = now
}

// recentlyEnded says whether session id ended within the last minute.
func (s *Server) recentlyEnded(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	at, ok := s.ended[id]
	return ok && time.Since(at) < time.Minute
}
