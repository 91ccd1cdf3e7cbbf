package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/turnserver"
)

// turnCredentialTTL is how long TURN credentials last without a token
// that ends sooner: a conference day, since a session refreshes its
// allocation with the credentials it started with.
const turnCredentialTTL = 12 * time.Hour

// turnSetup is the built-in TURN server and what clients are told of it.
type turnSetup struct {
	srv       *turnserver.Server
	host      string // --turn-host: the name in the URLs ("" the one the client used)
	udp, tcp  int    // --turn-port (0: off)
	tls       int    // --turns-port (0: off)
	authority *auth.Authority
}

// newTURN starts TURN when --turn-port or --turns-port asks for it (nil
// otherwise). The relay's media addresses are the only peers.
func newTURN(c serveConfig, a *auth.Authority, tc *tls.Config, sfu *relay.Server, bindIP net.IP, log *slog.Logger) (*turnSetup, error) {
	if c.TURNPort == 0 && c.TURNSPort == 0 {
		if c.TURNHost != "" {
			return nil, errors.New("--turn-host needs --turn-port or --turns-port")
		}
		return nil, nil
	}
	if c.TURNHost != "" && !validHost(c.TURNHost) {
		return nil, fmt.Errorf("--turn-host %q: want a DNS name or an IP address", c.TURNHost)
	}
	if c.TURNSPort != 0 && tc == nil {
		return nil, errors.New("--turns-port needs a certificate: --tls-cert/--tls-key or --acme-domain")
	}
	if c.TURNSPort != 0 && strconv.Itoa(c.TURNSPort) == port(c.Addr) {
		return nil, errors.New("--turns-port is the HTTPS port of --addr: give TURNS its own port (or a second address)")
	}
	peers, relayIP, advertise, err := mediaAddrs(c, sfu, bindIP)
	if err != nil {
		return nil, err
	}
	listen := func(p int) string {
		if p == 0 {
			return ""
		}
		return net.JoinHostPort(ipOrAny(bindIP), strconv.Itoa(max(p, 0))) // tests ask for -1: any free port
	}
	srv, err := turnserver.New(turnserver.Config{
		Secret: a.Derive("turn"), Realm: "relay",
		UDPAddr: listen(c.TURNPort), TCPAddr: listen(c.TURNPort), TLSAddr: listen(c.TURNSPort), TLS: tc,
		RelayIP: relayIP, AdvertiseIP: advertise, Peers: peers, Log: log,
	})
	if err != nil {
		return nil, err
	}
	t := &turnSetup{srv: srv, host: c.TURNHost, authority: a}
	if c.TURNPort != 0 {
		t.udp = srv.Addr(turnserver.UDP).(*net.UDPAddr).Port
		t.tcp = srv.Addr(turnserver.TCP).(*net.TCPAddr).Port
	}
	if c.TURNSPort != 0 {
		t.tls = srv.Addr(turnserver.TLS).(*net.TCPAddr).Port
	}
	log.Info("TURN listening", "udp", t.udp, "tcp", t.tcp, "tls", t.tls, "peers", fmt.Sprint(peers))
	return t, nil
}

// mediaAddrs are the relay's UDP media sockets as a TURN client's peer
// (its ICE host candidates), where allocations open, and the address
// they are advertised at.
func mediaAddrs(c serveConfig, sfu *relay.Server, bindIP net.IP) (peers []netip.AddrPort, relayIP, advertise net.IP, err error) {
	udp, ok := sfu.UDPAddr().(*net.UDPAddr)
	if !ok {
		return nil, nil, nil, errors.New("TURN: the relay has no UDP media socket")
	}
	port := uint16(udp.Port)
	add := func(ip net.IP) {
		if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap().Is4() {
			peers = append(peers, netip.AddrPortFrom(a.Unmap(), port))
		}
	}
	for _, s := range strings.Split(c.PublicIP, ",") {
		if ip := net.ParseIP(strings.TrimSpace(s)); ip != nil {
			add(ip)
			if advertise == nil {
				advertise = ip
			}
		}
	}
	if bindIP != nil {
		add(bindIP)
		return peers, bindIP, advertise, nil
	}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return nil, nil, nil, fmt.Errorf("TURN: the relay's addresses: %w", err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			add(n.IP)
			if advertise == nil {
				advertise = n.IP
			}
		}
	}
	if len(peers) == 0 {
		return nil, nil, nil, errors.New("TURN: no IPv4 address to relay to (set --addr to an address or --public-ip)")
	}
	return peers, net.IPv4zero, advertise, nil
}

func ipOrAny(ip net.IP) string {
	if ip == nil {
		return "0.0.0.0"
	}
	return ip.String()
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

func validHost(h string) bool {
	return net.ParseIP(h) != nil || hostRE.MatchString(h)
}

// iceServers are the TURN URLs with fresh credentials for a client of
// room: valid for the token that came with the request, at most a day.
func (t *turnSetup) iceServers(r *http.Request, room string) []relay.ICEServer {
	host := t.host
	if host == "" {
		host = r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if !validHost(host) {
			return nil // a Host header no TURN URL can carry
		}
	}
	if ip := net.ParseIP(host); ip != nil && ip.To4() == nil {
		host = "[" + host + "]"
	}
	expiry := time.Now().Add(turnCredentialTTL)
	token := auth.FromHeader(r.Header.Get("Authorization"))
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	if exp, ok := t.authority.Expiry(token); ok && exp.Before(expiry) {
		expiry = exp
	}
	user, pass := t.srv.Credentials(room, expiry)
	var out []relay.ICEServer
	if t.udp != 0 {
		out = append(out, relay.ICEServer{URL: "turn:" + host + ":" + strconv.Itoa(t.udp) + "?transport=udp", Username: user, Credential: pass})
		out = append(out, relay.ICEServer{URL: "turn:" + host + ":" + strconv.Itoa(t.tcp) + "?transport=tcp", Username: user, Credential: pass})
	}
	if t.tls != 0 {
		out = append(out, relay.ICEServer{URL: "turns:" + host + ":" + strconv.Itoa(t.tls) + "?transport=tcp", Username: user, Credential: pass})
	}
	return out
}

// via tells the relay which viewers came through TURN.
func (t *turnSetup) via(a netip.AddrPort) (string, bool) {
	tr, ok := t.srv.Via(a)
	return string(tr), ok
}

func (t *turnSetup) close() {
	if t != nil {
		t.srv.Close()
	}
}
