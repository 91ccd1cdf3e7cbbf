package peer

import (
	"net/http"
	"testing"
)

func TestICEServersFromLinks(t *testing.T) {
	h := http.Header{}
	h.Add("Link", `<turn:relay.example.org:3478?transport=udp>; rel="ice-server"; username="1700000000:hall/x"; credential="a+b/c="; credential-type="password"`)
	h.Add("Link", `<turns:relay.example.org:443?transport=tcp>; rel="ice-server"; username="u;v,w"; credential="p"`+
		`, <https://example.org/>; rel="next", <stun:stun.example.org>; rel=ice-server`)
	h.Add("Link", `garbage, <turn:x>; rel="other", <javascript:alert(1)>; rel="ice-server"`)
	got := ICEServersFromLinks(h)
	if len(got) != 3 {
		t.Fatalf("%d servers: %+v", len(got), got)
	}
	if got[0].URLs[0] != "turn:relay.example.org:3478?transport=udp" || got[0].Username != "1700000000:hall/x" || got[0].Credential != "a+b/c=" {
		t.Errorf("first: %+v", got[0])
	}
	if got[1].URLs[0] != "turns:relay.example.org:443?transport=tcp" || got[1].Username != "u;v,w" {
		t.Errorf("second (quoted ; and , in the username): %+v", got[1])
	}
	if got[2].URLs[0] != "stun:stun.example.org" || got[2].Username != "" {
		t.Errorf("third: %+v", got[2])
	}
}

// Link headers come from the server; whatever they hold, parsing neither
// panics nor yields a server that is not STUN or TURN.
func FuzzICEServersFromLinks(f *testing.F) {
	f.Add(`<turn:h:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"`)
	f.Add(`<stun:h>; rel=ice-server, <x>; rel="ice-server"`)
	f.Add(`<turn:"a>; rel="ice-server"; username="`)
	f.Fuzz(func(t *testing.T, v string) {
		h := http.Header{}
		h.Add("Link", v)
		for _, s := range ICEServersFromLinks(h) {
			u := s.URLs[0]
			if len(u) < 5 || !(u[:5] == "turn:" || u[:5] == "stun:" || len(u) > 6 && (u[:6] == "turns:" || u[:6] == "stuns:")) {
				t.Fatalf("%q gave a server %q", v, u)
			}
		}
	})
}
