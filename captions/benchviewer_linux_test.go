package captions

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The viewers of the load benchmark (BenchmarkViewers*) share the machine's
// two cores with the relay they measure. 10 000 gorilla clients, each with
// a reader goroutine, cost about as much CPU as the relay itself: gorilla
// allocates every message, Go's netpoller reads each socket twice per
// message (the data, then EAGAIN before parking) and wakes, schedules and
// parks a goroutine per message. The measurement was mostly measuring
// itself. These viewers are plain sockets read by one epoll loop per CPU
// (viewerLoops): a message costs one epoll event and one read, and frames
// are parsed in place. They still read every byte the relay sends and hand
// every text message to the benchmark, which checks that each viewer got
// each cue once and in order: what is measured is still real end-to-end
// delivery of every cue to every viewer.

// rawViewer is one viewer connection: a non-blocking socket outside Go's
// netpoller and its frame buffer.
type rawViewer struct {
	fd     int
	buf    []byte
	n      int                                      // bytes in buf
	onText func(payload []byte, at time.Time) error // each text message and when the read that completed it returned
	done   bool                                     // closed by the server, or failed
	err    error
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialRawViewer opens a WebSocket to ws://addr+path (RFC 6455 handshake,
// checked). addr is an IPv4 host:port.
func dialRawViewer(addr, path string) (*rawViewer, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("viewer address %q: want IPv4 host:port", addr)
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	v := &rawViewer{fd: fd, buf: make([]byte, 1024)}
	if err := v.handshake(&syscall.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}, addr, path); err != nil {
		syscall.Close(fd)
		return nil, err
	}
	return v, nil
}

func (v *rawViewer) handshake(sa syscall.Sockaddr, host, path string) error {
	tv := syscall.NsecToTimeval(int64(30 * time.Second))
	_ = syscall.SetsockoptTimeval(v.fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv)
	_ = syscall.SetsockoptTimeval(v.fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv)
	if err := retryEINTR(func() error { return syscall.Connect(v.fd, sa) }); err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	req := fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, host, key)
	if err := writeFull(v.fd, []byte(req)); err != nil {
		return fmt.Errorf("send handshake: %w", err)
	}
	var head []byte
	end := -1
	for end < 0 {
		if v.n == len(v.buf) {
			return errors.New("handshake: response too long")
		}
		n, err := syscall.Read(v.fd, v.buf[v.n:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return fmt.Errorf("read handshake: %v", err)
		}
		v.n += n
		end = bytes.Index(v.buf[:v.n], []byte("\r\n\r\n"))
	}
	head = v.buf[:end+4]
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), nil)
	if err != nil {
		return fmt.Errorf("read handshake: %w", err)
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		return fmt.Errorf("handshake: %s", resp.Status)
	}
	v.n = copy(v.buf, v.buf[end+4:v.n]) // frames that came with the response
	return syscall.SetNonblock(v.fd, true)
}

func retryEINTR(f func() error) error {
	for {
		if err := f(); err != syscall.EINTR {
			return err
		}
	}
}

func writeFull(fd int, p []byte) error {
	for len(p) > 0 {
		n, err := syscall.Write(fd, p)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// readable reads what the socket holds and consumes the complete frames.
func (v *rawViewer) readable() {
	for !v.done {
		if v.n == len(v.buf) {
			v.buf = append(v.buf, make([]byte, len(v.buf))...)
		}
		n, err := syscall.Read(v.fd, v.buf[v.n:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return
		case err != nil:
			v.fail(err)
			return
		case n == 0:
			v.fail(io.ErrUnexpectedEOF)
			return
		}
		at := time.Now()
		short := v.n+n < len(v.buf)
		v.n += n
		v.frames(at)
		if short {
			return // drained: level-triggered epoll reports the next data
		}
	}
}

func (v *rawViewer) fail(err error) {
	v.done = true
	v.err = err
}

// frames consumes the complete frames in the buffer.
func (v *rawViewer) frames(at time.Time) {
	p := v.buf[:v.n]
	for len(p) >= 2 && !v.done {
		op, masked, size, hdr := p[0]&0x0f, p[1]&0x80 != 0, uint64(p[1]&0x7f), 2
		if size == 126 {
			hdr = 4
		} else if size == 127 {
			hdr = 10
		}
		if len(p) < hdr {
			break // the extended length has not arrived
		}
		if hdr == 4 {
			size = uint64(binary.BigEndian.Uint16(p[2:]))
		} else if hdr == 10 {
			size = binary.BigEndian.Uint64(p[2:])
		}
		if p[0]&0x80 == 0 || op == 0 || masked {
			v.fail(fmt.Errorf("frame %#x %#x: the relay sends every message as one unmasked frame", p[0], p[1]))
			return
		}
		if uint64(len(p)-hdr) < size {
			if need := hdr + int(size); need > len(v.buf) {
				v.buf = append(v.buf, make([]byte, need-len(v.buf))...)
			}
			break
		}
		payload := p[hdr : hdr+int(size)]
		p = p[hdr+int(size):]
		switch op {
		case opText:
			if err := v.onText(payload, at); err != nil {
				v.fail(err)
			}
		case opClose:
			v.done = true
		case opPing: // answer with a masked pong (zero mask) of the same data
			pong := append([]byte{0x80 | opPong, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
			if err := writeFull(v.fd, pong); err != nil {
				v.fail(err)
			}
		}
	}
	v.n = copy(v.buf, p)
}

// viewerLoops reads the viewers on k goroutines, each an epoll loop over
// its share of the sockets. stop ends them and returns the first viewer
// error.
type viewerLoops struct {
	stopping atomic.Bool
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
}

func startViewerLoops(viewers []*rawViewer, k int) (*viewerLoops, error) {
	l := &viewerLoops{}
	for i := range k {
		var share []*rawViewer
		for j := i; j < len(viewers); j += k {
			share = append(share, viewers[j])
		}
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			l.stop()
			return nil, err
		}
		byFD := make(map[int32]*rawViewer, len(share))
		for _, v := range share {
			byFD[int32(v.fd)] = v
			if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, v.fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(v.fd)}); err != nil {
				syscall.Close(epfd)
				l.stop()
				return nil, err
			}
		}
		l.wg.Add(1)
		go l.loop(epfd, share, byFD)
	}
	return l, nil
}

func (l *viewerLoops) loop(epfd int, share []*rawViewer, byFD map[int32]*rawViewer) {
	defer l.wg.Done()
	defer syscall.Close(epfd)
	for _, v := range share {
		v.frames(time.Now()) // what came with the handshake
		l.check(v)
	}
	events := make([]syscall.EpollEvent, 256)
	for !l.stopping.Load() {
		n, err := syscall.EpollWait(epfd, events, 100)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			l.setErr(err)
			return
		}
		for _, ev := range events[:n] {
			v := byFD[ev.Fd]
			v.readable()
			if l.check(v) {
				_ = syscall.EpollCtl(epfd, syscall.EPOLL_CTL_DEL, v.fd, nil)
			}
		}
	}
}

// check records a viewer's error and reports whether it is done.
func (l *viewerLoops) check(v *rawViewer) bool {
	if v.err != nil {
		l.setErr(v.err)
	}
	return v.done
}

func (l *viewerLoops) setErr(err error) {
	l.mu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.mu.Unlock()
}

// firstErr is the first viewer error so far.
func (l *viewerLoops) firstErr() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

func (l *viewerLoops) stop() error {
	l.stopping.Store(true)
	l.wg.Wait()
	return l.firstErr()
}

func (v *rawViewer) Close() error { return syscall.Close(v.fd) }
