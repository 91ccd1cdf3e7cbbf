package load

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
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

func (c *captionLoad) run(ctx context.Context, measuring *atomic.Bool, progress func(string, ...any)) {
	if c.viewers == 0 && c.rate == 0 {
		return
	}
	var wg sync.WaitGroup
	dialer := &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 1024, WriteBufferSize: 256}
	viewURL := wsURL(c.base, "/captions/"+url.PathEscape(c.room)+"/ws", url.Values{"lang": {c.lang}})
	var conns []*websocket.Conn
	for i := 0; i < c.viewers && ctx.Err() == nil; i++ {
		conn, _, err := dialer.DialContext(ctx, viewURL, nil)
		if err != nil {
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
	if c.rate > 0 {
		c.runCaptioner(ctx, dialer, progress)
	}
	<-ctx.Done()
	for _, conn := range conns {
		conn.Close()
	}
	wg.Wait()
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

func (c *captionLoad) runCaptioner(ctx context.Context, d *websocket.Dialer, progress func(string, ...any)) {
	u := wsURL(c.base, "/captions/"+url.PathEscape(c.room)+"/publish", url.Values{"lang": {c.lang}, "token": {c.token}})
	conn, _, err := d.DialContext(ctx, u, nil)
	if err != nil {
		progress("captioner could not connect: %v", err)
		return
	}
	defer conn.Close()
	go func() {
		for {
			if _, _, err := conn.ReadMessage(); err != nil {
				return
			}
		}
	}()
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
