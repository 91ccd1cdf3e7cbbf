package captions

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/relay-av/relay/internal/auth"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(m.Run()) // the helper process: TestHelperProcess serves until killed
	}
	goleak.VerifyTestMain(m)
}

var testSecret = []byte("captions-test-secret-0123456789")

type env struct {
	t    *testing.T
	svc  *Service
	srv  *httptest.Server
	auth *auth.Authority
	dir  string

	// The rooms' declared languages (Config.Languages, unless the test
	// sets its own): viewer declares what it watches, as an operator
	// would, since viewers create no language.
	mu       sync.Mutex
	declared map[string][]string
}

func quietLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newEnv starts a Service behind an httptest server on 127.0.0.1. mod may
// change the config; dir "" means a fresh temp dir.
func newEnv(t *testing.T, dir string, mod func(*Config)) *env {
	t.Helper()
	a, err := auth.New(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	if dir == "" {
		dir = t.TempDir()
	}
	e := &env{t: t, auth: a, dir: dir, declared: map[string][]string{}}
	cfg := Config{DataDir: dir, Auth: a, Logger: quietLogger()}
	if mod != nil {
		mod(&cfg)
	}
	if cfg.Languages == nil {
		cfg.Languages = func(room string) []string {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.declared[room]
		}
	}
	svc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	svc.Register(mux)
	e.svc, e.srv = svc, httptest.NewServer(mux)
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	if e.svc == nil {
		return
	}
	if err := e.svc.Close(); err != nil {
		e.t.Errorf("close service: %v", err)
	}
	e.srv.Close()
	e.svc = nil
}

func (e *env) token(role auth.Role, room, lang string) string {
	e.t.Helper()
	tok, err := e.auth.Issue(role, room, lang, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

func (e *env) wsURL(path string, q url.Values) string {
	return "ws" + strings.TrimPrefix(e.srv.URL, "http") + path + "?" + q.Encode()
}

type wsc struct {
	t    *testing.T
	conn *websocket.Conn
}

func (e *env) dial(path string, q url.Values) (*wsc, *http.Response, error) {
	conn, resp, err := websocket.DefaultDialer.Dial(e.wsURL(path, q), nil)
	if err != nil {
		return nil, resp, err
	}
	c := &wsc{t: e.t, conn: conn}
	e.t.Cleanup(func() { conn.Close() })
	return c, resp, nil
}

// declare adds languages to the room's configuration (unless the test set
// Config.Languages itself).
func (e *env) declare(room string, langs ...string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, l := range langs {
		if !slices.Contains(e.declared[room], l) {
			e.declared[room] = append(e.declared[room], l)
		}
	}
}

// viewer connects a viewer of langs ("en" or "en,fr"), declared first.
func (e *env) viewer(room, langs string) *wsc {
	e.t.Helper()
	for _, l := range strings.Split(langs, ",") {
		if c, err := CanonicalLang(l); err == nil {
			e.declare(room, c)
		}
	}
	c, _, err := e.dial("/captions/"+room+"/ws", url.Values{"lang": {langs}})
	if err != nil {
		e.t.Fatalf("dial viewer: %v", err)
	}
	return c
}

func (e *env) captioner(room, lang string) *wsc {
	e.t.Helper()
	c, _, err := e.dial("/captions/"+room+"/publish", url.Values{"lang": {lang}, "token": {e.token(auth.RoleCaptioner, room, lang)}})
	if err != nil {
		e.t.Fatalf("dial captioner: %v", err)
	}
	return c
}

// msg is any server message, decoded loosely.
type msg struct {
	Type       string          `json:"type"`
	Lang       string          `json:"lang"`
	Seq        uint64          `json:"seq"`
	Text       string          `json:"text"`
	Final      bool            `json:"final"`
	Start      time.Time       `json:"start"`
	End        *time.Time      `json:"end"`
	ID         string          `json:"id"`
	Error      string          `json:"error"`
	Duplicate  bool            `json:"duplicate"`
	Cues       []msg           `json:"cues"`
	Viewers    int             `json:"viewers"`
	Captioners []CaptionerInfo `json:"captioners"`
}

func (c *wsc) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("send: %v", err)
	}
}

func (c *wsc) read() msg {
	c.t.Helper()
	m, err := c.tryRead(5 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return m
}

func (c *wsc) tryRead(d time.Duration) (msg, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(d))
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		return msg{}, err
	}
	var m msg
	if err := json.Unmarshal(data, &m); err != nil {
		c.t.Fatalf("decode %s: %v", data, err)
	}
	return m, nil
}

// readType reads until a message of type typ, skipping others (status).
func (c *wsc) readType(typ string) msg {
	c.t.Helper()
	for {
		m := c.read()
		if m.Type == typ {
			return m
		}
		if m.Type != typeStatus {
			c.t.Fatalf("want %s, got %+v", typ, m)
		}
	}
}

// readNot reads the next message that is not a status.
func (c *wsc) readNot(skip string) msg {
	c.t.Helper()
	for {
		if m := c.read(); m.Type != skip {
			return m
		}
	}
}

// final sends a final and waits for its ack.
func (c *wsc) final(text, id string) msg {
	c.t.Helper()
	c.send(map[string]any{"type": "final", "text": text, "id": id})
	return c.readAck()
}

func (c *wsc) readAck() msg {
	c.t.Helper()
	m := c.readNot(typeStatus)
	if m.Type != typeAck {
		c.t.Fatalf("want ack, got %+v", m)
	}
	return m
}

// noMessage asserts nothing but status arrives within d.
func (c *wsc) noMessage(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		m, err := c.tryRead(time.Until(deadline))
		if err != nil {
			return
		}
		if m.Type != typeStatus {
			c.t.Fatalf("unexpected message %+v", m)
		}
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
