package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFileConfig(t *testing.T) {
	dir := t.TempDir()
	write := func(t *testing.T, name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fc, err := loadFileConfig(write(t, "ok.yaml", `
rooms:
  - name: plenary
    title: Plenary hall
    languages: [en, fr, ar]
  - name: roundtable
    private: true
limits:
  max_viewers: 500
  offers_per_second: -1
  caption_sockets_per_address: -1
  caption_sockets: 30000
  connect_timeout: 3s
  connecting_per_address: 8
  monitor_streams_per_address: -1
captions:
  backlog: 20
  idle_after: 2h
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(fc.Rooms) != 2 || fc.Rooms[0].Title != "Plenary hall" || len(fc.Rooms[0].Languages) != 3 || !fc.Rooms[1].Private ||
		fc.Limits.MaxViewers != 500 || fc.Limits.OffersPerSecond != -1 || fc.Captions.Backlog != 20 ||
		fc.Limits.CaptionSocketsPerAddress != -1 || fc.Limits.CaptionSockets != 30000 || fc.Captions.IdleAfter != 2*time.Hour ||
		fc.Limits.ConnectTimeout != 3*time.Second || fc.Limits.ConnectingPerAddress != 8 || fc.Limits.MonitorStreamsPerAddress != -1 {
		t.Errorf("parsed %+v", fc)
	}
	if fc, err := loadFileConfig(write(t, "empty.yaml", "")); err != nil || len(fc.Rooms) != 0 {
		t.Errorf("empty file: %v", err)
	}
	for name, body := range map[string]string{
		"typo.yaml":      "limits:\n  max_viewer: 10\n",
		"noname.yaml":    "rooms:\n  - title: x\n",
		"twice.yaml":     "rooms:\n  - name: a\n  - name: a\n",
		"notyaml.yaml":   "rooms: [\n",
		"wrongtype.yaml": "limits:\n  max_viewers: lots\n",
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := loadFileConfig(write(t, name, body)); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := loadFileConfig(filepath.Join(dir, "missing.yaml")); err == nil || !strings.Contains(err.Error(), "config") {
		t.Errorf("missing file: %v", err)
	}
}

// TestREADMEConfigExample: the config file the README shows is one the
// relay takes, every key known.
func TestREADMEConfigExample(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "A config file:\n\n```yaml\n")
	example, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("no config example in README.md")
	}
	path := filepath.Join(t.TempDir(), "relay.yaml")
	if err := os.WriteFile(path, []byte(example), 0o644); err != nil {
		t.Fatal(err)
	}
	fc, err := loadFileConfig(path)
	if err != nil {
		t.Fatalf("the README's example: %v", err)
	}
	if len(fc.Rooms) == 0 || fc.Limits.ConnectTimeout == 0 || fc.Captions.IdleAfter == 0 {
		t.Errorf("parsed %+v", fc)
	}
}

func TestBindIP(t *testing.T) {
	for addr, want := range map[string]string{":8080": "<nil>", "127.0.0.1:8080": "127.0.0.1", "localhost:80": "127.0.0.1"} {
		t.Run(addr, func(t *testing.T) {
			ip, err := serveConfig{Addr: addr}.bindIP()
			if err != nil || ip.String() != want && !(ip == nil && want == "<nil>") {
				t.Errorf("%v %v, want %s", ip, err, want)
			}
		})
	}
	for _, bad := range []string{"relay.example:80", "[::1]:80", "nonsense"} {
		t.Run(bad, func(t *testing.T) {
			if _, err := (serveConfig{Addr: bad}).bindIP(); err == nil {
				t.Error("accepted")
			}
		})
	}
}

// TestRecordPolicy: declared rooms record unless they say no; others (the
// demo room among them) only with --record.
func TestRecordPolicy(t *testing.T) {
	write := func(t *testing.T, name, body string) string {
		p := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fc, err := loadFileConfig(write(t, "rec.yaml", `
rooms:
  - name: plenary
  - name: roundtable
    record: false
  - name: side
    record: true
recordings:
  keep_days: 7
  keep_gb: 1.5
  min_free_gb: 2
`))
	if err != nil {
		t.Fatal(err)
	}
	if fc.Recordings.KeepDays != 7 || fc.Recordings.KeepGB != 1.5 || fc.Recordings.MinFreeGB != 2 {
		t.Errorf("recordings %+v", fc.Recordings)
	}
	for _, all := range []bool{false, true} {
		rec := recordPolicy(fc, all)
		for room, want := range map[string]bool{"plenary": true, "roundtable": false, "side": true, "demo": all, "made-by-publish": all} {
			if rec(room) != want {
				t.Errorf("--record=%v: room %s records %v, want %v", all, room, rec(room), want)
			}
		}
	}
	if _, err := loadFileConfig(write(t, "bad.yaml", "recordings:\n  keep_weeks: 3\n")); err == nil {
		t.Error("an unknown recordings key was accepted")
	}
}
