package turnserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pion/turn/v5"
	"github.com/pion/webrtc/v4"
	"go.uber.org/goleak"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
	"github.com/relay-av/relay/relay/turnserver"
)

// serverTLS is the TURNS certificate, from a CA made for this test run.
// pion verifies a TURNS server against the system's roots, with no way to
// pass others: TestMain points SSL_CERT_FILE at the CA before anything in
// this test binary reads the system roots.
var serverTLS *tls.Config

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "turn-ca")
	if err != nil {
		panic(err)
	}
	serverTLS = makeCA(dir)
	os.Setenv("SSL_CERT_FILE", filepath.Join(dir, "ca.pem"))
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func makeCA(dir string) *tls.Config {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "turn test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		panic(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		panic(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// turnRelay is a relay whose clients get the built-in TURN server.
type turnRelay struct {
	srv  *relay.Server
	turn *turnserver.Server
	url  string
	auth *auth.Authority
}

func startTURNRelay(t *testing.T) *turnRelay {
	t.Helper()
	a, err := auth.New([]byte("turn-test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	tr := &turnRelay{auth: a}
	srv, err := relay.New(relay.Config{
		Auth: a, BindIP: net.IPv4(127, 0, 0, 1), Logger: slog.New(slog.DiscardHandler),
		ICEServers: func(r *http.Request, room string) []relay.ICEServer {
			user, pass := tr.turn.Credentials(room, time.Now().Add(time.Hour))
			return []relay.ICEServer{{URL: "turn:" + tr.turn.Addr(turnserver.UDP).String() + "?transport=udp", Username: user, Credential: pass}}
		},
		TURNVia: func(a netip.AddrPort) (string, bool) {
			v, ok := tr.turn.Via(a)
			return string(v), ok
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr.srv = srv
	tr.turn, err = turnserver.New(turnserver.Config{
		Secret: a.Derive("turn"), UDPAddr: "127.0.0.1:0", TCPAddr: "127.0.0.1:0", TLSAddr: "127.0.0.1:0", TLS: serverTLS,
		RelayIP: net.IPv4(127, 0, 0, 1), Peers: []netip.AddrPort{srv.UDPAddr().(*net.UDPAddr).AddrPort()},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	srv.Register(mux)
	hs := httptest.NewServer(mux)
	tr.url = hs.URL
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
		tr.turn.Close()
	})
	return tr
}

// turnURL is the URL of tr's TURN server over transport.
func (tr *turnRelay) turnURL(transport turnserver.Transport) string {
	switch transport {
	case turnserver.UDP:
		return "turn:" + tr.turn.Addr(turnserver.UDP).String() + "?transport=udp"
	case turnserver.TCP:
		return "turn:" + tr.turn.Addr(turnserver.TCP).String() + "?transport=tcp"
	}
	return "turns:" + tr.turn.Addr(turnserver.TLS).String() + "?transport=tcp"
}

// A publisher and a viewer that may use nothing but TURN (ICE transport
// policy "relay") publish and play a room over TURN/UDP, TURN/TCP and
// TURN/TLS; the relay names each viewer's path.
func TestPlayAndPublishOnlyThroughTURN(t *testing.T) {
	tr := startTURNRelay(t)
	c, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	for _, transport := range []turnserver.Transport{turnserver.UDP, turnserver.TCP, turnserver.TLS} {
		t.Run(string(transport), func(t *testing.T) {
			room := "hall-" + string(transport)
			user, pass := tr.turn.Credentials(room, time.Now().Add(time.Hour))
			opts := peer.Options{Loopback: true, RelayOnly: true,
				ICEServers: []webrtc.ICEServer{{URLs: []string{tr.turnURL(transport)}, Username: user, Credential: pass}}}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tok, _ := tr.auth.Issue(auth.RolePublisher, room, "", time.Hour)
			pub, err := peer.Publish(ctx, peer.PublishConfig{URL: tr.url + "/whip/" + room, Token: tok, Clip: c, Options: opts})
			if err != nil {
				t.Fatalf("publish over TURN/%s: %v", transport, err)
			}
			defer pub.Close(true)
			tr.waitLive(t, room)
			v, err := peer.View(ctx, peer.ViewConfig{URL: tr.url + "/whep/" + room, Options: opts})
			if err != nil {
				t.Fatalf("view over TURN/%s: %v", transport, err)
			}
			defer v.Close(true)
			waitVideo(t, v, 100)
			infos, err := tr.srv.Viewers(room)
			if err != nil || len(infos) != 1 || infos[0].Path != "turn-"+string(transport) {
				t.Errorf("viewers %+v, %v: want one on path turn-%s", infos, err, transport)
			}
			if st := tr.turn.Stats()[room]; st.Allocations < 2 || st.BytesRelayed == 0 {
				t.Errorf("TURN figures for %s: %+v, want two allocations and bytes relayed", room, st)
			}
		})
	}
}

// A viewer that asks the relay for its ICE servers (OPTIONS, Link
// headers) plays through them with nothing else allowed.
func TestViewerFetchesICEServers(t *testing.T) {
	tr := startTURNRelay(t)
	c, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	go func() { _ = tr.srv.PublishClip(ctx, "hall", "", c) }()
	tr.waitLive(t, "hall")
	servers, err := peer.FetchICEServers(ctx, peer.Options{}, tr.url+"/whep/hall", "")
	if err != nil || len(servers) != 1 || servers[0].Username == "" || servers[0].Credential == "" {
		t.Fatalf("OPTIONS gave %+v, %v", servers, err)
	}
	v, err := peer.View(ctx, peer.ViewConfig{URL: tr.url + "/whep/hall", Options: peer.Options{Loopback: true, RelayOnly: true, FetchICEServers: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(true)
	waitVideo(t, v, 100)
}

// waitLive waits for room's publisher to send media.
func (tr *turnRelay) waitLive(t *testing.T, room string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		for _, rs := range tr.srv.Stats() {
			if rs.Room == room && rs.Publishers == 1 && rs.Video.IngestPackets > 0 {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("room %s not live after 15 s", room)
}

func waitVideo(t *testing.T, v *peer.Viewer, n uint64) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if v.Stats(webrtc.RTPCodecTypeVideo).Packets > n {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%d video packets after 15 s, want over %d", v.Stats(webrtc.RTPCodecTypeVideo).Packets, n)
}

// Garbage to every TURN listener and a flood of allocations (forged, and
// valid ones past the credential's quota) leave a viewer playing through
// TURN undisturbed.
func TestTURNFloodLeavesViewersPlaying(t *testing.T) {
	tr := startTURNRelay(t)
	c, err := clip.Demo()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	go func() { _ = tr.srv.PublishClip(ctx, "hall", "", c) }()
	tr.waitLive(t, "hall")
	user, pass := tr.turn.Credentials("hall", time.Now().Add(time.Hour))
	v, err := peer.View(ctx, peer.ViewConfig{URL: tr.url + "/whep/hall", Options: peer.Options{Loopback: true, RelayOnly: true,
		ICEServers: []webrtc.ICEServer{{URLs: []string{tr.turnURL(turnserver.UDP)}, Username: user, Credential: pass}}}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(true)
	waitVideo(t, v, 100)
	before := v.Stats(webrtc.RTPCodecTypeVideo)

	// Garbage: random datagrams, STUN-looking headers with nonsense
	// attributes, and streams of junk over TCP and TLS.
	junk := make([]byte, 1200)
	udp, err := net.Dial("udp4", tr.turn.Addr(turnserver.UDP).String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	for i := 0; i < 3000; i++ {
		_, _ = rand.Read(junk)
		n := 20 + i%1000
		if i%2 == 0 { // a STUN header: type Allocate, the magic cookie, a bogus length
			junk[0], junk[1], junk[4], junk[5], junk[6], junk[7] = 0x00, 0x03, 0x21, 0x12, 0xa4, 0x42
		}
		_, _ = udp.Write(junk[:n])
	}
	for _, tls := range []bool{false, true} {
		for i := 0; i < 30; i++ {
			var conn net.Conn
			if tls {
				conn, err = tlsDial(tr.turn.Addr(turnserver.TLS).String())
			} else {
				conn, err = net.Dial("tcp4", tr.turn.Addr(turnserver.TCP).String())
			}
			if err != nil {
				continue // refused or reset: also fine
			}
			_, _ = rand.Read(junk)
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = conn.Write(junk)
			conn.Close()
		}
	}
	// Allocations: forged, and valid past the quota.
	for i := 0; i < 40; i++ {
		u, p := user, pass
		if i%2 == 0 {
			p = "forged"
		}
		conn, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		cl, err := turn.NewClient(&turn.ClientConfig{TURNServerAddr: tr.turn.Addr(turnserver.UDP).String(), Username: u, Password: p,
			Realm: tr.turn.Realm(), Conn: conn, RTO: 100 * time.Millisecond})
		if err == nil && cl.Listen() == nil {
			if a, err := cl.Allocate(); err == nil {
				defer a.Close()
			}
			defer cl.Close()
		}
		defer conn.Close()
	}
	if st := tr.turn.Stats()["hall"]; st.Allocations > 4 {
		t.Errorf("%d allocations on one credential, quota 4", st.Allocations)
	}
	time.Sleep(2 * time.Second)
	after := v.Stats(webrtc.RTPCodecTypeVideo)
	got, missing := after.Packets-before.Packets, after.MissingTotal-before.MissingTotal
	t.Logf("during the flood: %d video packets, %d missing", got, missing)
	if got < 100 || float64(missing) > 0.01*float64(got) {
		t.Errorf("the TURN viewer during the flood: %d packets, %d missing", got, missing)
	}
}

func tlsDial(addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: time.Second}
	return tls.DialWithDialer(d, "tcp4", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // junk sender
}
