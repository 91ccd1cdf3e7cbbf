package peer

import (
	"encoding/binary"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"
)

// Header-only viewers (ViewConfig.HeaderOnly) are what lets one machine run
// hundreds of viewers beside the relay it measures. A pion viewer hands
// every packet through three goroutines (ICE read loop, DTLS/SRTP demux,
// SRTP session) to the track reader and decrypts it on the way. Once a
// track's first keyframe has come through that path whole, the load tool
// only needs each packet's sequence number, timestamp and marker, which SRTP
// leaves in the clear: tapConn takes such packets straight off the socket,
// on the ICE mux's read goroutine, and counts them there.

// tapConn is a header-only viewer's UDP socket, under an ICE UDP mux.
// STUN, DTLS, RTCP and RTP of tracks not yet switched go up to pion.
type tapConn struct {
	*net.UDPConn
	taps *taps
}

// ReadFromAddrPort is what pion's UDP mux reads with (ice.AddrPortReaderWriter).
func (c *tapConn) ReadFromAddrPort(b []byte) (int, netip.AddrPort, error) {
	for {
		n, from, err := c.UDPConn.ReadFromUDPAddrPort(b)
		if err != nil || !c.taps.take(b[:n]) {
			return n, from, err
		}
	}
}

// WriteToAddrPort completes ice.AddrPortReaderWriter.
func (c *tapConn) WriteToAddrPort(b []byte, to netip.AddrPort) (int, error) {
	return c.UDPConn.WriteToUDPAddrPort(b, to)
}

// ReadFrom serves readers that do not use the AddrPort interface.
func (c *tapConn) ReadFrom(b []byte) (int, net.Addr, error) {
	for {
		n, from, err := c.UDPConn.ReadFrom(b)
		if err != nil || !c.taps.take(b[:n]) {
			return n, from, err
		}
	}
}

// taps holds a viewer's tracks that are counted from headers.
type taps struct {
	mu     *sync.Mutex // the viewer's: guards the tracks' stats
	tracks atomic.Pointer[[]*tapTrack]
	hook   func(webrtc.RTPCodecType, *rtp.Header, []byte, time.Time)
}

// tapTrack is one track's header-only half. Packets pion still had in
// flight when the track switched are counted by the pion reader; those
// from boundary on are counted here.
type tapTrack struct {
	kind     webrtc.RTPCodecType
	ssrc     uint32
	started  bool   // guarded by mu: a packet has been taken
	boundary uint16 // guarded by mu: sequence number of the first packet taken
	st       TrackStats
	hdr      rtp.Header // only the socket reader uses it
}

// add switches the track with ssrc to header-only counting.
func (t *taps) add(kind webrtc.RTPCodecType, ssrc uint32) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var list []*tapTrack
	if old := t.tracks.Load(); old != nil {
		list = append(list, *old...)
	}
	list = append(list, &tapTrack{kind: kind, ssrc: ssrc})
	t.tracks.Store(&list)
}

// take counts b if it is RTP of a switched track and reports whether it did.
func (t *taps) take(b []byte) bool {
	list := t.tracks.Load()
	// RTP version 2; payload types 64-95 in the second byte are RTCP
	// (RFC 5761), which goes up to pion.
	if list == nil || len(b) < 12 || b[0]>>6 != 2 || (b[1]&0x7f >= 64 && b[1]&0x7f <= 95) {
		return false
	}
	ssrc := binary.BigEndian.Uint32(b[8:12])
	var tr *tapTrack
	for _, x := range *list {
		if x.ssrc == ssrc {
			tr = x
			break
		}
	}
	if tr == nil {
		return false
	}
	at := time.Now()
	h := &tr.hdr
	h.Version, h.Marker, h.PayloadType = 2, b[1]&0x80 != 0, b[1]&0x7f
	h.SequenceNumber = binary.BigEndian.Uint16(b[2:4])
	h.Timestamp, h.SSRC = binary.BigEndian.Uint32(b[4:8]), ssrc
	t.mu.Lock()
	if !tr.started {
		tr.started, tr.boundary = true, h.SequenceNumber
		tr.st.FirstAt, tr.st.LastSeq = at, h.SequenceNumber-1
	}
	count(&tr.st, h.SequenceNumber, h.Timestamp, h.Marker, len(b)-12)
	t.mu.Unlock()
	if t.hook != nil {
		t.hook(tr.kind, h, nil, at)
	}
	return true
}

// merge adds the header-only counts of kind to st (the pion reader's).
// Called with mu held.
func (t *taps) merge(kind webrtc.RTPCodecType, st *TrackStats) {
	list := t.tracks.Load()
	if list == nil {
		return
	}
	for _, tr := range *list {
		if tr.kind != kind || !tr.started {
			continue
		}
		// Packets pion lost before the switch: between the last one its
		// reader counted and the first one taken here.
		if gap := int16(tr.boundary - 1 - st.LastSeq); gap > 0 {
			st.SeqJumps++
			st.MissingTotal += uint64(gap)
		}
		st.Packets += tr.st.Packets
		st.HeaderOnly += tr.st.Packets
		st.Bytes += tr.st.Bytes
		st.Frames += tr.st.Frames
		st.Repeats += tr.st.Repeats
		st.TSBackwards += tr.st.TSBackwards
		st.SeqJumps += tr.st.SeqJumps
		st.MissingTotal += tr.st.MissingTotal
		st.LastSeq, st.LastTS = tr.st.LastSeq, tr.st.LastTS
	}
}

// count updates st for a packet that is not the track's first.
func count(st *TrackStats, seq uint16, ts uint32, marker bool, bytes int) {
	switch d := int16(seq - st.LastSeq); {
	case d <= 0:
		st.Repeats++
	case d > 1:
		st.SeqJumps++
		st.MissingTotal += uint64(d - 1)
	}
	if int16(seq-st.LastSeq) > 0 {
		if st.Packets > 0 && int32(ts-st.LastTS) < 0 {
			st.TSBackwards++
		}
		st.LastSeq, st.LastTS = seq, ts
	}
	st.Packets++
	st.Bytes += uint64(bytes)
	if marker {
		st.Frames++
	}
}
