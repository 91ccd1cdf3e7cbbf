package relay

import (
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/keyframe"
)

// packetReader yields raw RTP packets: a publisher's TrackRemote, or the demo
// clip player.
type packetReader interface {
	ReadPacket(buf []byte) (int, error)
}

// drainReader is a packetReader that can also take a packet that has
// already arrived without waiting for one: the source then fans out the
// packets that came together (a video frame's) viewer by viewer, so that
// each viewer's share goes to the socket in one batch (see batchConn).
type drainReader interface {
	packetReader
	// ReadArrived reads a packet only if one is waiting; ok is false when
	// none is. ReadPacket waits again.
	ReadArrived(buf []byte) (n int, ok bool, err error)
}

// maxFanBatch bounds how many packets are fanned out together: a frame of a
// few Mbit/s, not so many that the first waits long for the last.
const maxFanBatch = 16

// source is one published track. Its reader goroutine stores each packet once
// in the shared history and hands it to every forwarder of the room's track
// group, spreading the work over helper goroutines when there are many.
type source struct {
	id        uint64
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecCapability
	ck        codecKind
	group     *trackGroup
	hist      *history
	keyframes *keyframeRequester
	log       *slog.Logger
	shardSize int
	started   time.Time

	packets    atomic.Uint64
	bytes      atomic.Uint64
	keyCount   atomic.Uint64
	lastKeyAt  atomic.Int64 // unix nanoseconds
	malformed  atomic.Uint64
	duplicates atomic.Uint64 // packets already held, not forwarded again
	padding    atomic.Uint64 // bytes of padding-only packets (not in bytes)
	lastReadAt atomic.Int64
	fanBatches atomic.Uint64 // fan-outs; packets/fanBatches is the mean batch
	levels     audioLevels   // audio: the publisher's RFC 6464 levels
	// width and height are the picture size of the last keyframe whose
	// size could be read (video; 0 until then).
	width, height atomic.Int32

	// The current GOP's first packet, for viewers that join mid-GOP. Only
	// the reader goroutine writes these; forwarders read them during its
	// fan-out.
	gopStart  uint16
	gopValid  bool
	lastKeyTS uint32

	out     *batchConn // nil: no send batching (tests, benchmarks)
	batch   []*packet  // the packets being fanned out; the reader's
	workers []chan fanJob
	wg      sync.WaitGroup
	done    chan struct{}
}

type fanJob struct {
	ps  []*packet
	fs  []*forwarder
	src *source
}

// sourceParams is what newSource needs.
type sourceParams struct {
	id        uint64
	kind      webrtc.RTPCodecType
	codec     webrtc.RTPCodecCapability
	group     *trackGroup
	sendPLI   func() // nil when the source cannot be asked for keyframes
	log       *slog.Logger
	shardSize int // forwarders per goroutine; 0 means 64
	history   int // packets kept; 0 means 2048 for video, 128 for audio
	out       *batchConn
	levelExt  uint8 // audio: the negotiated RFC 6464 extension id; 0 for none
}

func newSource(p sourceParams) *source {
	if p.shardSize <= 0 {
		p.shardSize = 64
	}
	if p.history <= 0 {
		p.history = 2048 // a 2 s GOP at 8 Mbit/s
		if p.kind == webrtc.RTPCodecTypeAudio {
			p.history = 128
		}
	}
	return &source{
		id: p.id, kind: p.kind, codec: p.codec, ck: codecOf(p.codec.MimeType), group: p.group,
		hist: newHistory(p.history, codecOf(p.codec.MimeType)), keyframes: newKeyframeRequester(500*time.Millisecond, p.sendPLI),
		log: p.log, shardSize: p.shardSize, started: time.Now(), done: make(chan struct{}),
		out: p.out, batch: make([]*packet, 0, maxFanBatch), levels: audioLevels{extID: p.levelExt},
	}
}

// run reads until r fails (the publisher went away or was replaced).
func (s *source) run(r packetReader) {
	defer close(s.done)
	defer s.group.retire(s)
	defer s.stopWorkers()
	defer s.keyframes.close()
	buf := make([]byte, maxPacketSize+1)
	// Only video comes in bursts (a frame's packets); an audio packet is
	// alone, and waiting for another would only delay it.
	var dr drainReader
	if s.kind == webrtc.RTPCodecTypeVideo {
		dr, _ = r.(drainReader)
	}
	for {
		n, err := r.ReadPacket(buf)
		if err != nil {
			return
		}
		s.batch = s.batch[:0]
		s.take(buf[:n])
		// The rest of the frame goes out with it: gather until its last
		// packet (marker bit), unless the packets stop coming.
		for dr != nil && len(s.batch) < maxFanBatch && !s.batchEnded() {
			n, ok, err := dr.ReadArrived(buf)
			if err != nil || !ok {
				break // an error shows again on the next ReadPacket
			}
			s.take(buf[:n])
		}
		if len(s.batch) > 0 {
			s.fanBatches.Add(1)
			s.group.forward(s, s.batch)
		}
	}
}

// take stores a packet read from the publisher and adds it to the batch
// to fan out.
func (s *source) take(raw []byte) {
	now := time.Now().UnixNano()
	p, dup := s.hist.store(raw, now)
	if p == nil {
		s.lastReadAt.Store(now)
		s.malformed.Add(1)
		return
	}
	if dup {
		s.lastReadAt.Store(now)
		s.duplicates.Add(1)
		return
	}
	s.packets.Add(1)
	if len(p.media()) == 0 {
		// Padding only: a sender probing its own bandwidth (Chromium keeps
		// doing it on a simulcast layer it paused). Forwarded, to keep the
		// sequence numbers whole, but it neither keeps the source "flowing"
		// nor counts in its bitrate.
		s.padding.Add(uint64(len(raw)))
	} else {
		s.lastReadAt.Store(now)
		s.bytes.Add(uint64(len(raw)))
	}
	if s.kind == webrtc.RTPCodecTypeAudio {
		s.levels.note(p.buf[:p.n], p.hdrLen, now)
	}
	// A new keyframe, not its second start packet (parameter sets, then
	// the IDR) nor an old one resent after a NACK.
	newer := !s.gopValid || int16(p.seq-s.gopStart) > 0
	if p.keyStart && s.kind == webrtc.RTPCodecTypeVideo && newer && (p.ts != s.lastKeyTS || s.keyCount.Load() == 0) {
		s.lastKeyTS = p.ts
		s.gopStart, s.gopValid = p.seq, true
		s.keyCount.Add(1)
		s.lastKeyAt.Store(now)
		s.keyframes.keyframeArrived()
		// The layer's picture size orders simulcast layers (once per
		// keyframe, on the reader goroutine).
		if w, h, ok := keyframe.Size(s.ck, p.media()); ok {
			s.width.Store(int32(w))
			s.height.Store(int32(h))
		}
	}
	s.batch = append(s.batch, p)
}

// batchEnded says whether the batch's last packet ends a frame.
func (s *source) batchEnded() bool {
	return len(s.batch) > 0 && s.batch[len(s.batch)-1].marker
}

// fanOut writes ps to every forwarder in fs, in this goroutine when there
// are few and over the worker goroutines when there are many. It returns
// when every forwarder has been written, so the packet slots stay valid.
func (s *source) fanOut(ps []*packet, fs []*forwarder) {
	if len(fs) <= s.shardSize {
		s.writeAll(ps, fs)
		return
	}
	shards := (len(fs) + s.shardSize - 1) / s.shardSize
	if max := runtime.GOMAXPROCS(0); shards > max {
		shards = max
	}
	per := (len(fs) + shards - 1) / shards
	s.ensureWorkers(shards - 1)
	s.wg.Add(shards - 1)
	for i := 1; i < shards; i++ {
		lo, hi := i*per, min((i+1)*per, len(fs))
		s.workers[i-1] <- fanJob{ps: ps, fs: fs[lo:hi], src: s}
	}
	s.writeAll(ps, fs[:per])
	s.wg.Wait()
}

// writeAll writes ps to each forwarder of fs in turn; several packets for
// one viewer leave the socket as one batch.
func (s *source) writeAll(ps []*packet, fs []*forwarder) {
	if len(ps) == 1 || s.out == nil {
		for _, f := range fs {
			for _, p := range ps {
				f.write(p, s)
			}
		}
		return
	}
	for _, f := range fs {
		b := s.out.begin(f.destination())
		for _, p := range ps {
			f.write(p, s)
		}
		s.out.flush(b)
	}
}

func (s *source) ensureWorkers(n int) {
	for len(s.workers) < n {
		ch := make(chan fanJob)
		s.workers = append(s.workers, ch)
		go func() {
			for j := range ch {
				j.src.writeAll(j.ps, j.fs)
				s.wg.Done()
			}
		}()
	}
}

func (s *source) stopWorkers() {
	for _, ch := range s.workers {
		close(ch)
	}
	s.workers = nil
}

// requestKeyframe asks the publisher for a keyframe, rate limited.
func (s *source) requestKeyframe() {
	if s.kind == webrtc.RTPCodecTypeVideo {
		s.keyframes.request()
	}
}

func (s *source) addTo(st *KindStats) {
	st.IngestPackets += s.packets.Load()
	st.IngestBytes += s.bytes.Load()
	st.Keyframes += s.keyCount.Load()
	st.PLIs += s.keyframes.count()
	st.Malformed += s.malformed.Load()
	st.Duplicates += s.duplicates.Load()
}
