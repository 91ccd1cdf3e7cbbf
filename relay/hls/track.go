package hls

import (
	"bytes"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/opus"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	mp4codecs "github.com/bluenviron/mediacommon/v2/pkg/formats/mp4/codecs"
	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay"
)

// track is one media rendition of a session: a video layer or an audio
// channel. Its tap writes RTP packets into in (on the source's fan-out
// goroutine, never blocking); its own goroutine turns them into samples,
// samples into parts and segments, and keeps the live window that the
// HTTP handlers read under mu.
type track struct {
	media
	sess      *session
	kind      webrtc.RTPCodecType
	lang      string // audio: the channel ("" the floor)
	rid       string // video: the layer
	timescale int64
	log       *slog.Logger
	lead      bool // the session's clock: its segment starts are the boundaries
	in        chan rtpIn
	tap       Tap
	dropped   atomic.Uint64 // packets the queue had no room for

	// The goroutine's own state.
	order    reorder
	dep      h264Depacketizer
	auTS     uint32
	haveSeq  bool
	lastSeq  uint16
	lastTS   uint32
	extTS    int64
	anchored bool
	anchorTS int64 // extTS of the first packet
	anchorAt int64 // its media time, in timescale units
	waitKey  bool
	pend     *sample   // awaiting the next sample, which gives its duration
	queue    []*sample // a follower's samples waiting for the lead's clock
	lastDur  int64
	mime     string
	warned   bool
	asked    bool // a keyframe was asked for the segment in progress
	initSPS  []byte
	initPPS  []byte
	partBuf  []*sample
	partDur  int64
	partSeq  uint32
}

// rtpIn is one packet as the track's goroutine gets it.
type rtpIn struct {
	seq     uint16
	ts      uint32
	marker  bool
	pt      uint8
	payload []byte
	at      time.Time
}

// sample is one access unit (video) or Opus packet (audio).
type sample struct {
	pts     int64 // timescale units on the session's media timeline
	dur     int64
	key     bool
	payload []byte
	// afterGap: the timeline jumped before this sample (a pause between
	// publishers): a new segment starts with it.
	afterGap bool
}

// inQueue bounds the packets waiting for a track's goroutine: a second of
// video at a few Mbit/s. More means the goroutine is stuck; the track
// then drops and restarts at a keyframe.
const inQueue = 1024

// WriteRTP is the tap's writer: it copies the packet for the track's
// goroutine and never blocks.
func (t *track) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	p := rtpIn{seq: h.SequenceNumber, ts: h.Timestamp, marker: h.Marker, pt: h.PayloadType,
		payload: append([]byte(nil), payload...), at: time.Now()}
	select {
	case t.in <- p:
	default:
		t.dropped.Add(1)
	}
	return len(payload), nil
}

// mediaTime converts a wall-clock instant to the session's media
// timeline, in timescale units.
func (t *track) mediaTime(at time.Time) int64 {
	return t.fromDuration(at.Sub(t.sess.start) + mediaBase)
}

// toDuration converts timescale units to a duration on the media
// timeline. Whole seconds apart from the rest: units × 1e9 would
// overflow after 28 hours at 90 kHz.
func (t *track) toDuration(units int64) time.Duration {
	return time.Duration(units/t.timescale)*time.Second + time.Duration(units%t.timescale*int64(time.Second)/t.timescale)
}

// fromDuration converts a duration to timescale units (whole seconds
// apart, for the same reason).
func (t *track) fromDuration(d time.Duration) int64 {
	return int64(d/time.Second)*t.timescale + int64(d%time.Second)*t.timescale/int64(time.Second)
}

// ordered takes the packets in sequence order; a gap left is a loss.
func (t *track) ordered(p rtpIn, _ bool) { t.handle(p) }

// handle takes one packet, in sequence order.
func (t *track) handle(p rtpIn) {
	mime := relay.TapMime(p.pt)
	if mime != t.mime {
		if t.mime != "" {
			t.log.Info("hls: codec changed", "from", t.mime, "to", mime)
		}
		t.mime, t.waitKey, t.warned = mime, true, false
		t.dep.reset()
	}
	// The sequence and the timeline run on through packets of a codec
	// not packaged, so that the next packaged one is not taken for late.
	if t.haveSeq {
		d := int16(p.seq - t.lastSeq)
		if d <= 0 {
			return // late or duplicated
		}
		if d > 1 && t.kind == webrtc.RTPCodecTypeVideo {
			t.dep.reset()
			t.waitKey = true
			t.tap.RequestKeyframe()
		}
		t.extTS += int64(int32(p.ts - t.lastTS))
	}
	t.haveSeq, t.lastSeq, t.lastTS = true, p.seq, p.ts
	if !packaged(mime) {
		if !t.warned {
			t.warned = true
			t.log.Warn("hls: codec not packaged; this rendition pauses", "codec", mime)
		}
		return
	}
	if !t.anchored {
		t.anchored, t.anchorTS, t.anchorAt = true, t.extTS, t.mediaTime(p.at)
	}
	pts := t.anchorAt + t.extTS - t.anchorTS
	if t.kind == webrtc.RTPCodecTypeAudio {
		if len(p.payload) == 0 {
			return
		}
		t.addSample(&sample{pts: pts, key: true, payload: p.payload, dur: opus.PacketDuration2(p.payload)})
		return
	}
	if len(t.dep.nalus) > 0 && p.ts != t.auTS {
		t.finishAU(t.auPTS(pts, p.ts)) // the marker of the last one was lost
	}
	t.auTS = p.ts
	if err := t.dep.push(p.payload); err != nil {
		t.dep.reset()
		t.waitKey = true
		t.tap.RequestKeyframe()
		return
	}
	if p.marker {
		t.finishAU(pts)
	}
}

// auPTS is the media time of the access unit being gathered, given the
// current packet's.
func (t *track) auPTS(pts int64, ts uint32) int64 {
	return pts - int64(int32(ts-t.auTS))
}

func (t *track) finishAU(pts int64) {
	au := t.dep.take()
	if len(au) == 0 {
		return
	}
	key := isIDR(au)
	if t.waitKey && !key {
		t.tap.RequestKeyframe()
		return
	}
	if key && (t.dep.sps == nil || t.dep.pps == nil) {
		return // cannot write an init segment without them
	}
	t.waitKey = false
	data, err := h264.AVCC(au).Marshal()
	if err != nil {
		return
	}
	t.addSample(&sample{pts: pts, key: key, payload: data})
}

// addSample gives the previous sample its duration and commits it.
func (t *track) addSample(s *sample) {
	prev := t.pend
	t.pend = s
	if prev == nil {
		return
	}
	d := s.pts - prev.pts
	limit := t.fromDuration(maxSampleGap)
	if d <= 0 || d > limit {
		// A jump on the timeline (a long pause between publishers):
		// the sample keeps the usual length, the next segment starts
		// after the gap.
		d = t.lastDur
		if d <= 0 {
			d = t.fromDuration(20 * time.Millisecond)
		}
		if prev.dur > 0 && t.kind == webrtc.RTPCodecTypeAudio {
			d = prev.dur
		}
		s.afterGap = true // its segment starts with it
	}
	prev.dur, t.lastDur = d, d
	if t.lead || t.kind == webrtc.RTPCodecTypeVideo {
		t.commit(prev)
		return
	}
	t.queue = append(t.queue, prev)
	t.drain()
}

// drain commits a follower's queued samples up to the lead's clock, or
// all but the last followerWait of them when the lead is behind.
func (t *track) drain() {
	if len(t.queue) == 0 {
		return
	}
	clock, alive := t.sess.clock()
	last := t.queue[len(t.queue)-1]
	n := 0
	if t.cur == nil {
		// A follower starts where the lead does, so that every
		// rendition's segment n covers the same span. Until the lead
		// has begun (a first keyframe) it keeps only its last
		// followerWait, for leadGrace; then it goes on without.
		first, ok := t.sess.firstBoundary()
		if !ok && time.Since(t.sess.start) < leadGrace {
			for n < len(t.queue) && t.toDuration(last.pts-t.queue[n].pts) > followerWait {
				n++
			}
			t.queue = append(t.queue[:0], t.queue[n:]...)
			return
		}
		for ok && n < len(t.queue) && t.toDuration(t.queue[n].pts) < first {
			n++
		}
	}
	for _, s := range t.queue[n:] {
		end := t.toDuration(s.pts + s.dur)
		if (!alive || end > clock) && t.toDuration(last.pts+last.dur-s.pts) < followerWait {
			break
		}
		t.commit(s)
		n++
	}
	t.queue = append(t.queue[:0], t.queue[n:]...)
}

// commit puts s into the part and segment in progress, cutting them
// where the rules say.
func (t *track) commit(s *sample) {
	if t.kind == webrtc.RTPCodecTypeVideo && s.key {
		if changed := t.noteParams(); changed {
			t.forceCut = true
		}
	}
	if t.cur == nil {
		t.forceCut = false // the first segment starts here anyway
		t.openSegment(s)
	} else if t.cutBefore(s) {
		t.closeSegment(s)
	}
	if len(t.partBuf) > 0 && t.partDur+s.dur > t.fromDuration(t.sess.cfg.PartTarget) {
		t.flushPart()
	}
	t.partBuf = append(t.partBuf, s)
	t.partDur += s.dur
	t.curDur += s.dur
	if t.partDur+s.dur > t.fromDuration(t.sess.cfg.PartTarget) {
		t.flushPart()
	}
	if t.lead {
		t.sess.advance(t.toDuration(s.pts + s.dur))
	}
	if t.kind == webrtc.RTPCodecTypeVideo && !t.asked && t.toDuration(t.curDur) >= t.sess.cfg.SegmentTarget-keyframeLead {
		t.asked = true
		t.sess.requestKeyframes()
	}
}

// cutBefore says whether s starts a new segment.
func (t *track) cutBefore(s *sample) bool {
	dur := t.toDuration(t.curDur)
	switch {
	case t.forceCut, s.afterGap:
		t.forceCut = false
		return true
	case dur+t.toDuration(s.dur) > t.sess.maxSegment():
		return true // no keyframe in time: a segment that is not independent
	case t.kind == webrtc.RTPCodecTypeVideo:
		return s.key && dur >= t.sess.cfg.SegmentTarget*3/4
	}
	return t.toDuration(s.pts) >= t.sess.nextBoundary(t.toDuration(t.curStart), t.lead)
}

// noteParams records the SPS and PPS a keyframe comes with, and says
// whether they changed (a new init segment: a new resolution or a new
// publisher).
func (t *track) noteParams() bool {
	if bytes.Equal(t.dep.sps, t.initSPS) && bytes.Equal(t.dep.pps, t.initPPS) {
		return false
	}
	t.initSPS = append([]byte(nil), t.dep.sps...)
	t.initPPS = append([]byte(nil), t.dep.pps...)
	var sps h264.SPS
	info := initInfo{codecs: "avc1.42e01f"}
	if err := sps.Unmarshal(t.initSPS); err == nil {
		info.width, info.height = sps.Width(), sps.Height()
		if len(t.initSPS) >= 4 {
			info.codecs = fmt.Sprintf("avc1.%02x%02x%02x", t.initSPS[1], t.initSPS[2], t.initSPS[3])
		}
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: uint32(t.timescale),
		Codec: &mp4codecs.H264{SPS: t.initSPS, PPS: t.initPPS}}}}
	t.addInit(init, info)
	return true
}

// audioInit writes the audio init segment, once.
func (t *track) audioInit() {
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: uint32(t.timescale),
		Codec: &mp4codecs.Opus{ChannelCount: 2}}}}
	t.addInit(init, initInfo{codecs: "opus"})
}

func (t *track) addInit(init fmp4.Init, info initInfo) {
	var buf seekablebuffer.Buffer
	if err := init.Marshal(&buf); err != nil {
		t.log.Warn("hls: init segment", "err", err)
		return
	}
	info.data = buf.Bytes()
	t.mu.Lock()
	info.n = len(t.inits)
	t.inits = append(t.inits, info)
	t.mu.Unlock()
	t.sess.record.init(t.name(), info)
	t.notify()
}

// flushPart writes the samples gathered as one part of the segment in
// progress.
func (t *track) flushPart() {
	if len(t.partBuf) == 0 {
		return
	}
	pt := &fmp4.PartTrack{ID: 1, BaseTime: uint64(t.partBuf[0].pts)}
	for _, s := range t.partBuf {
		pt.Samples = append(pt.Samples, &fmp4.Sample{Duration: uint32(s.dur), IsNonSyncSample: !s.key, Payload: s.payload})
	}
	t.partSeq++
	var buf seekablebuffer.Buffer
	err := fmp4.Part{SequenceNumber: t.partSeq, Tracks: []*fmp4.PartTrack{pt}}.Marshal(&buf)
	independent := t.partBuf[0].key
	dur := t.partDur
	t.partBuf, t.partDur = t.partBuf[:0], 0
	if err != nil {
		t.log.Warn("hls: part", "err", err)
		return
	}
	t.addPart(&part{data: buf.Bytes(), dur: t.toDuration(dur), independent: independent})
}

// openSegment starts the first segment, with s.
func (t *track) openSegment(s *sample) {
	if t.kind == webrtc.RTPCodecTypeAudio && len(t.inits) == 0 {
		t.audioInit()
	}
	at := t.toDuration(s.pts)
	if !t.lead {
		t.mu.Lock()
		t.nextMSN = t.sess.msnAt(at) // agree with the lead's numbers
		t.mu.Unlock()
	}
	t.curStart, t.curDur, t.asked = s.pts, 0, false
	msn := t.startSegment(at, s.key, t.sess.wallAt(at))
	if t.lead {
		t.sess.addBoundary(msn, at)
	}
}

// closeSegment ends the segment in progress, if any; with next, the
// next segment starts with it in the same step, so that no playlist is
// ever without a segment in progress (and its preload hint).
func (t *track) closeSegment(next *sample) {
	if t.cur == nil {
		return
	}
	t.flushPart()
	var following *segment
	if next != nil {
		at := t.toDuration(next.pts)
		following = &segment{start: at, independent: next.key, pdt: t.sess.wallAt(at)}
		t.curStart, t.curDur, t.asked = next.pts, 0, false
	}
	seg := t.endSegment(t.sess.cfg.window(), following)
	if seg == nil {
		return
	}
	t.sess.cfg.stats.segmentWritten(t.sess.room)
	t.sess.record.segment(t.name(), seg, t.inits)
	if t.lead {
		if following != nil {
			t.sess.addBoundary(following.msn, following.start)
		}
		t.sess.leadSegment(seg)
	}
}

// finish writes what is left when the session ends.
func (t *track) finish() {
	if t.pend != nil {
		if t.pend.dur <= 0 {
			t.pend.dur = max(t.lastDur, 1)
		}
		if t.lead || t.kind == webrtc.RTPCodecTypeVideo {
			t.commit(t.pend)
		} else {
			t.queue = append(t.queue, t.pend)
		}
		t.pend = nil
	}
	for _, s := range t.queue {
		t.commit(s)
	}
	t.queue = nil
	t.closeSegment(nil)
	t.end()
}

// packaged says whether the packager writes codec mime into fMP4.
func packaged(mime string) bool {
	return mime == webrtc.MimeTypeH264 || mime == webrtc.MimeTypeOpus
}

// Timeline constants.
const (
	// mediaBase is the media time of the session's start: timestamps
	// stay clear of zero, which some players treat as "unset".
	mediaBase = 10 * time.Second
	// maxSampleGap is the longest gap between two samples that is media
	// rather than a pause: longer gaps start a new segment.
	maxSampleGap = 3 * time.Second
	// followerWait is how far an audio track runs ahead of the lead's
	// clock before it commits without it (the lead stalled).
	followerWait = 600 * time.Millisecond
	// leadGrace is how long followers wait for the lead's first
	// segment before they begin without it (a video codec HLS does not
	// carry, a publisher that never answers a keyframe request).
	leadGrace = 5 * time.Second
	// keyframeLead is how long before a segment's target the video
	// tracks ask for a keyframe (encoders answer a PLI within a frame or
	// two; WebRTC encoders send keyframes only when asked).
	keyframeLead = 250 * time.Millisecond
)

// media is a rendition's live window: the init segments, the completed
// segments and the one in progress, read by the HTTP handlers.
type media struct {
	mu      sync.Mutex
	inits   []initInfo
	segs    []*segment // completed, oldest first
	cur     *segment   // in progress; nil between sessions' ends
	nextMSN uint64
	ended   bool
	updated chan struct{} // closed and replaced on every change

	// Only the track's goroutine writes these.
	curStart int64
	curDur   int64
	forceCut bool
}
