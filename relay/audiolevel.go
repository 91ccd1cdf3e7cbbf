package relay

import (
	"sync/atomic"
	"time"
)

// AudioLevelURI is the RFC 6464 header extension the relay negotiates with
// publishers: the level of each audio packet, measured by the sender, so
// the relay knows a booth is silent without decoding audio.
const AudioLevelURI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"

// levelWindow is how long a level reading holds the loudest packet: speech
// has pauses between words, a meter should not flicker with them.
const levelWindow = time.Second

// audioLevels follows one audio source's RFC 6464 levels. The source's
// reader writes it once per packet; readers (the API, a scrape) read the
// atomics.
type audioLevels struct {
	extID uint8 // negotiated extension id; 0 when the publisher sends none

	// Written by the reader goroutine only.
	winStart int64
	winPeak  uint8 // loudest -dBov of the current window (0 loudest, 127 silence)

	cur, prev atomic.Uint32 // loudest -dBov of this and the last window, +1 (0: none yet)
	lastLoud  atomic.Int64  // unix nanoseconds of the last packet louder than SilenceDBov
	seen      atomic.Bool
}

// note reads the level of a packet's header (b is the packet, hdrLen its
// header length with extensions).
func (a *audioLevels) note(b []byte, hdrLen int, now int64) {
	if a.extID == 0 {
		return
	}
	lvl, ok := oneByteExtension(b[:hdrLen], a.extID)
	if !ok || len(lvl) < 1 {
		return
	}
	dbov := lvl[0] & 0x7f // -dBov; the top bit is the voice-activity flag
	if now-a.winStart >= int64(levelWindow) {
		if a.winStart != 0 {
			a.prev.Store(uint32(a.winPeak) + 1)
		}
		a.winStart, a.winPeak = now, 127
	}
	a.winPeak = min(a.winPeak, dbov)
	a.cur.Store(uint32(a.winPeak) + 1)
	if -int(dbov) > SilenceDBov {
		a.lastLoud.Store(now)
	}
	if !a.seen.Load() {
		a.lastLoud.CompareAndSwap(0, now) // silence counts from the first level
		a.seen.Store(true)
	}
}

// reading returns the loudest level of the last two windows in dBov and
// how long no packet was louder than SilenceDBov; ok is false before the
// first level.
func (a *audioLevels) reading(now time.Time) (dbov float64, silent time.Duration, ok bool) {
	if !a.seen.Load() {
		return 0, 0, false
	}
	peak := uint32(128)
	for _, v := range []uint32{a.cur.Load(), a.prev.Load()} {
		if v > 0 && v-1 < peak {
			peak = v - 1
		}
	}
	if peak > 127 {
		peak = 127
	}
	return -float64(peak), max(0, now.Sub(time.Unix(0, a.lastLoud.Load()))), true
}

// oneByteExtension finds extension id in an RTP header with the RFC 8285
// one-byte header form (the one Chromium and OBS use for audio levels),
// without allocating.
func oneByteExtension(hdr []byte, id uint8) ([]byte, bool) {
	if len(hdr) < 12 || hdr[0]&0x10 == 0 {
		return nil, false
	}
	off := 12 + 4*int(hdr[0]&0x0f)
	if len(hdr) < off+4 || hdr[off] != 0xBE || hdr[off+1] != 0xDE {
		return nil, false
	}
	end := off + 4 + 4*(int(hdr[off+2])<<8|int(hdr[off+3]))
	if end > len(hdr) {
		return nil, false
	}
	for i := off + 4; i < end; {
		b := hdr[i]
		if b == 0 { // padding
			i++
			continue
		}
		eid, n := b>>4, int(b&0x0f)+1
		if eid == 15 { // reserved: stop reading
			return nil, false
		}
		if i+1+n > end {
			return nil, false
		}
		if eid == id {
			return hdr[i+1 : i+1+n], true
		}
		i += 1 + n
	}
	return nil, false
}
