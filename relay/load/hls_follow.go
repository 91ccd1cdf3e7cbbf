package load

import (
	"context"
	"fmt"
	"net/url"
	"time"
)

// follow plays the rendition whose media playlist is at u until ctx ends
// or the playlist ends: a plain reload to join, then blocking reloads for
// the next part (or segment), fetching everything new each answer lists.
func (r *hlsRun) follow(ctx context.Context, player int, u *url.URL) {
	var (
		pl      *hlsMedia
		at      cursor
		started bool
		maps    = map[string]bool{}
	)
	for ctx.Err() == nil {
		reqURL, timeout := u.String(), r.cfg.Timeout
		blocking := started && pl.canBlock
		if blocking {
			reqURL, timeout = blockingURL(u, at, pl.partTarget > 0), timeout+3*pl.target
		}
		body, _, err := r.get(ctx, reqURL, timeout)
		r.playlists.Add(r.counting())
		var next *hlsMedia
		if err == nil {
			next, err = parseMedia(string(body))
		}
		if err != nil {
			r.fail(ctx, err)
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		pl = next
		if !started {
			if at, started = pl.start(); !started {
				if pl.ended || !sleepCtx(ctx, pollInterval(pl)) {
					return
				}
				continue
			}
		}
		was := at
		var inWindow bool
		if at, inWindow = r.fetchNew(ctx, player, u, pl, at, maps); !inWindow {
			// The player fell out of the playlist's window: join again at
			// the live edge.
			r.resyncs.Add(r.counting())
			started = false
			continue
		}
		if pl.ended {
			return
		}
		switch {
		case !pl.canBlock:
			if !sleepCtx(ctx, pollInterval(pl)) {
				return
			}
		case blocking && at == was:
			// The answer to a blocking reload must hold what it asked for
			// (RFC 8216bis §6.2.5.2); a cache that answers an older one
			// would have the player spin on it.
			r.fail(ctx, fmt.Errorf("GET %s: the playlist does not hold segment %d part %d", reqURL, at.msn, at.part))
			if !sleepCtx(ctx, pollInterval(pl)) {
				return
			}
		}
	}
}

// pollInterval is how long a player waits before reloading a playlist
// that cannot block or has nothing new: a part target, or half a target
// duration without parts.
func pollInterval(pl *hlsMedia) time.Duration {
	if pl.partTarget > 0 {
		return pl.partTarget
	}
	return pl.target / 2
}

// fetchNew fetches what pl lists from at on (init segments the first time
// they are named) and returns the cursor after it; false when at has left
// the playlist: the player fell behind its window.
func (r *hlsRun) fetchNew(ctx context.Context, player int, u *url.URL, pl *hlsMedia, at cursor, maps map[string]bool) (cursor, bool) {
	if len(pl.segs) == 0 {
		return at, true
	}
	if at.msn < pl.segs[0].msn {
		return at, false
	}
	withParts := pl.partTarget > 0
	for _, s := range pl.segs {
		if s.msn < at.msn {
			continue
		}
		if ctx.Err() != nil {
			break
		}
		if s.mapURI != "" && !maps[s.mapURI] {
			maps[s.mapURI] = true
			r.fetchFile(ctx, player, u, s.mapURI, &r.inits, nil, hlsPart{})
		}
		if !withParts {
			if s.uri == "" {
				break
			}
			r.fetchFile(ctx, player, u, s.uri, &r.subs, nil, hlsPart{})
			at = cursor{msn: s.msn + 1}
			continue
		}
		if at.part > len(s.parts) || (len(s.parts) == 0 && s.uri != "") {
			return at, false // its parts are gone from the playlist
		}
		for ; at.part < len(s.parts) && ctx.Err() == nil; at.part++ {
			r.fetchFile(ctx, player, u, s.parts[at.part].uri, &r.parts, &s, s.parts[at.part])
		}
		if s.uri == "" || ctx.Err() != nil {
			break
		}
		at = cursor{msn: s.msn + 1}
	}
	return at, true
}

// fetchFile fetches one file named in the playlist at u and counts it in
// n; for a part (seg not nil) it notes its fetch time and how far behind
// live it came.
func (r *hlsRun) fetchFile(ctx context.Context, player int, u *url.URL, uri string, n interface{ Add(uint64) uint64 }, seg *hlsSegment, p hlsPart) {
	ref, err := u.Parse(uri)
	if err != nil {
		r.fail(ctx, err)
		return
	}
	body, took, err := r.get(ctx, ref.String(), r.cfg.Timeout)
	if err != nil {
		r.fail(ctx, err)
		return
	}
	arrived := time.Now()
	if r.phase.Load() != phaseWindow {
		return
	}
	n.Add(1)
	r.bytes.Add(uint64(len(body)))
	if seg == nil {
		return
	}
	shard := player % len(r.fetch)
	r.fetch[shard].add(took)
	if !seg.pdt.IsZero() {
		r.behind[shard].add(arrived.Sub(seg.pdt.Add(p.offset)))
	}
	r.playing[player].Store(true)
}
