package captions

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/relay-av/relay/internal/langtag"
)

// Cue is one caption line of one language of one room.
type Cue struct {
	Seq   uint64    `json:"seq"`
	Lang  string    `json:"lang"`
	Text  string    `json:"text"`
	Final bool      `json:"final"`
	Start time.Time `json:"start"`
	// End is zero when unknown: on partials and on the newest final.
	End time.Time `json:"end,omitzero"`
	// ID is the captioner's optional idempotency key of a final.
	ID string `json:"id,omitempty"`
}

// Limits on what a captioner may send.
const (
	maxTextRunes = 1000 // characters in one cue
	maxIDBytes   = 128  // bytes in a captioner's cue id
)

// Errors a caller can cause. HTTP handlers answer them with 400.
var (
	ErrBadLang = errors.New("bad language tag")
	ErrBadText = errors.New("bad caption text")
	ErrBadRoom = errors.New("bad room name")
)

var roomRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$`)

// validRoom reports whether name can be a room: it becomes a file name.
func validRoom(name string) error {
	if !roomRE.MatchString(name) {
		return fmt.Errorf("%w: %q (want letters, digits, '_' or '-', at most 64)", ErrBadRoom, name)
	}
	return nil
}

// CanonicalLang validates a BCP 47 tag and returns its canonical form
// ("EN-us" -> "en-US") through langtag, the one place tags are read; its
// errors wrap ErrBadLang.
func CanonicalLang(s string) (string, error) {
	c, err := langtag.Canonical(s)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadLang, err)
	}
	return c, nil
}

// cleanText checks and normalises caption text: it must be valid UTF-8;
// CR LF and CR become LF, tabs become spaces, other control characters are
// removed, blank lines collapse, and surrounding space is trimmed. The result
// has at most maxTextRunes characters.
func cleanText(s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: not valid UTF-8", ErrBadText)
	}
	s = strings.ReplaceAll(s, "\r\n", "\n")
	var b strings.Builder
	b.Grow(len(s))
	n := 0
	for _, r := range s {
		switch {
		case r == '\r' || r == '\n' || r == '\u2028' || r == '\u2029':
			r = '\n'
		case r == '\t':
			r = ' '
		case unicode.IsControl(r), r == '\ufeff':
			continue
		}
		b.WriteRune(r)
		n++
	}
	if n > maxTextRunes {
		return "", fmt.Errorf("%w: %d characters, at most %d", ErrBadText, n, maxTextRunes)
	}
	lines := strings.Split(b.String(), "\n")
	kept := lines[:0]
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\n"), nil
}

// cleanID checks a captioner's cue id: printable, at most maxIDBytes.
func cleanID(s string) (string, error) {
	if len(s) > maxIDBytes || !utf8.ValidString(s) {
		return "", fmt.Errorf("%w: id too long or not UTF-8", ErrBadText)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return "", fmt.Errorf("%w: id has unprintable characters", ErrBadText)
		}
	}
	return s, nil
}

// readingTime estimates how long a viewer needs to read text, for cue ends
// in exports: one second plus 60 ms per character, between 1.5 s and 7 s.
func readingTime(text string) time.Duration {
	d := time.Second + time.Duration(utf8.RuneCountInString(text))*60*time.Millisecond
	return min(max(d, 1500*time.Millisecond), 7*time.Second)
}

// serverNow is the server clock as cues carry it: UTC, millisecond precision.
func serverNow() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
