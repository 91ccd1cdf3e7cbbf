package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// fileConfig is the optional YAML file given with --config.
type fileConfig struct {
	Rooms []struct {
		Name      string   `yaml:"name"`
		Title     string   `yaml:"title"`
		Private   bool     `yaml:"private"`
		Languages []string `yaml:"languages"`
		// Record: the room's sessions are recorded; unset means yes for
		// a room declared here.
		Record *bool `yaml:"record"`
	} `yaml:"rooms"`
	// Recordings bound what recordings may take: KeepDays and KeepGB
	// delete the oldest (0: keep all); under MinFreeGB free on the disk
	// recording stops (0: 1 GiB or 5 % of the disk, the larger).
	Recordings struct {
		KeepDays  int     `yaml:"keep_days"`
		KeepGB    float64 `yaml:"keep_gb"`
		MinFreeGB float64 `yaml:"min_free_gb"`
	} `yaml:"recordings"`
	Limits struct {
		MaxRooms          int `yaml:"max_rooms"`
		MaxViewers        int `yaml:"max_viewers"`
		MaxViewersPerRoom int `yaml:"max_viewers_per_room"`
		// OffersPerSecond caps WHIP/WHEP offers per client address (0: 20;
		// negative: no limit, e.g. behind a reverse proxy that limits).
		OffersPerSecond float64 `yaml:"offers_per_second"`
		OfferBurst      int     `yaml:"offer_burst"`
		// CaptionSocketsPerAddress caps the caption WebSockets of one client
		// address (IPv4 address, IPv6 /64; 0: 500; negative: no cap, e.g.
		// behind a reverse proxy). CaptionSockets caps them in all (0:
		// 20 000; negative: no cap).
		CaptionSocketsPerAddress int `yaml:"caption_sockets_per_address"`
		CaptionSockets           int `yaml:"caption_sockets"`
		// ConnectTimeout is how long a new viewer may take to connect (a
		// new publisher twice as long to send media) before it is closed;
		// 0 means 5s. ConnectingPerAddress caps the viewer sessions of one
		// client address still connecting (0: 32; negative: no cap).
		ConnectTimeout       time.Duration `yaml:"connect_timeout"`
		ConnectingPerAddress int           `yaml:"connecting_per_address"`
		// MonitorStreamsPerAddress caps the /monitor live streams of one
		// client address without an admin token (0: 4; negative: no cap,
		// e.g. behind a reverse proxy).
		MonitorStreamsPerAddress int `yaml:"monitor_streams_per_address"`
	} `yaml:"limits"`
	Captions struct {
		Backlog int `yaml:"backlog"`
		// IdleAfter: a room nobody uses leaves memory after this long (its
		// journal stays); 0 means 15m.
		IdleAfter time.Duration `yaml:"idle_after"`
	} `yaml:"captions"`
	Tokens struct {
		// PrivateByDefault makes every room need viewer tokens.
		PrivateByDefault bool `yaml:"private_by_default"`
	} `yaml:"tokens"`
}

func loadFileConfig(path string) (*fileConfig, error) {
	fc := &fileConfig{}
	if path == "" {
		return fc, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(fc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	seen := map[string]bool{}
	for _, r := range fc.Rooms {
		if r.Name == "" {
			return nil, fmt.Errorf("config %s: a room has no name", path)
		}
		if seen[r.Name] {
			return nil, fmt.Errorf("config %s: room %q listed twice", path, r.Name)
		}
		seen[r.Name] = true
	}
	return fc, nil
}

// serveConfig is every setting of `relay serve`.
type serveConfig struct {
	Addr      string
	UDPPort   int
	TCPPort   int
	PublicIP  string
	DataDir   string
	Config    string
	Demo      bool
	Record    bool // record rooms created by a first publish (declared rooms: their record setting)
	NoHLS     bool // no HLS packaging (nor recording): WebRTC only
	LogFormat string
	LogLevel  string
	Shutdown  time.Duration
	DebugAddr string
	// HeaderTimeout bounds how long a client may take to send its request
	// headers (slow-loris clients); 0 means 5 s.
	HeaderTimeout time.Duration
	// HTTPS: a PEM pair (reloaded on SIGHUP) or an ACME domain; the
	// redirect address serves plain HTTP (ACME's challenge, a redirect).
	TLSCert, TLSKey, ACMEDomain, RedirectAddr string
	// The built-in TURN server: UDP and TCP on TURNPort, TLS on
	// TURNSPort (0: off), named TURNHost in the URLs given to clients.
	TURNPort, TURNSPort int
	TURNHost            string
}

// bindIP is the IP --addr names, or nil for every interface.
func (c serveConfig) bindIP() (net.IP, error) {
	host, _, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("--addr %q: %w", c.Addr, err)
	}
	if host == "" {
		return nil, nil
	}
	if host == "localhost" {
		return net.IPv4(127, 0, 0, 1), nil
	}
	ip := net.ParseIP(host)
	if ip == nil {
		return nil, fmt.Errorf("--addr %q: give an IP address, not a host name", c.Addr)
	}
	if ip.To4() == nil {
		return nil, fmt.Errorf("--addr %q: media is IPv4 only for now", c.Addr)
	}
	return ip, nil
}
