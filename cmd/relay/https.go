package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/relay-av/relay/internal/tlsserve"
)

// httpsSetup is what --tls-cert/--tls-key or --acme-domain asked for.
type httpsSetup struct {
	tls      *tls.Config     // nil: plain HTTP, as without the flags
	files    *tlsserve.Files // a PEM pair, reloaded on SIGHUP
	redirect *http.Server    // the plain-HTTP side: ACME's challenge and a redirect to HTTPS
	redirLn  net.Listener
}

// https builds the HTTPS setup from c; it leaves nothing open on error.
func (c serveConfig) https(log *slog.Logger) (*httpsSetup, error) {
	s := &httpsSetup{}
	files := c.TLSCert != "" || c.TLSKey != ""
	switch {
	case files && c.ACMEDomain != "":
		return nil, errors.New("--tls-cert/--tls-key and --acme-domain: choose one")
	case files && (c.TLSCert == "" || c.TLSKey == ""):
		return nil, errors.New("--tls-cert and --tls-key go together")
	case files:
		f, err := tlsserve.LoadFiles(c.TLSCert, c.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert: %w", err)
		}
		s.files, s.tls = f, tlsserve.Config(f.GetCertificate)
	case c.ACMEDomain != "":
		m, err := tlsserve.ACME(c.ACMEDomain, filepath.Join(c.DataDir, "acme"))
		if err != nil {
			return nil, err
		}
		s.tls = tlsserve.Config(m.GetCertificate)
		s.tls.NextProtos = append(s.tls.NextProtos, "acme-tls/1")
		if c.RedirectAddr == "" {
			c.RedirectAddr = ":80" // HTTP-01 needs port 80
		}
		return s, s.listenRedirect(c, tlsserve.Redirect(m, port(c.Addr)), log)
	case c.RedirectAddr != "":
		return nil, errors.New("--redirect-addr needs --tls-cert/--tls-key or --acme-domain")
	default:
		return s, nil
	}
	if c.RedirectAddr == "" {
		return s, nil
	}
	return s, s.listenRedirect(c, tlsserve.Redirect(nil, port(c.Addr)), log)
}

func (s *httpsSetup) listenRedirect(c serveConfig, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", c.RedirectAddr)
	if err != nil {
		return fmt.Errorf("--redirect-addr: %w", err)
	}
	s.redirLn, s.redirect = ln, newHTTPServer(c.HeaderTimeout, h, log)
	return nil
}

// start serves the redirect and reloads the certificate files on SIGHUP
// until ctx ends.
func (s *httpsSetup) start(ctx context.Context, log *slog.Logger) {
	if s.redirect != nil {
		go func() {
			if err := s.redirect.Serve(s.redirLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("redirect server", "err", err)
			}
		}()
		log.Info("redirecting plain HTTP to HTTPS", "addr", s.redirLn.Addr().String())
	}
	if s.files != nil {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGHUP)
		go func() {
			defer signal.Stop(sig)
			s.files.ReloadOn(ctx, sig, log)
		}()
	}
}

// close stops the redirect server.
func (s *httpsSetup) close() {
	if s.redirect != nil {
		s.redirect.Close()
	}
}

func (s *httpsSetup) scheme() string {
	if s.tls != nil {
		return "https"
	}
	return "http"
}

// port is the port of a listen address ("" when it has none).
func port(addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return p
}
