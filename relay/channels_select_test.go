package relay

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/internal/auth"
)

// TestSelectErrors: /select answers what the contract says to bad
// requests and leaves the selection as it was; a declared language whose
// booth is down is accepted (the floor plays) and takes effect when the
// booth goes live, without another /select.
func TestSelectErrors(t *testing.T) {
	r := newTestRelay(t, func(c *Config) {
		c.Rooms = append(c.Rooms, RoomConfig{Name: "conf", Languages: []string{"fr", "es"}})
	})
	const room = "conf"
	floorBooth(t, r, room)
	// Arabic has been live: selectable once its booth is gone.
	ar := interpreter(t, r, room, "ar", markAR, false)
	waitChannelLive(t, r, room, "ar", KindAudio, true, 10*time.Second)
	ar.close(true)
	waitChannelLive(t, r, room, "ar", KindAudio, false, 5*time.Second)

	l := startTestListener(t, r, room, testListenConfig{audio: 1})
	waitFor(t, 10*time.Second, "the floor", func() bool { return l.audio[0].len() >= 10 })
	id := l.session[strings.LastIndex(l.session, "/")+1:]
	cases := []struct {
		name, session, ctype, body string
		want                       int
	}{
		{"unknown session", r.url + "/whep/conf/0123456789abcdef0123456789abcdef", "application/json", `{"audio":"fr"}`, 404},
		{"session of another room", r.url + "/whep/closed/" + id, "application/json", `{"audio":"fr"}`, 404},
		{"language neither declared nor live", l.session, "application/json", `{"audio":"de"}`, 422},
		{"sign language neither declared nor live", l.session, "application/json", `{"sign":"bfi"}`, 422},
		{"unknown video layer", l.session, "application/json", `{"video":"hd"}`, 422},
		{"truncated JSON", l.session, "application/json", `{"audio":`, 400},
		{"not JSON", l.session, "application/json", `audio=fr`, 400},
		{"unknown field", l.session, "application/json", `{"language":"fr"}`, 400},
		{"number for a string", l.session, "application/json", `{"audio":5}`, 400},
		{"array for an object", l.session, "application/json", `["fr"]`, 400},
		{"two objects", l.session, "application/json", `{"audio":"fr"}{"audio":"es"}`, 400},
		{"form content type", l.session, "application/x-www-form-urlencoded", `{"audio":"fr"}`, 415},
		{"no content type", l.session, "", `{"audio":"fr"}`, 415},
		{"over 1 KiB", l.session, "application/json", `{"audio":"fr"` + strings.Repeat(" ", 1100) + `}`, 413},
	}
	for _, c := range cases {
		status, _, body, err := postSelectJSON(c.session, c.ctype, c.body)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
		if status != c.want {
			t.Errorf("%s: %d (%s), want %d", c.name, status, strings.TrimSpace(body), c.want)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if m := rxMarks(l.audio[0].snapshot()); len(m) != 1 || m[markFloor] == 0 {
		t.Fatalf("after the refused selections the listener heard %v, want the floor only", m)
	}

	// Declared booths that are down, and one that was live: accepted, the
	// floor plays meanwhile.
	for _, lang := range []string{"fr", "ar", "ES"} {
		sel, ok := l.choose(t, `{"audio":"`+lang+`"}`)
		if want := strings.ToLower(lang); ok && (sel.Audio != want || sel.Playing.Audio != FloorLang || sel.Sign != "" || sel.Video != "auto") {
			t.Errorf("select %s of a booth that is down: %+v, want audio %s playing the floor", lang, sel, want)
		}
	}
	joined := startTestListener(t, r, room, testListenConfig{audio: 1, query: "audio=es"})
	waitFor(t, 5*time.Second, "the floor at the listener waiting for Spanish", func() bool { return joined.audio[0].since(time.Time{}, markFloor) >= 10 })
	chosen := time.Now()
	time.Sleep(500 * time.Millisecond)
	if n := l.audio[0].since(chosen, markFloor); n < 15 {
		t.Errorf("%d floor packets in 500 ms while Spanish is down", n)
	}

	live := time.Now()
	interpreter(t, r, room, "es", markES, false)
	waitFor(t, 10*time.Second, "Spanish at both listeners once its booth is live", func() bool {
		return l.audio[0].since(live, markES) >= 25 && joined.audio[0].since(live, markES) >= 25
	})
	for name, rx := range map[string]*rxTrack{"selected es": l.audio[0], "joined with audio=es": joined.audio[0]} {
		pkts := rx.snapshot()
		checkChannelSources(t, name, pkts, []plannedSwitch{{mark: markFloor}, {at: live, mark: markES}})
		checkTrackContinuous(t, name, pkts, false)
		t.Logf("%s: Spanish %v after its booth started", name, firstAt(pkts, live, markES).Sub(live).Round(time.Millisecond))
	}
	var es *ChannelInfo
	for _, c := range roomInfo(t, r, room).Channels {
		if c.Lang == "es" && c.Kind == KindAudio {
			es = &c
		}
	}
	if es == nil || !es.Live || es.Viewers != 2 {
		t.Errorf("/api/rooms Spanish channel %+v, want it live with 2 viewers", es)
	}
}

// postOffer posts an offer with a token and returns the status and body.
func postOffer(t *testing.T, url, token, offer string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(offer))
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, strings.TrimSpace(string(body))
}

// TestInterpreterTokenScope: an interpreter token publishes its own
// channel of its own room and nothing else; a publisher or admin token
// publishes any channel; WHEP refuses a language the room does not have.
func TestInterpreterTokenScope(t *testing.T) {
	r := newTestRelay(t, func(c *Config) {
		c.ConnectTimeout = 500 * time.Millisecond // the offers below never connect
		c.Rooms = append(c.Rooms, RoomConfig{Name: "conf", Languages: []string{"fr"}})
	})
	floorBooth(t, r, "conf")
	floorBooth(t, r, "closed") // private
	issue := func(role auth.Role, room, lang string) string {
		tok, err := r.auth.Issue(role, room, lang, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	fr := issue(auth.RoleInterpreter, "conf", "fr")
	pub := deadOffer(t, true)
	view := deadOffer(t, false)
	cases := []struct {
		name, path, token, offer string
		want                     int
	}{
		{"interpreter of another room", "/whip/conf", issue(auth.RoleInterpreter, "other", "fr"), pub, 403},
		{"interpreter of another room, its language", "/whip/conf?lang=fr", issue(auth.RoleInterpreter, "other", "fr"), pub, 403},
		{"interpreter, another language", "/whip/conf?lang=ar", fr, pub, 403},
		{"interpreter, the floor", "/whip/conf?lang=floor", fr, pub, 403},
		{"viewer token", "/whip/conf?lang=fr", issue(auth.RoleViewer, "conf", ""), pub, 403},
		{"captioner token", "/whip/conf?lang=fr", issue(auth.RoleCaptioner, "conf", "fr"), pub, 403},
		{"interpreter, its channel", "/whip/conf", fr, pub, 201},
		{"interpreter, its channel by name", "/whip/conf?lang=fr", fr, pub, 201},
		{"interpreter, its channel in capitals", "/whip/conf?lang=FR", fr, pub, 201},
		{"publisher, a channel", "/whip/conf?lang=ar", r.token(t, auth.RolePublisher, "conf"), pub, 201},
		{"admin, a channel", "/whip/conf?lang=de", r.token(t, auth.RoleAdmin, "conf"), pub, 201},
		{"viewer, undeclared language", "/whep/conf?audio=de", "", view, 422},
		{"viewer, undeclared sign language", "/whep/conf?sign=ase", "", view, 422},
		{"viewer, unknown layer", "/whep/conf?video=hd", "", view, 422},
		{"viewer, declared language", "/whep/conf?audio=fr", "", view, 201},
		{"interpreter hears the floor of a private room", "/whep/closed", issue(auth.RoleInterpreter, "closed", "fr"), view, 201},
		{"interpreter of another room, private room", "/whep/closed", fr, view, 403},
	}
	for _, c := range cases {
		status, body := postOffer(t, r.url+c.path, c.token, c.offer)
		if status != c.want {
			t.Errorf("%s: %d (%s), want %d", c.name, status, body, c.want)
		}
		if c.want == 422 && !strings.Contains(c.path, "video=") && !strings.Contains(body, "fr") {
			t.Errorf("%s: the 422 does not say which languages the room has: %q", c.name, body)
		}
	}
	// Not language tags at all: refused either as malformed or as no
	// channel of the room.
	for _, q := range []string{"xx-unknown", "not a tag"} {
		status, body := postOffer(t, r.url+"/whep/conf?audio="+url.QueryEscape(q), "", view)
		t.Logf("audio=%q: %d %s", q, status, body)
		if status != 400 && status != 422 {
			t.Errorf("audio=%q: %d (%s), want 400 or 422", q, status, body)
		}
	}
}

// TestSignLanguageVideo: a sign-language interpreter's video reaches the
// second video m-line of the viewers that select it, starting on a
// keyframe, while the first keeps the floor's video; a viewer with one
// video m-line keeps the floor; /select turns the sign video on and off.
func TestSignLanguageVideo(t *testing.T) {
	r := newTestRelay(t, nil)
	const room = "sign"
	floorBooth(t, r, room)
	signer := interpreter(t, r, room, "ase", markSignV, true)
	waitChannelLive(t, r, room, "ase", KindSign, true, 10*time.Second)
	both := startTestListener(t, r, room, testListenConfig{audio: 1, video: 2, query: "sign=ase"})
	later := startTestListener(t, r, room, testListenConfig{audio: 1, video: 2})
	one := startTestListener(t, r, room, testListenConfig{audio: 1, video: 1, query: "sign=ase"})
	waitFor(t, 10*time.Second, "floor and sign video", func() bool {
		return both.video[0].since(time.Time{}, markFloorV) >= 30 && both.video[1].since(time.Time{}, markSignV) >= 30 &&
			later.video[0].since(time.Time{}, markFloorV) >= 30 && one.video[0].since(time.Time{}, markFloorV) >= 30
	})
	floorV, signV := both.video[0].snapshot(), both.video[1].snapshot()
	if m := rxMarks(floorV); len(m) != 1 || m[markFloorV] == 0 {
		t.Errorf("first video track's frames by source %v, want the floor's only", m)
	}
	if m := rxMarks(signV); len(m) != 1 || m[markSignV] == 0 {
		t.Errorf("second video track's frames by source %v, want the sign channel's only", m)
	}
	checkTrackContinuous(t, "floor video", floorV, true)
	checkTrackContinuous(t, "sign video", signV, true)
	if !signV[0].key {
		// A pion client can lose the packets that beat its receiver's
		// set-up (see TestPublishAndTwentyViewers): then the relay says
		// what it sent first.
		if key, found := relaySentKeyFirst(r, room, both, signV[0].ssrc); !found || !key {
			t.Errorf("the sign video starts on packet seq %d, not a keyframe (the relay's first: keyframe start %v, track found %v)", signV[0].seq, key, found)
		} else {
			t.Logf("the sign video's first packet received (seq %d, in a keyframe: %v) is not the first sent, a keyframe start", signV[0].seq, signV[0].idr)
		}
	}
	if m := rxMarks(one.video[0].snapshot()); len(m) != 1 || m[markFloorV] == 0 {
		t.Errorf("a viewer with one video m-line got frames %v, want the floor's only", m)
	}
	if n := later.video[1].len(); n != 0 {
		t.Errorf("a viewer that selected no sign language got %d packets on its second video track", n)
	}

	// A viewer turns the sign video on and off: on, it starts on a keyframe.
	var lat []time.Duration
	for range 8 {
		at := time.Now()
		if sel, ok := later.choose(t, `{"sign":"ase"}`); ok && (sel.Sign != "ase" || sel.Playing.Sign != "ase") {
			t.Errorf("select sign ase: %+v", sel)
		}
		waitFor(t, 5*time.Second, "the sign video", func() bool { return later.video[1].since(at, markSignV) >= 5 })
		pkts := later.video[1].snapshot()
		for _, p := range pkts {
			if p.at.After(at) {
				lat = append(lat, p.at.Sub(at))
				if !p.key {
					t.Errorf("the sign video came back on packet seq %d, not a keyframe start", p.seq)
				}
				break
			}
		}
		off := time.Now()
		if sel, ok := later.choose(t, `{"sign":""}`); ok && (sel.Sign != "" || sel.Playing.Sign != "") {
			t.Errorf("select no sign: %+v", sel)
		}
		answered := time.Now()
		time.Sleep(400 * time.Millisecond)
		if late := packetsAfter(later.video[1].snapshot(), answered.Add(100*time.Millisecond)); len(late) != 0 {
			t.Errorf("%d sign video packets more than 100 ms after /select answered that none plays (asked %v before): first seq %d at %v after the answer",
				len(late), answered.Sub(off).Round(time.Millisecond), late[0].seq, late[0].at.Sub(answered).Round(time.Millisecond))
		}
	}
	t.Logf("sign video switch latency (select to the first keyframe packet) over %d switches: p50 %v, p99 %v; the sign interpreter had %d keyframe requests",
		len(lat), latencyPercentile(lat, 50).Round(100*time.Microsecond), latencyPercentile(lat, 99).Round(100*time.Microsecond), signer.plis.Load())
	checkTrackContinuous(t, "toggled sign video", later.video[1].snapshot(), true)
	if n := later.video[1].trackCount(); n != 1 {
		t.Errorf("%d tracks on the toggled sign m-line", n)
	}
	if m := rxMarks(later.video[0].snapshot()); len(m) != 1 || m[markFloorV] == 0 {
		t.Errorf("the toggling viewer's first video track got frames %v, want the floor's only", m)
	}

	// The sign interpreter leaves: the second track carries nothing (not
	// the floor), the first the floor.
	signer.close(true)
	waitChannelLive(t, r, room, "ase", KindSign, false, 5*time.Second)
	gone := time.Now()
	time.Sleep(700 * time.Millisecond)
	if n := len(packetsAfter(both.video[1].snapshot(), gone.Add(200*time.Millisecond))); n != 0 {
		t.Errorf("%d packets on the sign track after the sign interpreter left", n)
	}
	if both.video[0].since(gone, markFloorV) < 10 {
		t.Error("the floor video stopped when the sign interpreter left")
	}
	if sel, ok := both.choose(t, `{"sign":"ase"}`); ok && (sel.Sign != "ase" || sel.Playing.Sign != "") {
		t.Errorf("select sign ase while its interpreter is away: %+v, want it selected and not playing", sel)
	}
}

// relaySentKeyFirst says whether the first packet the relay sent on a
// listener's track (by SSRC) started a keyframe, and whether it found the
// track.
func relaySentKeyFirst(r *testRelay, room string, l *testListener, ssrc uint32) (key, found bool) {
	rm, err := r.srv.room(room, false)
	if err != nil {
		return false, false
	}
	v := rm.viewer(l.session[strings.LastIndex(l.session, "/")+1:])
	if v == nil {
		return false, false
	}
	for _, tr := range v.tracks {
		if f := tr.forwarder(); f != nil && f.ssrc == ssrc {
			return f.firstKey.Load(), true
		}
	}
	return false, false
}

// TestChannelFloorUnderInterpretation: a viewer offering two audio m-lines
// gets its channel in the first and the floor in the second, but the
// second only while the first carries a booth.
func TestChannelFloorUnderInterpretation(t *testing.T) {
	r := newTestRelay(t, nil)
	const room = "mix"
	floorBooth(t, r, room)
	fr := interpreter(t, r, room, "fr", markFR, false)
	waitChannelLive(t, r, room, "fr", KindAudio, true, 10*time.Second)
	a := startTestListener(t, r, room, testListenConfig{audio: 2, video: 1, query: "audio=fr"})
	b := startTestListener(t, r, room, testListenConfig{audio: 2, video: 1, query: "audio=floor"})
	waitFor(t, 10*time.Second, "the booth and the floor", func() bool {
		return a.audio[0].since(time.Time{}, markFR) >= 25 && a.audio[1].since(time.Time{}, markFloor) >= 25 && b.audio[0].since(time.Time{}, markFloor) >= 25
	})
	if n := b.audio[1].len(); n != 0 {
		t.Errorf("the floor listener's second audio track got %d packets, want none", n)
	}

	// They swap.
	at := time.Now()
	if sel, ok := a.choose(t, `{"audio":"floor"}`); ok && sel.Playing.Audio != FloorLang {
		t.Errorf("select floor: %+v", sel)
	}
	if sel, ok := b.choose(t, `{"audio":"fr"}`); ok && sel.Playing.Audio != "fr" {
		t.Errorf("select fr: %+v", sel)
	}
	waitFor(t, 5*time.Second, "the swapped channels", func() bool {
		return a.audio[0].since(at, markFloor) >= 25 && b.audio[0].since(at, markFR) >= 25 && b.audio[1].since(at, markFloor) >= 25
	})
	if n := len(packetsAfter(a.audio[1].snapshot(), at.Add(200*time.Millisecond))); n != 0 {
		t.Errorf("%d packets on the second audio track after its first went back to the floor", n)
	}

	// The booth goes quiet: the first track gets the floor, the second
	// nothing.
	down := time.Now()
	fr.paused.Store(true)
	waitFor(t, 3*time.Second, "the floor in place of the booth", func() bool { return b.audio[0].since(down, markFloor) >= 10 })
	moved := firstAt(b.audio[0].snapshot(), down, markFloor)
	time.Sleep(300 * time.Millisecond)
	if n := len(packetsAfter(b.audio[1].snapshot(), moved.Add(100*time.Millisecond))); n != 0 {
		t.Errorf("%d packets on the second audio track while the booth is down", n)
	}
	checks := []struct {
		name string
		rx   *rxTrack
		plan []plannedSwitch
	}{
		{"a first", a.audio[0], []plannedSwitch{{mark: markFR}, {at: at, mark: markFloor}}},
		{"a second", a.audio[1], []plannedSwitch{{mark: markFloor}}},
		{"b first", b.audio[0], []plannedSwitch{{mark: markFloor}, {at: at, mark: markFR}, {at: down, mark: markFloor}}},
		{"b second", b.audio[1], []plannedSwitch{{mark: markFloor}}},
	}
	for _, c := range checks {
		pkts := c.rx.snapshot()
		checkChannelSources(t, c.name, pkts, c.plan)
		checkTrackContinuous(t, c.name, pkts, false)
		if n := c.rx.trackCount(); n != 1 {
			t.Errorf("%s: %d tracks on one m-line", c.name, n)
		}
	}
}
