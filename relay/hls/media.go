package hls

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// initInfo is one init segment of a rendition and what the multivariant
// playlist says of it.
type initInfo struct {
	n             int
	data          []byte
	codecs        string
	width, height int
}

// segment is one media segment: complete, or in progress (data nil).
type segment struct {
	msn         uint64
	init        int
	start       time.Duration // on the media timeline
	dur         time.Duration
	pdt         time.Time // the wall-clock time of its first sample
	independent bool      // starts with a keyframe
	parts       []*part   // nil once the segment is old enough
	data        []byte
}

// part is one partial segment (LL-HLS).
type part struct {
	data        []byte
	dur         time.Duration
	independent bool
}

// Window sizes.
const (
	// partSegments is how many of the newest segments keep their parts
	// in the playlist (RFC 8216bis §6.2.2: at least those within three
	// target durations of the end).
	partSegments = 4
)

func (m *media) notify() {
	m.mu.Lock()
	m.notifyLocked()
	m.mu.Unlock()
}

func (m *media) notifyLocked() {
	if m.updated != nil {
		close(m.updated)
	}
	m.updated = make(chan struct{})
}

// startSegment opens segment nextMSN at media time start; it returns
// its number.
func (m *media) startSegment(start time.Duration, independent bool, pdt time.Time) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.openLocked(&segment{start: start, pdt: pdt, independent: independent})
	m.notifyLocked()
	return m.cur.msn
}

func (m *media) openLocked(s *segment) {
	s.msn, s.init = m.nextMSN, len(m.inits)-1
	m.cur = s
	m.nextMSN++
}

func (m *media) addPart(p *part) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.cur != nil {
		m.cur.parts = append(m.cur.parts, p)
		m.cur.dur += p.dur
	}
	m.notifyLocked()
}

// endSegment completes the segment in progress and opens next (nil:
// none); it returns the completed one.
func (m *media) endSegment(window int, next *segment) *segment {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.cur
	if s == nil {
		return nil
	}
	m.cur = nil
	if next != nil {
		m.openLocked(next)
	}
	var buf bytes.Buffer
	for _, p := range s.parts {
		buf.Write(p.data)
	}
	s.data = buf.Bytes()
	m.segs = append(m.segs, s)
	if n := len(m.segs) - window; n > 0 {
		m.segs = append(m.segs[:0:0], m.segs[n:]...)
	}
	if n := len(m.segs) - partSegments; n > 0 {
		m.segs[n-1].parts = nil
	}
	m.notifyLocked()
	return s
}

// complete adds a whole segment (a subtitle segment: no parts) in one
// step, numbered s.msn (the lead's), never below the last.
func (m *media) complete(s *segment, window int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s.msn = max(s.msn, m.nextMSN)
	s.init = -1
	m.nextMSN = s.msn + 1
	m.segs = append(m.segs, s)
	if n := len(m.segs) - window; n > 0 {
		m.segs = append(m.segs[:0:0], m.segs[n:]...)
	}
	m.notifyLocked()
}

// end marks the rendition finished: playlists get EXT-X-ENDLIST and
// blocked requests return.
func (m *media) end() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ended = true
	m.notifyLocked()
}

// has says whether the playlist holds segment msn complete (part < 0)
// or its part; ended renditions have all they will ever have.
func (m *media) hasLocked(msn uint64, part int) bool {
	if m.ended {
		return true
	}
	if m.cur != nil && m.cur.msn == msn {
		return part >= 0 && part < len(m.cur.parts)
	}
	if part >= 0 {
		// A part past the end of a complete segment stands for the next
		// segment's first (RFC 8216bis §6.2.5.2): the preload hint of a
		// segment that ended sooner than hinted.
		if s := m.segmentLocked(msn); s != nil && s.data != nil && part >= len(s.parts) {
			return m.hasLocked(msn+1, 0)
		}
	}
	return len(m.segs) > 0 && m.segs[len(m.segs)-1].msn >= msn
}

// wait blocks until cond holds (checked under mu), ctx ends or d passes.
func (m *media) wait(ctx context.Context, d time.Duration, cond func() bool) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		m.mu.Lock()
		ok := cond()
		if m.updated == nil {
			m.updated = make(chan struct{})
		}
		ch := m.updated
		m.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-ch:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// lastMSNLocked and lastPartLocked are the newest segment and part, for
// rendition reports: the segment in progress and its last part, or the
// last complete segment (part -1... reported as its count of parts - 1).
func (m *media) lastLocked() (msn uint64, part int, ok bool) {
	if m.cur != nil && len(m.cur.parts) > 0 {
		return m.cur.msn, len(m.cur.parts) - 1, true
	}
	if n := len(m.segs); n > 0 {
		s := m.segs[n-1]
		return s.msn, len(s.parts) - 1, true
	}
	return 0, 0, false
}

// playlistParams is what a media playlist is written with.
type playlistParams struct {
	target     time.Duration // EXT-X-TARGETDURATION
	partTarget time.Duration // 0: no parts (subtitles)
	skip       bool          // the client asked for a delta update
	query      string        // appended to every URI ("" or "?token=...")
	ext        string        // segment file extension
	reports    []report      // the other renditions
}

// report is an EXT-X-RENDITION-REPORT.
type report struct {
	uri       string
	msn       uint64
	part      int
	available bool
}

// canSkipUntil is CAN-SKIP-UNTIL: six target durations (RFC 8216bis
// §4.4.3.8 requires at least that).
func canSkipUntil(target time.Duration) time.Duration { return 6 * target }

// playlistLocked writes the live media playlist.
func (m *media) playlistLocked(p playlistParams) []byte {
	var b strings.Builder
	target := int(p.target.Round(time.Second) / time.Second)
	b.WriteString("#EXTM3U\n#EXT-X-VERSION:9\n")
	fmt.Fprintf(&b, "#EXT-X-TARGETDURATION:%d\n", target)
	ctl := "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES"
	if p.partTarget > 0 {
		ctl += ",PART-HOLD-BACK=" + secs(3*p.partTarget)
	} else {
		ctl += ",HOLD-BACK=" + secs(3*p.target)
	}
	ctl += ",CAN-SKIP-UNTIL=" + secs(canSkipUntil(p.target))
	b.WriteString(ctl + "\n")
	if p.partTarget > 0 {
		fmt.Fprintf(&b, "#EXT-X-PART-INF:PART-TARGET=%s\n", secs(p.partTarget))
	}
	first := m.nextMSN
	if len(m.segs) > 0 {
		first = m.segs[0].msn
	} else if m.cur != nil {
		first = m.cur.msn
	}
	fmt.Fprintf(&b, "#EXT-X-MEDIA-SEQUENCE:%d\n", first)
	segs := m.segs
	if p.skip {
		// Skip what lies more than CAN-SKIP-UNTIL before the end.
		var total time.Duration
		cut := len(segs)
		for i := len(segs) - 1; i >= 0; i-- {
			total += segs[i].dur
			if total > canSkipUntil(p.target) {
				cut = i
				break
			}
		}
		if cut < len(segs) && cut > 0 {
			fmt.Fprintf(&b, "#EXT-X-SKIP:SKIPPED-SEGMENTS=%d\n", cut)
			segs = segs[cut:]
		}
	}
	mapN := -1
	for _, s := range segs {
		m.writeSegmentLocked(&b, s, &mapN, p)
	}
	if s := m.cur; s != nil && !m.ended {
		m.writeSegmentLocked(&b, s, &mapN, p)
		if p.partTarget > 0 {
			fmt.Fprintf(&b, "#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part%d.%d.%s%s\"\n", s.msn, len(s.parts), p.ext, p.query)
		}
	}
	for _, r := range p.reports {
		if !r.available {
			continue
		}
		if r.part >= 0 && p.partTarget > 0 {
			fmt.Fprintf(&b, "#EXT-X-RENDITION-REPORT:URI=\"%s%s\",LAST-MSN=%d,LAST-PART=%d\n", r.uri, p.query, r.msn, r.part)
		} else {
			fmt.Fprintf(&b, "#EXT-X-RENDITION-REPORT:URI=\"%s%s\",LAST-MSN=%d\n", r.uri, p.query, r.msn)
		}
	}
	if m.ended {
		b.WriteString("#EXT-X-ENDLIST\n")
	}
	return []byte(b.String())
}

// writeSegmentLocked writes one segment's lines: its map when it changes,
// its date, its parts, and (when complete) its EXTINF.
func (m *media) writeSegmentLocked(b *strings.Builder, s *segment, mapN *int, p playlistParams) {
	if s.init != *mapN && s.init >= 0 {
		*mapN = s.init
		fmt.Fprintf(b, "#EXT-X-MAP:URI=\"init%d.mp4%s\"\n", s.init, p.query)
	}
	fmt.Fprintf(b, "#EXT-X-PROGRAM-DATE-TIME:%s\n", s.pdt.UTC().Format("2006-01-02T15:04:05.000Z"))
	if p.partTarget > 0 {
		for i, pt := range s.parts {
			ind := ""
			if pt.independent {
				ind = ",INDEPENDENT=YES"
			}
			fmt.Fprintf(b, "#EXT-X-PART:DURATION=%s,URI=\"part%d.%d.%s%s\"%s\n", secs(pt.dur), s.msn, i, p.ext, p.query, ind)
		}
	}
	if s.data != nil {
		fmt.Fprintf(b, "#EXTINF:%s,\nseg%d.%s%s\n", secs(s.dur), s.msn, p.ext, p.query)
	}
}

// secs formats d in seconds with millisecond precision.
func secs(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 3, 64)
}

// segmentLocked finds segment msn in the window (complete or not).
func (m *media) segmentLocked(msn uint64) *segment {
	if m.cur != nil && m.cur.msn == msn {
		return m.cur
	}
	for _, s := range m.segs {
		if s.msn == msn {
			return s
		}
	}
	return nil
}
