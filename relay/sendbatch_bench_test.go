//go:build linux

package relay

import (
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// What UDP segmentation offload (batchConn: one sendmsg carrying a frame's
// equal-sized packets, UDP_SEGMENT) saves on the kernel's per-packet send,
// which was 44 % of the relay's CPU under load: six 1 216-byte packets (a
// 1.6 Mbit/s 30 fps frame) to a loopback socket, one sendto each or one
// batch. Reports the sending thread's CPU per packet, which on loopback
// includes delivery into the receiving socket.
//
//	go test -run '^$' -bench SendPerPacket -benchtime 40000x ./relay/
func BenchmarkSendPerPacketSendto(b *testing.B) { benchSend(b, false) }
func BenchmarkSendPerPacketGSO(b *testing.B)    { benchSend(b, true) }

func benchSend(b *testing.B, gso bool) {
	const size, segs = 1216, 6
	rc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer rc.Close()
	_ = rc.SetReadBuffer(8 << 20)
	done := make(chan struct{})
	go func() { // drains; drops when it falls behind are fine, the send is measured
		defer close(done)
		buf := make([]byte, 65536)
		for {
			if _, _, err := rc.ReadFrom(buf); err != nil {
				return
			}
		}
	}()
	defer func() { rc.Close(); <-done }()
	sc, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		b.Fatal(err)
	}
	defer sc.Close()
	dst := rc.LocalAddr().(*net.UDPAddr)
	frame := make([]byte, size*segs)
	bc := newBatchConn(sc)
	to := dst.AddrPort()

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	for b.Loop() {
		var batch *sendBatch
		if gso {
			batch = bc.begin(to)
		}
		for i := range segs {
			if _, err := bc.WriteToAddrPort(frame[i*size:(i+1)*size], to); err != nil {
				b.Fatal(err)
			}
		}
		bc.flush(batch)
	}
	if gso && bc.gsoSends.Load() == 0 {
		b.Fatal("no offloaded send (kernel before 4.18?)")
	}
	b.ReportMetric(float64((threadCPU()-start).Nanoseconds())/float64(b.N*segs), "cpu-ns/packet")
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
