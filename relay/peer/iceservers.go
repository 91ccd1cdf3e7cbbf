package peer

import (
	"context"
	"net/http"
	"strings"

	"github.com/pion/webrtc/v4"
)

// ICEServersFromLinks reads the ICE servers of Link headers (RFC 9725
// §4.6): `<turn:host:3478?transport=udp>; rel="ice-server";
// username="u"; credential="p"; credential-type="password"`. Links of
// other relations, malformed ones and URLs that are not STUN or TURN are
// skipped.
func ICEServersFromLinks(h http.Header) []webrtc.ICEServer {
	var out []webrtc.ICEServer
	for _, line := range h.Values("Link") {
		for _, link := range splitOutsideQuotes(line, ',') {
			if s, ok := parseICELink(link); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func parseICELink(link string) (webrtc.ICEServer, bool) {
	link = strings.TrimSpace(link)
	end := strings.IndexByte(link, '>')
	if !strings.HasPrefix(link, "<") || end < 0 || len(link) > 4096 {
		return webrtc.ICEServer{}, false
	}
	url := link[1:end]
	if !(strings.HasPrefix(url, "stun:") || strings.HasPrefix(url, "stuns:") || strings.HasPrefix(url, "turn:") || strings.HasPrefix(url, "turns:")) {
		return webrtc.ICEServer{}, false
	}
	params := map[string]string{}
	for _, p := range splitOutsideQuotes(link[end+1:], ';') {
		k, v, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
			v = v[1 : len(v)-1]
		}
		params[strings.ToLower(strings.TrimSpace(k))] = v
	}
	if params["rel"] != "ice-server" {
		return webrtc.ICEServer{}, false
	}
	s := webrtc.ICEServer{URLs: []string{url}}
	if u := params["username"]; u != "" {
		s.Username, s.Credential = u, params["credential"]
	}
	return s, true
}

// splitOutsideQuotes splits s at sep where sep is not inside "...".
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	quoted, start := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			quoted = !quoted
		case sep:
			if !quoted {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// FetchICEServers asks endpoint (a WHIP or WHEP URL) for its ICE servers
// with OPTIONS, as the relay's pages do before their offer.
func FetchICEServers(ctx context.Context, o Options, endpoint, token string) ([]webrtc.ICEServer, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodOptions, endpoint, nil)
	if err != nil {
		return nil, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return nil, &StatusError{Status: resp.StatusCode}
	}
	return ICEServersFromLinks(resp.Header), nil
}

// configuration is the peer connection's: the ICE servers of o (fetched
// from endpoint when o.FetchICEServers), TURN only when o.RelayOnly.
func (o Options) configuration(ctx context.Context, endpoint, token string) (webrtc.Configuration, error) {
	c := webrtc.Configuration{ICEServers: o.ICEServers}
	if o.FetchICEServers {
		servers, err := FetchICEServers(ctx, o, endpoint, token)
		if err != nil {
			return c, err
		}
		c.ICEServers = append(c.ICEServers, servers...)
	}
	if o.RelayOnly {
		c.ICETransportPolicy = webrtc.ICETransportPolicyRelay
	}
	return c, nil
}
