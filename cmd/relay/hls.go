package main

import (
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"

	"github.com/relay-av/relay/captions"
	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/internal/httperr"
	"github.com/relay-av/relay/relay/hls"
)

// newHLS builds the LL-HLS packager: every live room as HLS, recorded
// under --data/recordings for the rooms that record.
func (p *parts) newHLS(c serveConfig, log *slog.Logger) *hls.Server {
	rec := p.fc.Recordings
	return hls.New(hls.Config{
		Media: hls.RelayMedia(p.sfu), Captions: captionFinals{p.captions}, Log: log,
		Allow:   p.allowViewer,
		Dir:     filepath.Join(filepath.Clean(c.DataDir), "recordings"),
		Record:  recordPolicy(p.fc, c.Record),
		MinFree: int64(rec.MinFreeGB * (1 << 30)), KeepDays: rec.KeepDays, KeepBytes: int64(rec.KeepGB * (1 << 30)),
	})
}

// recordPolicy says which rooms record: a declared room unless its
// record is false; the demo room and rooms made by a first publish only
// with --record (all).
func recordPolicy(fc *fileConfig, all bool) func(room string) bool {
	declared := map[string]bool{}
	for _, r := range fc.Rooms {
		declared[r.Name] = r.Record == nil || *r.Record
	}
	return func(room string) bool {
		if r, ok := declared[room]; ok {
			return r
		}
		return all
	}
}

// allowViewer lets a request read a room's HLS and recordings: any
// request for a public room, one with a viewer token (?token=) for a
// private one.
func (p *parts) allowViewer(r *http.Request, room string) error {
	private := p.sfu.Private(room) || p.fc.Tokens.PrivateByDefault
	if !private {
		return nil
	}
	token := r.URL.Query().Get("token")
	if token == "" {
		token = auth.FromHeader(r.Header.Get("Authorization"))
	}
	if _, err := p.authority.Check(token, auth.Need{Role: auth.RoleViewer, Room: room}); err != nil {
		return &httperr.Error{Status: auth.Status(err), Msg: fmt.Sprintf("room %s needs a viewer token (?token=): %v", room, err), Cause: err}
	}
	return nil
}

// captionFinals gives the packager the caption service's finals.
type captionFinals struct{ s *captions.Service }

func (c captionFinals) Languages(room string) []string { return c.s.Languages(room) }

func (c captionFinals) Finals(room, lang string) []hls.Cue {
	cues := c.s.Finals(room, lang)
	out := make([]hls.Cue, 0, len(cues))
	for _, q := range cues {
		out = append(out, hls.Cue{Seq: q.Seq, Text: q.Text, Start: q.Start})
	}
	return out
}
