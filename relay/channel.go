package relay

import (
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/internal/langtag"
)

// channel is one source of a room's media that viewers select: the floor
// (lang "") or a language channel, an interpreter booth's audio or a
// sign-language interpreter's video. Its publishers come and go (booth
// handover, a replaced encoder) while viewers' forwarders stay in its
// track groups; a viewer's selection moves its forwarders from one
// channel's group to another's (see viewer.retarget). The fields after
// groups are guarded by Room.mu.
type channel struct {
	lang   string
	groups map[webrtc.RTPCodecType]*trackGroup

	state     State
	since     time.Time
	publisher *publisher
	// pending are publishers answered but not yet sending: the first of
	// them to send takes the channel over, so an encoder that never
	// connects (or a stolen token) cannot take it off air.
	pending  map[*publisher]struct{}
	everLive bool
	// flowing says, per kind, whether media arrives now: what the
	// listeners were last moved by; flowSince is when that last changed.
	flowing   map[webrtc.RTPCodecType]bool
	flowSince map[webrtc.RTPCodecType]time.Time

	// layers are the video groups by simulcast layer; "" is groups[video]
	// (a publisher without simulcast). layerFlowing says which have media
	// now; flowing[video] is any of them. lastBest is the layer "auto"
	// viewers were last given, rates the layers' measured bitrates.
	layers       map[string]*trackGroup
	layerFlowing map[string]bool
	lastBest     string
	rates        map[string]*layerRate
}

func newChannel(lang string) *channel {
	ch := &channel{
		lang: lang, state: StateIdle, since: time.Now(), pending: map[*publisher]struct{}{},
		flowing: map[webrtc.RTPCodecType]bool{}, flowSince: map[webrtc.RTPCodecType]time.Time{},
		groups: map[webrtc.RTPCodecType]*trackGroup{
			webrtc.RTPCodecTypeVideo: newTrackGroup(webrtc.RTPCodecTypeVideo),
			webrtc.RTPCodecTypeAudio: newTrackGroup(webrtc.RTPCodecTypeAudio),
		},
	}
	for _, g := range ch.groups {
		g.lang = lang
	}
	ch.layers = map[string]*trackGroup{"": ch.groups[webrtc.RTPCodecTypeVideo]}
	ch.layerFlowing, ch.rates = map[string]bool{}, map[string]*layerRate{}
	return ch
}

// stallAfter is how long a language channel may go without a packet
// before its listeners get the floor: an interpreter whose connection
// died sends no DELETE. Opus sends a packet every 20 ms (every 400 ms
// at most with DTX), video at least one frame a second.
const stallAfter = 1500 * time.Millisecond

// channelWatchEvery is how often the server looks for booths that stalled
// or resumed (a new publisher is noticed at once, not by this loop).
const channelWatchEvery = 100 * time.Millisecond

// maxChannels bounds a room's language channels.
const maxChannels = 32

// groupFlowing says whether media of g (one of ch's groups) arrives now.
func (ch *channel) groupFlowing(g *trackGroup, now int64) bool {
	if ch.state != StateLive {
		return false
	}
	s := g.current.Load()
	if s == nil {
		return false
	}
	at := s.lastReadAt.Load()
	if at == 0 {
		at = s.started.UnixNano()
	}
	return now-at < int64(stallAfter)
}

// update recomputes what flows in ch and says whether anything changed
// (Room.mu held).
func (ch *channel) update(now int64) bool {
	changed := false
	video := false
	for rid, g := range ch.layers {
		f := ch.groupFlowing(g, now)
		if f != ch.layerFlowing[rid] {
			ch.layerFlowing[rid], changed = f, true
		}
		video = video || f
	}
	audio := ch.groupFlowing(ch.groups[webrtc.RTPCodecTypeAudio], now)
	for k, f := range map[webrtc.RTPCodecType]bool{webrtc.RTPCodecTypeAudio: audio, webrtc.RTPCodecTypeVideo: video} {
		if f != ch.flowing[k] {
			ch.flowing[k], ch.flowSince[k], changed = f, time.Unix(0, now), true
		}
	}
	ch.measureLayers(now)
	return changed
}

// selection is what a viewer chose: audio is "" for the floor, sign ""
// for none; both are canonical language tags otherwise.
type selection struct {
	audio, sign, video string
}

// targets is where each of a viewer's tracks belongs for a selection:
// nil where the track carries nothing.
type targets struct {
	audio, floorAudio, video, sign *trackGroup
	playingAudio, playingSign      string // "" the floor / no sign
	playingLayer                   string // the floor video layer's rid
	playingHeight                  int    // its picture height, 0 unknown
}

func (t targets) of(role trackRole) *trackGroup {
	switch role {
	case roleAudio:
		return t.audio
	case roleFloorAudio:
		return t.floorAudio
	case roleVideo:
		return t.video
	}
	return t.sign
}

// targets resolves sel against the room's channels now: a booth that is
// down leaves the floor in the first audio track, and the second audio
// track (the floor under the interpretation) carries nothing while the
// first is the floor itself.
func (r *Room) targets(sel selection, auto *autoPick) targets {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := targets{audio: r.floor.groups[webrtc.RTPCodecTypeAudio]}
	switch {
	case sel.video != "auto" && sel.video != "" || auto == nil:
		t.video = r.floor.pickLayer(sel.video)
	case auto.paused:
		// The viewer's link carries less than the lowest layer: audio and
		// captions only, until the estimate recovers.
	default:
		t.video = r.floor.pickLayer(auto.rid)
	}
	if ch := r.channels[sel.audio]; sel.audio != "" && ch != nil && ch.flowing[webrtc.RTPCodecTypeAudio] {
		t.floorAudio = t.audio
		t.audio, t.playingAudio = ch.groups[webrtc.RTPCodecTypeAudio], sel.audio
	}
	if ch := r.channels[sel.sign]; sel.sign != "" && ch != nil && ch.flowing[webrtc.RTPCodecTypeVideo] {
		t.sign, t.playingSign = ch.pickLayer("auto"), sel.sign
	}
	return t
}

// channelFor returns the language channel lang ("" the floor), creating
// it for a publisher.
func (r *Room) channelFor(lang string) (*channel, error) {
	if lang == "" {
		return r.floor, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch := r.channels[lang]; ch != nil {
		return ch, nil
	}
	if len(r.channels) >= maxChannels {
		return nil, httperr.New(http.StatusConflict, "room %s has %d language channels, the most it may have", r.cfg.Name, maxChannels)
	}
	ch := newChannel(lang)
	r.channels[lang] = ch
	return ch, nil
}

// allChannelsLocked is the floor and then the language channels.
func (r *Room) allChannelsLocked() []*channel {
	out := make([]*channel, 0, 1+len(r.channels))
	out = append(out, r.floor)
	for _, ch := range r.channels {
		out = append(out, ch)
	}
	return out
}

// refresh moves ch's listeners when its media starts or stops flowing:
// to the booth when it is live, to the floor (or nothing, for sign
// video) when it is not. Events call it (a publish, a DELETE, a lost
// connection) and the server's watch loop calls it for stalls.
func (r *Room) refresh(ch *channel) {
	now := time.Now().UnixNano()
	r.mu.Lock()
	changed := ch.update(now)
	var listeners []*viewer
	var taps []*Tap
	if changed {
		taps = r.tapsForLocked(ch)
		for _, v := range r.viewers {
			// Every viewer watches the floor's video; a language
			// channel's are those who chose it.
			if sel := v.sel.Load(); ch == r.floor || sel.audio == ch.lang || sel.sign == ch.lang {
				listeners = append(listeners, v)
			}
		}
	}
	r.mu.Unlock()
	for _, v := range listeners {
		v.retarget()
	}
	for _, t := range taps {
		t.retarget()
	}
}

// channelChanged is refresh for a state change of a channel.
func (r *Room) channelChanged(ch *channel) { r.refresh(ch) }

// watchChannels refreshes every channel, the floor's layers too: the watch
// loop's tick.
func (r *Room) watchChannels() {
	r.mu.Lock()
	chs := r.allChannelsLocked()
	r.mu.Unlock()
	for _, ch := range chs {
		r.refresh(ch)
	}
}

// selectValue reads one field of a selection: audio is "floor" (or "")
// or a language, sign "" (or "none") or a language, video "auto" (or "").
// A language must be one the room declares or has had live.
func (r *Room) selectValue(field, value string) (string, error) {
	switch field {
	case "audio":
		return r.selectable(value, FloorLang, field)
	case "sign":
		return r.selectable(value, "none", field)
	}
	return r.selectLayer(value)
}

// selectable canonicalises one selected language; none ("floor",
// "none") and "" select nothing.
func (r *Room) selectable(lang, none, what string) (string, error) {
	if lang == "" || lang == none {
		return "", nil
	}
	// A tag that does not parse names no channel of the room either: the
	// same 422, with the list to choose from.
	canon, err := langtag.Canonical(lang)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		return "", httperr.New(http.StatusUnprocessableEntity, "%s: %q is not a language tag; room %s has: %s", what, lang, r.cfg.Name, strings.Join(r.knownLanguagesLocked(), ", "))
	}
	if ch := r.channels[canon]; (ch != nil && ch.everLive) || slices.Contains(r.cfg.Languages, canon) {
		return canon, nil
	}
	return "", httperr.New(http.StatusUnprocessableEntity, "%s: room %s has no %s channel; it has: %s", what, r.cfg.Name, canon, strings.Join(r.knownLanguagesLocked(), ", "))
}

// knownLanguagesLocked lists the languages a viewer may select.
func (r *Room) knownLanguagesLocked() []string {
	out := append([]string{"floor"}, r.cfg.Languages...)
	for lang, ch := range r.channels {
		if ch.everLive && !slices.Contains(out, lang) {
			out = append(out, lang)
		}
	}
	sort.Strings(out[1:])
	return out
}

// selectionJSON is a selection as /select answers it.
type selectionJSON struct {
	Audio   string      `json:"audio"`
	Sign    string      `json:"sign"`
	Video   string      `json:"video"`
	Playing playingJSON `json:"playing"`
	// EstimateBps is what the viewer's path carries by its congestion
	// feedback (0 while unknown); it drives "auto".
	EstimateBps uint64 `json:"estimateBps"`
}

type playingJSON struct {
	Audio string `json:"audio"`
	Sign  string `json:"sign"`
	// Video is the layer the video track carries now ("" with a single
	// layer) and Height its picture height (0 unknown).
	Video  string `json:"video"`
	Height int    `json:"height"`
}

func orFloor(lang string) string {
	if lang == "" {
		return FloorLang
	}
	return lang
}

func (s selection) json(t targets) selectionJSON {
	return selectionJSON{Audio: orFloor(s.audio), Sign: s.sign, Video: s.video,
		Playing: playingJSON{Audio: orFloor(t.playingAudio), Sign: t.playingSign, Video: t.playingLayer, Height: t.playingHeight}}
}

// canonicalLanguages validates a room's declared languages.
func canonicalLanguages(room string, langs []string) ([]string, error) {
	out := make([]string, 0, len(langs))
	for _, l := range langs {
		c, err := langtag.Canonical(l)
		if err != nil {
			return nil, fmt.Errorf("relay: room %s: %w", room, err)
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out, nil
}
