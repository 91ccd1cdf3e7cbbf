package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/relay-av/relay/internal/auth"
)

func TestTokenCommand(t *testing.T) {
	const secret = "token-test-secret-0123456789"
	t.Setenv("RELAY_SECRET", secret)
	a, _ := auth.New([]byte(secret))
	for _, c := range []struct {
		name string
		args []string
		need auth.Need
	}{
		{"publisher", []string{"--room", "plenary", "--role", "publisher"}, auth.Need{Role: auth.RolePublisher, Room: "plenary"}},
		{"captioner", []string{"--room", "plenary", "--role", "captioner", "--lang", "fr"}, auth.Need{Role: auth.RoleCaptioner, Room: "plenary", Lang: "fr"}},
		{"admin of every room", []string{"--room", "*", "--role", "admin", "--lang", "", "--ttl", "1h"}, auth.Need{Role: auth.RoleAdmin, Room: "any"}},
		{"interpreter, tag canonicalised", []string{"--room", "plenary", "--role", "interpreter", "--lang", "ZH-hans"}, auth.Need{Role: auth.RolePublisher, Or: auth.RoleInterpreter, Room: "plenary", Lang: "zh-Hans"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := runToken(c.args, &out); err != nil {
				t.Fatalf("%v: %v", c.args, err)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			tok := lines[len(lines)-1]
			if _, err := a.Check(tok, c.need); err != nil {
				t.Errorf("%v: printed token does not allow %+v: %v", c.args, c.need, err)
			}
		})
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"unknown role", []string{"--room", "x", "--role", "boss"}},
		{"no room", []string{"--role", "publisher"}},
		{"negative ttl", []string{"--room", "x", "--role", "viewer", "--ttl", "-1h"}},
		{"interpreter without a language", []string{"--room", "x", "--role", "interpreter"}},
		{"interpreter, not a language", []string{"--room", "x", "--role", "interpreter", "--lang", "french!"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := runToken(c.args, &bytes.Buffer{}); err == nil {
				t.Errorf("%v accepted", c.args)
			}
		})
	}
	t.Setenv("RELAY_SECRET", "")
	if err := runToken([]string{"--room", "x", "--role", "viewer"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "RELAY_SECRET") {
		t.Errorf("no secret: %v", err)
	}
}
