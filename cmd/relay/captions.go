package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/relay-av/relay/captions"
)

// runCaptions handles `relay captions replay`.
func runCaptions(args []string) error {
	if len(args) == 0 || args[0] != "replay" {
		return errors.New("usage: relay captions replay --file F --url U --room R --lang L --token T [--speed 1]")
	}
	var rc captions.ReplayConfig
	fs := flag.NewFlagSet("captions replay", flag.ContinueOnError)
	fs.StringVar(&rc.File, "file", "", "subtitle file: SRT, WebVTT, TTML, SSA/ASS or STL")
	fs.StringVar(&rc.URL, "url", "http://localhost:8080", "relay base URL")
	fs.StringVar(&rc.Room, "room", "", "room")
	fs.StringVar(&rc.Lang, "lang", "", "caption language (BCP 47)")
	fs.StringVar(&rc.Token, "token", os.Getenv("RELAY_TOKEN"), "captioner token (default $RELAY_TOKEN)")
	fs.Float64Var(&rc.Speed, "speed", 1, "playback speed factor")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	rc.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return captions.Replay(ctx, rc)
}
