package relay

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtp"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/clip"
)

// countingWriter stands in for a viewer's SRTP stream: it measures the
// relay's own fan-out cost (header rewrite, keyframe gating, sharding).
type countingWriter struct{ n atomic.Uint64 }

func (w *countingWriter) WriteRTP(h *rtp.Header, payload []byte) (int, error) {
	w.n.Add(1)
	return len(payload), nil
}
func (w *countingWriter) Write(b []byte) (int, error) { return len(b), nil }

// BenchmarkFanout reports the cost of forwarding one packet to N viewers;
// ns/op divided by N is the cost per packet per viewer.
func BenchmarkFanout(b *testing.B) {
	c, err := clip.Demo()
	if err != nil {
		b.Fatal(err)
	}
	// Packets of the clip's first frames, starting with a keyframe.
	st := clip.NewStream(c.Video, 96, 1)
	raw := make([][]byte, 512)
	for i := range raw {
		raw[i], _ = st.Next().Marshal()
	}
	for _, c := range []struct {
		n    int
		twcc bool
	}{{1, false}, {100, false}, {1000, false}, {1, true}, {100, true}, {1000, true}} {
		n := c.n
		name := fmt.Sprintf("viewers=%d", n)
		if c.twcc {
			name += ",twcc" // each packet stamped for the viewer's congestion feedback
		}
		b.Run(name, func(b *testing.B) {
			g := newTrackGroup(webrtc.RTPCodecTypeVideo)
			src := newSource(sourceParams{id: 1, kind: webrtc.RTPCodecTypeVideo, codec: webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000}, group: g})
			g.attach(src)
			w := &countingWriter{}
			for i := 0; i < n; i++ {
				f := newForwarder(nil, w, uint32(i+1), testH264)
				f.notBefore = 0 // packet times here are synthetic
				if c.twcc {
					f.tw = newBWE(time.Unix(0, 0))
					if err := f.hdr.SetExtension(3, f.twBuf[:]); err != nil {
						b.Fatal(err)
					}
					f.twSize = f.hdr.MarshalSize()
				}
				g.add(f)
			}
			// Prime: every forwarder starts on the keyframe.
			seq := binary.BigEndian.Uint16(raw[0][2:])
			for _, r := range raw[:8] {
				p, _ := src.hist.store(r, 1)
				g.forward(src, []*packet{p})
				seq++
			}
			one := []*packet{nil} // the reader's batch, reused as the relay does
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				r := raw[8+i%(len(raw)-8)]
				binary.BigEndian.PutUint16(r[2:], seq) // always a new packet
				seq++
				one[0], _ = src.hist.store(r, int64(i))
				g.forward(src, one)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/viewer")
			src.stopWorkers()
			if w.n.Load() < uint64(b.N*n) {
				b.Fatalf("wrote %d packets, want %d", w.n.Load(), b.N*n)
			}
		})
	}
}
