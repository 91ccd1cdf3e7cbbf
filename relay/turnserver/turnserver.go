// Package turnserver is the relay's built-in TURN server (RFC 8656, with
// pion/turn): for delegates whose network lets out nothing but TLS on 443
// (or TCP, or UDP to one port). It relays to the relay's own media
// addresses only, so it is never an open relay: a permission toward any
// other address is refused, and a relayed datagram toward any other
// address and port is dropped. Credentials are TURN REST style
// (username "<expiry>:<session>", password base64(HMAC-SHA1(secret,
// username))): nothing to store, and they expire by themselves.
package turnserver

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // TURN REST credentials are defined with HMAC-SHA1
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pion/logging"
	"github.com/pion/turn/v5"
)

// Config is what the relay asks of its TURN server.
type Config struct {
	Secret []byte // signs credentials (derived from the relay's secret)
	Realm  string
	// Listen addresses; "" leaves that transport off. UDP and TCP usually
	// share a port (3478), TLS takes 443 where the HTTPS server is not.
	UDPAddr, TCPAddr, TLSAddr string
	TLS                       *tls.Config // for TLSAddr
	// RelayIP is where allocations are opened: the relay's media address
	// (127.0.0.1 in tests). AdvertiseIP, when set (--public-ip), is the
	// address given to clients for them.
	RelayIP, AdvertiseIP net.IP
	// Peers are the relay's media addresses: the only ones relayed to.
	Peers []netip.AddrPort
	// Limits per credential, and in all (0: the defaults below).
	MaxAllocations int
	MaxBitrate     int64 // per allocation, bits per second, both directions together
	MaxTotal       int   // allocations over all credentials: each holds a socket
	Log            *slog.Logger
}

const (
	defaultMaxAllocations = 4                // a page's viewer, a retry, a second tab
	defaultMaxBitrate     = 20_000_000       // a 1080p publisher with headroom
	defaultMaxTotal       = 4096             // well above a relay's viewers through TURN; bounds the sockets
	allocationLifetime    = 10 * time.Minute // clients refresh it
)

// Transport names how a client reached the TURN server.
type Transport string

const (
	UDP Transport = "udp"
	TCP Transport = "tcp"
	TLS Transport = "tls"
)

// Server is a running TURN server.
type Server struct {
	cfg    Config
	turn   *turn.Server
	closer []func() error
	addrs  map[Transport]net.Addr

	mu      sync.Mutex
	byUser  map[string]int                 // live allocations per credential
	relayed map[netip.AddrPort]*allocation // by relay address (what the relay's ICE sees)
	clients map[string]string              // client 5-tuple -> session, for refused permissions
	rooms   map[string]*RoomStats          // by room
}

type allocation struct {
	room      string
	transport Transport
	bytes     *roomBytes
}

type roomBytes struct {
	mu sync.Mutex
	n  uint64
}

// RoomStats is one room's TURN use.
type RoomStats struct {
	Allocations        int
	BytesRelayed       uint64
	RefusedPermissions uint64
	RefusedDatagrams   uint64
}

// New starts the listeners in cfg.
func New(cfg Config) (*Server, error) {
	if len(cfg.Secret) < 16 {
		return nil, errors.New("turn: a secret of at least 16 bytes is needed")
	}
	if cfg.RelayIP == nil {
		return nil, errors.New("turn: no relay address")
	}
	if cfg.Realm == "" {
		cfg.Realm = "relay"
	}
	if cfg.MaxAllocations <= 0 {
		cfg.MaxAllocations = defaultMaxAllocations
	}
	if cfg.MaxBitrate <= 0 {
		cfg.MaxBitrate = defaultMaxBitrate
	}
	if cfg.MaxTotal <= 0 {
		cfg.MaxTotal = defaultMaxTotal
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, addrs: map[Transport]net.Addr{}, byUser: map[string]int{}, relayed: map[netip.AddrPort]*allocation{},
		clients: map[string]string{}, rooms: map[string]*RoomStats{}}
	sc := turn.ServerConfig{
		Realm:              cfg.Realm,
		AuthHandler:        s.auth,
		QuotaHandler:       s.quota,
		EventHandler:       s.events(),
		AllocationLifetime: allocationLifetime,
		LoggerFactory:      quietLogs{},
	}
	gen := func(t Transport) turn.RelayAddressGenerator { return &relayAddrs{s: s, transport: t} }
	fail := func(err error) (*Server, error) {
		for _, c := range s.closer {
			_ = c()
		}
		return nil, err
	}
	if cfg.UDPAddr != "" {
		pc, err := net.ListenPacket("udp4", cfg.UDPAddr)
		if err != nil {
			return fail(fmt.Errorf("turn udp: %w", err))
		}
		s.closer, s.addrs[UDP] = append(s.closer, pc.Close), pc.LocalAddr()
		sc.PacketConnConfigs = append(sc.PacketConnConfigs, turn.PacketConnConfig{PacketConn: pc, RelayAddressGenerator: gen(UDP), PermissionHandler: s.permit})
	}
	if cfg.TCPAddr != "" {
		ln, err := net.Listen("tcp4", cfg.TCPAddr)
		if err != nil {
			return fail(fmt.Errorf("turn tcp: %w", err))
		}
		s.closer, s.addrs[TCP] = append(s.closer, ln.Close), ln.Addr()
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen(TCP), PermissionHandler: s.permit})
	}
	if cfg.TLSAddr != "" {
		if cfg.TLS == nil {
			return fail(errors.New("turns: no certificate (TURN over TLS needs --tls-cert or --acme-domain)"))
		}
		tc := cfg.TLS.Clone()
		tc.NextProtos = nil // TURN, not HTTP
		ln, err := tls.Listen("tcp4", cfg.TLSAddr, tc)
		if err != nil {
			return fail(fmt.Errorf("turns: %w", err))
		}
		s.closer, s.addrs[TLS] = append(s.closer, ln.Close), ln.Addr()
		sc.ListenerConfigs = append(sc.ListenerConfigs, turn.ListenerConfig{Listener: ln, RelayAddressGenerator: gen(TLS), PermissionHandler: s.permit})
	}
	if len(sc.PacketConnConfigs)+len(sc.ListenerConfigs) == 0 {
		return fail(errors.New("turn: no listener"))
	}
	ts, err := turn.NewServer(sc)
	if err != nil {
		return fail(fmt.Errorf("turn: %w", err))
	}
	s.turn = ts
	return s, nil
}

// Addr is where the server listens for clients over t (nil when off).
func (s *Server) Addr(t Transport) net.Addr {
	return s.addrs[t]
}

// Realm is the realm clients authenticate in.
func (s *Server) Realm() string {
	return s.cfg.Realm
}

// Close stops the server and every allocation.
func (s *Server) Close() error {
	if s == nil || s.turn == nil {
		return nil
	}
	return s.turn.Close()
}

// Credentials are a username and password for a client of session
// ("<room>/<id>"), valid until expiry.
func (s *Server) Credentials(room string, expiry time.Time) (username, password string) {
	var id [6]byte
	_, _ = rand.Read(id[:])
	username = strconv.FormatInt(expiry.Unix(), 10) + ":" + room + "/" + base64.RawURLEncoding.EncodeToString(id[:])
	return username, s.password(username)
}

func (s *Server) password(username string) string {
	mac := hmac.New(sha1.New, s.cfg.Secret)
	mac.Write([]byte(username))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// parseUsername splits "<expiry>:<room>/<id>"; ok is false for anything
// else (it comes from the network, before authentication).
func parseUsername(u string) (expiry int64, room string, ok bool) {
	if len(u) > 256 {
		return 0, "", false
	}
	exp, session, found := strings.Cut(u, ":")
	if !found {
		return 0, "", false
	}
	e, err := strconv.ParseInt(exp, 10, 64)
	if err != nil || e <= 0 {
		return 0, "", false
	}
	room, id, found := strings.Cut(session, "/")
	if !found || room == "" || id == "" || strings.ContainsAny(session, ":\x00") {
		return 0, "", false
	}
	return e, room, true
}

// auth is TURN's long-term credential check with TURN REST passwords:
// the username must parse and not have expired; a forged one fails the
// message integrity check against the password derived here.
func (s *Server) auth(ra *turn.RequestAttributes) (string, []byte, bool) {
	exp, _, ok := parseUsername(ra.Username)
	if !ok || exp < time.Now().Unix() {
		return "", nil, false
	}
	return ra.Username, turn.GenerateAuthKey(ra.Username, ra.Realm, s.password(ra.Username)), true
}

// quota allows a credential a few live allocations, and the server a
// bounded number: credentials are cheap to get (OPTIONS), sockets are not.
func (s *Server) quota(username, _ string, _ net.Addr) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.byUser[username] < s.cfg.MaxAllocations && len(s.relayed) < s.cfg.MaxTotal
}

// permit allows permissions toward the relay's media addresses only.
func (s *Server) permit(client net.Addr, peer net.IP) bool {
	ip, ok := netip.AddrFromSlice(peer)
	if ok {
		ip = ip.Unmap()
		for _, p := range s.cfg.Peers {
			if p.Addr() == ip {
				return true
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, room, ok := parseUsername(s.clients[client.String()]); ok {
		s.roomLocked(room).RefusedPermissions++
	}
	// Debug, not Warn: a client may ask again and again; the refusals are
	// counted in relay_turn_refused_total.
	s.cfg.Log.Debug("turn: permission refused", "client", client.String(), "peer", peer.String())
	return false
}

// allowed is the check on every relayed datagram: the address and port
// must be one of the relay's media sockets.
func (s *Server) allowed(to net.Addr) bool {
	u, ok := to.(*net.UDPAddr)
	if !ok {
		return false
	}
	ap := u.AddrPort()
	ap = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	for _, p := range s.cfg.Peers {
		if p == ap {
			return true
		}
	}
	return false
}

func (s *Server) roomLocked(room string) *RoomStats {
	r := s.rooms[room]
	if r == nil {
		r = &RoomStats{}
		s.rooms[room] = r
	}
	return r
}

func (s *Server) events() turn.EventHandler {
	return turn.EventHandler{
		OnAllocationCreated: func(src, _ net.Addr, _, user, _ string, relayAddr net.Addr, _ int) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.byUser[user]++
			s.clients[src.String()] = user
			if _, room, ok := parseUsername(user); ok {
				s.roomLocked(room).Allocations++
			}
		},
		OnAllocationDeleted: func(src, _ net.Addr, _, user, _ string) {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.byUser[user]--; s.byUser[user] <= 0 {
				delete(s.byUser, user)
			}
			delete(s.clients, src.String())
			if _, room, ok := parseUsername(user); ok {
				s.roomLocked(room).Allocations--
			}
		},
	}
}

// Via tells whether addr is one of this server's allocations (the
// address a TURN client's packets reach the relay from), and how the
// client reached it.
func (s *Server) Via(addr netip.AddrPort) (Transport, bool) {
	if s == nil {
		return "", false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.relayed[netip.AddrPortFrom(addr.Addr().Unmap(), addr.Port())]
	if !ok {
		// Allocations opened on every address (a relay not bound to one)
		// are known by their port: the relay sees the address the kernel
		// sent from.
		a, ok = s.relayed[netip.AddrPortFrom(netip.IPv4Unspecified(), addr.Port())]
	}
	if !ok {
		return "", false
	}
	return a.transport, true
}

// Stats are the rooms' TURN figures now.
func (s *Server) Stats() map[string]RoomStats {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]RoomStats, len(s.rooms))
	for room, r := range s.rooms {
		out[room] = *r
	}
	for _, a := range s.relayed {
		a.bytes.mu.Lock()
		st := out[a.room]
		st.BytesRelayed += a.bytes.n
		a.bytes.mu.Unlock()
		out[a.room] = st
	}
	return out
}

// quietLogs keeps pion/turn's own logging off: the relay logs what an
// operator acts on (refusals) itself.
type quietLogs struct{}

func (quietLogs) NewLogger(string) logging.LeveledLogger {
	return logging.NewDefaultLeveledLoggerForScope("turn", logging.LogLevelDisabled, discard{})
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
