// Package auth issues and checks the relay's bearer tokens.
//
// A token is a JWT signed with HS256 under the relay's secret. Its claims say
// what the bearer may do: a role (publisher, interpreter, captioner, viewer,
// admin), a room ("*" for every room) and, for captioners, a language (""
// or "*" for every language). An interpreter token always names its one
// language: it publishes that language channel of the room and no other. relay and captions both check tokens through this package, so
// neither has to know about the other.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Role is what a token lets its bearer do.
type Role string

// The roles a token can carry.
const (
	RolePublisher Role = "publisher"
	RoleCaptioner Role = "captioner"
	RoleViewer    Role = "viewer"
	RoleAdmin     Role = "admin"
	// RoleInterpreter publishes one language channel of a room (a booth's
	// audio, or a sign-language interpreter's video).
	RoleInterpreter Role = "interpreter"
)

// ParseRole turns a role name into a Role.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RolePublisher, RoleInterpreter, RoleCaptioner, RoleViewer, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("unknown role %q (want publisher, interpreter, captioner, viewer or admin)", s)
}

// Errors a request can cause. Handlers map ErrMissing to 401 and the rest to
// 401 (bad token) or 403 (good token, wrong scope); see Status.
var (
	ErrMissing = errors.New("token missing")
	ErrInvalid = errors.New("token invalid")
	ErrScope   = errors.New("token does not allow this")
)

// Status maps an error from Check to an HTTP status code.
func Status(err error) int {
	switch {
	case err == nil:
		return 200
	case errors.Is(err, ErrScope):
		return 403
	default:
		return 401
	}
}

// Claims is the body of a relay token.
type Claims struct {
	Role Role   `json:"role"`
	Room string `json:"room"`
	Lang string `json:"lang,omitempty"`
	jwt.RegisteredClaims
}

// Need describes what a request wants to do.
type Need struct {
	Role Role
	// Or is a second role that also does (WHIP takes a publisher's or an
	// interpreter's token); "" means none.
	Or   Role
	Room string
	Lang string // checked only when the token names a language
}

// Authority signs and verifies tokens with one secret.
type Authority struct {
	secret []byte
	now    func() time.Time
}

// New returns an Authority for secret. The secret must be at least 16 bytes.
func New(secret []byte) (*Authority, error) {
	if len(secret) < 16 {
		return nil, fmt.Errorf("token secret is %d bytes, want at least 16", len(secret))
	}
	return &Authority{secret: append([]byte(nil), secret...), now: time.Now}, nil
}

// RandomSecret returns a fresh random secret, hex encoded.
func RandomSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return hex.EncodeToString(b)
}

// Issue signs a token for role on room (and lang) valid for ttl.
func (a *Authority) Issue(role Role, room, lang string, ttl time.Duration) (string, error) {
	if _, err := ParseRole(string(role)); err != nil {
		return "", err
	}
	if room == "" {
		return "", errors.New("token needs a room (use '*' for any room)")
	}
	if role == RoleInterpreter && (lang == "" || lang == "*") {
		return "", errors.New("an interpreter token needs the language of its channel (--lang fr)")
	}
	if ttl <= 0 {
		return "", errors.New("token ttl must be positive")
	}
	now := a.now()
	c := Claims{
		Role: role, Room: room, Lang: lang,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)), // tolerate clock skew
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			Issuer:    "relay",
		},
	}
	return jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.secret)
}

// Check verifies token and that it allows need. An admin token allows
// everything in its room scope.
func (a *Authority) Check(token string, need Need) (*Claims, error) {
	if token == "" {
		return nil, ErrMissing
	}
	if len(token) > 4096 {
		return nil, fmt.Errorf("%w: too long", ErrInvalid)
	}
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(a.now), jwt.WithExpirationRequired(),
		jwt.WithIssuer("relay"))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	if c.Role != need.Role && c.Role != RoleAdmin && (need.Or == "" || c.Role != need.Or) {
		return nil, fmt.Errorf("%w: token is for role %s, not %s", ErrScope, c.Role, need.Role)
	}
	if c.Room != "*" && c.Room != need.Room {
		return nil, fmt.Errorf("%w: token is for room %q", ErrScope, c.Room)
	}
	if c.Lang != "" && c.Lang != "*" && need.Lang != "" && !strings.EqualFold(c.Lang, need.Lang) {
		return nil, fmt.Errorf("%w: token is for language %q", ErrScope, c.Lang)
	}
	return &c, nil
}

// Expiry is when a valid token of the relay's expires (any role, any
// room): what a credential handed out beside it may outlive at most.
func (a *Authority) Expiry(token string) (time.Time, bool) {
	if token == "" || len(token) > 4096 {
		return time.Time{}, false
	}
	var c Claims
	_, err := jwt.ParseWithClaims(token, &c, func(*jwt.Token) (any, error) { return a.secret, nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(a.now), jwt.WithExpirationRequired(),
		jwt.WithIssuer("relay"))
	if err != nil || c.ExpiresAt == nil {
		return time.Time{}, false
	}
	return c.ExpiresAt.Time, true
}

// Derive is a key for another purpose (TURN credentials) from the
// relay's secret: HMAC-SHA256(secret, purpose), so that one secret
// configures everything and no key is used twice.
func (a *Authority) Derive(purpose string) []byte {
	m := hmac.New(sha256.New, a.secret)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

// FromHeader returns the bearer token of an Authorization header value, or "".
func FromHeader(h string) string {
	const prefix = "bearer "
	if len(h) > len(prefix) && strings.EqualFold(h[:len(prefix)], prefix) {
		return strings.TrimSpace(h[len(prefix):])
	}
	return ""
}

// Authorizer checks bearer tokens: the one interface relay, captions and
// monitoring take their token checks through. *Authority satisfies it.
type Authorizer interface {
	Check(token string, need Need) (*Claims, error)
}
