package hls

import (
	"sort"
	"sync"
	"time"
)

// stats counts what the packager serves and writes, per room. HTTP
// requests are not the media hot path: one mutex is fine.
type stats struct {
	mu    sync.Mutex
	rooms map[string]*roomCounts
}

type roomCounts struct {
	requests         map[string]uint64 // by kind: multivariant, playlist, part, segment, init, recorded, download
	bytes            uint64
	segmentsWritten  uint64
	blockedCount     uint64
	blockedSeconds   float64
	segmentsRecorded uint64
	recordedBytes    uint64
	recordingStops   uint64
}

func newStats() *stats { return &stats{rooms: map[string]*roomCounts{}} }

func (s *stats) room(name string) *roomCounts {
	c := s.rooms[name]
	if c == nil {
		c = &roomCounts{requests: map[string]uint64{}}
		s.rooms[name] = c
	}
	return c
}

func (s *stats) request(room, kind string) {
	s.mu.Lock()
	s.room(room).requests[kind]++
	s.mu.Unlock()
}

func (s *stats) sent(room string, n int) {
	s.mu.Lock()
	s.room(room).bytes += uint64(n)
	s.mu.Unlock()
}

func (s *stats) blocked(room string, d time.Duration) {
	s.mu.Lock()
	c := s.room(room)
	c.blockedCount++
	c.blockedSeconds += d.Seconds()
	s.mu.Unlock()
}

func (s *stats) segmentWritten(room string) {
	s.mu.Lock()
	s.room(room).segmentsWritten++
	s.mu.Unlock()
}

func (s *stats) segmentRecorded(room string, n int) {
	s.mu.Lock()
	c := s.room(room)
	c.segmentsRecorded++
	c.recordedBytes += uint64(n)
	s.mu.Unlock()
}

func (s *stats) recordingStopped(room string) {
	s.mu.Lock()
	s.room(room).recordingStops++
	s.mu.Unlock()
}

// RoomStats is what the packager did for one room: counters only grow.
type RoomStats struct {
	Room string
	// Requests counts HTTP requests by what they asked for:
	// "multivariant", "playlist", "init", "segment", "part", "recorded"
	// (a file served from a recording), "download" (an MP4).
	Requests map[string]uint64
	Bytes    uint64 // bytes of playlists and media sent
	// BlockedRequests and BlockedSeconds are the blocking playlist
	// reloads and the time they were held.
	BlockedRequests  uint64
	BlockedSeconds   float64
	SegmentsWritten  uint64 // segments muxed, every rendition, every session
	SegmentsRecorded uint64
	RecordedBytes    uint64
	RecordingStops   uint64 // recordings stopped (disk nearly full, write errors)

	// Live says whether a session is on; Recording whether it is being
	// recorded now, RecordingStopped why not when it was meant to be.
	Live             bool
	Session          string
	Recording        bool
	RecordingStopped string
	Renditions       int
}

// Stats returns every room's counters and state, sorted by room.
func (s *Server) Stats() []RoomStats {
	s.cfg.stats.mu.Lock()
	out := make([]RoomStats, 0, len(s.cfg.stats.rooms))
	for name, c := range s.cfg.stats.rooms {
		req := make(map[string]uint64, len(c.requests))
		for k, v := range c.requests {
			req[k] = v
		}
		out = append(out, RoomStats{Room: name, Requests: req, Bytes: c.bytes, BlockedRequests: c.blockedCount,
			BlockedSeconds: c.blockedSeconds, SegmentsWritten: c.segmentsWritten, SegmentsRecorded: c.segmentsRecorded, RecordedBytes: c.recordedBytes,
			RecordingStops: c.recordingStops})
	}
	s.cfg.stats.mu.Unlock()
	s.mu.Lock()
	sessions := make(map[string]*session, len(s.sessions))
	for k, v := range s.sessions {
		sessions[k] = v
	}
	s.mu.Unlock()
	for name := range sessions {
		found := false
		for _, rs := range out {
			found = found || rs.Room == name
		}
		if !found {
			out = append(out, RoomStats{Room: name, Requests: map[string]uint64{}})
		}
	}
	for i := range out {
		sess := sessions[out[i].Room]
		if sess == nil {
			continue
		}
		out[i].Live = !sess.over.Load()
		out[i].Session = sess.id
		out[i].Renditions = len(sess.tracks) + len(sess.subs)
		out[i].Recording, out[i].RecordingStopped, _ = sess.record.state()
		if sess.recordFailed != "" {
			out[i].RecordingStopped = sess.recordFailed
		}
		out[i].Recording = out[i].Recording && out[i].Live
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Room < out[j].Room })
	return out
}

// Disk is the recordings disk as the guard last read it: free and total
// bytes, the floor under which recording stops, and the error reading it
// (all zero without recordings).
func (s *Server) Disk() (free, total, minFree int64, err error) {
	if s.cfg.guard == nil {
		return 0, 0, 0, nil
	}
	return s.cfg.guard.reading()
}

// diskUseEvery is how long a reading of the recordings' sizes is kept:
// it walks every file.
const diskUseEvery = time.Minute

// DiskUse is the bytes the recordings of each room take on disk, read at
// most once a minute.
func (s *Server) DiskUse() map[string]int64 {
	s.useMu.Lock()
	defer s.useMu.Unlock()
	if s.use != nil && time.Since(s.useAt) < diskUseEvery {
		return s.use
	}
	use := map[string]int64{}
	for _, r := range s.recordings() {
		use[r.Room] += r.Bytes
	}
	s.use, s.useAt = use, time.Now()
	return use
}
