package langtag

import (
	"errors"
	"strings"
	"testing"
)

func TestCanonical(t *testing.T) {
	for in, want := range map[string]string{"fr": "fr", "EN-us": "en-US", " ar ": "ar", "zh-hans": "zh-Hans", "ase": "ase"} {
		got, err := Canonical(in)
		if err != nil || got != want {
			t.Errorf("Canonical(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "und", "x", "fr fr", "../etc", strings.Repeat("a", MaxBytes+1), "en-\x00"} {
		if got, err := Canonical(bad); !errors.Is(err, ErrBad) {
			t.Errorf("Canonical(%q) = %q, %v; want ErrBad", bad, got, err)
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"fr", "zh-Hans", "und", "en-US-x-twain"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Canonical(s)
		if err != nil {
			return
		}
		// Canonical forms are fixed points and stay within the bound.
		if again, err := Canonical(c); err != nil || again != c || len(c) > MaxBytes+8 {
			t.Fatalf("Canonical(%q) = %q, then %q, %v", s, c, again, err)
		}
	})
}
