package captions

import (
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// checkText asserts the invariants of cleaned caption text.
func checkText(t *testing.T, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("invalid UTF-8: %q", s)
	}
	if n := utf8.RuneCountInString(s); n > maxTextRunes {
		t.Fatalf("%d characters", n)
	}
	for _, r := range s {
		if r != '\n' && unicode.IsControl(r) {
			t.Fatalf("control character %U in %q", r, s)
		}
	}
	if strings.Contains(s, "\n\n") || s != strings.TrimSpace(s) {
		t.Fatalf("blank line or surrounding space in %q", s)
	}
}

func FuzzCaptionerMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"partial","text":"Hello wor"}`,
		`{"type":"final","text":"Hello world.","id":"c-1"}`,
		`{"type":"final","text":"x","id":42}`,
		`{"type":"correct","seq":3,"text":"Hello, world."}`,
		`{"type":"final","text":"a\r\n\r\nb\u0007"}`,
		`{"type":"nope"}`,
		`{"type":"final","text":"x"} {"type":"final"}`,
		"{\"type\":\"final\",\"text\":\"\xff\"}",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := decodeCaptionerMessage(data)
		if err != nil {
			return
		}
		switch m.Type {
		case typePartial:
		case typeFinal:
			if m.Text == "" {
				t.Fatal("empty final accepted")
			}
		case typeCorrect:
			if m.Seq == 0 || m.Text == "" {
				t.Fatalf("bad correction accepted: %+v", m)
			}
		default:
			t.Fatalf("type %q accepted", m.Type)
		}
		checkText(t, m.Text)
		if len(m.ID) > maxIDBytes {
			t.Fatalf("id of %d bytes", len(m.ID))
		}
	})
}

var fuzzNow = time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)

func FuzzYouTubeBody(f *testing.F) {
	for _, s := range []string{
		"",
		"2025-05-01T12:00:00.000\nHELLO\n",
		"2025-05-01T12:00:00.000 region:reg1#cue1\nHello<br>world\n2025-05-01T12:00:01.5\nnext\n",
		"2025-05-01T11:58:00.000\ntoo old\n",
		"2025-05-01T12:00:00.000\r\nCRLF\r\n",
		"text before timestamp\n",
		"2025-05-01T12:00:00.000\n\n",
		"2025-05-01T12:00:00.0000\nfour decimals\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		cues, err := parseYouTubeBody(body, fuzzNow)
		if err != nil {
			return
		}
		if len(cues) > ytMaxCues {
			t.Fatalf("%d cues", len(cues))
		}
		for _, c := range cues {
			if d := c.At.Sub(fuzzNow); d > ytMaxSkew || d < -ytMaxSkew {
				t.Fatalf("timestamp %v accepted", c.At)
			}
			if c.Text == "" {
				t.Fatal("empty caption accepted")
			}
			checkText(t, c.Text)
		}
	})
}

func FuzzZoomBody(f *testing.F) {
	for _, s := range [][2]string{
		{"", "Hello every"},
		{"Hello every", "one. How are"},
		{"", "line one\nline two\n"},
		{"", "你好。再见"},
		{"", "He said \"stop.\" Then"},
		{"abc", "<br>def<BR/>"},
		{"", strings.Repeat("word ", 300)},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, running, post string) {
		if r, err := cleanText(running); err != nil || r != running {
			return // running text is always clean
		}
		finals, rest, err := splitRunning(running, post)
		if err != nil {
			return
		}
		for _, s := range finals {
			if s == "" || strings.Contains(s, "\n") {
				t.Fatalf("final %q", s)
			}
			checkText(t, s)
		}
		checkText(t, rest)
	})
}

func FuzzJournalRecord(f *testing.F) {
	line, _ := encodeRecord(record{T: recFinal, Lang: "fr", Seq: 1, Text: "Bonjour", Start: fuzzNow})
	f.Add(line)
	f.Add([]byte("00000000 {}\n"))
	f.Add([]byte("zzzzzzzz {\"t\":\"final\"}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := parseRecord(data)
		if err != nil {
			return
		}
		again, err := encodeRecord(rec)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseRecord(again); err != nil {
			t.Fatalf("re-encoded record does not parse: %v", err)
		}
	})
}
