//go:build unix

package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/peer"
)

// testCA is a throwaway certificate authority for localhost.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "relay test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a certificate for localhost and 127.0.0.1 with serial to
// certFile and keyFile (replacing them as an operator's renewal would).
func (ca *testCA) issue(t *testing.T, serial int64, certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	writeAtomic(t, certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	writeAtomic(t, keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}))
}

func writeAtomic(t *testing.T, name string, b []byte) {
	t.Helper()
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// servedSerial is the serial of the certificate a new connection to addr
// is given.
func servedSerial(t *testing.T, addr string, pool *x509.CertPool) int64 {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
}

// The relay serves its pages and WHIP/WHEP over HTTPS with a certificate
// from PEM files; a certificate replaced on disk is served after SIGHUP,
// and a playing viewer goes on playing through it. A broken pair on disk
// keeps the last good one.
func TestHTTPSCertificateReloadOnSIGHUP(t *testing.T) {
	t.Setenv("RELAY_SECRET", testSecret)
	dir := t.TempDir()
	ca := newTestCA(t)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca.issue(t, 100, certFile, keyFile)

	cfg := serveConfig{Addr: "127.0.0.1:0", DataDir: dir, Demo: true, Shutdown: 2 * time.Second, TLSCert: certFile, TLSKey: keyFile}
	logs := &syncLog{}
	addr := startServe(t, cfg, logs)
	ctx := t.Context()
	base := "https://" + addr
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, ForceAttemptHTTP2: true}}

	// Pages and API over HTTPS, with HSTS; plain HTTP on the same port is
	// not served.
	for _, path := range []string{"/", "/watch/demo", "/api/rooms", "/static/js/whep.js"} {
		res, err := client.Get(base + path)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		res.Body.Close()
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Strict-Transport-Security"), "max-age=") {
			t.Errorf("GET %s: %d, HSTS %q", path, res.StatusCode, res.Header.Get("Strict-Transport-Security"))
		}
		if res.ProtoMajor != 2 {
			t.Errorf("GET %s over %s, want HTTP/2 over TLS", path, res.Proto)
		}
	}
	if res, err := http.Get("http://" + addr + "/api/rooms"); err == nil {
		res.Body.Close()
		if res.StatusCode == 200 {
			t.Error("plain HTTP served on the HTTPS port")
		}
	}

	// A viewer over WHEP on HTTPS, once the demo room is on air.
	for deadline := time.Now().Add(15 * time.Second); ; {
		if state, _ := demoRoom(t, client, base); state == "live" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the demo room is not live after 15 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	vctx, vcancel := context.WithTimeout(ctx, 15*time.Second)
	defer vcancel()
	v, err := peer.View(vctx, peer.ViewConfig{URL: base + "/whep/demo", Options: peer.Options{Loopback: true, Client: client}})
	if err != nil {
		t.Fatalf("WHEP over HTTPS: %v", err)
	}
	defer v.Close(true)
	waitPackets := func(what string, from uint64) uint64 {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			if n := v.Stats(webrtc.RTPCodecTypeVideo).Packets; n > from+100 {
				return n
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: the viewer got %d video packets, no more", what, v.Stats(webrtc.RTPCodecTypeVideo).Packets)
		return 0
	}
	got := waitPackets("before the reload", 0)
	if s := servedSerial(t, addr, ca.pool); s != 100 {
		t.Fatalf("serial %d served, want 100", s)
	}

	// Renewed on disk, then SIGHUP.
	ca.issue(t, 200, certFile, keyFile)
	if s := servedSerial(t, addr, ca.pool); s != 100 {
		t.Fatalf("serial %d served before SIGHUP, want still 100", s)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for servedSerial(t, addr, ca.pool) != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the renewed certificate is not served 5 s after SIGHUP")
		}
		time.Sleep(20 * time.Millisecond)
	}
	got = waitPackets("after the reload", got)

	// A half-written renewal (a key that does not match) keeps the last
	// good certificate, and says so in the log.
	other := filepath.Join(dir, "other-key.pem")
	ca.issue(t, 300, filepath.Join(dir, "other-cert.pem"), other)
	b, _ := os.ReadFile(other)
	writeAtomic(t, keyFile, b)
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	if s := servedSerial(t, addr, ca.pool); s != 200 {
		t.Errorf("after a broken renewal serial %d served, want 200", s)
	}
	waitPackets("after a broken renewal", got)
	if !strings.Contains(logs.String(), "certificate reload failed") {
		t.Error("a failed reload is not in the log")
	}
}

// startServe runs serve with cfg until the test ends, logging to logs,
// and returns its HTTP address.
func startServe(t *testing.T, cfg serveConfig, logs io.Writer) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started, done := make(chan string, 1), make(chan error, 1)
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	go func() { done <- serve(ctx, cfg, log, io.Discard, started) }()
	select {
	case addr := <-started:
		t.Cleanup(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
		return addr
	case err := <-done:
		cancel()
		t.Fatal(err)
		return ""
	}
}

// demoRoom is the demo room as /api/rooms shows it: its state and its
// viewers' paths.
func demoRoom(t *testing.T, c *http.Client, base string) (state string, paths map[string]int) {
	t.Helper()
	res, err := c.Get(base + "/api/rooms")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body struct {
		Rooms []struct {
			Name, State string
			Paths       map[string]int `json:"paths"`
		} `json:"rooms"`
	}
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	for _, r := range body.Rooms {
		if r.Name == "demo" {
			return r.State, r.Paths
		}
	}
	return "", nil
}

// syncLog keeps the relay's log for the test to read.
type syncLog struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *syncLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *syncLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// The flags that ask for HTTPS refuse what cannot work, before anything
// listens.
func TestHTTPSFlagsRefused(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		cfg  serveConfig
		want string
	}{
		{serveConfig{TLSCert: "a.pem"}, "go together"},
		{serveConfig{TLSCert: "a.pem", TLSKey: "b.pem", ACMEDomain: "relay.example.org"}, "choose one"},
		{serveConfig{TLSCert: filepath.Join(dir, "missing.pem"), TLSKey: filepath.Join(dir, "missing-key.pem")}, "--tls-cert"},
		{serveConfig{ACMEDomain: "192.0.2.1", DataDir: dir}, "DNS name"},
		{serveConfig{RedirectAddr: "127.0.0.1:0"}, "needs --tls-cert"},
	} {
		s, err := c.cfg.https(slog.New(slog.DiscardHandler))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			if s != nil {
				s.close()
			}
			t.Errorf("%+v: %v, want an error with %q", c.cfg, err, c.want)
		}
	}
}
