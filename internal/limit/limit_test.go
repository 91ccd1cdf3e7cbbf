package limit

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/relay-av/relay/internal/httperr"
)

func TestKey(t *testing.T) {
	cases := []struct{ remote, want string }{
		{"192.0.2.7:5000", "192.0.2.7"},
		{"192.0.2.7", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"[2001:db8:1:2:aaaa:bbbb:cccc:dddd]:443", "2001:db8:1:2::"},
		{"[2001:db8:1:2::1]:443", "2001:db8:1:2::"},
		{"[fe80::1%eth0]:443", "fe80::"},
		{"@unix", "invalid IP"},
		{"", "invalid IP"},
	}
	for _, c := range cases {
		t.Run(c.remote, func(t *testing.T) {
			if got := Key(c.remote).String(); got != c.want {
				t.Errorf("Key(%q) = %s, want %s", c.remote, got, c.want)
			}
		})
	}
	if Key("[2001:db8:1:2::1]:1") != Key("[2001:db8:1:2:ffff::9]:2") {
		t.Error("two addresses of one /64 are counted apart")
	}
	if Key("[2001:db8:1:2::1]:1") == Key("[2001:db8:1:3::1]:1") {
		t.Error("two /64s are counted together")
	}
}

func TestSlots(t *testing.T) {
	s := NewSlots(SlotsConfig{What: "streams", PerAddr: 2, Total: 5, Reserve: 1})
	take := func(remote string, privileged bool, want int) func() {
		t.Helper()
		release, err := s.Acquire(remote, privileged)
		if got := httperr.Status(err); got != want {
			t.Fatalf("Acquire(%s, %v): %d (%v), want %d", remote, privileged, got, err, want)
		}
		return release
	}
	a1 := take("192.0.2.1:1", false, 200)
	take("192.0.2.1:2", false, 200)
	take("192.0.2.1:3", false, http.StatusTooManyRequests)       // the address's share
	take("[2001:db8::1]:1", false, 200)                          // another client
	take("[2001:db8::2]:1", false, 200)                          // same /64: its second
	take("[2001:db8::3]:1", false, http.StatusTooManyRequests)   // same /64: over
	take("198.51.100.1:1", false, http.StatusServiceUnavailable) // 4 held, the 5th is reserved
	admin := take("198.51.100.1:2", true, 200)                   // the reserve
	take("198.51.100.1:3", true, http.StatusServiceUnavailable)  // nothing left at all
	if s.InUse() != 5 {
		t.Fatalf("in use %d, want 5", s.InUse())
	}
	a1()
	a1() // a second release gives nothing back twice
	if s.InUse() != 4 {
		t.Fatalf("in use %d after one release, want 4", s.InUse())
	}
	take("192.0.2.1:4", false, 200)
	admin()
	if _, err := s.Acquire("192.0.2.9:1", false); httperr.Status(err) != http.StatusServiceUnavailable {
		t.Fatalf("the freed reserved slot went to an anonymous client: %v", err)
	}
	var e *httperr.Error
	if _, err := s.Acquire("192.0.2.1:5", false); err == nil || !asErr(err, &e) || e.RetryAfter <= 0 {
		t.Fatalf("a refusal without Retry-After: %v", err)
	}
	if len(s.byAddr) != 2 {
		t.Errorf("per-address table %v", s.byAddr)
	}
}

func asErr(err error, e **httperr.Error) bool {
	x, ok := err.(*httperr.Error)
	*e = x
	return ok
}

func TestSlotsUncapped(t *testing.T) {
	s := NewSlots(SlotsConfig{})
	for range 1000 {
		if _, err := s.Acquire("192.0.2.1:1", false); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRate(t *testing.T) {
	if !(*Rate)(nil).Allow("192.0.2.1:1") || NewRate(-1, 0) != nil {
		t.Fatal("a disabled limit refuses")
	}
	r := NewRate(0.001, 2)
	for i, want := range []bool{true, true, false} {
		if got := r.Allow("[2001:db8:5:6::" + string(rune('1'+i)) + "]:1"); got != want {
			t.Fatalf("request %d from one /64: %v, want %v", i, got, want)
		}
	}
	if !r.Allow("[2001:db8:5:7::1]:1") {
		t.Error("another /64 is limited too")
	}
	if got := len(r.entries); got != 2 {
		t.Errorf("%d entries, want 2", got)
	}
	if _, ok := r.entries[netip.MustParseAddr("2001:db8:5:6::")]; !ok {
		t.Error("the /64 is not the key")
	}
}
