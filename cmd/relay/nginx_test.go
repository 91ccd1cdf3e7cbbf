//go:build linux

package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/relay-av/relay/relay/load"
)

// nginxPath is where Debian's nginx package (scripts/test installs it)
// puts the server.
const nginxPath = "/usr/sbin/nginx"

// nginxConf is a caching reverse proxy for the relay's HLS, as a CDN edge
// would be: the relay's Cache-Control decides what is kept and for how
// long (proxy_cache_valid applies only to answers without it, and every
// HLS answer has it); the key holds the query string, so each blocking
// reload (_HLS_msn, _HLS_part) is an entry of its own; proxy_cache_lock
// sends one request per entry to the relay and holds the others until it
// is stored (the lock outlasts the longest blocking reload, 3 target
// durations). It runs as one process (master_process off; a deployment
// runs a master and workers, which behave the same here): nginx's workers
// outlive a master that is killed, and one process cannot outlive the
// test binary. Arguments: user line, dir (five times), the relay's
// address, the listen address.
const nginxConf = `daemon off;
master_process off;
%s
pid %s/nginx.pid;
error_log %s/error.log warn;
events { worker_connections 4096; }
http {
    log_format cache '$msec $status $upstream_cache_status $upstream_addr $request_time "$request_uri" $body_bytes_sent';
    access_log %s/access.log cache;
    client_body_temp_path %s/body;
    proxy_temp_path %s/proxy;
    fastcgi_temp_path %[3]s/fastcgi;
    uwsgi_temp_path %[3]s/uwsgi;
    scgi_temp_path %[3]s/scgi;
    proxy_cache_path %[3]s/cache levels=1:2 keys_zone=hls:32m max_size=2g inactive=10m use_temp_path=off;
    upstream relay {
        server %[7]s;
        keepalive 32;
    }
    server {
        listen %[8]s;
        location / {
            proxy_pass http://relay;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering on;
            proxy_read_timeout 30s;
        }
        location /hls/ {
            proxy_pass http://relay;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_buffering on;
            proxy_read_timeout 30s;
            proxy_cache hls;
            proxy_cache_key $scheme$proxy_host$request_uri;
            proxy_cache_valid 200 1s;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 15s;
            proxy_cache_lock_age 15s;
        }
    }
}
`

// startNginx runs nginx in front of the relay at upstream, in the
// foreground and in a process group of its own; stop ends the group (and
// the test binary's death ends nginx). It returns nginx's address and its
// access log.
func startNginx(t *testing.T, upstream string) (addr, accessLog string, stop func()) {
	t.Helper()
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers keep access to the 0700 temp dir
	}
	for try := 0; ; try++ {
		addr = freeAddr(t)
		conf := filepath.Join(dir, "nginx.conf")
		body := fmt.Sprintf(nginxConf, user, dir, dir, dir, dir, dir, upstream, addr)
		if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(nginxPath, "-p", dir, "-c", conf, "-e", filepath.Join(dir, "error.log"))
		// Its own process group, so that stop reaches the workers; killed
		// with the test binary should that die first (a timeout).
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		stop = sync.OnceFunc(func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) // fast shutdown, master and workers
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				<-exited
			}
		})
		if err := waitTCP(addr, exited); err == nil {
			return addr, filepath.Join(dir, "access.log"), stop
		} else if try == 2 {
			stop()
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Fatalf("nginx did not start: %v\n%s", err, log)
		}
		stop() // the port was taken in between: another one
	}
}

// freeAddr is a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// waitTCP waits up to 5 s for addr to accept, or for the process to exit.
func waitTCP(addr string, exited <-chan error) error {
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		select {
		case err := <-exited:
			return fmt.Errorf("nginx exited: %v", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return errors.New("nginx does not accept connections")
}

// cacheCounts are the requests of an access log, by kind: what clients
// asked and what reached the relay.
type cacheCounts struct {
	client, origin  map[string]int // by kind: media, blocking, playlist
	distinctMedia   int
	status, cacheSt map[string]int
	notOK           []string // a few answers other than 200
}

// readAccessLog counts the lines of the access log written in nginxConf's
// format. A request reached the relay when $upstream_addr is set: a miss,
// an expired entry, or a request that gave up waiting for the lock.
func readAccessLog(t *testing.T, file string) cacheCounts {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := cacheCounts{client: map[string]int{}, origin: map[string]int{}, status: map[string]int{}, cacheSt: map[string]int{}}
	media := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// $msec $status $upstream_cache_status $upstream_addr $request_time "$request_uri" $bytes
		fields := strings.Fields(sc.Text())
		if len(fields) < 7 {
			continue
		}
		uri := strings.Trim(fields[5], `"`)
		p, query, _ := strings.Cut(uri, "?")
		kind := "playlist"
		switch name := path.Base(p); {
		case !strings.HasSuffix(name, ".m3u8"):
			kind = "media"
			media[p] = true
		case strings.Contains(query, "_HLS_msn="):
			kind = "blocking"
		}
		c.client[kind]++
		c.status[fields[1]]++
		if fields[1] != "200" && len(c.notOK) < 5 {
			c.notOK = append(c.notOK, sc.Text())
		}
		c.cacheSt[fields[2]]++
		if fields[3] != "-" {
			c.origin[kind]++
		}
	}
	c.distinctMedia = len(media)
	return c
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestNginxCache runs 100 LL-HLS players through nginx, a caching proxy
// as a CDN edge is, in front of a relay with the demo room: the players
// play without errors, and each part, segment and init file reaches the
// relay about once however many players fetch it.
func TestNginxCache(t *testing.T) {
	if _, err := os.Stat(nginxPath); err != nil {
		t.Skipf("no nginx at %s (scripts/test installs it: apt-get install nginx): %v", nginxPath, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan string, 1)
	done := make(chan error, 1)
	cfg := serveConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Demo: true, Shutdown: 4 * time.Second}
	go func() { done <- serve(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard, started) }()
	var relayAddr string
	select {
	case relayAddr = <-started:
	case err := <-done:
		t.Fatalf("serve ended: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	addr, accessLog, stopNginx := startNginx(t, relayAddr)
	defer stopNginx()

	const players = 100
	window := 60 * time.Second
	if testing.Short() {
		window = 10 * time.Second
	}
	s, err := load.RunHLS(ctx, load.HLSConfig{URL: "http://" + addr, Room: "demo", Players: players, Subtitles: "en",
		Settle: 3 * time.Second, Duration: window})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(s.Line())
	if s.PlayersOK != players || s.Errors > 5 || s.WarmupErrors > players {
		t.Errorf("%d/%d players playing, %d errors, %d in the warm-up: %v", s.PlayersOK, players, s.Errors, s.WarmupErrors, s.ErrorReasons)
	}
	// A video and an audio part every 200 ms per player: at least a
	// quarter of them. Players on a starved machine (the race detector,
	// two cores shared with other tests) fall behind live and fetch
	// fewer; what they fetch still goes through the cache.
	if want := uint64(players * 10 * window.Seconds() / 4); s.Parts < want {
		t.Errorf("%d parts in %v, want at least %d", s.Parts, window, want)
	}

	stopNginx() // its log is complete
	c := readAccessLog(t, accessLog)
	if c.client["media"] == 0 || c.distinctMedia == 0 {
		t.Fatalf("no media in nginx's access log: %+v", c)
	}
	perMedia := float64(c.origin["media"]) / float64(c.distinctMedia)
	t.Logf("media files: %d client requests, %d distinct, %d to the relay: %.3f origin requests per file",
		c.client["media"], c.distinctMedia, c.origin["media"], perMedia)
	t.Logf("blocking reloads: %d client requests, %d to the relay; other playlists: %d, %d to the relay",
		c.client["blocking"], c.origin["blocking"], c.client["playlist"], c.origin["playlist"])
	t.Logf("all: %d client requests, %d to the relay: ratio %.4f; statuses %v; cache %v",
		sum(c.client), sum(c.origin), float64(sum(c.origin))/float64(sum(c.client)), c.status, c.cacheSt)
	for _, l := range c.notOK {
		t.Logf("not 200: %s", l)
	}
	if perMedia > 1.2 {
		t.Errorf("%.2f origin requests per media file through the cache, want about 1 (at most 1.2)", perMedia)
	}
}
