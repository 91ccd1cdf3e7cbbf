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
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/relay-av/relay/captions"
	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/monitoring"
	"github.com/relay-av/relay/player"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
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
	fs.StringVar(&c.LogFormat, "log-format", "text", "text or json")
	fs.StringVar(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	fs.DurationVar(&c.Shutdown, "shutdown-timeout", 4*time.Second, "how long to wait for clean shutdown")
	fs.StringVar(&c.DebugAddr, "debug-addr", "", "serve Go's pprof profiles on this address (e.g. 127.0.0.1:6060); off by default")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
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
	fc, err := loadFileConfig(c.Config)
	if err != nil {
		return err
	}
	bindIP, err := c.bindIP()
	if err != nil {
		return err
	}
	secret := os.Getenv("RELAY_SECRET")
	devSecret := secret == ""
	if devSecret {
		secret = auth.RandomSecret()
	}
	authority, err := auth.New([]byte(secret))
	if err != nil {
		return fmt.Errorf("RELAY_SECRET: %w", err)
	}

	var rooms []relay.RoomConfig
	langs := map[string][]string{}
	for _, r := range fc.Rooms {
		rooms = append(rooms, relay.RoomConfig{Name: r.Name, Title: r.Title, Private: r.Private || fc.Tokens.PrivateByDefault})
		langs[r.Name] = r.Languages
	}
	if c.Demo && langs["demo"] == nil {
		rooms = append(rooms, relay.RoomConfig{Name: "demo", Title: "Demo room"})
		langs["demo"] = []string{"en", "fr", "ar"}
	}
	var publicIPs []string
	if c.PublicIP != "" {
		publicIPs = strings.Split(c.PublicIP, ",")
	}
	metrics := monitoring.NewMetrics(nil)
	sfu, err := relay.New(relay.Config{
		ObserveRequest: metrics.ObserveRequest,
		Logger:         log, Auth: authority, BindIP: bindIP, UDPPort: c.UDPPort, TCPPort: c.TCPPort, PublicIPs: publicIPs,
		Rooms: rooms, MaxRooms: fc.Limits.MaxRooms, MaxViewers: fc.Limits.MaxViewers, MaxViewersPerRoom: fc.Limits.MaxViewersPerRoom,
		RequestRate: fc.Limits.OffersPerSecond, RequestBurst: fc.Limits.OfferBurst,
	})
	if err != nil {
		return err
	}
	defer sfu.Close()
	private := sfu.Private
	if fc.Tokens.PrivateByDefault {
		private = func(string) bool { return true }
	}
	capSvc, err := captions.New(captions.Config{
		DataDir: filepath.Clean(c.DataDir), Backlog: fc.Captions.Backlog, Auth: authority, Logger: log,
		Languages: func(room string) []string { return langs[room] }, Private: private,
		ObserveDelivery: metrics.ObserveDelivery, ObserveAck: metrics.ObserveAck,
	})
	if err != nil {
		return err
	}
	defer capSvc.Close()

	mux := http.NewServeMux()
	sfu.Register(mux)
	capSvc.Register(mux)
	mon := monitoring.New(monitoring.Params{Relay: sfu, Captions: capSvc, Admin: sfu, Auth: authority, Done: ctx.Done(), Logger: log, Ready: func() error {
		if !sfu.Ready() {
			return errors.New("shutting down")
		}
		return capSvc.Healthy()
	}})
	mon.Register(mux)
	maxViewers, maxPerRoom := sfu.Limits()
	metrics.Watch(sfu, capSvc, monitoring.Limits{MaxViewers: maxViewers, MaxViewersPerRoom: maxPerRoom})
	mux.Handle("GET /metrics", metrics.Handler())
	player.Register(mux)

	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("--addr: %w", err)
	}
	if c.HeaderTimeout <= 0 {
		c.HeaderTimeout = 5 * time.Second
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: c.HeaderTimeout,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	if c.DebugAddr != "" {
		stopDebug, err := serveDebug(c.DebugAddr, log)
		if err != nil {
			return err
		}
		defer stopDebug()
	}
	httpDone := make(chan error, 1)
	go func() { httpDone <- srv.Serve(ln) }()
	log.Info("relay listening", "http", ln.Addr().String(), "udp", sfu.UDPAddr().String(), "data", c.DataDir)
	printWelcome(out, ln.Addr(), authority, devSecret, c.Demo)
	if started != nil {
		started <- ln.Addr().String()
	}

	demoDone := make(chan struct{})
	if c.Demo {
		go func() {
			defer close(demoDone)
			runDemo(ctx, sfu, capSvc, log)
		}()
	} else {
		close(demoDone)
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case err := <-httpDone:
		return fmt.Errorf("http server: %w", err)
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), c.Shutdown)
	defer cancel()
	err = srv.Shutdown(shutCtx)
	if errors.Is(err, context.DeadlineExceeded) {
		srv.Close()
	}
	sfu.Close()
	capSvc.Close()
	<-demoDone
	log.Info("stopped")
	return nil
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
	if err := sfu.PublishClip(ctx, "demo", c); err != nil {
		log.Error("demo clip", "err", err)
	}
	<-done
}

func printWelcome(out io.Writer, addr net.Addr, a *auth.Authority, devSecret, demo bool) {
	base := "http://" + displayAddr(addr)
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
		fmt.Fprintf(out, "\nRELAY_SECRET is not set: using a random secret for this run only.\n")
		fmt.Fprintf(out, "  publisher token (any room, 12 h): %s\n", pub)
		fmt.Fprintf(out, "  captioner token (any room, 12 h): %s\n", capt)
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
