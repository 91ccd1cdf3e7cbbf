package main

import (
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestBrowserCaptionFeedRefused: the relay refuses a caption socket before
// the upgrade (404 for a language the room does not have, 429 over the
// per-address cap), the page only sees a failed socket and Chromium logs an
// error for each. The feed opens no socket for a language the room does
// not offer, backs off when refused over the cap (a few attempts, not a
// loop), and gets in once a slot is free.
func TestBrowserCaptionFeedRefused(t *testing.T) {
	r := startPageRelay(t, plenaryYAML+"limits:\n  caption_sockets_per_address: 2\n")
	var held []*websocket.Conn // 127.0.0.1's share, taken before the page comes
	for range 2 {
		conn, _, err := websocket.DefaultDialer.Dial("ws://"+r.addr+"/captions/plenary/ws?lang=en", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		held = append(held, conn)
	}
	en := dialCaptioner(t, r, "plenary", "en") // a captioner is not held to the address's cap
	en.final("e1", "Good morning, delegates.")

	b := newBrowser(t, false)
	ctx := b.ctx
	from := time.Now()
	navigate(t, ctx, r.url("/watch/plenary?lang=en"))
	// A language nobody captions: no socket, the feed waits.
	eval[bool](t, ctx, `(import('/static/js/captions.js').then((m) => {
		window.extra = new m.CaptionFeed({ room: 'plenary' });
		window.extra.setLanguages(['de']);
	}), true)`)
	time.Sleep(11 * time.Second)
	failed := b.socketErrors(from, time.Now())
	if failed["lang=de"] != 0 {
		t.Errorf("%d sockets opened for a language the room does not offer", failed["lang=de"])
	}
	if n := failed["lang=en"]; n < 1 || n > 5 {
		t.Errorf("%d refused sockets in 11 s, want a few (backing off)", n)
	}
	if st := eval[string](t, ctx, `window.extra.state`); st != "waiting" {
		t.Errorf("feed of an unknown language in state %q, want waiting", st)
	}

	for _, c := range held { // slots free (the captioner's socket counts too): the page gets in
		c.Close()
	}
	waitJS(t, ctx, 40*time.Second, "captions once a slot is free",
		`document.querySelector('#transcript-lines').textContent.includes('Good morning, delegates.')`)
	b.expectNetworkErrors(from, time.Now()) // the refused sockets, counted above
	b.checkConsole()
}

// socketErrors counts the console's failed caption sockets between from
// and to, by the lang parameter of their URL ("lang=en").
func (b *browser) socketErrors(from, to time.Time) map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := map[string]int{}
	for _, e := range b.errors {
		if e.at.Before(from) || e.at.After(to) || !strings.Contains(e.text, "WebSocket connection to") {
			continue
		}
		if i := strings.Index(e.text, "lang="); i >= 0 {
			lang, _, _ := strings.Cut(e.text[i:], "&")
			lang, _, _ = strings.Cut(lang, "'")
			out[lang]++
		}
	}
	return out
}
