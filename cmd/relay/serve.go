package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/relay-av/relay/captions"
	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/monitoring"
	"github.com/relay-av/relay/player"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/hls"
)

func runServe(args []string) error {
	var c serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", ":8080", "HTTP listen address; an IP here also binds the media ports to it")
	fs.IntVar(&c.UDPPort, "udp-port", 8189, "ICE UDP port shared by every peer")
	fs.IntVar(&c.TCPPort, "tcp-port", 0, "ICE-TCP port for viewers behind strict firewalls (0: off)")
	fs.StringVar(&c.PublicIP, "public-ip", "", "address to advertise for NAT 1:1 (comma separated for several)")
	fs.StringVar(&c.DataDir, "data", "./data", "directory for caption journals")
	fs.StringVar(&c.Config, "config", "", "optional YAML file: rooms, limits, token policy")
	fs.BoolVar(&c.Demo, "demo", false, "publish a looping test clip with sample captions into room 'demo'")
	hlsOn := fs.Bool("hls", true, "package live rooms as LL-HLS under /hls/ (and record them); --hls=false leaves WebRTC only")
	fs.BoolVar(&c.Record, "record", false, "record the demo room and rooms created by a first publish (rooms in --config record unless 'record: false')")
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.Shutdown, "shutdown-timeout", 4*time.Second, "how long to wait for clean shutdown")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "serve HTTPS with this PEM certificate chain (reloaded with --tls-key on SIGHUP)")
	fs.StringVar(&c.TLSKey, "tls-key", "", "the PEM private key of --tls-cert")
	fs.StringVar(&c.ACMEDomain, "acme-domain", "", "serve HTTPS with a certificate for this domain from Let's Encrypt (cached under --data; needs port 80 for the challenge)")
	fs.StringVar(&c.RedirectAddr, "redirect-addr", "", "with HTTPS, serve plain HTTP here: a redirect to HTTPS (and ACME's challenge; default :80 with --acme-domain)")
	fs.IntVar(&c.TURNPort, "turn-port", 0, "built-in TURN server on this port, UDP and TCP (e.g. 3478; 0: off)")
	fs.IntVar(&c.TURNSPort, "turns-port", 0, "built-in TURN server over TLS on this port (e.g. 443 on an address of its own; needs a certificate; 0: off)")
	fs.StringVar(&c.TURNHost, "turn-host", "", "the host name clients reach TURN at (default: the one they reached the relay at)")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	c.NoHLS = !*hlsOn
	log, err := newLogger(c.LogFormat, c.LogLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, c, log, os.Stdout, nil)
}

func newLogger(format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(os.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(os.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want text or json", format)
}

// serve runs the relay until ctx ends. Start-up notes (URLs, a development
// token) go to out, never to the log. When started is not nil it receives the
// HTTP address once the relay accepts requests (tests listen on port 0).
func serve(ctx context.Context, c serveConfig, log *slog.Logger, out io.Writer, started chan<- string) error {
	p, err := buildParts(c, log)
	if err != nil {
		return err
	}
	defer p.close()
	https, err := c.https(log)
	if err != nil {
		return err
	}
	defer https.close()
	bindIP, _ := c.bindIP() // checked by buildParts
	if p.turn, err = newTURN(c, p.authority, https.tls, p.sfu, bindIP, log); err != nil {
		return err
	}
	defer p.turn.close()
	handler := p.handler(ctx, log, https.tls != nil)
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	srv := newHTTPServer(c.HeaderTimeout, handler, log)
	srv.TLSConfig = https.tls
	if c.DebugAddr != "" {
		stopDebug, err := serveDebug(c.DebugAddr, log)
		if err != nil {
			ln.Close()
			return err
		}
		defer stopDebug()
	}
	httpDone := make(chan error, 1)
	go func() {
		if srv.TLSConfig != nil {
			httpDone <- srv.ServeTLS(ln, "", "") // the certificate comes from TLSConfig
			return
		}
		httpDone <- srv.Serve(ln)
	}()
	https.start(ctx, log)
	if !c.NoHLS {
		p.hls.Start()
	}
	log.Info("relay listening", https.scheme(), ln.Addr().String(), "udp", p.sfu.UDPAddr().String(), "data", c.DataDir)
	printWelcome(out, https.scheme()+"://"+displayAddr(ln.Addr()), p.authority, p.devSecret, c.Demo)
	if started != nil {
		started <- ln.Addr().String()
	}
	demoDone := p.startDemo(ctx, c.Demo, log)

	if err := waitForStop(ctx, httpDone, log); err != nil {
		return err
	}
	p.shutdown(srv, c.Shutdown, demoDone)
	log.Info("stopped")
	return nil
}

// parts are the relay's components, built from the flags, the --config file
// and RELAY_SECRET.
type parts struct {
	fc        *fileConfig
	authority *auth.Authority
	devSecret bool // RELAY_SECRET was not set: the secret lives for this run only
	metrics   *monitoring.Metrics
	sfu       *relay.Server
	captions  *captions.Service
	hls       *hls.Server
	// turn is the built-in TURN server (nil without --turn-port or
	// --turns-port). Set once before the HTTP server starts; the relay
	// reads it through the closures of newSFU.
	turn *turnSetup
}

// buildParts builds the parts from c; it leaves nothing open when it fails.
func buildParts(c serveConfig, log *slog.Logger) (*parts, error) {
	fc, err := loadFileConfig(c.Config)
	if err != nil {
		return nil, err
	}
	bindIP, err := c.bindIP()
	if err != nil {
		return nil, err
	}
	p := &parts{fc: fc}
	if p.authority, p.devSecret, err = newAuthority(); err != nil {
		return nil, err
	}
	rooms, langs := configuredRooms(fc, c.Demo)
	p.metrics = monitoring.NewMetrics(nil)
	if p.sfu, err = p.newSFU(c, fc, bindIP, rooms, log); err != nil {
		return nil, err
	}
	if p.captions, err = p.newCaptions(c, fc, langs, log); err != nil {
		p.sfu.Close()
		return nil, err
	}
	p.hls = p.newHLS(c, log)
	return p, nil
}

// newAuthority signs and checks tokens with RELAY_SECRET, or with a random
// secret when it is not set (devSecret), so that a first run needs no setup.
func newAuthority() (a *auth.Authority, devSecret bool, err error) {
	secret := os.Getenv("RELAY_SECRET")
	devSecret = secret == ""
	if devSecret {
		secret = auth.RandomSecret()
	}
	a, err = auth.New([]byte(secret))
	if err != nil {
		return nil, false, fmt.Errorf("RELAY_SECRET: %w", err)
	}
	return a, devSecret, nil
}

// configuredRooms lists the rooms of the --config file and, with --demo,
// the demo room (unless the file gives it languages), with each room's
// caption languages.
func configuredRooms(fc *fileConfig, demo bool) ([]relay.RoomConfig, map[string][]string) {
	var rooms []relay.RoomConfig
	langs := map[string][]string{}
	for _, r := range fc.Rooms {
		rooms = append(rooms, relay.RoomConfig{Name: r.Name, Title: r.Title, Private: r.Private || fc.Tokens.PrivateByDefault, Languages: r.Languages})
		langs[r.Name] = r.Languages
	}
	if demo && langs["demo"] == nil {
		rooms = append(rooms, relay.RoomConfig{Name: "demo", Title: "Demo room", Languages: []string{"en", "fr", "ar"}})
		langs["demo"] = []string{"en", "fr", "ar"}
	}
	return rooms, langs
}

func (p *parts) newSFU(c serveConfig, fc *fileConfig, bindIP net.IP, rooms []relay.RoomConfig, log *slog.Logger) (*relay.Server, error) {
	var publicIPs []string
	if c.PublicIP != "" {
		publicIPs = strings.Split(c.PublicIP, ",")
	}
	cfg := relay.Config{
		ObserveRequest: p.metrics.ObserveRequest,
		Logger:         log, Auth: p.authority, BindIP: bindIP, UDPPort: c.UDPPort, TCPPort: c.TCPPort, PublicIPs: publicIPs,
		Rooms: rooms, MaxRooms: fc.Limits.MaxRooms, MaxViewers: fc.Limits.MaxViewers, MaxViewersPerRoom: fc.Limits.MaxViewersPerRoom,
		ConnectTimeout: fc.Limits.ConnectTimeout, MaxPendingPerAddr: fc.Limits.ConnectingPerAddress,
		RequestRate: fc.Limits.OffersPerSecond, RequestBurst: fc.Limits.OfferBurst,
	}
	if c.TURNPort != 0 || c.TURNSPort != 0 {
		// p.turn is started once the certificate is known, before the
		// HTTP server serves: these run after it exists.
		cfg.ICEServers = func(r *http.Request, room string) []relay.ICEServer { return p.turn.iceServers(r, room) }
		cfg.TURNVia = func(a netip.AddrPort) (string, bool) { return p.turn.via(a) }
	}
	return relay.New(cfg)
}

// newCaptions builds the caption service; a room's captions are as private
// as its media, and stay in memory while it has a publisher.
func (p *parts) newCaptions(c serveConfig, fc *fileConfig, langs map[string][]string, log *slog.Logger) (*captions.Service, error) {
	private := p.sfu.Private
	if fc.Tokens.PrivateByDefault {
		private = func(string) bool { return true }
	}
	sfu := p.sfu
	live := func(room string) bool {
		for _, ri := range sfu.Rooms() {
			if ri.Name == room {
				return ri.Publisher != nil
			}
		}
		return false
	}
	return captions.New(captions.Config{
		DataDir: filepath.Clean(c.DataDir), Backlog: fc.Captions.Backlog, Auth: p.authority, Logger: log,
		Languages: func(room string) []string { return langs[room] }, Private: private, Live: live,
		IdleAfter:         fc.Captions.IdleAfter,
		MaxSocketsPerAddr: fc.Limits.CaptionSocketsPerAddress, MaxSockets: fc.Limits.CaptionSockets,
		ObserveDelivery: p.metrics.ObserveDelivery, ObserveAck: p.metrics.ObserveAck,
	})
}

// handler serves every public route: media, captions, the monitoring API,
// metrics and the pages. Monitoring's event streams end with ctx.
func (p *parts) handler(ctx context.Context, log *slog.Logger, hsts bool) http.Handler {
	mux := http.NewServeMux()
	p.sfu.Register(mux)
	p.captions.Register(mux)
	p.hls.Register(mux)
	mon := monitoring.New(monitoring.Params{Relay: p.sfu, Captions: p.captions, Admin: p.sfu, Auth: p.authority, HLS: p.hls,
		StreamsPerAddr: p.fc.Limits.MonitorStreamsPerAddress, Done: ctx.Done(), Logger: log, Ready: p.ready})
	mon.Register(mux)
	maxViewers, maxPerRoom := p.sfu.Limits()
	p.metrics.Watch(p.sfu, p.captions, monitoring.Limits{MaxViewers: maxViewers, MaxViewersPerRoom: maxPerRoom})
	if p.turn != nil {
		p.metrics.WatchTURN(p.turn.srv)
	}
	p.metrics.WatchHLS(p.hls)
	mux.Handle("GET /metrics", p.metrics.Handler())
	player.Register(mux)
	return withSecurityHeaders(mux, hsts)
}

// ready is /readyz: not while shutting down, nor when captions cannot be
// stored.
func (p *parts) ready() error {
	if !p.sfu.Ready() {
		return errors.New("shutting down")
	}
	return p.captions.Healthy()
}

// newHTTPServer bounds what a slow or hostile client can hold: headers
// (headerTimeout, 0 means 5 s), whole requests, idle connections.
func newHTTPServer(headerTimeout time.Duration, h http.Handler, log *slog.Logger) *http.Server {
	if headerTimeout <= 0 {
		headerTimeout = 5 * time.Second
	}
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: headerTimeout,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}

// startDemo publishes the demo clip and captions when demo is set; the
// returned channel closes when they have stopped (at once without demo).
func (p *parts) startDemo(ctx context.Context, demo bool, log *slog.Logger) <-chan struct{} {
	done := make(chan struct{})
	if !demo {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		runDemo(ctx, p.sfu, p.captions, log)
	}()
	return done
}

// waitForStop returns nil when ctx ends (a signal) and an error when the
// HTTP server stops by itself first.
func waitForStop(ctx context.Context, httpDone <-chan error, log *slog.Logger) error {
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-httpDone:
		return fmt.Errorf("http server: %w", err)
	}
}

// shutdown stops in order: HTTP first (requests in flight get until
// timeout), then media, then captions, and waits for the demo to end.
func (p *parts) shutdown(srv *http.Server, timeout time.Duration, demoDone <-chan struct{}) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := srv.Shutdown(ctx); errors.Is(err, context.DeadlineExceeded) {
		srv.Close()
	}
	p.hls.Close() // before the relay: its sessions end, their recordings are finished
	p.sfu.Close()
	p.captions.Close()
	<-demoDone
}

// close releases captions and media, whichever way serve ends; after
// shutdown it finds them closed already.
func (p *parts) close() {
	p.hls.Close()
	p.captions.Close()
	p.sfu.Close()
}

func runDemo(ctx context.Context, sfu *relay.Server, capSvc *captions.Service, log *slog.Logger) {
	c, err := clip.Demo()
	if err != nil {
		log.Error("demo clip", "err", err)
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := captions.RunDemo(ctx, capSvc, "demo"); err != nil && ctx.Err() == nil {
			log.Error("demo captions", "err", err)
		}
	}()
	// Two interpretation booths, so that a new user hears the language
	// change when picking Français or العربية.
	var booths sync.WaitGroup
	for _, lang := range clip.BoothLanguages() {
		b, err := clip.Booth(lang)
		if err != nil {
			log.Error("demo booth", "lang", lang, "err", err)
			continue
		}
		booths.Add(1)
		go func() {
			defer booths.Done()
			if err := sfu.PublishClip(ctx, "demo", lang, b); err != nil {
				log.Error("demo booth", "lang", lang, "err", err)
			}
		}()
	}
	if err := sfu.PublishClip(ctx, "demo", "", c); err != nil {
		log.Error("demo clip", "err", err)
	}
	booths.Wait()
	<-done
}

func printWelcome(out io.Writer, base string, a *auth.Authority, devSecret, demo bool) {
	fmt.Fprintf(out, "\nrelay is up at %s\n", base)
	if demo {
		fmt.Fprintf(out, "  watch the demo:   %s/watch/demo\n", base)
	}
	fmt.Fprintf(out, "  lobby:            %s/\n", base)
	fmt.Fprintf(out, "  publish (WHIP):   %s/whip/<room>\n", base)
	if devSecret {
		pub, _ := a.Issue(auth.RolePublisher, "*", "", 12*time.Hour)
		capt, _ := a.Issue(auth.RoleCaptioner, "*", "", 12*time.Hour)
		admin, _ := a.Issue(auth.RoleAdmin, "*", "", 12*time.Hour)
		interp, _ := a.Issue(auth.RoleInterpreter, "*", "fr", 12*time.Hour)
		fmt.Fprintf(out, "\nRELAY_SECRET is not set: using a random secret for this run only.\n")
		fmt.Fprintf(out, "  publisher token (any room, 12 h): %s\n", pub)
		fmt.Fprintf(out, "  captioner token (any room, 12 h): %s\n", capt)
		fmt.Fprintf(out, "  interpreter token (French booth of any room, 12 h): %s\n", interp)
		if demo {
			fmt.Fprintf(out, "  interpret French: %s/interpret/demo?lang=fr&token=%s\n", base, interp)
		}
		fmt.Fprintf(out, "  admin token (12 h):               %s\n\n", admin)
	}
}

// displayAddr turns a listen address into one a browser on this machine can open.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}
