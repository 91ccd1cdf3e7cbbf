package captions

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

func ytStamp(t time.Time) string { return t.UTC().Format(ytLayout) }

func TestYouTubeIngest(t *testing.T) {
	e := newEnv(t, "", nil)
	v := e.viewer("r1", "fr")
	v.readType(typeBacklog)
	tok := e.token(auth.RoleCaptioner, "r1", "fr")
	now := time.Now().UTC()
	body := ytStamp(now.Add(-2*time.Second)) + " region:reg1#cue1\nBonjour<br>à tous\n" + ytStamp(now.Add(-time.Second)) + "\nDeuxième ligne\n"
	post := func(seq, body string) (*http.Response, string) {
		return e.do(t, http.MethodPost, "/closedcaption?cid="+tok+"&seq="+seq, "text/plain", body)
	}
	resp, reply := post("1", body)
	if resp.StatusCode != 200 {
		t.Fatalf("post: %d %s", resp.StatusCode, reply)
	}
	if at, err := time.ParseInLocation(ytLayout, strings.TrimSpace(reply), time.UTC); err != nil || time.Since(at) > 5*time.Second {
		t.Fatalf("reply %q is not the server time: %v", reply, err)
	}
	m1, m2 := v.read(), v.read()
	if m1.Text != "Bonjour\nà tous" || !m1.Final || m1.Seq != 1 || !m1.Start.Equal(now.Add(-2*time.Second).Truncate(time.Millisecond)) {
		t.Fatalf("first cue %+v", m1)
	}
	if m2.Text != "Deuxième ligne" || m2.Seq != 2 {
		t.Fatalf("second cue %+v", m2)
	}
	// A retry with the same seq is acknowledged, not stored again.
	if resp, _ := post("1", body); resp.StatusCode != 200 {
		t.Fatalf("retry: %d", resp.StatusCode)
	}
	// A heartbeat neither stores nor advances seq.
	if resp, _ := post("2", ""); resp.StatusCode != 200 {
		t.Fatalf("heartbeat: %d", resp.StatusCode)
	}
	if resp, _ := post("2", ytStamp(time.Now())+"\nTrois\n"); resp.StatusCode != 200 {
		t.Fatalf("seq 2: %d", resp.StatusCode)
	}
	if m := v.read(); m.Text != "Trois" || m.Seq != 3 {
		t.Fatalf("third cue %+v (a retry or heartbeat was stored?)", m)
	}
	// Clear 4xx answers.
	for _, tc := range []struct {
		name, query, ctype, body string
		want                     int
	}{
		{"skew", "cid=" + tok + "&seq=9", "text/plain", ytStamp(now.Add(-90*time.Second)) + "\nold\n", 400},
		{"future", "cid=" + tok + "&seq=9", "text/plain", ytStamp(now.Add(90*time.Second)) + "\nnew\n", 400},
		{"no timestamp", "cid=" + tok + "&seq=9", "text/plain", "just text\n", 400},
		{"4 decimals", "cid=" + tok + "&seq=9", "text/plain", now.Format("2006-01-02T15:04:05.0000") + "\nx\n", 400},
		{"no text", "cid=" + tok + "&seq=9", "text/plain", ytStamp(now) + "\n", 400},
		{"no token", "seq=9", "text/plain", ytStamp(now) + "\nx\n", 401},
		{"garbage token", "cid=abc&seq=9", "text/plain", ytStamp(now) + "\nx\n", 401},
		{"viewer token", "cid=" + e.token(auth.RoleViewer, "r1", "") + "&seq=9", "text/plain", ytStamp(now) + "\nx\n", 403},
		{"lang outside token", "cid=" + tok + "&lang=en&seq=9", "text/plain", ytStamp(now) + "\nx\n", 403},
		{"json body", "cid=" + tok + "&seq=9", "application/json", "{}", 415},
		{"bad seq", "cid=" + tok + "&seq=x", "text/plain", ytStamp(now) + "\nx\n", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.do(t, http.MethodPost, "/closedcaption?"+tc.query, tc.ctype, tc.body)
			if resp.StatusCode != tc.want {
				t.Errorf("%d %s, want %d", resp.StatusCode, body, tc.want)
			}
		})
	}
	if resp, _ := e.do(t, http.MethodGet, "/closedcaption?cid="+tok, "", ""); resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET /closedcaption: %d", resp.StatusCode)
	}
	big := ytStamp(now) + "\n" + strings.Repeat("a", maxBodySize)
	if resp, _ := e.do(t, http.MethodPost, "/closedcaption?cid="+tok+"&seq=10", "text/plain", big); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("big body: %d", resp.StatusCode)
	}
	// The YouTube source is listed as a captioner.
	st := e.svc.Rooms()[0].Languages[0]
	if len(st.Captioners) != 1 || st.Captioners[0].Via != styleYouTube || st.Cues != 3 {
		t.Fatalf("stats: %+v", st)
	}
	v.noMessage(100 * time.Millisecond)
}

func TestYouTubeAnyRoomToken(t *testing.T) {
	e := newEnv(t, "", nil)
	tok := e.token(auth.RoleCaptioner, "*", "")
	body := ytStamp(time.Now()) + "\nhello\n"
	if resp, b := e.do(t, http.MethodPost, "/closedcaption?cid="+tok+"&seq=1", "text/plain", body); resp.StatusCode != 400 {
		t.Fatalf("no room, no lang: %d %s", resp.StatusCode, b)
	}
	if resp, b := e.do(t, http.MethodPost, "/closedcaption?cid="+tok+"&seq=1&room=r9&lang=en-US", "text/plain", body); resp.StatusCode != 200 {
		t.Fatalf("room and lang in query: %d %s", resp.StatusCode, b)
	}
	if got := e.svc.existingRoom("r9").existing("en").transcript(); len(got) != 1 {
		t.Fatalf("transcript: %+v", got)
	}
}

func TestZoomIngest(t *testing.T) {
	e := newEnv(t, "", func(c *Config) {
		c.Languages = func(room string) []string { return []string{"en", "ja", "zh-Hans"} }
	})
	v := e.viewer("r1", "en")
	v.readType(typeBacklog)
	tok := e.token(auth.RoleCaptioner, "r1", "*")
	post := func(seq, lang, body string) int {
		resp, b := e.do(t, http.MethodPost, "/captions/r1/post?token="+tok+"&seq="+seq+"&lang="+lang, "text/plain", body)
		if resp.StatusCode != 200 {
			t.Logf("post %s: %d %s", seq, resp.StatusCode, b)
		}
		return resp.StatusCode
	}
	if post("1", "en-US", "Hello every") != 200 {
		t.Fatal("post 1")
	}
	if m := v.read(); m.Final || m.Text != "Hello every" || m.Seq != 1 {
		t.Fatalf("partial: %+v", m)
	}
	post("2", "en-US", "one. How are")
	if m := v.read(); !m.Final || m.Text != "Hello every one." || m.Seq != 1 {
		t.Fatalf("final: %+v", m)
	}
	if m := v.read(); m.Final || m.Text != "How are" || m.Seq != 2 {
		t.Fatalf("partial 2: %+v", m)
	}
	post("2", "en-US", "one. How are") // retry: ignored
	post("3", "en-US", "you?\nFine")
	if m := v.read(); !m.Final || m.Text != "How are you?" || m.Seq != 2 {
		t.Fatalf("final 2 (a retry was stored?): %+v", m)
	}
	if m := v.read(); m.Final || m.Text != "Fine" {
		t.Fatalf("partial 3: %+v", m)
	}
	if got := e.get(t, "/captions/r1/post/seq?token="+tok+"&lang=en-US", 200); got != "3" {
		t.Fatalf("post/seq = %q", got)
	}
	// The YouTube counter of the same language is separate.
	yt := e.token(auth.RoleCaptioner, "r1", "en")
	if resp, _ := e.do(t, http.MethodPost, "/closedcaption?cid="+yt+"&seq=1", "text/plain", ytStamp(time.Now())+"\nyt\n"); resp.StatusCode != 200 {
		t.Fatalf("youtube seq 1 after zoom seq 3: %d", resp.StatusCode)
	}
	if m := v.read(); m.Text != "yt" {
		t.Fatalf("youtube cue: %+v", m)
	}
	// Zoom's codes map onto the room's languages.
	post("1", "jp-JP", "こんにちは。")
	post("1", "zh-CN", "你好。")
	for lang, want := range map[string]string{"ja": "こんにちは。", "zh-Hans": "你好。"} {
		t.Run(lang, func(t *testing.T) {
			h := e.svc.existingRoom("r1").existing(lang)
			if h == nil || len(h.transcript()) != 1 || h.transcript()[0].Text != want {
				t.Fatalf("%+v", h)
			}
		})
	}
	if resp, _ := e.do(t, http.MethodGet, "/captions/r1/post/seq?token=nope", "", ""); resp.StatusCode != 401 {
		t.Fatalf("post/seq bad token: %d", resp.StatusCode)
	}
	if resp, _ := e.do(t, http.MethodPut, "/captions/r1/post?token="+tok, "text/plain", "x"); resp.StatusCode != 405 {
		t.Fatalf("PUT: %d", resp.StatusCode)
	}
	frTok := e.token(auth.RoleCaptioner, "r1", "fr")
	if resp, _ := e.do(t, http.MethodPost, "/captions/r1/post?token="+frTok+"&seq=1&lang=en-US", "text/plain", "x"); resp.StatusCode != 403 {
		t.Fatalf("wrong scope: %d", resp.StatusCode)
	}
}

func TestZoomSeqSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir, nil)
	tok := e.token(auth.RoleCaptioner, "r1", "en")
	e.do(t, http.MethodPost, "/captions/r1/post?token="+tok+"&seq=7", "text/plain", "First. Half a sen")
	e.close()
	e2 := newEnv(t, dir, nil)
	if got := e2.get(t, "/captions/r1/post/seq?token="+tok, 200); got != "7" {
		t.Fatalf("seq after restart %q", got)
	}
	e2.do(t, http.MethodPost, "/captions/r1/post?token="+tok+"&seq=8", "text/plain", "tence.")
	cues := e2.svc.existingRoom("r1").existing("en").transcript()
	if len(cues) != 2 || cues[1].Text != "Half a sen tence." {
		// the join rule adds a space between posts: posts end between words
		t.Fatalf("running text after restart: %+v", cues)
	}
}

func TestSplitRunning(t *testing.T) {
	for _, tc := range []struct {
		name          string
		running, post string
		finals        []string
		rest          string
	}{
		{"no sentence end", "", "Hello", nil, "Hello"},
		{"joins running text", "Hello", "world. And", []string{"Hello world."}, "And"},
		{"decimal point", "", "Price is 3.5 dollars! Yes", []string{"Price is 3.5 dollars!"}, "Yes"},
		{"closing quote", "", "He said \"stop.\" Then", []string{"He said \"stop.\""}, "Then"},
		{"line breaks", "", "line one\nline two\n", []string{"line one", "line two"}, ""},
		{"br tag", "", "un<br>deux", []string{"un"}, "deux"},
		{"chinese full stop", "", "你好。再见", []string{"你好。"}, "再见"},
		{"arabic question mark", "", "هل أنت هنا؟ نعم", []string{"هل أنت هنا؟"}, "نعم"},
		{"spaces kept", "abc ", " def", nil, "abc  def"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			finals, rest, err := splitRunning(tc.running, tc.post)
			if err != nil || strings.Join(finals, "|") != strings.Join(tc.finals, "|") || rest != tc.rest {
				t.Errorf("splitRunning(%q, %q) = %q, %q, %v; want %q, %q", tc.running, tc.post, finals, rest, err, tc.finals, tc.rest)
			}
		})
	}
	long := strings.Repeat("word ", 100)
	finals, rest, _ := splitRunning("", long)
	if len(finals) == 0 || len([]rune(finals[0])) > runningMax+10 || rest == "" {
		t.Fatalf("long line not committed at a space: %d finals, rest %q", len(finals), rest)
	}
}

func TestMapLang(t *testing.T) {
	e := newEnv(t, "", func(c *Config) {
		c.Languages = func(string) []string { return []string{"en-GB", "ja", "zh-Hans", "fr"} }
	})
	for in, want := range map[string]string{
		"en-US": "en-GB", "jp-JP": "ja", "ja-JP": "ja", "zh-CN": "zh-Hans", "zh-TW": "zh-Hant",
		"fr-FR": "fr", "de-DE": "de", "pt-BR": "pt", "fr": "fr",
	} {
		t.Run(in, func(t *testing.T) {
			got, err := e.svc.mapLang("r1", in)
			if err != nil || got != want {
				t.Errorf("mapLang(%q) = %q, %v; want %q", in, got, err, want)
			}
		})
	}
	if _, err := e.svc.mapLang("r1", "xx-not"); err == nil {
		t.Error("bad code accepted")
	}
}

// A YouTube-style post with thousands of caption lines is refused whole
// with a 400; nothing of it is stored, and the source keeps working.
func TestIngestThousandsOfLines(t *testing.T) {
	e := newEnv(t, "", nil)
	tok := e.token(auth.RoleCaptioner, "r1", "en")
	now := time.Now().UTC()
	var b strings.Builder
	for i := 0; i < 3000; i++ {
		b.WriteString(ytStamp(now) + "\nline\n")
	}
	body := b.String()
	if len(body) > maxBodySize {
		body = body[:maxBodySize-1]
	}
	resp, _ := e.do(t, http.MethodPost, "/closedcaption?cid="+tok+"&seq=1", "text/plain", body)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("thousands of lines: %d, want 413 as for a Zoom-style post", resp.StatusCode)
	}
	if r := e.svc.existingRoom("r1"); r != nil {
		if h := r.existing("en"); h != nil && len(h.transcript()) != 0 {
			t.Fatalf("a refused post stored %d cues", len(h.transcript()))
		}
	}
	resp, _ = e.do(t, http.MethodPost, "/closedcaption?cid="+tok+"&seq=2", "text/plain", ytStamp(now)+"\nstill here\n")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the next post: %d", resp.StatusCode)
	}
}
