// Package tlsserve gives the relay its certificate: from a PEM pair that
// an operator renews on disk (reloaded on SIGHUP, sessions untouched), or
// from an ACME CA through autocert. The HTTPS server and the TURNS
// listener share it.
package tlsserve

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"

	"golang.org/x/crypto/acme/autocert"
)

// Files is a certificate read from PEM files, replaced by Reload.
type Files struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadFiles reads the certificate chain and key; both must be valid.
func LoadFiles(certFile, keyFile string) (*Files, error) {
	f := &Files{certFile: certFile, keyFile: keyFile}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the files again. A pair that does not load (half written,
// a key that does not match) leaves the current certificate in place.
func (f *Files) Reload() error {
	c, err := tls.LoadX509KeyPair(f.certFile, f.keyFile)
	if err != nil {
		return fmt.Errorf("certificate %s / %s: %w", f.certFile, f.keyFile, err)
	}
	if c.Leaf == nil && len(c.Certificate) > 0 {
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return fmt.Errorf("certificate %s: %w", f.certFile, err)
		}
	}
	f.cur.Store(&c)
	return nil
}

// Leaf is the certificate served now.
func (f *Files) Leaf() *x509.Certificate {
	return f.cur.Load().Leaf
}

// GetCertificate serves the current certificate to every handshake.
func (f *Files) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cur.Load(), nil
}

// ReloadOn reloads on every value from sig until ctx ends; a failed
// reload is logged and the old certificate kept.
func (f *Files) ReloadOn(ctx context.Context, sig <-chan os.Signal, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sig:
			if err := f.Reload(); err != nil {
				log.Error("certificate reload failed; serving the previous one", "err", err)
				continue
			}
			leaf := f.Leaf()
			log.Info("certificate reloaded", "subject", leaf.Subject.String(), "dns", leaf.DNSNames, "expires", leaf.NotAfter)
		}
	}
}

// Config is the TLS configuration for the HTTPS server and TURNS: TLS 1.2
// and later, the certificate from get.
func Config(get func(*tls.ClientHelloInfo) (*tls.Certificate, error)) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: get,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// ACME gets and renews a certificate for domain from Let's Encrypt,
// caching it (and the account key) in cacheDir.
func ACME(domain, cacheDir string) (*autocert.Manager, error) {
	if domain == "" || net.ParseIP(domain) != nil {
		return nil, errors.New("--acme-domain needs a DNS name (ACME certificates name hosts, not addresses)")
	}
	if err := os.MkdirAll(cacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("ACME cache: %w", err)
	}
	return &autocert.Manager{
		Prompt:     autocert.AcceptTOS,
		HostPolicy: autocert.HostWhitelist(domain),
		Cache:      autocert.DirCache(cacheDir),
	}, nil
}

// Redirect is the plain-HTTP side of an HTTPS relay: ACME's HTTP-01
// challenge when m is set, and every other request sent to the same
// host and path over HTTPS (httpsPort "" or "443" for the default port).
func Redirect(m *autocert.Manager, httpsPort string) http.Handler {
	redirect := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if host == "" {
			http.Error(w, "no Host header", http.StatusBadRequest)
			return
		}
		if httpsPort != "" && httpsPort != "443" {
			host = net.JoinHostPort(host, httpsPort)
		} else if net.ParseIP(host) != nil && net.ParseIP(host).To4() == nil {
			host = "[" + host + "]"
		}
		target := "https://" + host + r.URL.RequestURI()
		w.Header().Set("Connection", "close")
		http.Redirect(w, r, target, http.StatusMovedPermanently)
	})
	if m == nil {
		return redirect
	}
	return m.HTTPHandler(redirect)
}
