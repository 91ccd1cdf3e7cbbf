package captions

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func (e *env) do(t *testing.T, method, path, ctype, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) get(t *testing.T, path string, want int) string {
	t.Helper()
	resp, body := e.do(t, http.MethodGet, path, "", "")
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body
}

func (e *env) status(t *testing.T, path string) int {
	t.Helper()
	resp, _ := e.do(t, http.MethodGet, path, "", "")
	return resp.StatusCode
}

// readUntilClose reads until the connection fails and returns the error.
func readUntilClose(c *wsc) error {
	for {
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return err
		}
	}
}

func isClose(err error, code int) bool {
	var ce *websocket.CloseError
	return errors.As(err, &ce) && ce.Code == code
}
