package monitoring

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/player"
)

const (
	statusState = `document.querySelector('#status').dataset.state`
	statusText  = `document.querySelector('#status').textContent`
)

// TestBrowserMonitorWaitsForAStream: the monitor page opened while
// anonymous streams hold every slot they may take says it is reconnecting
// and when, and connects by itself once a slot frees; with the admin token
// it connects at once, both when the token is entered and after a reload.
// Before, the page's EventSource gave up after the first 503 and the AV
// team saw "Reconnecting…" for ever.
func TestBrowserMonitorWaitsForAStream(t *testing.T) {
	s := newStackWith(t, stackOpts{pages: true})
	events := s.url + "/api/rooms/events"
	closeOne := fillAnonymous(t, events, 2) // the page itself comes from 127.0.0.1
	spare := clientFrom(t, "127.0.0.16")
	if resp, _ := spare.open(events, ""); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("anonymous stream past the share: %d, want 503", resp.StatusCode)
	}

	b := newBrowser(t)
	b.do(20*time.Second, chromedp.Navigate(s.url+"/monitor"))
	b.wait(10*time.Second, "the page refused and saying when it retries",
		statusState+` === 'reconnecting' && /reconnecting in \d+ s/.test(`+statusText+`)`)
	b.screenshot("monitor-reconnecting")
	closeOne()
	// The relay asked for Retry-After 10 s: the page comes back after it.
	b.wait(30*time.Second, "the page connected by itself once a slot freed",
		statusState+` === 'ok' && document.querySelector('#totals').children.length > 0`)

	// Again refused, then the admin token: in at once, not after a backoff.
	b.do(10*time.Second, chromedp.Navigate("about:blank"))
	waitMetric(t, "the page's stream taken back", func() bool {
		resp, _ := spare.open(events, "")
		return resp.StatusCode == http.StatusOK
	})
	b.do(20*time.Second, chromedp.Navigate(s.url+"/monitor"))
	b.wait(10*time.Second, "the page refused again", statusState+` === 'reconnecting'`)
	b.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#admin-token`), mustIssue(t, s, auth.RoleAdmin, "*")),
		chromedp.Click(chromedp.CSS(`#admin-save`)))
	b.wait(3*time.Second, "connected at once with the admin token", statusState+` === 'ok' && `+statusText+` === 'Live data (admin)'`)
	b.do(20*time.Second, chromedp.Reload())
	b.wait(3*time.Second, "connected at once after a reload (the tab keeps the token)", statusState+` === 'ok' && `+statusText+` === 'Live data (admin)'`)
	b.checkConsole("503")
}

// TestBrowserMonitorFeedRecovers: the page's event stream comes back by
// itself after each kind of failure: the stream ending (relay restart), an
// error answer; and a token the relay refuses on the stream is dropped
// from it, the page saying so, while live data goes on.
func TestBrowserMonitorFeedRecovers(t *testing.T) {
	var n atomic.Int64
	done := make(chan struct{}) // ends the streams, which the browser keeps open
	mux := http.NewServeMux()
	player.Register(mux)
	var refused atomic.Int64
	mux.HandleFunc("GET /api/rooms/events", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.RawQuery != "" {
			t.Errorf("the page put %q in the stream's URL", r.URL.RawQuery)
		}
		if auth := r.Header.Get("Authorization"); auth != "" {
			if auth != "Bearer stale" {
				t.Errorf("Authorization %q, want the page's token", auth)
			}
			refused.Add(1)
			http.Error(w, "token invalid", http.StatusUnauthorized)
			return
		}
		if n.Add(1) == 2 { // after a stream that ended
			http.Error(w, "boom", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; ; i++ {
			fmt.Fprintf(w, "event: rooms\ndata: {\"rooms\":[],\"now\":%q}\n\n", time.Now().Format(time.RFC3339Nano))
			w.(http.Flusher).Flush()
			if n.Load() == 1 {
				return // the first stream ends after one snapshot
			}
			select {
			case <-r.Context().Done():
				return
			case <-done:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	})
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(done)
		hs.Close()
	})

	b := newBrowser(t)
	b.do(20*time.Second, chromedp.Navigate(hs.URL+"/monitor"))
	b.wait(10*time.Second, "reconnecting after the stream ended", statusText+`.startsWith('Stream ended · reconnecting in')`)
	b.wait(10*time.Second, "reconnecting after an error answer", statusText+`.startsWith('Refused (500) · reconnecting in')`)
	b.wait(10*time.Second, "live data again", statusState+` === 'ok' && !document.querySelector('#empty').hidden`)
	b.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#admin-token`), "stale"),
		chromedp.Click(chromedp.CSS(`#admin-save`)))
	b.wait(10*time.Second, "the stale token refused on the stream", `document.querySelector('#admin-state').textContent === 'Token refused for live data'`)
	b.wait(10*time.Second, "live data without the token", statusState+` === 'ok' && `+statusText+` === 'Live data'`)
	if refused.Load() != 1 {
		t.Errorf("the refused token was sent %d times, want once", refused.Load())
	}
	b.checkConsole("500", "401")
}
