package peer

import (
	"encoding/binary"
	"sync"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

func rtpPacket(ssrc uint32, seq uint16, ts uint32, marker bool, payload int) []byte {
	b := make([]byte, 12+payload)
	b[0] = 0x80
	b[1] = 96
	if marker {
		b[1] |= 0x80
	}
	binary.BigEndian.PutUint16(b[2:], seq)
	binary.BigEndian.PutUint32(b[4:], ts)
	binary.BigEndian.PutUint32(b[8:], ssrc)
	return b
}

func TestTapTakesOnlySwitchedRTP(t *testing.T) {
	var mu sync.Mutex
	var hooked []uint16
	tp := &taps{mu: &mu, hook: func(kind webrtc.RTPCodecType, h *rtp.Header, payload []byte, _ time.Time) {
		if kind != webrtc.RTPCodecTypeVideo || payload != nil {
			t.Errorf("hook got %v with a payload of %d bytes", kind, len(payload))
		}
		hooked = append(hooked, h.SequenceNumber)
	}}
	if tp.take(rtpPacket(1, 10, 0, false, 100)) {
		t.Fatal("took a packet before any track switched")
	}
	tp.add(webrtc.RTPCodecTypeVideo, 1)

	stun := make([]byte, 20) // first byte 0: STUN
	dtls := append([]byte{22, 0xfe, 0xfd}, make([]byte, 20)...)
	rtcp := []byte{0x80, 200, 0, 6, 0, 0, 0, 1, 0, 0, 0, 0} // sender report of SSRC 1
	for name, b := range map[string][]byte{
		"STUN": stun, "DTLS": dtls, "RTCP": rtcp, "short": {0x80, 96, 0},
		"other SSRC": rtpPacket(2, 11, 0, false, 100),
	} {
		t.Run(name, func(t *testing.T) {
			if tp.take(b) {
				t.Error("taken")
			}
		})
	}
	for _, p := range [][]byte{
		rtpPacket(1, 11, 3000, false, 1000),
		rtpPacket(1, 12, 3000, true, 500),
		rtpPacket(1, 15, 6000, true, 500),  // 13 and 14 lost
		rtpPacket(1, 14, 6000, false, 500), // late
	} {
		if !tp.take(p) {
			t.Fatal("RTP of the switched track not taken")
		}
	}
	if len(hooked) != 4 {
		t.Errorf("hook saw %v", hooked)
	}

	// The pion reader counted up to 8; 9 and 10 were lost before the switch.
	st := TrackStats{Packets: 5, Frames: 1, LastSeq: 8, LastTS: 0}
	mu.Lock()
	tp.merge(webrtc.RTPCodecTypeVideo, &st)
	mu.Unlock()
	want := TrackStats{Packets: 9, HeaderOnly: 4, Frames: 3, LastSeq: 15, LastTS: 6000,
		Repeats: 1, SeqJumps: 2, MissingTotal: 4, Bytes: 2500}
	if st != want {
		t.Errorf("merged stats\n got %+v\nwant %+v", st, want)
	}
}

// Packets pion still held when the track switched reach the pion reader
// after the tap has counted newer ones: nothing is counted missing for
// them once they are in.
func TestTapBoundaryWithPacketsInFlight(t *testing.T) {
	var mu sync.Mutex
	tp := &taps{mu: &mu}
	tp.add(webrtc.RTPCodecTypeAudio, 7)
	for seq := uint16(103); seq < 110; seq++ {
		tp.take(rtpPacket(7, seq, uint32(seq)*960, false, 80))
	}
	st := TrackStats{Packets: 1, LastSeq: 100}
	mu.Lock()
	tp.merge(webrtc.RTPCodecTypeAudio, &st)
	mu.Unlock()
	if st.MissingTotal != 2 {
		t.Errorf("101 and 102 not yet counted by pion: missing %d, want 2", st.MissingTotal)
	}
	// The pion reader then counts 101 and 102.
	st = TrackStats{Packets: 3, LastSeq: 102}
	mu.Lock()
	tp.merge(webrtc.RTPCodecTypeAudio, &st)
	mu.Unlock()
	if st.MissingTotal != 0 || st.Repeats != 0 || st.Packets != 10 || st.LastSeq != 109 {
		t.Errorf("after the in-flight packets: %+v", st)
	}
}
