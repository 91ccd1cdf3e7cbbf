// Package langtag validates and canonicalises BCP 47 language tags, the
// one way every package of the relay names a language: caption languages
// and the media channels of interpreters both go through it, so "FR",
// "fr" and " fr " are the same channel and the same captions.
package langtag

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/text/language"
)

// MaxBytes bounds a tag: the longest useful ones ("zh-Hans-CN-u-...")
// stay well under it.
const MaxBytes = 35

// ErrBad is the error of a tag that is not BCP 47 or names no language.
var ErrBad = errors.New("bad language tag")

// Canonical validates s and returns its canonical form ("EN-us" ->
// "en-US"). The undetermined language "und" is refused.
func Canonical(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxBytes {
		return "", fmt.Errorf("%w: %q", ErrBad, s)
	}
	tag, err := language.Parse(s)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrBad, s, err)
	}
	if b, conf := tag.Base(); conf != language.Exact || b.String() == "und" {
		return "", fmt.Errorf("%w: %q names no language", ErrBad, s)
	}
	return tag.String(), nil
}
