package load

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/hls"
)

const testMultivariant = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Floor",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="S1/a/index.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Français, langue",LANGUAGE="fr",DEFAULT=NO,AUTOSELECT=YES,CHANNELS="2",URI="S1/a-fr/index.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,URI="S1/s-en/index.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Français",LANGUAGE="fr",DEFAULT=NO,URI="S1/s-fr/index.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=692264,CODECS="avc1.42c01f,opus",RESOLUTION=640x360,AUDIO="audio",SUBTITLES="subs"
S1/v-h/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=300000,CODECS="avc1.42c01f,opus",AUDIO="audio"
S1/v-l/index.m3u8
`

func TestParseMultivariantPick(t *testing.T) {
	mv, err := parseMultivariant(testMultivariant)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ subs, want string }{
		{"", "S1/v-h/index.m3u8 S1/a/index.m3u8"},
		{"fr", "S1/v-h/index.m3u8 S1/a/index.m3u8 S1/s-fr/index.m3u8"},
		{"*", "S1/v-h/index.m3u8 S1/a/index.m3u8 S1/s-en/index.m3u8"},
		{"de", "S1/v-h/index.m3u8 S1/a/index.m3u8"},
	} {
		if got := strings.Join(mv.pick(c.subs), " "); got != c.want {
			t.Errorf("subs %q: %s, want %s", c.subs, got, c.want)
		}
	}
	if mv.renditions[1].lang != "fr" || !mv.renditions[0].def {
		t.Errorf("a quoted comma broke the attributes: %+v", mv.renditions)
	}
	if _, err := parseMultivariant("#EXTM3U\n#EXT-X-VERSION:9\n"); err == nil {
		t.Error("a playlist without variants accepted")
	}
	if _, err := parseMultivariant("<html>"); err == nil {
		t.Error("no header accepted")
	}
}

const testMedia = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:4
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600,CAN-SKIP-UNTIL=24.000
#EXT-X-PART-INF:PART-TARGET=0.200
#EXT-X-MEDIA-SEQUENCE:7
#EXT-X-SKIP:SKIPPED-SEGMENTS=3
#EXT-X-MAP:URI="init0.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-12-02T03:56:49.894Z
#EXT-X-PART:DURATION=0.200,URI="part10.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI="part10.1.mp4"
#EXTINF:0.400,
seg10.mp4
#EXT-X-PROGRAM-DATE-TIME:2026-12-02T03:56:50.294Z
#EXT-X-PART:DURATION=0.200,URI="part11.0.mp4",INDEPENDENT=YES
#EXT-X-PART:DURATION=0.200,URI="part11.1.mp4"
#EXT-X-PART:DURATION=0.150,URI="part11.2.mp4",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="part11.3.mp4"
#EXT-X-RENDITION-REPORT:URI="../a/index.m3u8",LAST-MSN=11,LAST-PART=2
`

func TestParseMedia(t *testing.T) {
	m, err := parseMedia(testMedia)
	if err != nil {
		t.Fatal(err)
	}
	if m.target != 4*time.Second || m.partTarget != 200*time.Millisecond || m.partHoldBack != 600*time.Millisecond || !m.canBlock || m.ended {
		t.Errorf("header: %+v", m)
	}
	if len(m.segs) != 2 || m.segs[0].msn != 10 || m.segs[0].uri != "seg10.mp4" || m.segs[1].msn != 11 || m.segs[1].uri != "" {
		t.Fatalf("segments: %+v", m.segs)
	}
	s := m.segs[1]
	if s.mapURI != "init0.mp4" || len(s.parts) != 3 || s.parts[2].offset != 400*time.Millisecond || !s.parts[2].independent {
		t.Errorf("segment in progress: %+v", s)
	}
	if want := time.Date(2026, 12, 2, 3, 56, 50, 294e6, time.UTC); !s.pdt.Equal(want) {
		t.Errorf("date %v, want %v", s.pdt, want)
	}
	// Part 11.0 starts 0.55 s before the edge, short of PART-HOLD-BACK;
	// 10.1 is the first far enough, but not independent: 10.0.
	if c, ok := m.start(); !ok || c != (cursor{10, 0}) {
		t.Errorf("start %v %v, want 10.0", c, ok)
	}
	m.partHoldBack = 500 * time.Millisecond
	if c, ok := m.start(); !ok || c != (cursor{11, 0}) {
		t.Errorf("start with a 0.5 s hold-back %v %v, want 11.0", c, ok)
	}
	m.partHoldBack = 2 * time.Second // longer than the playlist: its oldest independent part
	if c, ok := m.start(); !ok || c != (cursor{10, 0}) {
		t.Errorf("start with a long hold-back %v %v, want 10.0", c, ok)
	}
	subs, err := parseMedia("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:3\n#EXTINF:2.000,\nseg3.vtt\n#EXTINF:2.000,\nseg4.vtt\n#EXT-X-ENDLIST\n")
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := subs.start(); !ok || c != (cursor{msn: 4}) || !subs.ended || subs.partTarget != 0 {
		t.Errorf("subtitles: start %v %v, ended %v", c, ok, subs.ended)
	}
	empty, _ := parseMedia("#EXTM3U\n#EXT-X-TARGETDURATION:4\n#EXT-X-PART-INF:PART-TARGET=0.2\n")
	if _, ok := empty.start(); ok {
		t.Error("started on an empty playlist")
	}
	if _, err := parseMedia("#EXTM3U\n#EXTINF:2,\nseg0.mp4\n"); err == nil {
		t.Error("no target duration accepted")
	}
}

func TestBlockingURL(t *testing.T) {
	u, _ := url.Parse("http://cdn/hls/r/S1/v/index.m3u8?token=a%2Bb")
	if got := blockingURL(u, cursor{12, 3}, true); got != "http://cdn/hls/r/S1/v/index.m3u8?_HLS_msn=12&_HLS_part=3&token=a%2Bb" {
		t.Errorf("with parts: %s", got)
	}
	if got := blockingURL(u, cursor{msn: 12}, false); got != "http://cdn/hls/r/S1/v/index.m3u8?_HLS_msn=12&token=a%2Bb" {
		t.Errorf("without parts: %s", got)
	}
}

// fakeCaptions gives the packager one caption language with a cue a second.
type fakeCaptions struct{ start time.Time }

func (f fakeCaptions) Languages(string) []string { return []string{"en"} }
func (f fakeCaptions) Finals(string, string) []hls.Cue {
	var out []hls.Cue
	for i := range int(time.Since(f.start) / time.Second) {
		out = append(out, hls.Cue{Seq: uint64(i + 1), Text: fmt.Sprintf("cue %d", i), Start: f.start.Add(time.Duration(i) * time.Second)})
	}
	return out
}

// TestHLSSmoke runs players against an in-process relay packaging the
// demo clip: they play, video, audio and subtitles, without an error,
// close behind live; nothing is left running.
func TestHLSSmoke(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	a, _ := auth.New([]byte("hls-smoke-secret-0123456789"))
	srv, err := relay.New(relay.Config{Auth: a, BindIP: net.IPv4(127, 0, 0, 1), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	pk := hls.New(hls.Config{Media: hls.RelayMedia(srv), Captions: fakeCaptions{time.Now()}, Log: slog.New(slog.DiscardHandler), SegmentTarget: time.Second})
	mux := http.NewServeMux()
	pk.Register(mux)
	hs := httptest.NewServer(mux)
	defer hs.Close()
	ctx, cancel := context.WithCancel(t.Context())
	published := make(chan struct{})
	go func() {
		defer close(published)
		c, _ := clip.Demo()
		_ = srv.PublishClip(ctx, "smoke", "", c)
	}()
	pk.Start()
	defer func() { cancel(); <-published; pk.Close() }()

	var progress strings.Builder
	sum, err := RunHLS(t.Context(), HLSConfig{URL: hs.URL, Room: "smoke", Players: 3, Subtitles: "en",
		Ramp: 300 * time.Millisecond, Settle: 1500 * time.Millisecond, Duration: 3 * time.Second, Progress: &progress})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum.Line())
	if sum.PlayersOK != 3 || sum.Errors != 0 || sum.Resyncs != 0 {
		t.Errorf("players %d/3 playing, %d errors (%v), %d resyncs", sum.PlayersOK, sum.Errors, sum.ErrorReasons, sum.Resyncs)
	}
	// 3 players, 3 s, a video and an audio part every 200 ms: 90.
	if sum.Parts < 60 || sum.SubtitleSegments == 0 || sum.Bytes == 0 {
		t.Errorf("too little played: %s", sum.JSON())
	}
	if sum.BehindP50 < 150 || sum.BehindP50 > 2000 {
		t.Errorf("behind live p50 %.0f ms: parts last 200 ms and come as soon as they are whole", sum.BehindP50)
	}
	if !strings.Contains(progress.String(), "hls:") {
		t.Errorf("no progress: %q", progress.String())
	}
	if live, err := HLSLive(t.Context(), hs.URL, "smoke", ""); !live || err != nil {
		t.Errorf("live room: %v %v", live, err)
	}
	if live, err := HLSLive(t.Context(), hs.URL, "nothing", ""); live || err != nil {
		t.Errorf("room off air: %v %v", live, err)
	}
}

// A cache that answers blocking reloads with a stale playlist must not
// make players spin: they count an error and wait a part target each time.
func TestHLSStaleBlockingReload(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var requests, parts atomic.Int64
	hs := staleOrigin(&requests, &parts)
	defer hs.Close()
	sum, err := RunHLS(t.Context(), HLSConfig{URL: hs.URL, Room: "r", Players: 2, Settle: 100 * time.Millisecond, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum.Line(), sum.ErrorReasons)
	// At most a reload per part target (200 ms) per player, and a few
	// to join: not thousands.
	if n := requests.Load(); n > 20 {
		t.Errorf("%d playlist requests in 1.1 s from 2 players", n)
	}
	if sum.Errors == 0 || !strings.Contains(strings.Join(sum.ErrorReasons, " "), "does not hold segment 11 part 3") {
		t.Errorf("stale answers not counted: %s", sum.JSON())
	}
	if parts.Load() == 0 {
		t.Error("the parts listed were not fetched")
	}
}

// End cuts the window short and the run still reports it.
func TestHLSEndsEarly(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var requests, parts atomic.Int64
	hs := staleOrigin(&requests, &parts)
	defer hs.Close()
	end := make(chan struct{})
	time.AfterFunc(500*time.Millisecond, func() { close(end) })
	began := time.Now()
	sum, err := RunHLS(t.Context(), HLSConfig{URL: hs.URL, Room: "r", Players: 1, Settle: 100 * time.Millisecond, Duration: time.Minute, End: end})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(began); took > 5*time.Second || sum.WindowSeconds > 1 {
		t.Errorf("a 1-minute window closed after 0.5 s took %v, window %.1f s", took, sum.WindowSeconds)
	}
}

// staleOrigin serves one room whose video playlist never changes, whatever
// a blocking reload asks: a broken cache in front of a relay.
func staleOrigin(requests, parts *atomic.Int64) *httptest.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hls/r/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nS/v/index.m3u8\n")
	})
	mux.HandleFunc("GET /hls/r/S/v/index.m3u8", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		fmt.Fprint(w, testMedia) // whatever was asked
	})
	mux.HandleFunc("GET /hls/r/S/v/{file}", func(w http.ResponseWriter, r *http.Request) {
		parts.Add(1)
		fmt.Fprint(w, "data")
	})
	return httptest.NewServer(mux)
}
