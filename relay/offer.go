package relay

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/pion/sdp/v3"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/httperr"
)

// Limits on what a WHIP or WHEP offer may hold.
const (
	maxOfferBytes      = 64 << 10
	maxMediaSections   = 8
	maxOfferCandidates = 64
)

// offerCodecs is what an offer can carry, per media kind, and how many
// media sections of each kind it has (a WHEP offer's second audio or video
// section asks for the floor under the interpretation, or sign language).
type offerCodecs struct {
	codecs map[webrtc.RTPCodecType][]webrtc.RTPCodecCapability
	lines  map[webrtc.RTPCodecType]int
}

// parseOffer validates an offer's shape and lists its codecs.
func parseOffer(raw string) (offerCodecs, error) {
	var sd sdp.SessionDescription
	if err := sd.UnmarshalString(raw); err != nil {
		return offerCodecs{}, httperr.New(http.StatusBadRequest, "offer is not valid SDP: %v", err)
	}
	if len(sd.MediaDescriptions) == 0 {
		return offerCodecs{}, httperr.New(http.StatusBadRequest, "offer has no media")
	}
	if len(sd.MediaDescriptions) > maxMediaSections {
		return offerCodecs{}, httperr.New(http.StatusBadRequest, "offer has %d media sections, at most %d allowed", len(sd.MediaDescriptions), maxMediaSections)
	}
	out := offerCodecs{codecs: map[webrtc.RTPCodecType][]webrtc.RTPCodecCapability{}, lines: map[webrtc.RTPCodecType]int{}}
	cands := 0
	for _, md := range sd.MediaDescriptions {
		kind := webrtc.NewRTPCodecType(md.MediaName.Media)
		fmtps := map[string]string{}
		var maps [][2]string
		for _, a := range md.Attributes {
			switch a.Key {
			case "candidate":
				cands++
			case "rtpmap":
				pt, enc, _ := strings.Cut(a.Value, " ")
				maps = append(maps, [2]string{pt, enc})
			case "fmtp":
				pt, params, _ := strings.Cut(a.Value, " ")
				fmtps[pt] = params
			}
		}
		if kind == 0 {
			continue // data channels and the like: not ours, but harmless
		}
		out.lines[kind]++
		for _, m := range maps {
			name, rate, _ := strings.Cut(m[1], "/")
			rate, _, _ = strings.Cut(rate, "/")
			var clock uint32
			fmt.Sscan(rate, &clock)
			out.codecs[kind] = append(out.codecs[kind], webrtc.RTPCodecCapability{MimeType: kind.String() + "/" + name, ClockRate: clock, SDPFmtpLine: fmtps[m[0]]})
		}
	}
	if cands > maxOfferCandidates {
		return offerCodecs{}, httperr.New(http.StatusBadRequest, "offer has %d candidates, at most %d allowed", cands, maxOfferCandidates)
	}
	return out, nil
}

// supported says whether the relay can forward codec c.
func supported(c webrtc.RTPCodecCapability) bool {
	switch codecOf(c.MimeType) {
	case codecH264:
		return fmtpValue(c.SDPFmtpLine, "packetization-mode") == "1"
	case codecUnknown:
		return false
	}
	return true
}

// canReceive says whether an offer has a codec that plays want.
func (oc offerCodecs) canReceive(kind webrtc.RTPCodecType, want webrtc.RTPCodecCapability) bool {
	for _, c := range oc.codecs[kind] {
		if codecOf(c.MimeType) == codecOf(want.MimeType) && supported(c) {
			return true
		}
	}
	return false
}

// has says whether the offer has media of kind at all.
func (oc offerCodecs) has(kind webrtc.RTPCodecType) bool { return len(oc.codecs[kind]) > 0 }

// supportedKinds lists the kinds of media the offer carries in a codec the
// relay forwards.
func (oc offerCodecs) supportedKinds() []webrtc.RTPCodecType {
	var out []webrtc.RTPCodecType
	for kind, cs := range oc.codecs {
		for _, c := range cs {
			if supported(c) {
				out = append(out, kind)
				break
			}
		}
	}
	return out
}

// anySupported says whether the offer carries media the relay can forward.
func (oc offerCodecs) anySupported() bool {
	for _, cs := range oc.codecs {
		for _, c := range cs {
			if supported(c) {
				return true
			}
		}
	}
	return false
}

// answerSDP completes an answer with every ICE candidate gathered: WHIP and
// WHEP clients need no trickle.
func answerSDP(pc *webrtc.PeerConnection) (string, error) {
	answer, err := pc.CreateAnswer(nil)
	if err != nil {
		return "", httperr.New(http.StatusBadRequest, "cannot answer offer: %v", err)
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(answer); err != nil {
		return "", fmt.Errorf("set local description: %w", err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		return "", errors.New("ICE gathering did not complete in 5 s")
	}
	return pc.LocalDescription().SDP, nil
}
