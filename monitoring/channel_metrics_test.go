package monitoring

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/peer"
)

// fakeStats is a relay whose Stats are fixed by the test.
type fakeStats []relay.RoomStats

func (f fakeStats) Stats() []relay.RoomStats { return f }

// scrapeSeries serves one scrape of m and returns its samples whose name
// starts with prefix, keyed by the series as exposed (labels sorted).
func scrapeSeries(t *testing.T, m *Metrics, prefix string) map[string]float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d\n%s", rec.Code, rec.Body)
	}
	out := map[string]float64{}
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("sample %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestChannelMetrics: the channel series say exactly what Stats says:
// listeners per language with the floor, live state per language channel
// and kind (never the floor), levels and silence only where the publisher
// sends levels, one listeners series for a language with both a booth and
// a sign channel, and the switch counter of every room.
func TestChannelMetrics(t *testing.T) {
	m := NewMetrics(nil)
	m.Watch(fakeStats{
		{Room: "plenary", ChannelSwitches: 42, Channels: []relay.ChannelStats{
			{Lang: relay.FloorLang, Kind: relay.KindAudio, Live: true, Listeners: 12, Level: -18, Silent: 200 * time.Millisecond, HasLevel: true},
			{Lang: "ar", Kind: relay.KindAudio, Live: true, Listeners: 3, Level: -22, Silent: 400 * time.Millisecond, HasLevel: true},
			{Lang: "ase", Kind: relay.KindSign, Live: false, Listeners: 1},
			{Lang: "fr", Kind: relay.KindAudio, Live: true, Listeners: 5}, // a demo clip: no levels
		}},
		// A sign interpreter with the microphone on: one booth and one sign
		// channel under the same tag.
		{Room: "side", ChannelSwitches: 7, Channels: []relay.ChannelStats{
			{Lang: relay.FloorLang, Kind: relay.KindAudio, Live: true, Listeners: 0},
			{Lang: "bfi", Kind: relay.KindAudio, Live: true, Listeners: 2, Level: -127, Silent: 31500 * time.Millisecond, HasLevel: true},
			{Lang: "bfi", Kind: relay.KindSign, Live: true, Listeners: 4},
		}},
		{Room: "empty"}, // no floor audio, no channels
	}, nil, Limits{})

	got := scrapeSeries(t, m, "relay_channel_")
	want := map[string]float64{
		`relay_channel_listeners{lang="floor",room="plenary"}`:        12,
		`relay_channel_listeners{lang="ar",room="plenary"}`:           3,
		`relay_channel_listeners{lang="ase",room="plenary"}`:          1,
		`relay_channel_listeners{lang="fr",room="plenary"}`:           5,
		`relay_channel_live{kind="audio",lang="ar",room="plenary"}`:   1,
		`relay_channel_live{kind="sign",lang="ase",room="plenary"}`:   0,
		`relay_channel_live{kind="audio",lang="fr",room="plenary"}`:   1,
		`relay_channel_audio_level_dbov{lang="floor",room="plenary"}`: -18,
		`relay_channel_audio_level_dbov{lang="ar",room="plenary"}`:    -22,
		`relay_channel_silent_seconds{lang="floor",room="plenary"}`:   0.2,
		`relay_channel_silent_seconds{lang="ar",room="plenary"}`:      0.4,
		`relay_channel_switches_total{room="plenary"}`:                42,
		`relay_channel_listeners{lang="floor",room="side"}`:           0,
		`relay_channel_listeners{lang="bfi",room="side"}`:             6,
		`relay_channel_live{kind="audio",lang="bfi",room="side"}`:     1,
		`relay_channel_live{kind="sign",lang="bfi",room="side"}`:      1,
		`relay_channel_audio_level_dbov{lang="bfi",room="side"}`:      -127,
		`relay_channel_silent_seconds{lang="bfi",room="side"}`:        31.5,
		`relay_channel_switches_total{room="side"}`:                   7,
		`relay_channel_switches_total{room="empty"}`:                  0,
	}
	for series, v := range want {
		if g, ok := got[series]; !ok {
			t.Errorf("%s missing", series)
		} else if g != v {
			t.Errorf("%s = %v, want %v", series, g, v)
		}
	}
	// Nothing else: no level where HasLevel is false (fr, ase, the side
	// room's floor), no live state for the floor.
	for series, v := range got {
		if _, ok := want[series]; !ok {
			t.Errorf("unexpected series %s %v", series, v)
		}
	}
}

// TestChannelMetricsFollowStats: the gauges are read at each scrape, and
// a booth's level series goes when its levels do.
func TestChannelMetricsFollowStats(t *testing.T) {
	stats := &mutableStats{rooms: []relay.RoomStats{{Room: "plenary", Channels: []relay.ChannelStats{
		{Lang: relay.FloorLang, Kind: relay.KindAudio, Listeners: 2},
		{Lang: "fr", Kind: relay.KindAudio, Live: true, Listeners: 1, Level: -30, HasLevel: true},
	}}}}
	m := NewMetrics(nil)
	m.Watch(stats, nil, Limits{})
	if got := scrapeSeries(t, m, "relay_channel_audio_level_dbov")[`relay_channel_audio_level_dbov{lang="fr",room="plenary"}`]; got != -30 {
		t.Fatalf("fr level = %v, want -30", got)
	}
	stats.rooms = []relay.RoomStats{{Room: "plenary", ChannelSwitches: 3, Channels: []relay.ChannelStats{
		{Lang: relay.FloorLang, Kind: relay.KindAudio, Listeners: 3},
		{Lang: "fr", Kind: relay.KindAudio, Live: false, Listeners: 0},
	}}}
	got := scrapeSeries(t, m, "relay_channel_")
	want := map[string]float64{
		`relay_channel_listeners{lang="floor",room="plenary"}`:      3,
		`relay_channel_listeners{lang="fr",room="plenary"}`:         0,
		`relay_channel_live{kind="audio",lang="fr",room="plenary"}`: 0,
		`relay_channel_switches_total{room="plenary"}`:              3,
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
	for series, v := range want {
		if g, ok := got[series]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", series, g, ok, v)
		}
	}
}

// mutableStats is a fake relay whose rooms a test replaces between scrapes
// (scrapes run on the test's goroutine).
type mutableStats struct{ rooms []relay.RoomStats }

func (s *mutableStats) Stats() []relay.RoomStats { return s.rooms }

// TestChannelMetricsFollowReality: with a real floor publisher, a booth
// publishing French into the relay and real viewers choosing French or
// the floor, the channel series count them; when the booth stops, the
// channel is down, its listeners stay counted on it (they hear the floor
// meanwhile) and their tracks' moves to the floor are counted as switches.
func TestChannelMetricsFollowReality(t *testing.T) {
	s := newStackWith(t, stackOpts{rooms: []relay.RoomConfig{{Name: "hall", Languages: []string{"fr"}}}})
	s.publish(t, "hall")
	booth, err := clip.Booth("fr")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stopBooth := context.WithCancel(t.Context())
	boothDone := make(chan struct{})
	var boothErr error // read after boothDone
	go func() {
		defer close(boothDone)
		boothErr = s.sfu.PublishClip(ctx, "hall", "fr", booth)
	}()
	t.Cleanup(func() { stopBooth(); <-boothDone })
	const live, fr, floor = `relay_channel_live{kind="audio",lang="fr",room="hall"}`,
		`relay_channel_listeners{lang="fr",room="hall"}`, `relay_channel_listeners{lang="floor",room="hall"}`
	waitMetric(t, "the French booth live", func() bool { return s.value(t, live) == 1 })

	for _, q := range []string{"?audio=fr", "?audio=fr", ""} {
		v, err := peer.View(t.Context(), peer.ViewConfig{URL: s.url + "/whep/hall" + q, Options: peer.Options{Loopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close(true)
	}
	waitMetric(t, "2 French listeners and 1 on the floor", func() bool { return s.value(t, fr) == 2 && s.value(t, floor) == 1 })
	// Neither the clip booth nor the peer publisher sends audio levels.
	for _, series := range []string{`relay_channel_audio_level_dbov{lang="fr",room="hall"}`, `relay_channel_silent_seconds{lang="fr",room="hall"}`,
		`relay_channel_audio_level_dbov{lang="floor",room="hall"}`} {
		if v := s.value(t, series); v != -1 {
			t.Errorf("%s = %v without levels from the publisher", series, v)
		}
	}
	switches := s.value(t, `relay_channel_switches_total{room="hall"}`)
	if switches < 0 {
		t.Fatal("relay_channel_switches_total missing")
	}

	stopBooth()
	<-boothDone
	if boothErr != nil {
		t.Fatalf("booth: %v", boothErr)
	}
	waitMetric(t, "the French booth down", func() bool { return s.value(t, live) == 0 })
	if got := s.value(t, fr); got != 2 {
		t.Errorf("French listeners %v while the booth is down, want 2 (still selected)", got)
	}
	waitMetric(t, "the French listeners' moves to the floor counted", func() bool {
		return s.value(t, `relay_channel_switches_total{room="hall"}`) >= switches+2
	})

	// /api/rooms says the same as the metrics.
	resp, err := http.Get(s.url + "/api/rooms")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body snapshotMessage
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if len(body.Rooms) != 1 || len(body.Rooms[0].Channels) != 1 {
		t.Fatalf("rooms %+v, want hall with one channel", body.Rooms)
	}
	if c := body.Rooms[0].Channels[0]; c.Lang != "fr" || c.Kind != relay.KindAudio || c.Live || c.Viewers != 2 {
		t.Errorf("/api/rooms channel %+v, want fr audio down with 2 viewers", c)
	}
	if l := body.Rooms[0].Floor.Listeners; l != 1 {
		t.Errorf("/api/rooms floor listeners %d, want 1", l)
	}
}
