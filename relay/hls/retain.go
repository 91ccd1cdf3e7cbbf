package hls

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// retainEvery is how often old recordings are looked for.
const retainEvery = 10 * time.Minute

// retain deletes recordings beyond KeepDays and KeepBytes, now and every
// retainEvery, never the one being recorded.
func (s *Server) retain(ctx context.Context) {
	t := time.NewTicker(retainEvery)
	defer t.Stop()
	for {
		s.retainOnce(time.Now())
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) retainOnce(now time.Time) {
	if s.cfg.KeepDays <= 0 && s.cfg.KeepBytes <= 0 {
		return
	}
	recs := s.recordings() // newest first
	sort.SliceStable(recs, func(i, j int) bool { return recs[i].Start.Before(recs[j].Start) })
	var total int64
	for _, r := range recs {
		total += r.Bytes
	}
	for _, r := range recs {
		if r.Recording {
			continue
		}
		old := s.cfg.KeepDays > 0 && now.Sub(r.Start) > time.Duration(s.cfg.KeepDays)*24*time.Hour
		big := s.cfg.KeepBytes > 0 && total > s.cfg.KeepBytes
		if !old && !big {
			continue
		}
		dir := filepath.Join(s.cfg.Dir, r.Room, r.ID)
		if err := os.RemoveAll(dir); err != nil {
			s.log.Warn("hls: deleting an old recording", "room", r.Room, "recording", r.ID, "err", err)
			continue
		}
		total -= r.Bytes
		s.log.Info("hls: deleted an old recording", "room", r.Room, "recording", r.ID, "bytes", r.Bytes, "old", old)
	}
}
