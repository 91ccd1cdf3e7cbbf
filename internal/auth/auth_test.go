package auth

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestCheck(t *testing.T) {
	a, err := New([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := New([]byte("another-secret-0123456"))
	issue := func(a *Authority, role Role, room, lang string, ttl time.Duration) string {
		t.Helper()
		tok, err := a.Issue(role, room, lang, ttl)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	pubA := issue(a, RolePublisher, "a", "", time.Hour)
	capFr := issue(a, RoleCaptioner, "a", "fr", time.Hour)
	interpFr := issue(a, RoleInterpreter, "a", "fr", time.Hour)
	viewerA := issue(a, RoleViewer, "a", "", time.Hour)
	anyRoom := issue(a, RolePublisher, "*", "", time.Hour)
	admin := issue(a, RoleAdmin, "*", "", time.Hour)
	foreign := issue(other, RolePublisher, "a", "", time.Hour)

	expired := issue(a, RolePublisher, "a", "", time.Hour)
	a.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := a.Check(expired, Need{Role: RolePublisher, Room: "a"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("expired token: got %v", err)
	}
	a.now = time.Now

	notYet, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{Role: RolePublisher, Room: "a",
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "relay", NotBefore: jwt.NewNumericDate(time.Now().Add(time.Hour)),
			ExpiresAt: jwt.NewNumericDate(time.Now().Add(2 * time.Hour))}}).SignedString(a.secret)
	noExpiry, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, Claims{Role: RolePublisher, Room: "a",
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "relay"}}).SignedString(a.secret)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, Claims{Role: RolePublisher, Room: "a",
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "relay", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}}).SignedString(jwt.UnsafeAllowNoneSignatureType)

	cases := []struct {
		name  string
		token string
		need  Need
		want  error
	}{
		{"publisher own room", pubA, Need{Role: RolePublisher, Room: "a", Lang: ""}, nil},
		{"publisher other room", pubA, Need{Role: RolePublisher, Room: "b", Lang: ""}, ErrScope},
		{"publisher as captioner", pubA, Need{Role: RoleCaptioner, Room: "a", Lang: "fr"}, ErrScope},
		{"captioner own lang", capFr, Need{Role: RoleCaptioner, Room: "a", Lang: "fr"}, nil},
		{"captioner lang case", capFr, Need{Role: RoleCaptioner, Room: "a", Lang: "FR"}, nil},
		{"captioner other lang", capFr, Need{Role: RoleCaptioner, Room: "a", Lang: "en"}, ErrScope},
		{"any room", anyRoom, Need{Role: RolePublisher, Room: "zzz", Lang: ""}, nil},
		{"admin does all", admin, Need{Role: RoleCaptioner, Room: "x", Lang: "ar"}, nil},
		{"missing", "", Need{Role: RolePublisher, Room: "a", Lang: ""}, ErrMissing},
		{"garbage", "not.a.token", Need{Role: RolePublisher, Room: "a", Lang: ""}, ErrInvalid},
		{"other secret", foreign, Need{Role: RolePublisher, Room: "a", Lang: ""}, ErrInvalid},
		{"not yet valid", notYet, Need{Role: RolePublisher, Room: "a", Lang: ""}, ErrInvalid},
		{"no expiry", noExpiry, Need{Role: RolePublisher, Room: "a", Lang: ""}, ErrInvalid},
		{"alg none", none, Need{Role: RolePublisher, Room: "a", Lang: ""}, ErrInvalid},
		{"tampered", pubA[:len(pubA)-2] + "xx", Need{Role: RolePublisher, Room: "a", Lang: ""}, ErrInvalid},
		{"huge", strings.Repeat("a", 10000), Need{Role: RolePublisher, Room: "a", Lang: ""}, ErrInvalid},
		{"interpreter on whip", interpFr, Need{Role: RolePublisher, Or: RoleInterpreter, Room: "a", Lang: "fr"}, nil},
		{"interpreter other lang", interpFr, Need{Role: RolePublisher, Or: RoleInterpreter, Room: "a", Lang: "ar"}, ErrScope},
		{"interpreter other room", interpFr, Need{Role: RolePublisher, Or: RoleInterpreter, Room: "b", Lang: "fr"}, ErrScope},
		{"interpreter not a publisher", interpFr, Need{Role: RolePublisher, Room: "a"}, ErrScope},
		{"viewer not an interpreter", viewerA, Need{Role: RolePublisher, Or: RoleInterpreter, Room: "a"}, ErrScope},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := a.Check(c.token, c.need)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("got %v, want %v", err, c.want)
			}
		})
	}
	if Status(ErrScope) != 403 || Status(ErrMissing) != 401 || Status(ErrInvalid) != 401 {
		t.Error("status mapping")
	}
}

func TestIssueRejects(t *testing.T) {
	if _, err := New([]byte("short")); err == nil {
		t.Error("short secret accepted")
	}
	a, _ := New([]byte(RandomSecret()))
	if _, err := a.Issue("boss", "a", "", time.Hour); err == nil {
		t.Error("bad role accepted")
	}
	if _, err := a.Issue(RoleViewer, "", "", time.Hour); err == nil {
		t.Error("empty room accepted")
	}
	if _, err := a.Issue(RoleViewer, "a", "", 0); err == nil {
		t.Error("zero ttl accepted")
	}
}

func TestFromHeader(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"bearer", "Bearer abc", "abc"},
		{"any case and spaces", "bearer  x ", "x"},
		{"basic", "Basic abc", ""},
		{"empty", "", ""},
		{"no token", "Bearer", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := FromHeader(c.in); got != c.want {
				t.Errorf("FromHeader(%q) = %q, want %q", c.in, got, c.want)
			}
		})
	}
}

// FuzzCheck: whatever arrives as a bearer token is refused or accepted
// without a panic, and only a token signed with the secret is accepted.
func FuzzCheck(f *testing.F) {
	a, _ := New([]byte("fuzz-secret-0123456789"))
	good, _ := a.Issue(RolePublisher, "r", "", time.Hour)
	f.Add(good)
	f.Add("a.b.c")
	f.Add("eyJhbGciOiJub25lIn0.eyJyb2xlIjoiYWRtaW4ifQ.")
	f.Add(strings.Repeat("x", 5000))
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := a.Check(tok, Need{Role: RolePublisher, Room: "r"})
		if err == nil && (c == nil || c.Room != "r" && c.Room != "*") {
			t.Fatalf("accepted %q as %+v", tok, c)
		}
		_ = FromHeader("Bearer " + tok)
	})
}

func TestInterpreterTokenNeedsLanguage(t *testing.T) {
	a, err := New([]byte("0123456789abcdef0123"))
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"", "*"} {
		if _, err := a.Issue(RoleInterpreter, "a", lang, time.Hour); err == nil {
			t.Errorf("interpreter token with language %q issued", lang)
		}
	}
	if _, err := ParseRole("interpreter"); err != nil {
		t.Error(err)
	}
}
