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
	"syscall"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/load"
	"github.com/relay-av/relay/relay/peer"
)

// runLoad is `relay load`: publish a clip, open N viewers, report.
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
	if cfg.Duration > time.Hour {
		return errors.New("--duration is at most 1h")
	}
	var err error
	if *clipPath == "" {
		cfg.Clip, err = clip.Demo()
	} else {
		cfg.Clip, err = clip.Load(*clipPath, *fps)
	}
	if err != nil {
		return err
	}
	if *simulcast || *simulcastClips != "" {
		if cfg.Layers, err = simulcastLayers(*simulcastClips, *fps); err != nil {
			return err
		}
	}
	// Caption viewers need the captioner too: it creates their language.
	needCaptioner := cfg.CueRate > 0 || cfg.CaptionViewers > 0
	if cfg.Token == "" || (needCaptioner && cfg.CaptionToken == "") {
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
	}
	cfg.Progress = progress
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
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := load.Run(ctx, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintln(out, sum.JSON())
	fmt.Fprintln(out, sum.Line())
	if *jsonOut != "" {
		return os.WriteFile(*jsonOut, []byte(sum.JSON()+"\n"), 0o644)
	}
	return nil
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
