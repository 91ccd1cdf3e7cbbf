package relay

import (
	"bytes"
	"net"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/pion/webrtc/v4"

	"github.com/relay-av/relay/relay/peer"
)

func loopbackPair(t *testing.T) (*batchConn, *net.UDPConn) {
	t.Helper()
	s, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	r, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(); r.Close() })
	return newBatchConn(s), r
}

func packetOf(i, size int) []byte {
	p := make([]byte, size)
	for k := range p {
		p[k] = byte(i*7 + k)
	}
	return p
}

// The receiver gets every packet of a batch as its own datagram, whole and
// in order, whatever mix of sizes the batch held; runs of equal sizes went
// out with segmentation offload.
func TestBatchConnDatagramsIntact(t *testing.T) {
	for _, noGSO := range []bool{false, true} {
		t.Run(map[bool]string{false: "offload", true: "one by one"}[noGSO], func(t *testing.T) {
			testDatagramsIntact(t, noGSO)
		})
	}
}

func testDatagramsIntact(t *testing.T, noGSO bool) {
	c, r := loopbackPair(t)
	c.noGSO.Store(noGSO) // as after the kernel refused UDP_SEGMENT
	to := r.LocalAddr().(*net.UDPAddr).AddrPort()
	sizes := []int{1200, 1200, 1200, 700, 1200, 1200, 90, 90, 1300, 40, 1200}
	var sent [][]byte
	b := c.begin(to)
	if b == nil {
		t.Fatal("no batch")
	}
	if c.begin(to) != nil {
		t.Fatal("two batches for one address")
	}
	for i, n := range sizes {
		p := packetOf(i, n)
		sent = append(sent, p)
		w := append([]byte(nil), p...)
		if _, err := c.WriteToAddrPort(w, to); err != nil {
			t.Fatal(err)
		}
		clear(w) // pion reuses its buffer once the write returns
	}
	c.flush(b)
	// A write after the flush goes straight out.
	last := packetOf(99, 500)
	sent = append(sent, last)
	c.WriteToAddrPort(last, to)

	_ = r.SetReadDeadline(time.Now().Add(2 * time.Second))
	buf := make([]byte, 65536)
	for i, want := range sent {
		n, err := r.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], want) {
			t.Fatalf("datagram %d: %d bytes, want %d (%v...)", i, n, len(want), buf[:min(n, 4)])
		}
	}
	if noGSO && c.gsoSends.Load() != 0 {
		t.Error("offloaded sends after the kernel refused them")
	}
	if !noGSO && c.gsoSends.Load() == 0 && !c.noGSO.Load() {
		t.Error("no segmentation offload send, and the kernel did not refuse it")
	}
	t.Logf("%d packets: %d in %d offloaded sends (offload refused: %v)", len(sent), c.gsoPackets.Load(), c.gsoSends.Load(), c.noGSO.Load())
}

// Other goroutines write to the same address while a batch is open and
// around its flush: nothing is lost or sent twice.
func TestBatchConnConcurrentWriters(t *testing.T) {
	c, r := loopbackPair(t)
	_ = r.SetReadBuffer(4 << 20)
	to := r.LocalAddr().(*net.UDPAddr).AddrPort()
	const rounds, perRound, others = 200, 6, 400
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a NACK responder or STUN on another goroutine
		defer wg.Done()
		for i := range others {
			c.WriteToAddrPort(packetOf(1000+i, 100), to)
		}
	}()
	for range rounds {
		b := c.begin(to)
		for i := range perRound {
			c.WriteToAddrPort(packetOf(i, 1000), to)
		}
		c.flush(b)
	}
	wg.Wait()
	want := rounds*perRound + others
	got := 0
	_ = r.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 65536)
	for {
		n, err := r.Read(buf)
		if err != nil {
			break
		}
		if n != 1000 && n != 100 {
			t.Fatalf("datagram of %d bytes", n)
		}
		got++
	}
	if got != want {
		t.Errorf("received %d datagrams, sent %d", got, want)
	}
}

func TestBatchConnNoBatchForInvalidAddress(t *testing.T) {
	c, _ := loopbackPair(t)
	if c.begin(netip.AddrPort{}) != nil {
		t.Error("batch for no address")
	}
	c.flush(nil) // no-op
}

// With a real publisher, a video frame's packets are fanned out together
// and leave the socket as segmentation-offload batches, and the viewers
// still get every packet.
func TestSendBatchingEndToEnd(t *testing.T) {
	r := newTestRelay(t, nil)
	pub := r.publish(t, "hall")
	defer pub.Close(true)
	r.waitLive(t, "hall")
	var viewers []*peer.Viewer
	for range 3 {
		v := r.view(t, "hall")
		defer v.Close(true)
		viewers = append(viewers, v)
	}
	waitFor(t, 10*time.Second, "60 frames at every viewer", func() bool {
		for _, v := range viewers {
			if v.Stats(webrtc.RTPCodecTypeVideo).Frames < 60 {
				return false
			}
		}
		return true
	})
	room, _ := r.srv.room("hall", false)
	src := room.groups[webrtc.RTPCodecTypeVideo].current.Load()
	packets, batches := src.packets.Load(), src.fanBatches.Load()
	c := r.srv.udpConn
	t.Logf("video: %d packets fanned out in %d batches; %d packets in %d offloaded sends (offload refused: %v)",
		packets, batches, c.gsoPackets.Load(), c.gsoSends.Load(), c.noGSO.Load())
	if batches >= packets {
		t.Error("no two packets were ever fanned out together")
	}
	if !c.noGSO.Load() && c.gsoSends.Load() == 0 {
		t.Error("no segmentation-offload send")
	}
	for i, v := range viewers {
		if st := v.Stats(webrtc.RTPCodecTypeVideo); st.MissingTotal != 0 || st.Repeats != 0 {
			t.Errorf("viewer %d: %d packets missing, %d repeated", i, st.MissingTotal, st.Repeats)
		}
	}
}
