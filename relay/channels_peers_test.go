package relay

// The language channel tests' pion peers: publishers of marked media (the
// floor's encoder, interpreters) and listeners that keep every packet of
// each of their m-lines, both over real WHIP/WHEP on loopback.

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pion/rtcp"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/internal/auth"
	"github.com/relay-av/relay/relay/clip"
	"github.com/relay-av/relay/relay/keyframe"
	"github.com/relay-av/relay/relay/peer"
)

// The language channel tests tell sources apart by their payloads, which
// the relay forwards untouched: an audio packet carries its source's mark in
// its first byte and a packet counter in the next two; each video frame
// ends with an SEI NAL unit (user data, markUUID) holding its source's mark.
const (
	markFloor  byte = 0xF0
	markFR     byte = 0xF1
	markAR     byte = 0xF2
	markFR2    byte = 0xF3 // the French booth's second interpreter
	markES     byte = 0xF4
	markFloorV byte = 0xE0
	markSignV  byte = 0xE5
)

const markUUID = "relay-test-mark!" // 16 bytes, no zero byte

// testBooth is a pion WHIP publisher of marked media: the floor's encoder
// or an interpreter. It answers keyframe requests with its next frame, as
// an encoder does.
type testBooth struct {
	pc      *webrtc.PeerConnection
	session string
	opts    peer.Options
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	once    sync.Once

	paused  atomic.Bool   // send nothing (the interpreter's machine hangs)
	first   atomic.Int64  // unix nanoseconds of the first packet sent
	audio   atomic.Uint64 // audio packets sent
	plis    atomic.Uint64 // keyframe requests received
	wantKey atomic.Bool

	mu     sync.Mutex
	sentAt []time.Time // when each audio packet went, by its counter
}

type testBoothConfig struct {
	url   string // WHIP endpoint, with its query
	token string
	audio byte // the audio track's mark; 0 means no audio track
	video byte // the video track's mark (H.264); 0 means no video track
	opts  peer.Options
}

// interpreterToken is an interpreter token for one language channel.
func interpreterToken(t testing.TB, r *testRelay, room, lang string) string {
	t.Helper()
	tok, err := r.auth.Issue(auth.RoleInterpreter, room, lang, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// floorBooth publishes the floor of room: marked audio and video.
func floorBooth(t *testing.T, r *testRelay, room string) *testBooth {
	t.Helper()
	b := startTestBooth(t, testBoothConfig{url: r.url + "/whip/" + room, token: r.token(t, auth.RolePublisher, room), audio: markFloor, video: markFloorV})
	waitFloorLive(t, r, room)
	return b
}

// interpreter publishes a language channel of room with an interpreter
// token: audio with mark, or (video) sign-language video with mark.
func interpreter(t *testing.T, r *testRelay, room, lang string, mark byte, video bool) *testBooth {
	t.Helper()
	c := testBoothConfig{url: r.url + "/whip/" + room, token: interpreterToken(t, r, room, lang), audio: mark}
	if video {
		c.audio, c.video = 0, mark
	}
	return startTestBooth(t, c)
}

// startTestBooth publishes and fails the test if the relay refuses.
func startTestBooth(t *testing.T, c testBoothConfig) *testBooth {
	t.Helper()
	if !c.opts.Loopback {
		c.opts = peer.Options{Loopback: true}
	}
	b, err := dialTestBooth(c)
	if err != nil {
		t.Fatalf("publish to %s: %v", c.url, err)
	}
	t.Cleanup(func() { b.close(false) })
	return b
}

func dialTestBooth(c testBoothConfig) (*testBooth, error) {
	api, err := peer.NewAPI(c.opts, true)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	b := &testBooth{pc: pc, opts: c.opts, cancel: cancel}
	var sends []func()
	if c.audio != 0 {
		tr, err := webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeOpus, ClockRate: 48000, Channels: 2}, "audio", "booth")
		if err == nil {
			err = b.addTrack(tr)
		}
		if err != nil {
			b.close(false)
			return nil, err
		}
		sends = append(sends, func() { b.sendAudio(ctx, tr, c.audio) })
	}
	if c.video != 0 {
		frames, err := markedFrames(c.video)
		var tr *webrtc.TrackLocalStaticRTP
		if err == nil {
			tr, err = webrtc.NewTrackLocalStaticRTP(webrtc.RTPCodecCapability{MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
				SDPFmtpLine: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"}, "video", "booth")
		}
		if err == nil {
			err = b.addTrack(tr)
		}
		if err != nil {
			b.close(false)
			return nil, err
		}
		sends = append(sends, func() { b.sendVideo(ctx, tr, frames) })
	}
	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(st webrtc.PeerConnectionState) {
		if st == webrtc.PeerConnectionStateConnected {
			once.Do(func() { close(connected) })
		}
	})
	sctx, scancel := context.WithTimeout(ctx, 10*time.Second)
	defer scancel()
	if b.session, err = peer.Signal(sctx, c.opts, pc, c.url, c.token); err != nil {
		b.close(false)
		return nil, err
	}
	for _, send := range sends {
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			// Media starts once it can flow, as an encoder's would.
			select {
			case <-connected:
			case <-ctx.Done():
				return
			}
			send()
		}()
	}
	return b, nil
}

func (b *testBooth) addTrack(tr *webrtc.TrackLocalStaticRTP) error {
	s, err := b.pc.AddTrack(tr)
	if err != nil {
		return err
	}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			pkts, _, err := s.ReadRTCP()
			if err != nil {
				return
			}
			for _, p := range pkts {
				switch p.(type) {
				case *rtcp.PictureLossIndication, *rtcp.FullIntraRequest:
					b.plis.Add(1)
					b.wantKey.Store(true)
				}
			}
		}
	}()
	return nil
}

// sentTime is when audio packet n was sent.
func (b *testBooth) sentTime(n uint16) time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if int(n) < len(b.sentAt) {
		return b.sentAt[n]
	}
	return time.Time{}
}

func (b *testBooth) sent() {
	b.first.CompareAndSwap(0, time.Now().UnixNano())
}

// sendAudio sends a 20 ms packet every 20 ms: mark, counter, filler.
func (b *testBooth) sendAudio(ctx context.Context, tr *webrtc.TrackLocalStaticRTP, mark byte) {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seq, ts := uint16(rand.Uint32()), rand.Uint32()
	var n uint16
	payload := make([]byte, 40)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		ts += 960
		if b.paused.Load() {
			continue
		}
		seq++
		payload[0] = mark
		binary.BigEndian.PutUint16(payload[1:], n)
		n++
		err := tr.WriteRTP(&rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 111, SequenceNumber: seq, Timestamp: ts}, Payload: payload})
		if errors.Is(err, io.ErrClosedPipe) {
			return
		}
		b.sent()
		b.audio.Add(1)
		b.mu.Lock()
		b.sentAt = append(b.sentAt, time.Now())
		b.mu.Unlock()
	}
}

// sendVideo loops over the demo clip's frames at their pace; a keyframe
// request makes the next frame the clip's first, a keyframe.
func (b *testBooth) sendVideo(ctx context.Context, tr *webrtc.TrackLocalStaticRTP, frames []clip.Frame) {
	pz := rtp.NewPacketizer(clip.MTU, 96, 1, &codecs.H264Payloader{}, rtp.NewRandomSequencer(), 90000)
	timer := time.NewTimer(0)
	defer timer.Stop()
	next, i := time.Now(), 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		if b.wantKey.Swap(false) && !frames[i].Key {
			i = 0
		}
		f := frames[i]
		pkts := pz.Packetize(f.Data, uint32(f.Duration.Seconds()*90000+0.5))
		if !b.paused.Load() {
			for _, p := range pkts {
				if err := tr.WriteRTP(p); errors.Is(err, io.ErrClosedPipe) {
					return
				}
			}
			b.sent()
		}
		i = (i + 1) % len(frames)
		next = next.Add(f.Duration)
		timer.Reset(time.Until(next))
	}
}

// markedFrames is the demo clip's video with an SEI NAL unit carrying mark
// at the end of every frame.
func markedFrames(mark byte) ([]clip.Frame, error) {
	c, err := clip.Demo()
	if err != nil {
		return nil, err
	}
	sei := append([]byte{0, 0, 0, 1, 0x06, 0x05, 17}, markUUID...)
	sei = append(sei, mark, 0x80)
	frames := make([]clip.Frame, len(c.Video.Frames))
	for i, f := range c.Video.Frames {
		f.Data = append(slices.Clip(f.Data), sei...)
		frames[i] = f
	}
	return frames, nil
}

// close stops sending; with hangUp it first ends the session with DELETE,
// without it the interpreter just goes (a DTLS close, no DELETE).
func (b *testBooth) close(hangUp bool) {
	b.once.Do(func() {
		if hangUp && b.session != "" {
			req, _ := http.NewRequest(http.MethodDelete, b.session, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		b.cancel()
		b.pc.Close()
		b.wg.Wait()
	})
}

// rxPkt is one packet a listener received.
type rxPkt struct {
	at   time.Time
	ssrc uint32
	seq  uint16
	ts   uint32
	mark byte   // audio: the source's mark; video: set on a frame's marked SEI
	n    uint16 // audio: the source's packet counter
	key  bool   // video: starts a keyframe
	idr  bool   // video: part of an IDR picture (a fragment of one, say)
}

// rxTrack is what one of a listener's m-lines received.
type rxTrack struct {
	mu     sync.Mutex
	codec  string
	tracks int // OnTrack calls: more than one means the relay changed SSRC
	pkts   []rxPkt
}

func (r *rxTrack) snapshot() []rxPkt {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pkts)
}

// trackCount is how many tracks arrived on the m-line: one, unless the
// relay changed SSRC (a renegotiation a player would not survive).
func (r *rxTrack) trackCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tracks
}

func (r *rxTrack) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pkts)
}

// since counts the packets with mark received at or after from.
func (r *rxTrack) since(from time.Time, mark byte) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.pkts {
		if !p.at.Before(from) && p.mark == mark {
			n++
		}
	}
	return n
}

// testListener is a pion WHEP viewer with any number of audio and video
// m-lines (audio first), which keeps every packet of each.
type testListener struct {
	pc      *webrtc.PeerConnection
	session string
	audio   []*rxTrack
	video   []*rxTrack
	wg      sync.WaitGroup
	once    sync.Once
}

type testListenConfig struct {
	audio, video int    // m-lines of each kind
	query        string // e.g. "audio=fr&sign=ase"
	token        string
}

// startTestListener joins room with lc and fails the test if the relay refuses.
func startTestListener(t *testing.T, r *testRelay, room string, lc testListenConfig) *testListener {
	t.Helper()
	l, err := dialTestListener(r, room, lc)
	if err != nil {
		t.Fatalf("view %s?%s: %v", room, lc.query, err)
	}
	t.Cleanup(l.close)
	return l
}

func dialTestListener(r *testRelay, room string, lc testListenConfig) (*testListener, error) {
	api, err := peer.NewAPI(peer.Options{Loopback: true}, false)
	if err != nil {
		return nil, err
	}
	pc, err := api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return nil, err
	}
	l := &testListener{pc: pc}
	type slot struct {
		tr *webrtc.RTPTransceiver
		rx *rxTrack
	}
	var slots []slot
	for _, k := range []webrtc.RTPCodecType{webrtc.RTPCodecTypeAudio, webrtc.RTPCodecTypeVideo} {
		n := lc.audio
		if k == webrtc.RTPCodecTypeVideo {
			n = lc.video
		}
		for range n {
			tr, err := pc.AddTransceiverFromKind(k, webrtc.RTPTransceiverInit{Direction: webrtc.RTPTransceiverDirectionRecvonly})
			if err != nil {
				pc.Close()
				return nil, err
			}
			rx := &rxTrack{}
			slots = append(slots, slot{tr, rx})
			if k == webrtc.RTPCodecTypeAudio {
				l.audio = append(l.audio, rx)
			} else {
				l.video = append(l.video, rx)
			}
		}
	}
	pc.OnTrack(func(track *webrtc.TrackRemote, recv *webrtc.RTPReceiver) {
		for _, s := range slots {
			if s.tr.Receiver() != recv {
				continue
			}
			s.rx.mu.Lock()
			s.rx.codec = track.Codec().MimeType
			s.rx.tracks++
			s.rx.mu.Unlock()
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				readRx(track, s.rx)
			}()
		}
	})
	url := r.url + "/whep/" + room
	if lc.query != "" {
		url += "?" + lc.query
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if l.session, err = peer.Signal(ctx, peer.Options{Loopback: true}, pc, url, lc.token); err != nil {
		l.close()
		return nil, err
	}
	return l, nil
}

func readRx(track *webrtc.TrackRemote, rx *rxTrack) {
	video := track.Kind() == webrtc.RTPCodecTypeVideo
	buf := make([]byte, 1500)
	var h rtp.Header
	for {
		n, _, err := track.Read(buf)
		if err != nil {
			return
		}
		hl, err := h.Unmarshal(buf[:n])
		if err != nil {
			continue
		}
		payload := buf[hl:n]
		if h.Padding && len(payload) > 0 {
			payload = payload[:len(payload)-int(payload[len(payload)-1])]
		}
		p := rxPkt{at: time.Now(), ssrc: h.SSRC, seq: h.SequenceNumber, ts: h.Timestamp}
		switch {
		case video:
			p.key, _ = keyframe.IsStart(keyframe.H264, payload)
			p.idr = p.key || len(payload) > 1 && payload[0]&0x1f == 28 && payload[1]&0x1f == 5
			if len(payload) >= 21 && payload[0]&0x1f == 6 && string(payload[3:19]) == markUUID {
				p.mark = payload[19]
			}
		case len(payload) >= 3:
			p.mark, p.n = payload[0], binary.BigEndian.Uint16(payload[1:])
		}
		rx.mu.Lock()
		rx.pkts = append(rx.pkts, p)
		rx.mu.Unlock()
	}
}

func (l *testListener) close() {
	l.once.Do(func() {
		if l.session != "" {
			req, _ := http.NewRequest(http.MethodDelete, l.session, nil)
			if resp, err := http.DefaultClient.Do(req); err == nil {
				resp.Body.Close()
			}
		}
		l.pc.Close()
		l.wg.Wait()
	})
}

// selectAnswer is the /select answer.
type selectAnswer struct {
	Audio   string `json:"audio"`
	Sign    string `json:"sign"`
	Video   string `json:"video"`
	Playing struct {
		Audio string `json:"audio"`
		Sign  string `json:"sign"`
	} `json:"playing"`
}

// postSelectJSON posts body to a session's select URL and returns the status,
// the decoded answer (on 200) and the raw body.
func postSelectJSON(session, contentType, body string) (int, selectAnswer, string, error) {
	req, err := http.NewRequest(http.MethodPost, session+"/select", strings.NewReader(body))
	if err != nil {
		return 0, selectAnswer{}, "", err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, selectAnswer{}, "", err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	var sel selectAnswer
	if resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(raw, &sel); err != nil {
			return resp.StatusCode, sel, string(raw), fmt.Errorf("answer is not the selectAnswer JSON: %w: %q", err, raw)
		}
	}
	return resp.StatusCode, sel, string(raw), nil
}

// choose selects body for l and checks the answer is 200; it may run on
// any goroutine.
func (l *testListener) choose(t *testing.T, body string) (selectAnswer, bool) {
	status, sel, raw, err := postSelectJSON(l.session, "application/json", body)
	if err != nil || status != http.StatusOK {
		t.Errorf("select %s: %d %q %v", body, status, strings.TrimSpace(raw), err)
		return sel, false
	}
	return sel, true
}
