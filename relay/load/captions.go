package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// captionLoad runs caption viewers and one captioner whose cue texts carry
// their send time, so delivery latency is measured on one clock.
type captionLoad struct {
	base, room, lang, token string
	viewers                 int
	rate                    float64

	connected atomic.Int64
	sent      atomic.Uint64
	received  atomic.Uint64
	hist      histMu
}

func newCaptionLoad(base string, cfg Config) *captionLoad {
	return &captionLoad{base: base, room: cfg.Room, lang: cfg.Lang, token: cfg.CaptionToken, viewers: cfg.CaptionViewers, rate: cfg.CueRate}
}

func wsURL(base, path string, q url.Values) string {
	u := strings.Replace(base, "http", "ws", 1) + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// viewersPerAddr is how many caption viewers share one loopback source
// address: below the relay's default cap of caption sockets per address
// (500), so that a default relay takes thousands from this one machine.
const viewersPerAddr = 400

func (c *captionLoad) run(ctx context.Context, measuring *atomic.Bool, progress func(string, ...any)) {
	if c.viewers == 0 && c.rate == 0 {
		return
	}
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 256}
	// The captioner first: its language then exists when the viewers ask
	// for it (viewers create no language).
	var cp *websocket.Conn
	if c.token != "" {
		cp = c.connectCaptioner(ctx, dialer, progress)
	}
	if cp != nil {
		defer cp.Close()
	}
	var wg sync.WaitGroup
	viewURL := wsURL(c.base, "/captions/"+url.PathEscape(c.room)+"/ws", url.Values{"lang": {c.lang}})
	spread := runtime.GOOS == "linux" && loopbackTarget(c.base) // elsewhere lo has 127.0.0.1 only
	var conns []*websocket.Conn
	var refused int
	for i := 0; i < c.viewers && ctx.Err() == nil; i++ {
		d := dialer
		if spread {
			d = fromAddr(dialer, i/viewersPerAddr)
		}
		conn, resp, err := d.DialContext(ctx, viewURL, nil)
		if err != nil {
			if refused++; refused == 1 && resp != nil {
				progress("caption viewer refused: %s (later refusals are not shown)", resp.Status)
			}
			continue
		}
		conns = append(conns, conn)
		c.connected.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.readViewer(conn, measuring)
		}()
		if (i+1)%1000 == 0 {
			progress("%d/%d caption viewers connected", i+1, c.viewers)
		}
	}
	if cp != nil && c.rate > 0 {
		c.sendCues(ctx, cp, progress)
	}
	<-ctx.Done()
	for _, conn := range conns {
		conn.Close()
	}
	wg.Wait()
}

// loopbackTarget reports whether base is an IPv4 loopback address: the
// viewers may then come from several loopback addresses (Linux routes all
// of 127.0.0.0/8 to lo; other systems configure 127.0.0.1 only).
func loopbackTarget(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	host := u.Hostname()
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.To4() != nil && ip.IsLoopback()
}

// fromAddr returns a copy of d whose connections come from the loopback
// address 127.0.0.1 + n.
func fromAddr(d *websocket.Dialer, n int) *websocket.Dialer {
	m := n + 1
	local := net.IPv4(127, byte(m>>16), byte(m>>8), byte(m))
	nd := &net.Dialer{Timeout: d.HandshakeTimeout, LocalAddr: &net.TCPAddr{IP: local}}
	cp := *d
	cp.NetDialContext = nd.DialContext
	return &cp
}

// readViewer reads cues until the run ends.
func (c *captionLoad) readViewer(conn *websocket.Conn, measuring *atomic.Bool) {
	var msg struct {
		Type  string `json:"type"`
		Text  string `json:"text"`
		Final bool   `json:"final"`
	}
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			return
		}
		at := time.Now()
		if json.Unmarshal(b, &msg) != nil || msg.Type != "cue" || !msg.Final {
			continue
		}
		sentAt, ok := parseCueTime(msg.Text)
		if !ok {
			continue
		}
		c.received.Add(1)
		if measuring.Load() {
			c.hist.add(at.Sub(sentAt))
		}
	}
}

// connectCaptioner connects the captioner and waits for its first status
// message: its language exists from then on.
func (c *captionLoad) connectCaptioner(ctx context.Context, d *websocket.Dialer, progress func(string, ...any)) *websocket.Conn {
	u := wsURL(c.base, "/captions/"+url.PathEscape(c.room)+"/publish", url.Values{"lang": {c.lang}, "token": {c.token}})
	conn, _, err := d.DialContext(ctx, u, nil)
	if err != nil {
		progress("captioner could not connect: %v", err)
		return nil
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, _, err := conn.ReadMessage(); err != nil {
		progress("captioner got no status: %v", err)
		conn.Close()
		return nil
	}
	_ = conn.SetReadDeadline(time.Time{})
	go func() { // acks and status, until the connection closes
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
	return conn
}

// sendCues sends finals at the cue rate until ctx ends.
func (c *captionLoad) sendCues(ctx context.Context, conn *websocket.Conn, progress func(string, ...any)) {
	tick := time.NewTicker(time.Duration(float64(time.Second) / c.rate))
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		text := fmt.Sprintf("load cue %d sent %d", n, time.Now().UnixNano())
		if err := conn.WriteJSON(map[string]any{"type": "final", "text": text, "id": "load-" + strconv.Itoa(n)}); err != nil {
			progress("captioner write: %v", err)
			return
		}
		c.sent.Add(1)
	}
}

func parseCueTime(text string) (time.Time, bool) {
	i := strings.LastIndex(text, " sent ")
	if i < 0 {
		return time.Time{}, false
	}
	n, err := strconv.ParseInt(text[i+6:], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, n), true
}

func (c *captionLoad) summarise(s *Summary) {
	s.CaptionViewersOK = int(c.connected.Load())
	s.CuesSent = c.sent.Load()
	s.CuesReceived = c.received.Load()
	c.hist.mu.Lock()
	s.CaptionP50, s.CaptionP99 = ms(c.hist.h.quantile(.5)), ms(c.hist.h.quantile(.99))
	c.hist.mu.Unlock()
}
