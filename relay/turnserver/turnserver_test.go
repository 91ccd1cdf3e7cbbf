package turnserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/netip"
	"strconv"
	"testing"
	"time"

	"github.com/pion/turn/v5"
)

// selfSigned is a certificate for 127.0.0.1 (the client below skips
// verification: what is tested here is TURN over TLS, not the PKI).
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// media is a UDP socket standing for the relay's media port: the one
// peer TURN relays to.
func media(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// startTURN is a server on every transport relaying to peer, with the
// changes mod makes to its config (mod may be nil).
func startTURN(t *testing.T, peer *net.UDPConn, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Secret: []byte("0123456789abcdef0123456789abcdef"), UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0",
		TLS: selfSigned(t), RelayIP: net.IPv4(127, 0, 0, 1), Peers: []netip.AddrPort{peer.LocalAddr().(*net.UDPAddr).AddrPort()},
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// allocate is a UDP allocation on s with fresh credentials for room hall,
// released when the test ends.
func allocate(t *testing.T, s *Server) net.PacketConn {
	t.Helper()
	user, pass := s.Credentials("hall", time.Now().Add(time.Hour))
	relayed, err := dial(t, s, UDP, user, pass).Allocate()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { relayed.Close() })
	return relayed
}

// dial is a TURN client of s over tr.
func dial(t *testing.T, s *Server, tr Transport, user, pass string) *turn.Client {
	t.Helper()
	var conn net.PacketConn
	addr := s.Addr(tr).String()
	switch tr {
	case UDP:
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		conn = c
	case TCP:
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	case TLS:
		c, err := tls.Dial("tcp4", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // see selfSigned
		if err != nil {
			t.Fatal(err)
		}
		conn = turn.NewSTUNConn(c)
	}
	cl, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: addr, STUNServerAddr: addr, Username: user, Password: pass,
		Realm: s.Realm(), Conn: conn, RTO: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.Listen(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Close(); conn.Close() })
	return cl
}

// Fresh credentials allocate over UDP, TCP and TLS; data reaches the
// relay's media socket and back; expired, forged and malformed
// credentials are refused; a permission toward 127.0.0.2 (not the
// relay's media address) is refused, and a datagram to another port of
// the relay's own address is dropped.
func TestTURNAllocatesAndRelaysToTheRelayOnly(t *testing.T) {
	peer := media(t)
	s := startTURN(t, peer, nil)
	for _, tr := range []Transport{UDP, TCP, TLS} {
		t.Run(string(tr), func(t *testing.T) {
			user, pass := s.Credentials("hall", time.Now().Add(time.Hour))
			cl := dial(t, s, tr, user, pass)
			relayed, err := cl.Allocate()
			if err != nil {
				t.Fatalf("allocate with fresh credentials: %v", err)
			}
			defer relayed.Close()
			ra := relayed.LocalAddr().(*net.UDPAddr)
			if via, ok := s.Via(ra.AddrPort()); !ok || via != tr {
				t.Errorf("Via(%v) = %q %v, want %q", ra, via, ok, tr)
			}
			// To the relay's media socket and back.
			if _, err := relayed.WriteTo([]byte("ping"), peer.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := peer.ReadFrom(buf)
			if err != nil || string(buf[:n]) != "ping" {
				t.Fatalf("the relay's media socket got %q, %v", buf[:n], err)
			}
			if from.(*net.UDPAddr).Port != ra.Port {
				t.Errorf("relayed from %v, the allocation is %v", from, ra)
			}
			// The client binds a channel after its first send; an answer
			// racing that binding is dropped by pion's client (ICE
			// retransmits its checks the same way), so the relay side
			// answers a few times.
			got := ""
			for i := 0; i < 10 && got != "pong"; i++ {
				if _, err := peer.WriteTo([]byte("pong"), from); err != nil {
					t.Fatal(err)
				}
				_ = relayed.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				if n, _, err := relayed.ReadFrom(buf); err == nil {
					got = string(buf[:n])
				}
			}
			if got != "pong" {
				t.Fatalf("the client got %q, want the relay's answer", got)
			}
			// Never an open relay.
			if err := cl.CreatePermission(&net.UDPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 9}); err == nil {
				t.Error("a permission toward 127.0.0.2 was granted")
			}
			other := media(t) // same address as the relay, another port
			_, _ = relayed.WriteTo([]byte("sneak"), other.LocalAddr())
			_ = other.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			if n, _, err := other.ReadFrom(buf); err == nil {
				t.Errorf("a datagram to another port of the relay's address went through: %q", buf[:n])
			}
		})
	}
	st := s.Stats()["hall"]
	if st.BytesRelayed < 3*8 || st.RefusedPermissions < 3 || st.RefusedDatagrams < 3 {
		t.Errorf("stats %+v: want the relayed bytes, three refused permissions and three dropped datagrams", st)
	}

	good, pass := s.Credentials("hall", time.Now().Add(time.Hour))
	expired, expiredPass := s.Credentials("hall", time.Now().Add(-time.Minute))
	for _, c := range []struct{ name, user, pass string }{
		{"expired", expired, expiredPass},
		{"forged password", good, pass[:len(pass)-2] + "AA"},
		{"forged expiry", strconv.FormatInt(time.Now().Add(48*time.Hour).Unix(), 10) + good[len(strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10)):], pass},
		{"no session", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10), "x"},
		{"malformed", "not-a-turn-rest-user", "x"},
	} {
		cl := dial(t, s, UDP, c.user, c.pass)
		if conn, err := cl.Allocate(); err == nil {
			conn.Close()
			t.Errorf("%s credentials allocated", c.name)
		}
	}
}

// A credential holds a few allocations at most; closing one frees its
// place.
func TestTURNQuotaPerCredential(t *testing.T) {
	peer := media(t)
	s := startTURN(t, peer, func(c *Config) { c.MaxAllocations = 2 })
	user, pass := s.Credentials("hall", time.Now().Add(time.Hour))
	var conns []net.PacketConn
	for i := 0; i < 3; i++ {
		conn, err := dial(t, s, UDP, user, pass).Allocate()
		if i < 2 && err != nil {
			t.Fatalf("allocation %d: %v", i+1, err)
		}
		if i == 2 {
			if err == nil {
				conn.Close()
				t.Fatal("a third allocation over a quota of two")
			}
			break
		}
		conns = append(conns, conn)
		defer conn.Close()
	}
	if got := s.Stats()["hall"].Allocations; got != 2 {
		t.Errorf("%d allocations counted, want 2", got)
	}
	conns[0].Close() // sends a refresh with lifetime 0: deallocation
	deadline := time.Now().Add(5 * time.Second)
	for s.Stats()["hall"].Allocations != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if conn, err := dial(t, s, UDP, user, pass).Allocate(); err != nil {
		t.Errorf("after one closed, a new allocation: %v", err)
	} else {
		conn.Close()
	}
}

// Usernames come from the network before authentication: whatever they
// hold, parsing them neither panics nor accepts a malformed one.
func FuzzParseUsername(f *testing.F) {
	for _, s := range []string{"1700000000:hall/abc", ":", "1:/", "9999999999999999999999:a/b", "1:a/b:c", "-5:a/b", "1:a\x00/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, u string) {
		exp, room, ok := parseUsername(u)
		if !ok {
			return
		}
		if exp <= 0 || room == "" || len(u) > 256 {
			t.Fatalf("%q accepted as %d %q", u, exp, room)
		}
	})
}

// Behind 1:1 NAT (--public-ip) an allocation is advertised at the public
// address, while it is opened (and seen by the relay) on the local one.
func TestTURNAdvertisesPublicAddress(t *testing.T) {
	s := startTURN(t, media(t), func(c *Config) { c.AdvertiseIP = net.IPv4(203, 0, 113, 7) })
	ra := allocate(t, s).LocalAddr().(*net.UDPAddr)
	if !ra.IP.Equal(net.IPv4(203, 0, 113, 7)) {
		t.Errorf("relayed address %v, want the public 203.0.113.7", ra)
	}
	if _, ok := s.Via(netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), uint16(ra.Port))); !ok {
		t.Error("the allocation is not known by its local address (what the relay's ICE sees)")
	}
}

// Over all credentials the server holds a bounded number of allocations.
func TestTURNTotalQuota(t *testing.T) {
	peer := media(t)
	s := startTURN(t, peer, func(c *Config) { c.MaxTotal = 2 })
	for i := 0; i < 3; i++ {
		user, pass := s.Credentials("hall", time.Now().Add(time.Hour))
		conn, err := dial(t, s, UDP, user, pass).Allocate()
		if i < 2 {
			if err != nil {
				t.Fatalf("allocation %d: %v", i+1, err)
			}
			defer conn.Close()
			continue
		}
		if err == nil {
			conn.Close()
			t.Error("a third allocation over a total of two")
		}
	}
}

// A relay bound to every address opens allocations on 0.0.0.0: the relay
// sees their packets from one of the host's addresses, and still knows
// them as TURN.
func TestTURNViaOnEveryAddress(t *testing.T) {
	peer := media(t)
	s := startTURN(t, peer, func(c *Config) { c.RelayIP, c.AdvertiseIP = net.IPv4zero, net.IPv4(127, 0, 0, 1) })
	relayed := allocate(t, s)
	if _, err := relayed.WriteTo([]byte("ping"), peer.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, from, err := peer.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if via, ok := s.Via(from.(*net.UDPAddr).AddrPort()); !ok || via != UDP {
		t.Errorf("Via(%v) = %q %v: the relay would not know this viewer came through TURN", from, via, ok)
	}
}
