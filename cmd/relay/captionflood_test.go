package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/relay-av/relay/internal/auth"
)

// TestCaptionViewersCreateNoRooms is the attack of about 1 000 idle viewer
// sockets to made-up rooms: each created a caption room, the table
// (MaxRooms 1000) filled, captioners of any new room got 429, and
// /api/rooms and the lobby listed 1 000 junk rooms. Now each is refused
// before the upgrade and counted; nothing is listed, and a captioner of a
// new room gets in.
func TestCaptionViewersCreateNoRooms(t *testing.T) {
	const secret = "caption-flood-secret-0123456789"
	t.Setenv("RELAY_SECRET", secret)
	base := startRelay(t, serveConfig{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Shutdown: time.Second}, slog.New(slog.DiscardHandler))
	ws := "ws" + strings.TrimPrefix(base, "http")

	const n = 1000
	var upgraded, notFound atomic.Int64
	var mu sync.Mutex
	var conns []*websocket.Conn
	var other []string
	work := make(chan int)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
			for i := range work {
				conn, resp, err := d.Dial(fmt.Sprintf("%s/captions/junk%d/ws?lang=en", ws, i), nil)
				mu.Lock()
				switch {
				case err == nil:
					upgraded.Add(1)
					conns = append(conns, conn) // held open, idle
				case resp != nil && resp.StatusCode == http.StatusNotFound:
					notFound.Add(1)
				default:
					other = append(other, fmt.Sprint(resp, err))
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if upgraded.Load() != 0 || notFound.Load() != n {
		t.Errorf("of %d junk viewers %d upgraded, %d got 404; others: %.300v", n, upgraded.Load(), notFound.Load(), other)
	}

	resp, err := http.Get(base + "/api/rooms")
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Rooms []struct {
			Name string `json:"name"`
		} `json:"rooms"`
	}
	err = json.NewDecoder(resp.Body).Decode(&body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(body.Rooms) != 0 {
		t.Errorf("/api/rooms lists %d rooms after the junk viewers, e.g. %s", len(body.Rooms), body.Rooms[0].Name)
	}

	a, _ := auth.New([]byte(secret))
	tok, _ := a.Issue(auth.RoleCaptioner, "fresh", "en", time.Hour)
	cp, resp, err := websocket.DefaultDialer.Dial(ws+"/captions/fresh/publish?lang=en&token="+tok, nil)
	if err != nil {
		t.Fatalf("captioner of a new room after the junk viewers: %v %v", resp, err)
	}
	defer cp.Close()
	if err := cp.WriteJSON(map[string]any{"type": "final", "text": "Welcome.", "id": "1"}); err != nil {
		t.Fatal(err)
	}
	for {
		var m struct{ Type string }
		_ = cp.SetReadDeadline(time.Now().Add(5 * time.Second))
		if err := cp.ReadJSON(&m); err != nil {
			t.Fatalf("no ack: %v", err)
		}
		if m.Type == "ack" {
			break
		}
	}

	metrics, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if want := fmt.Sprintf(`relay_caption_viewers_refused_total{reason="unknown_language"} %d`, n); !strings.Contains(string(text), want) {
		t.Errorf("metrics lack %s", want)
	}
}
