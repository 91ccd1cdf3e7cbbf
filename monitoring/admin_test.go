package monitoring

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/peer"
)

func TestAdminActions(t *testing.T) {
	s := newStack(t)
	ctx := context.Background()
	s.publish(t, "hall")
	v, err := peer.View(ctx, peer.ViewConfig{URL: s.url + "/whep/hall", Options: peer.Options{Loopback: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close(false)

	admin, _ := s.auth.Issue(auth.RoleAdmin, "hall", "", time.Hour)
	otherAdmin, _ := s.auth.Issue(auth.RoleAdmin, "side", "", time.Hour)
	viewerTok, _ := s.auth.Issue(auth.RoleViewer, "hall", "", time.Hour)
	call := func(t *testing.T, method, path, token string) (int, string) {
		req, _ := http.NewRequest(method, s.url+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&b)
		return resp.StatusCode, b.String()
	}
	for _, c := range []struct {
		name, method, path, token string
		want                      int
	}{
		{"no token", "GET", "/api/rooms/hall/viewers", "", 401},
		{"garbage token", "GET", "/api/rooms/hall/viewers", "garbage", 401},
		{"viewer token", "GET", "/api/rooms/hall/viewers", viewerTok, 403},
		{"other room's admin", "GET", "/api/rooms/hall/viewers", otherAdmin, 403},
		{"viewer disconnects", "POST", "/api/rooms/hall/publisher/disconnect", viewerTok, 403},
		{"outside admin's room", "POST", "/api/rooms/nowhere/publisher/disconnect", admin, 403}, // admin of hall only
		{"unknown viewer", "POST", "/api/rooms/hall/viewers/v999/disconnect", admin, 404},
		{"bad room name", "POST", "/api/rooms/..%2fx/publisher/disconnect", admin, 400},
		{"GET an action", "GET", "/api/rooms/hall/publisher/disconnect", admin, 405},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got, body := call(t, c.method, c.path, c.token); got != c.want {
				t.Errorf("%s %s: %d %q, want %d", c.method, c.path, got, body, c.want)
			}
		})
	}
	code, body := call(t, "GET", "/api/rooms/hall/viewers", admin)
	var list struct {
		Viewers []struct{ Tag string }
	}
	if code != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list.Viewers) != 1 {
		t.Fatalf("viewer list: %d %s", code, body)
	}
	if strings.Contains(body, "/whep/") {
		t.Error("viewer list exposes a session URL")
	}
	if code, _ := call(t, "POST", "/api/rooms/hall/viewers/"+list.Viewers[0].Tag+"/disconnect", admin); code != 204 {
		t.Errorf("disconnect viewer: %d", code)
	}
	waitMetric(t, "viewer gone", func() bool { return s.value(t, `relay_viewers{room="hall"}`) == 0 })
	if code, _ := call(t, "POST", "/api/rooms/hall/publisher/disconnect", admin); code != 204 {
		t.Errorf("disconnect publisher: %d", code)
	}
	waitMetric(t, "publisher gone", func() bool { return s.value(t, `relay_publishers{room="hall"}`) == 0 })
}

// TestEventsStream: the monitor's server-sent events carry room snapshots.
func TestEventsStream(t *testing.T) {
	s := newStack(t)
	req, _ := http.NewRequest("GET", s.url+"/api/rooms/events", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	events := 0
	for events < 2 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(line, "data: ") {
			var snap struct{ Rooms []any }
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &snap); err != nil {
				t.Fatalf("event data: %v", err)
			}
			events++
		}
	}
}
