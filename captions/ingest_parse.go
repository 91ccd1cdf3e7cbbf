package captions

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// YouTube-style bodies: pairs of a timestamp line and a caption line.
const (
	ytLayout   = "2006-01-02T15:04:05.000" // also the reply format
	ytMaxSkew  = 60 * time.Second
	runningMax = 200 // characters of a Zoom running line before it is committed at a space
	// maxPostCues bounds the captions one post of either style stores: a
	// burst of thousands would overflow every viewer's queue at once and
	// disconnect them all as slow.
	maxPostCues = 100
	ytMaxCues   = maxPostCues // the YouTube-style name FuzzYouTubeBody checks
	maxBodySize = 64 << 10
)

// errTooManyCues refuses a post of either style that would store more
// than maxPostCues captions (413, nothing of it stored).
var errTooManyCues = fmt.Errorf("%w: at most %d captions per post; send them in several posts", errTooLarge, maxPostCues)

var (
	ytTimeRE = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?)(?:[ \t]+region:\S*)?[ \t]*$`)
	brRE     = regexp.MustCompile(`(?i)<br\s*/?>`)
)

// ErrSkew is a YouTube-style timestamp too far from the server clock.
var ErrSkew = errors.New("timestamp more than 60 s from server time")

type timedText struct {
	At   time.Time
	Text string
}

// parseYouTubeBody parses a YouTube-style caption body. An empty (or blank)
// body is a heartbeat: no cues, no error. Every timestamp must be within
// 60 s of now.
func parseYouTubeBody(body string, now time.Time) ([]timedText, error) {
	if !utf8.ValidString(body) {
		return nil, fmt.Errorf("%w: not valid UTF-8", errBadBody)
	}
	body = strings.ReplaceAll(body, "\r\n", "\n")
	body = strings.TrimPrefix(body, "\ufeff")
	var out []timedText
	var cur *timedText
	var text []string
	flush := func() error {
		if cur == nil {
			return nil
		}
		t, err := cleanText(brRE.ReplaceAllString(strings.Join(text, "\n"), "\n"))
		if err != nil {
			return fmt.Errorf("%w: caption at %s: %w", errBadBody, cur.At.Format(ytLayout), err)
		}
		if t == "" {
			return fmt.Errorf("%w: timestamp %s has no caption text", errBadBody, cur.At.Format(ytLayout))
		}
		cur.Text = t
		out = append(out, *cur)
		cur, text = nil, nil
		return nil
	}
	for i, line := range strings.Split(body, "\n") {
		if m := ytTimeRE.FindStringSubmatch(strings.TrimSpace(line)); m != nil {
			if err := flush(); err != nil {
				return nil, err
			}
			if len(out) >= maxPostCues {
				return nil, errTooManyCues
			}
			at, err := time.ParseInLocation("2006-01-02T15:04:05", m[1], time.UTC)
			if err != nil {
				return nil, fmt.Errorf("%w: line %d: bad timestamp: %w", errBadBody, i+1, err)
			}
			if d := at.Sub(now); d > ytMaxSkew || d < -ytMaxSkew {
				return nil, fmt.Errorf("%w: line %d: %s vs server %s: %w", errBadBody, i+1, m[1], now.UTC().Format(ytLayout), ErrSkew)
			}
			cur = &timedText{At: at.Truncate(time.Millisecond)}
			continue
		}
		if cur == nil {
			if strings.TrimSpace(line) == "" {
				continue
			}
			return nil, fmt.Errorf("%w: line %d: expected a timestamp like 2006-01-02T15:04:05.000", errBadBody, i+1)
		}
		text = append(text, line)
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return out, nil
}

// splitRunning appends a Zoom-style post to the running text and returns the
// complete lines to commit as finals (at line breaks and sentence ends, or at
// a space once a line grows past runningMax characters) and the rest, which
// is shown as the partial. More than maxPostCues finals is errTooManyCues.
func splitRunning(running, post string) (finals []string, rest string, err error) {
	if !utf8.ValidString(post) {
		return nil, "", fmt.Errorf("%w: not valid UTF-8", errBadBody)
	}
	post = strings.TrimPrefix(strings.ReplaceAll(post, "\r\n", "\n"), "\ufeff")
	post = brRE.ReplaceAllString(post, "\n")
	text := running
	if text != "" && post != "" && !endsSpace(text) && !startsSpace(post) {
		text += " "
	}
	text += post
	var line strings.Builder
	commit := func() error {
		t, err := cleanText(line.String())
		line.Reset()
		if err != nil {
			return fmt.Errorf("%w: %w", errBadBody, err)
		}
		if t != "" {
			if len(finals) == maxPostCues {
				return errTooManyCues
			}
			finals = append(finals, strings.ReplaceAll(t, "\n", " "))
		}
		return nil
	}
	rs := []rune(text)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		if r == '\n' || r == '\r' {
			if err := commit(); err != nil {
				return nil, "", err
			}
			continue
		}
		line.WriteRune(r)
		if isSentenceEnd(r) {
			// Closing quotes and brackets belong to the sentence.
			for i+1 < len(rs) && strings.ContainsRune("\"'”’)]»」", rs[i+1]) {
				i++
				line.WriteRune(rs[i])
			}
			if i+1 == len(rs) || unicode.IsSpace(rs[i+1]) || isCJKStop(r) {
				if err := commit(); err != nil {
					return nil, "", err
				}
			}
			continue
		}
		// A long line is committed at a space, or anywhere once it is twice
		// too long (scripts written without spaces).
		if n := utf8.RuneCountInString(line.String()); n > runningMax && unicode.IsSpace(r) || n >= 2*runningMax {
			if err := commit(); err != nil {
				return nil, "", err
			}
		}
	}
	rest, err = cleanText(line.String())
	if err != nil {
		return nil, "", fmt.Errorf("%w: %w", errBadBody, err)
	}
	return finals, rest, nil
}

func isSentenceEnd(r rune) bool {
	switch r {
	case '.', '!', '?', '…', '؟', '।':
		return true
	}
	return isCJKStop(r)
}

// isCJKStop is full-width punctuation that ends a sentence without a space.
func isCJKStop(r rune) bool { return r == '。' || r == '！' || r == '？' }

func endsSpace(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return unicode.IsSpace(r)
}

func startsSpace(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}
