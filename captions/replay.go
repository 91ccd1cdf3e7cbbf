package captions

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/asticode/go-astisub"
	"github.com/gorilla/websocket"
)

// ReplayConfig configures Replay (`relay captions replay`).
type ReplayConfig struct {
	File   string  // subtitle file: .srt, .vtt, .ttml, .ssa/.ass, .stl (what astisub reads)
	URL    string  // relay base URL, e.g. http://host:8080
	Room   string  // room to caption
	Lang   string  // language of the file
	Token  string  // captioner token for (Room, Lang)
	Speed  float64 // playback speed; 0 means 1
	Logger *slog.Logger
}

const (
	replayMaxRetries = 5
	replayRetryDelay = 500 * time.Millisecond
	replayMaxBackoff = 5 * time.Second
	replayWriteWait  = 10 * time.Second
)

type replayCue struct {
	at   time.Duration // since the first cue, before speed
	text string
	id   string
}

// errReplayFatal marks errors that reconnecting will not fix.
var errReplayFatal = errors.New("replay cannot continue")

// Replay reads a subtitle file and pushes its cues as finals over the
// captioner WebSocket at their times (divided by Speed). It reconnects when
// the connection drops and resends every unacknowledged cue; each cue has a
// stable id, so the relay stores none twice. It returns nil once every cue
// is acknowledged, or ctx's error.
func Replay(ctx context.Context, cfg ReplayConfig) error {
	if cfg.Speed < 0 {
		return fmt.Errorf("replay: speed %v must be positive", cfg.Speed)
	}
	if cfg.Speed == 0 {
		cfg.Speed = 1
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.File == "" || cfg.URL == "" || cfg.Room == "" || cfg.Lang == "" {
		return errors.New("replay: file, url, room and lang are required")
	}
	if err := validRoom(cfg.Room); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	lang, err := CanonicalLang(cfg.Lang)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	cfg.Lang = lang
	cues, err := loadReplayCues(cfg.File, lang)
	if err != nil {
		return err
	}
	wsURL, err := replayURL(cfg)
	if err != nil {
		return err
	}
	r := &replayer{cfg: cfg, cues: cues, url: wsURL, log: cfg.Logger.With("room", cfg.Room, "lang", lang),
		byID: make(map[string]int, len(cues)), retries: map[int]int{}}
	for i, c := range cues {
		r.byID[c.id] = i
	}
	return r.run(ctx)
}

// loadReplayCues reads a subtitle file in any format astisub knows.
func loadReplayCues(file, lang string) ([]replayCue, error) {
	subs, err := astisub.OpenFile(file)
	if err != nil {
		return nil, fmt.Errorf("replay: read %s: %w", file, err)
	}
	items := append([]*astisub.Item(nil), subs.Items...)
	sort.SliceStable(items, func(i, j int) bool { return items[i].StartAt < items[j].StartAt })
	h := sha256.New()
	fmt.Fprintln(h, lang)
	var cues []replayCue
	for _, it := range items {
		var lines []string
		for _, l := range it.Lines {
			lines = append(lines, l.String())
		}
		text, err := cleanText(strings.Join(lines, "\n"))
		if err != nil || text == "" {
			continue
		}
		fmt.Fprintln(h, it.StartAt, text)
		cues = append(cues, replayCue{at: it.StartAt, text: text})
	}
	if len(cues) == 0 {
		return nil, fmt.Errorf("replay: %s has no cues", file)
	}
	// Ids derive from the content: replaying the same file again (or after
	// a crash of the replay tool) stores nothing twice.
	sum := hex.EncodeToString(h.Sum(nil)[:6])
	first := cues[0].at
	for i := range cues {
		cues[i].at -= first
		cues[i].id = fmt.Sprintf("replay-%s-%d", sum, i)
	}
	return cues, nil
}

func replayURL(cfg ReplayConfig) (string, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return "", fmt.Errorf("replay: url: %w", err)
	}
	switch u.Scheme {
	case "http", "ws":
		u.Scheme = "ws"
	case "https", "wss":
		u.Scheme = "wss"
	default:
		return "", fmt.Errorf("replay: url %q: want http(s)://host[:port]", cfg.URL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/") + "/captions/" + cfg.Room + "/publish"
	u.RawQuery = url.Values{"lang": {cfg.Lang}, "token": {cfg.Token}, "name": {"replay"}}.Encode()
	return u.String(), nil
}

type replayer struct {
	cfg  ReplayConfig
	cues []replayCue
	url  string
	log  *slog.Logger

	start   time.Time
	next    int   // first cue never sent
	unacked []int // sent, not acknowledged, in order
	byID    map[string]int
	retries map[int]int
	acked   int
}

func (r *replayer) run(ctx context.Context) error {
	r.start = time.Now()
	backoff := 200 * time.Millisecond
	for attempt := 0; ; attempt++ {
		conn, resp, err := websocket.DefaultDialer.DialContext(ctx, r.url, nil)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if resp != nil && resp.StatusCode >= 400 && resp.StatusCode < 500 {
				return fmt.Errorf("replay: relay refused the captioner connection: %s: %w", resp.Status, errReplayFatal)
			}
			r.log.Warn("replay: connect failed, retrying", "err", err, "in", backoff)
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, replayMaxBackoff)
			continue
		}
		backoff = 200 * time.Millisecond
		if attempt > 0 {
			r.log.Info("replay: reconnected", "resending", len(r.unacked))
		}
		err = r.session(ctx, conn)
		if err == nil {
			r.log.Info("replay: done", "cues", len(r.cues))
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, errReplayFatal) {
			return err
		}
		r.log.Warn("replay: connection lost", "err", err, "acked", r.acked, "of", len(r.cues))
	}
}

type replayEvent struct {
	m   msgIn
	err error
}

// msgIn is what the relay sends a captioner.
type msgIn struct {
	Type  string `json:"type"`
	ID    string `json:"id"`
	Seq   uint64 `json:"seq"`
	Error string `json:"error"`
}

// session drives one connection until every cue is acknowledged (nil), the
// connection fails, or ctx ends.
func (r *replayer) session(ctx context.Context, conn *websocket.Conn) error {
	events := make(chan replayEvent, 64)
	stop := make(chan struct{})
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			var m msgIn
			err := conn.ReadJSON(&m)
			select {
			case events <- replayEvent{m: m, err: err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		close(stop)
		conn.Close()
		<-readerDone
	}()
	send := func(i int) error {
		_ = conn.SetWriteDeadline(time.Now().Add(replayWriteWait))
		return conn.WriteJSON(map[string]any{"type": typeFinal, "text": r.cues[i].text, "id": r.cues[i].id})
	}
	for _, i := range r.unacked {
		if err := send(i); err != nil {
			return fmt.Errorf("resend: %w", err)
		}
	}
	var retry []int
	retryTick := time.NewTicker(replayRetryDelay)
	defer retryTick.Stop()
	due := time.NewTimer(0)
	defer due.Stop()
	for {
		if r.next == len(r.cues) && len(r.unacked) == 0 {
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "done"), time.Now().Add(time.Second))
			return nil
		}
		var dueC <-chan time.Time
		if r.next < len(r.cues) { // Go 1.23 timers: Reset drops a stale tick
			due.Reset(time.Until(r.start.Add(time.Duration(float64(r.cues[r.next].at) / r.cfg.Speed))))
			dueC = due.C
		}
		select {
		case <-ctx.Done():
			_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "stopped"), time.Now().Add(time.Second))
			return ctx.Err()
		case <-dueC:
			if err := send(r.next); err != nil {
				return fmt.Errorf("send: %w", err)
			}
			r.unacked = append(r.unacked, r.next)
			r.next++
		case <-retryTick.C:
			for _, i := range retry {
				if err := send(i); err != nil {
					return fmt.Errorf("resend: %w", err)
				}
			}
			retry = retry[:0]
		case ev := <-events:
			if ev.err != nil {
				return fmt.Errorf("read: %w", ev.err)
			}
			i, ok := r.byID[ev.m.ID]
			switch {
			case !ok:
				if ev.m.Type == typeError {
					r.log.Warn("replay: relay error", "err", ev.m.Error)
				}
			case ev.m.Type == typeAck:
				r.ackOf(i)
			case ev.m.Type == typeError:
				r.retries[i]++
				if r.retries[i] > replayMaxRetries {
					return fmt.Errorf("replay: cue %d refused %d times: %s: %w", i, r.retries[i], ev.m.Error, errReplayFatal)
				}
				r.log.Warn("replay: cue refused, will resend", "cue", i, "err", ev.m.Error)
				retry = append(retry, i)
			}
		}
	}
}

func (r *replayer) ackOf(i int) {
	for k, j := range r.unacked {
		if j == i {
			r.unacked = append(r.unacked[:k], r.unacked[k+1:]...)
			r.acked++
			return
		}
	}
}
