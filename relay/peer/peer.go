// Package peer holds pion WHIP publishers and WHEP viewers that talk to a
// relay over HTTP: the tests, the load tool and anyone scripting the relay
// use them as real clients.
package peer

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/clip"
)

// Options shared by publishers and viewers.
type Options struct {
	// Loopback keeps ICE on 127.0.0.1 only: no other address is gathered
	// or tried. Tests and load runs set it.
	Loopback bool
	// UDPMux, when set, carries the peer's ICE traffic on a socket the
	// caller owns (tests close it to make a peer vanish). One mux serves one
	// peer per relay: the relay tells peers apart by address.
	UDPMux ice.UDPMux
	// Client does the HTTP requests; nil means http.DefaultClient.
	Client *http.Client
	// SeeResends turns off SRTP replay protection so that packets resent
	// after a NACK are seen even when the original arrived (tests use it to
	// observe retransmissions without having to lose packets for real).
	SeeResends bool
	// TCPOnly makes the peer use ICE-TCP only, as a delegate behind a
	// firewall that blocks UDP would.
	TCPOnly bool
	// RewriteAnswer, when set, edits the relay's SDP answer before it is
	// applied: tests point the relay's candidate at an impairment proxy.
	RewriteAnswer func(sdp string) string
	// ICEServers are STUN/TURN servers to gather with; FetchICEServers
	// adds the relay's own (OPTIONS on the endpoint, RFC 9725 Link
	// headers); RelayOnly gathers TURN candidates only (ICE transport
	// policy "relay"), as a client behind a firewall that lets nothing
	// else through.
	ICEServers      []webrtc.ICEServer
	FetchICEServers bool
	RelayOnly       bool
}

func (o Options) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return http.DefaultClient
}

// NewAPI returns a pion API for a client peer. registerInterceptors adds
// pion's default interceptors (NACK, reports, TWCC), as a browser would have.
// The interceptors include the mid, rid and repaired-rid header extensions
// (webrtc.ConfigureSimulcastExtensionHeaders) that a simulcast publisher
// needs.
func NewAPI(o Options, registerInterceptors bool) (*webrtc.API, error) {
	return newAPI(o, registerInterceptors, (*webrtc.MediaEngine).RegisterDefaultCodecs)
}

// newAPI is NewAPI with the codecs that register adds instead of pion's
// default set.
func newAPI(o Options, registerInterceptors bool, register func(*webrtc.MediaEngine) error) (*webrtc.API, error) {
	m := &webrtc.MediaEngine{}
	if err := register(m); err != nil {
		return nil, err
	}
	ir := &interceptor.Registry{}
	if registerInterceptors {
		if err := webrtc.RegisterDefaultInterceptors(m, ir); err != nil {
			return nil, err
		}
	}
	se := webrtc.SettingEngine{}
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	if o.TCPOnly {
		se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeTCP4})
	}
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if o.Loopback {
		se.SetIncludeLoopbackCandidate(true)
		se.SetIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetRemoteIPFilter(func(ip net.IP) bool { return ip.IsLoopback() })
		se.SetInterfaceFilter(func(name string) bool { return name == "lo" })
	}
	if o.SeeResends {
		se.DisableSRTPReplayProtection(true)
	}
	if o.UDPMux != nil {
		se.SetICEUDPMux(o.UDPMux)
	}
	return webrtc.NewAPI(webrtc.WithMediaEngine(m), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)), nil
}

// simulcastCodecs registers Opus and the layers' video codec, without RTX.
// pion's RTX packets copy the header of the packet they repair, rid
// included, and a pion receiver takes an unknown SSRC with a rid for that
// layer itself; without RTX a lost packet is resent under its layer's
// SSRC, which is also how the relay (no RTX) wants it.
func simulcastCodecs(videoMime string) func(*webrtc.MediaEngine) error {
	return func(m *webrtc.MediaEngine) error {
		fb := []webrtc.RTCPFeedback{{Type: "goog-remb"}, {Type: "ccm", Parameter: "fir"}} // nack, pli: ConfigureNack
		if err := m.RegisterCodec(webrtc.RTPCodecParameters{
			RTPCodecCapability: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2, SDPFmtpLine: "minptime=10;useinbandfec=1"},
			PayloadType:        111,
		}, webrtc.RTPCodecTypeAudio); err != nil {
			return err
		}
		vcap, pt := videoCapability(videoMime), webrtc.PayloadType(96)
		if videoMime == clip.MimeH264 {
			pt = 102
		}
		vcap.RTCPFeedback = fb
		return m.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: vcap, PayloadType: pt}, webrtc.RTPCodecTypeVideo)
	}
}

func videoCapability(mime string) webrtc.RTPCodecCapability {
	c := webrtc.RTPCodecCapability{MimeType: mime, ClockRate: 90000}
	if mime == clip.MimeH264 {
		c.SDPFmtpLine = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"
	}
	return c
}

// StatusError is a non-2xx answer from the relay.
type StatusError struct {
	Status int
	Body   string
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("relay answered %d: %s", e.Status, strings.TrimSpace(e.Body))
}

// Signal posts pc's offer (after gathering) to a WHIP or WHEP endpoint and
// applies the answer. It returns the session URL from the Location header;
// a non-201 answer is a *StatusError. Tests with peers of their own shape
// (more sections, other codecs) signal through it too.
func Signal(ctx context.Context, o Options, pc *webrtc.PeerConnection, endpoint, token string) (string, error) {
	offer, err := pc.CreateOffer(nil)
	if err != nil {
		return "", err
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(offer); err != nil {
		return "", err
	}
	select {
	case <-gathered:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewBufferString(pc.LocalDescription().SDP))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/sdp")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusCreated {
		return "", &StatusError{Status: resp.StatusCode, Body: string(body)}
	}
	loc, err := resp.Location()
	if err != nil {
		return "", fmt.Errorf("answer without Location: %w", err)
	}
	answer := string(body)
	if o.RewriteAnswer != nil {
		answer = o.RewriteAnswer(answer)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeAnswer, SDP: answer}); err != nil {
		return "", fmt.Errorf("apply answer: %w", err)
	}
	return loc.String(), nil
}

// hangUp sends DELETE to a session URL.
func hangUp(o Options, session string) error {
	if session == "" {
		return nil
	}
	if _, err := url.Parse(session); err != nil {
		return err
	}
	req, err := http.NewRequest(http.MethodDelete, session, nil)
	if err != nil {
		return err
	}
	resp, err := o.client().Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		return &StatusError{Status: resp.StatusCode}
	}
	return nil
}
