package monitoring

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/player"
	"github.com/relay-av/relay/relay"
)

// fakeRooms is an SFU whose rooms and viewers the test sets: the monitor
// page is checked against exact figures.
type fakeRooms struct {
	mu      sync.Mutex
	rooms   []relay.RoomInfo
	viewers map[string][]relay.ViewerInfo
}

func (f *fakeRooms) Rooms() []relay.RoomInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]relay.RoomInfo(nil), f.rooms...)
}

func (f *fakeRooms) set(rooms []relay.RoomInfo) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.rooms = rooms
}

func (f *fakeRooms) Viewers(room string) ([]relay.ViewerInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs, ok := f.viewers[room]
	if !ok {
		return nil, relay.ErrNotFound
	}
	return append([]relay.ViewerInfo(nil), vs...), nil // encoded after the lock is let go
}

func (f *fakeRooms) DisconnectPublisher(string) error   { return relay.ErrNotFound }
func (f *fakeRooms) DisconnectViewer(_, _ string) error { return relay.ErrNotFound }

func level(dbov, silent float64) relay.Level { return relay.Level{DBov: &dbov, SilentSeconds: &silent} }

// channelRooms: a plenary with its floor and four channels (Arabic and
// German booths live, French live without levels, the ASL sign channel
// down with a delegate on it, Spanish declared without a booth), and a
// side room in a break: its floor and its booth both silent.
func channelRooms(now time.Time, frListeners int, aseLive bool) []relay.RoomInfo {
	since := now.Add(-10 * time.Minute)
	return []relay.RoomInfo{
		{
			Name: "plenary", Title: "Plenary hall", State: relay.StateLive, Since: since, Viewers: 22,
			Publisher: &relay.PubInfo{Tag: "p1", Since: since}, Tracks: []relay.TrackInfo{},
			Floor: relay.FloorInfo{Listeners: 12, Level: level(-18, 0.2)},
			Channels: []relay.ChannelInfo{
				{Lang: "ar", Kind: relay.KindAudio, Live: true, Viewers: 3, Since: now.Add(-90 * time.Second), Interpreter: "p14", Level: level(-22, 0.4)},
				{Lang: "ase", Kind: relay.KindSign, Live: aseLive, Viewers: 1, Since: now.Add(-40 * time.Second)},
				{Lang: "de", Kind: relay.KindAudio, Live: true, Viewers: 0, Since: since, Interpreter: "p21", Level: level(-70, 45)},
				{Lang: "fr", Kind: relay.KindAudio, Live: true, Viewers: frListeners, Since: since, Interpreter: "p9"},
			},
			Languages: []string{"ar", "de", "es", "fr"},
		},
		{
			Name: "side", Title: "Side room", State: relay.StateLive, Since: since, Viewers: 4,
			Publisher: &relay.PubInfo{Tag: "p2", Since: since}, Tracks: []relay.TrackInfo{},
			Floor: relay.FloorInfo{Listeners: 2, Level: level(-90, 40)},
			Channels: []relay.ChannelInfo{
				{Lang: "fr", Kind: relay.KindAudio, Live: true, Viewers: 2, Since: since, Interpreter: "p30", Level: level(-80, 45)},
			},
			Languages: []string{"fr"},
		},
	}
}

// TestBrowserMonitorChannels: the monitor page in headless Chromium lists
// each room's floor and language channels from the snapshot with their
// listener counts, native names, kinds, interpreters, levels and since
// when; it flags a channel down while delegates selected it and a booth
// silent for over 30 s while the floor speaks (not one silent in a break),
// follows the next snapshots, and shows an admin each viewer's selection
// and what it plays now.
func TestBrowserMonitorChannels(t *testing.T) {
	a, _ := auth.New([]byte("monitoring-test-secret-0123"))
	now := time.Now()
	fake := &fakeRooms{
		rooms: channelRooms(now, 5, false),
		viewers: map[string][]relay.ViewerInfo{"plenary": {
			{Tag: "v1", Since: now, Audio: "fr", Sign: "", Video: "auto", PlayingAudio: "fr"},
			{Tag: "v2", Since: now, Audio: "ar", Sign: "ase", Video: "auto", PlayingAudio: "ar", PlayingSign: ""},
			{Tag: "v3", Since: now, Audio: "floor", Video: "auto", PlayingAudio: "floor"},
		}},
	}
	done := make(chan struct{})
	mux := http.NewServeMux()
	New(Params{Relay: fake, Admin: fake, Auth: a, Logger: slog.New(slog.DiscardHandler), Done: done}).Register(mux)
	player.Register(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		close(done)
		hs.Close()
	})

	b := newBrowser(t)
	b.do(10*time.Second, chromedp.EmulateViewport(1280, 900))
	b.do(20*time.Second, chromedp.Navigate(hs.URL+"/monitor"))
	plenary := `document.querySelector('[data-room="plenary"]')`
	row := func(room, lang, kind string) string {
		return `document.querySelector('[data-room="` + room + `"] tr[data-channel="` + lang + `"][data-kind="` + kind + `"]')`
	}
	listeners := func(room, lang, kind, want string) string {
		return row(room, lang, kind) + `?.querySelector('[data-col="listeners"]')?.textContent === '` + want + `'`
	}
	b.wait(15*time.Second, "the floor and each channel with its listeners",
		listeners("plenary", "floor", "audio", "12")+` && `+listeners("plenary", "ar", "audio", "3")+` && `+
			listeners("plenary", "ase", "sign", "1")+` && `+listeners("plenary", "fr", "audio", "5")+` && `+
			listeners("plenary", "de", "audio", "0")+` && `+listeners("side", "fr", "audio", "2"))
	b.wait(5*time.Second, "native names, kinds and interpreters",
		row("plenary", "ar", "audio")+`.querySelector('span[lang="ar"]').textContent === 'العربية' && `+
			row("plenary", "ar", "audio")+`.querySelector('span[lang="ar"]').dir === 'rtl' && `+
			row("plenary", "fr", "audio")+`.querySelector('span[lang="fr"]').textContent === 'Français' && `+
			row("plenary", "ase", "sign")+`.querySelector('[data-col="kind"]').textContent === 'sign' && `+
			row("plenary", "ar", "audio")+`.querySelector('[data-col="kind"]').textContent === 'booth' && `+
			row("plenary", "ar", "audio")+`.querySelector('[data-col="interpreter"]').textContent === 'p14'`)
	b.wait(5*time.Second, "levels as meters, 'no level' without them",
		row("plenary", "ar", "audio")+`.querySelector('meter').value === -22 && `+
			row("plenary", "floor", "audio")+`.querySelector('meter').value === -18 && `+
			row("plenary", "de", "audio")+`.querySelector('meter').value === -60 && `+
			row("plenary", "fr", "audio")+`.querySelector('[data-col="level"]').textContent === 'no level'`)
	b.wait(5*time.Second, "the sign channel down with a delegate on it flagged, live channels not",
		row("plenary", "ase", "sign")+`.dataset.problem === 'down' && `+row("plenary", "ase", "sign")+`.dataset.state === 'down' && `+
			row("plenary", "ar", "audio")+`.dataset.problem === '' && `+row("plenary", "fr", "audio")+`.dataset.problem === ''`)
	b.wait(5*time.Second, "the German booth silent while the floor speaks flagged; the side room's booth in a break not",
		row("plenary", "de", "audio")+`.dataset.problem === 'silent' && `+
			row("plenary", "de", "audio")+`.querySelector('[data-col="silent"]').textContent === 'silent for 45 s' && `+
			row("side", "fr", "audio")+`.dataset.problem === '' && `+
			row("side", "fr", "audio")+`.querySelector('[data-col="silent"]').textContent === 'silent for 45 s'`)
	b.wait(5*time.Second, "since when, Spanish without a booth, the cards' alert state",
		row("plenary", "ar", "audio")+`.querySelector('[data-col="since"]').textContent === 'for 1 min' && `+
			`document.querySelector('[data-room="plenary"] tr[data-channel="es"]')?.dataset.state === 'none' && `+
			plenary+`.dataset.alert === 'true' && document.querySelector('[data-room="side"]').dataset.alert === 'false' && `+
			`document.querySelector('#total-channels').textContent === '4 / 5'`)
	b.screenshot("monitor-channels")

	// The next snapshots: a sixth French listener, the sign channel back.
	fake.set(channelRooms(now, 6, true))
	b.wait(10*time.Second, "the page follows the snapshots",
		listeners("plenary", "fr", "audio", "6")+` && `+row("plenary", "ase", "sign")+`.dataset.problem === '' && `+
			row("plenary", "ase", "sign")+`.dataset.state === 'live' && document.querySelector('#total-channels').textContent === '5 / 5'`)

	// An admin sees each viewer's selection and what it plays now.
	tok, err := a.Issue(auth.RoleAdmin, "*", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	b.do(10*time.Second,
		chromedp.SetValue(chromedp.CSS(`#admin-token`), tok),
		chromedp.Click(chromedp.CSS(`#admin-save`)))
	b.clickNow(10*time.Second, `[data-room="plenary"] [data-action="viewers"]`)
	sel := func(i int, want string) string {
		return plenary + `.querySelectorAll('.viewers li [data-col="selection"]')[` + strconv.Itoa(i) + `]?.textContent === '` + want + `'`
	}
	b.wait(10*time.Second, "the viewers' selections",
		sel(0, "audio fr")+` && `+sel(1, "audio ar · sign ase (down)")+` && `+sel(2, "audio floor"))
	fake.mu.Lock()
	fake.viewers["plenary"][0].PlayingAudio = "floor" // the French booth dropped for v1
	fake.mu.Unlock()
	b.wait(15*time.Second, "a viewer hearing the floor while its booth is down",
		sel(0, "audio floor (fr down)")+` && `+plenary+`.querySelector('.viewers li [data-col="selection"]').classList.contains('warn')`)
	b.screenshot("monitor-channels-viewers")
	b.checkConsole()
}
