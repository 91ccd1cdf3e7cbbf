//go:build linux

package relay

import (
	"encoding/binary"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// What UDP segmentation offload (one sendmsg carrying a frame's equal-sized
// packets, UDP_SEGMENT) would save on the kernel's per-packet send, which is
// 44 % of the relay's CPU under load: six 1 216-byte packets (a 1.6 Mbit/s
// 30 fps frame) to a loopback socket, one sendto each or one sendmsg for
// all six. Reports the sending thread's CPU per packet, which on loopback
// includes delivery into the receiving socket. Not wired into the relay:
// pion's write path sends one packet per call (see docs/BENCHMARKS.md).
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
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(oob[unix.CmsgLen(0):], size)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	start := threadCPU()
	for b.Loop() {
		if gso {
			if _, _, err := sc.WriteMsgUDP(frame, oob, dst); err != nil {
				b.Fatal(err) // kernels before 4.18 have no UDP_SEGMENT
			}
			continue
		}
		for i := range segs {
			if _, err := sc.WriteToUDP(frame[i*size:(i+1)*size], dst); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64((threadCPU()-start).Nanoseconds())/float64(b.N*segs), "cpu-ns/packet")
}

func threadCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(unix.RUSAGE_THREAD, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
