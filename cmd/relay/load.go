package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/load"
	"github.com/relay-av/relay/relay/peer"
)

// runLoad is `relay load`: publish a clip, open N viewers and M HLS
// players, report.
func runLoad(args []string, out, progress io.Writer) error {
	var cfg load.Config
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.StringVar(&cfg.URL, "url", "http://127.0.0.1:8080", "relay base URL (loopback only: media goes to 127.0.0.1)")
	fs.StringVar(&cfg.Room, "room", "load", "room to publish into and watch")
	fs.StringVar(&cfg.Token, "token", "", "publisher token (default: minted from RELAY_SECRET)")
	clipPath := fs.String("clip", "", "clip to publish: .h264 (Annex B) or .ivf (VP8), with a same-name .ogg for audio (default: the demo clip)")
	fps := fs.Int("fps", 30, "frame rate of an .h264 clip")
	simulcast := fs.Bool("simulcast", false, "publish the video as simulcast layers (rids h, m, l, best first; see --simulcast-clips) with the clip's audio; the summary gives the viewers and the loss per layer")
	simulcastClips := fs.String("simulcast-clips", "", "the layers' clips, best first, comma-separated: .h264 or .ivf, 2 or 3 (implies --simulcast; default: relay/clip/testdata/simulcast-{720,360,180}.h264 of the repository the tool runs in)")
	fs.IntVar(&cfg.Viewers, "viewers", 10, "WHEP viewers")
	fs.DurationVar(&cfg.Ramp, "ramp", 5*time.Second, "time over which viewers join")
	fs.DurationVar(&cfg.Settle, "settle", 2*time.Second, "wait after the ramp before measuring")
	fs.DurationVar(&cfg.Duration, "duration", 10*time.Second, "measured window")
	fs.BoolVar(&cfg.NoAudio, "no-audio", false, "viewers take video only")
	fs.BoolVar(&cfg.Feedback, "feedback", false, "with --full-viewers: viewers send congestion feedback (TWCC, NACKs, reports) as browsers do, so the relay estimates their bandwidth")
	fs.StringVar(&cfg.TURN, "turn", "", "with --full-viewers: viewers reach the relay only through its TURN server over udp, tcp or tls")
	fs.BoolVar(&cfg.FullViewers, "full-viewers", false, "decrypt every packet through pion's whole receive path (default: count packets from their headers after the first keyframe, much cheaper)")
	fs.IntVar(&cfg.CaptionViewers, "caption-viewers", 0, "caption WebSocket viewers")
	fs.Float64Var(&cfg.CueRate, "cue-rate", 0, "captioner finals per second (0: no captioner)")
	fs.StringVar(&cfg.Lang, "lang", "en", "caption language")
	fs.StringVar(&cfg.CaptionToken, "caption-token", "", "captioner token (default: minted from RELAY_SECRET)")
	fs.IntVar(&cfg.PID, "pid", 0, "relay process id, to measure its CPU and memory")
	var hcfg load.HLSConfig
	fs.IntVar(&hcfg.Players, "hls", 0, "LL-HLS players, beside the WHEP viewers or instead of them (--viewers 0): each follows the first video variant and the default audio with blocking playlist reloads and fetches every part, as hls.js does in low-latency mode")
	fs.StringVar(&hcfg.URL, "hls-url", "", "base URL the HLS players fetch from, e.g. an HTTP cache in front of the relay (default: --url)")
	fs.StringVar(&hcfg.Subtitles, "hls-subs", "", "HLS players also follow this subtitle language (* for the first offered)")
	fs.StringVar(&hcfg.Token, "hls-token", "", "viewer token for a private room's HLS")
	publish := fs.String("publish", "auto", "publish the clip into --room: yes; no (HLS players only, on a room already live: the demo room, an encoder); auto: yes unless only HLS players run and the room is already on air")
	jsonOut := fs.String("json", "", "also write the JSON summary to this file")
	cpuProfile := fs.String("cpuprofile", "", "write the load tool's own CPU profile here (to make the tool cheaper)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.Feedback && !cfg.FullViewers {
		return errors.New("--feedback needs --full-viewers: header-only viewers see no packets to give feedback on")
	}
	if cfg.TURN != "" && (!cfg.FullViewers || (cfg.TURN != "udp" && cfg.TURN != "tcp" && cfg.TURN != "tls")) {
		return errors.New("--turn is udp, tcp or tls, with --full-viewers (header-only viewers read RTP off their own socket, not through TURN)")
	}
	if cfg.Viewers < 0 || cfg.Viewers > 5000 || cfg.CaptionViewers < 0 || cfg.CaptionViewers > 50000 {
		return errors.New("--viewers must be 0..5000 and --caption-viewers 0..50000")
	}
	if hcfg.Players < 0 || hcfg.Players > load.MaxHLSPlayers {
		return fmt.Errorf("--hls must be 0..%d", load.MaxHLSPlayers)
	}
	if cfg.Duration > time.Hour {
		return errors.New("--duration is at most 1h")
	}
	// WebRTC load (viewers, captions) needs the tool's own publisher: frame
	// latency is measured from its send times. HLS players alone only need
	// the room on air.
	webrtcLoad := cfg.Viewers > 0 || cfg.CaptionViewers > 0 || cfg.CueRate > 0 || hcfg.Players == 0
	switch {
	case *publish != "auto" && *publish != "yes" && *publish != "no":
		return errors.New("--publish is auto, yes or no")
	case *publish == "no" && webrtcLoad:
		return errors.New("--publish no runs HLS players only: give --hls N --viewers 0 and no caption load")
	}
	if hcfg.URL == "" {
		hcfg.URL = cfg.URL
	}
	hcfg.Room, hcfg.Ramp, hcfg.Settle, hcfg.Duration, hcfg.PID = cfg.Room, cfg.Ramp, cfg.Settle, cfg.Duration, cfg.PID
	progress = &progressWriter{w: progress}
	cfg.Progress, hcfg.Progress = progress, progress

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	doPublish := webrtcLoad || *publish == "yes"
	if !webrtcLoad && *publish == "auto" {
		live, err := load.HLSLive(ctx, hcfg.URL, cfg.Room, hcfg.Token)
		if err != nil {
			return fmt.Errorf("is room %s on air? %w", cfg.Room, err)
		}
		doPublish = !live
		fmt.Fprintf(progress, "room %s on air: %v; publishing the clip: %v\n", cfg.Room, live, doPublish)
	}
	if doPublish {
		if err := loadPublisher(&cfg, *clipPath, *simulcastClips, *fps, *simulcast); err != nil {
			return err
		}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	sum, hsum, err := runLoads(ctx, cfg, hcfg, webrtcLoad, doPublish)
	if err != nil {
		return err
	}
	var js []string
	if sum != nil {
		fmt.Fprintln(out, sum.JSON())
		fmt.Fprintln(out, sum.Line())
		js = append(js, sum.JSON())
	}
	if hsum != nil {
		fmt.Fprintln(out, hsum.JSON())
		fmt.Fprintln(out, hsum.Line())
		js = append(js, hsum.JSON())
	}
	if *jsonOut == "" {
		return nil
	}
	doc := js[0]
	if len(js) == 2 {
		doc = "{\"webrtc\": " + js[0] + ",\n\"hls\": " + js[1] + "}"
	}
	return os.WriteFile(*jsonOut, []byte(doc+"\n"), 0o644)
}

// loadPublisher fills in what publishing needs: the clip (or simulcast
// layers) and the tokens, minted from RELAY_SECRET when not given.
func loadPublisher(cfg *load.Config, clipPath, simulcastClips string, fps int, simulcast bool) error {
	var err error
	if clipPath == "" {
		cfg.Clip, err = clip.Demo()
	} else {
		cfg.Clip, err = clip.Load(clipPath, fps)
	}
	if err != nil {
		return err
	}
	if simulcast || simulcastClips != "" {
		if cfg.Layers, err = simulcastLayers(simulcastClips, fps); err != nil {
			return err
		}
	}
	// Caption viewers need the captioner too: it creates their language.
	needCaptioner := cfg.CueRate > 0 || cfg.CaptionViewers > 0
	if cfg.Token != "" && (!needCaptioner || cfg.CaptionToken != "") {
		return nil
	}
	secret := os.Getenv("RELAY_SECRET")
	if secret == "" {
		return errors.New("give --token (and --caption-token) or set RELAY_SECRET to mint them")
	}
	a, err := auth.New([]byte(secret))
	if err != nil {
		return err
	}
	if cfg.Token == "" {
		cfg.Token, _ = a.Issue(auth.RolePublisher, cfg.Room, "", time.Hour)
	}
	if cfg.CaptionToken == "" && needCaptioner {
		cfg.CaptionToken, _ = a.Issue(auth.RoleCaptioner, cfg.Room, cfg.Lang, time.Hour)
	}
	return nil
}

// runLoads runs the WebRTC load (load.Run, which publishes) and the HLS
// players side by side, or the HLS players alone, publishing the clip for
// them when publish is set. The first error stops both.
func runLoads(ctx context.Context, cfg load.Config, hcfg load.HLSConfig, webrtcLoad, publish bool) (*load.Summary, *load.HLSSummary, error) {
	if !webrtcLoad {
		if publish {
			pub, err := publishOnly(ctx, cfg)
			if err != nil {
				return nil, nil, err
			}
			defer pub.Close(true)
		}
		hsum, err := load.RunHLS(ctx, hcfg)
		return nil, hsum, err
	}
	if hcfg.Players == 0 {
		sum, err := load.Run(ctx, cfg)
		return sum, nil, err
	}
	// The HLS players' window ends with load.Run's at the latest: its
	// publisher, which they play, stops then.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		sum  *load.Summary
		hsum *load.HLSSummary
		herr error
		done = make(chan struct{})
		end  = make(chan struct{})
	)
	hcfg.End = end
	go func() {
		defer close(done)
		if hsum, herr = load.RunHLS(ctx, hcfg); herr != nil {
			cancel()
		}
	}()
	sum, err := load.Run(ctx, cfg)
	close(end)
	if err != nil {
		cancel()
	}
	<-done
	return sum, hsum, errors.Join(err, herr)
}

// publishOnly publishes cfg's clip (or layers) into cfg.Room for HLS
// players, as load.Run does for its viewers.
func publishOnly(ctx context.Context, cfg load.Config) (*peer.Publisher, error) {
	base := strings.TrimRight(cfg.URL, "/")
	pc := peer.PublishConfig{URL: base + "/whip/" + cfg.Room, Token: cfg.Token, Clip: cfg.Clip, Options: peer.Options{Loopback: true}}
	if len(cfg.Layers) > 0 {
		pc.Layers, pc.Clip = cfg.Layers, nil
		if cfg.Clip != nil && cfg.Clip.Audio != nil {
			pc.Clip = &clip.Clip{Audio: cfg.Clip.Audio}
		}
	}
	pub, err := peer.Publish(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	fmt.Fprintf(cfg.Progress, "publisher connected to %s/whip/%s\n", base, cfg.Room)
	return pub, nil
}

// progressWriter serialises the progress lines of runs side by side.
type progressWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *progressWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// simulcastLayers loads the layer clips named in list (comma-separated,
// best first), or the repository's test clips when list is empty.
func simulcastLayers(list string, fps int) ([]peer.Layer, error) {
	var paths []string
	if list == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		if paths, err = load.FindSimulcastClips(wd); err != nil {
			return nil, err
		}
	} else {
		for p := range strings.SplitSeq(list, ",") {
			if p = strings.TrimSpace(p); p != "" {
				paths = append(paths, p)
			}
		}
	}
	return load.LoadLayers(paths, fps)
}
