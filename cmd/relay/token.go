package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/langtag"
)

// runToken prints a signed token, alone on the last line, for scripts.
func runToken(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	room := fs.String("room", "", "room the token is for ('*' for every room)")
	role := fs.String("role", "", "publisher, interpreter, captioner, viewer or admin")
	lang := fs.String("lang", "", "language: a captioner's (empty or '*' for any), an interpreter's channel (required)")
	ttl := fs.Duration("ttl", 12*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret := os.Getenv("RELAY_SECRET")
	if secret == "" {
		return errors.New("RELAY_SECRET is not set: tokens are signed with the relay's secret")
	}
	a, err := auth.New([]byte(secret))
	if err != nil {
		return err
	}
	r, err := auth.ParseRole(*role)
	if err != nil {
		return err
	}
	if *lang != "" && *lang != "*" {
		// The relay matches channels and caption languages by their
		// canonical tag: a token for "FR" or "fr_FR" would match nothing.
		if *lang, err = langtag.Canonical(*lang); err != nil {
			return fmt.Errorf("--lang: %w", err)
		}
	}
	tok, err := a.Issue(r, *room, *lang, *ttl)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, tok)
	return err
}
