package captions

import (
	"bufio"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"
)

// rawViewer is a viewer of the load benchmark (BenchmarkViewers*): a
// WebSocket client that does no more per frame than the measurement needs,
// so that 10 000 of them sharing the cores with the relay measure the relay
// rather than themselves. gorilla's ReadMessage allocates every message and
// reads each socket twice per message (the data, then an EAGAIN before
// parking); this reader parses frames in place in one buffer and, when a
// read came back short (the socket was drained), waits for readiness
// instead of trying that second read. It still reads every byte the relay
// sends and hands every text message to the benchmark, which checks that
// each viewer got each cue once and in order: what is measured is real
// end-to-end delivery.
type rawViewer struct {
	conn *net.TCPConn
	buf  []byte
	n    int // bytes in buf
}

const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// dialRawViewer opens a WebSocket to ws://addr+path (RFC 6455 handshake,
// checked).
func dialRawViewer(addr, path string) (*rawViewer, error) {
	nc, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	conn := nc.(*net.TCPConn)
	var nonce [16]byte
	_, _ = rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", path, addr, key); err != nil {
		conn.Close()
		return nil, fmt.Errorf("send handshake: %w", err)
	}
	br := bufio.NewReaderSize(conn, 1024)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("read handshake: %w", err)
	}
	resp.Body.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != base64.StdEncoding.EncodeToString(sum[:]) {
		conn.Close()
		return nil, fmt.Errorf("handshake: %s", resp.Status)
	}
	_ = conn.SetDeadline(time.Time{})
	v := &rawViewer{conn: conn, buf: make([]byte, 1024)}
	// Frames that came with the handshake response.
	v.n, _ = io.ReadFull(br, v.buf[:min(br.Buffered(), len(v.buf))])
	if br.Buffered() > 0 {
		conn.Close()
		return nil, errors.New("handshake: more than 1 KiB after the response")
	}
	return v, nil
}

// run reads until the connection ends, calling onText with each text
// message and the time the read that completed it returned. It answers
// pings and returns nil on a close frame or when the connection is closed.
func (v *rawViewer) run(onText func(payload []byte, at time.Time) error) error {
	rc, err := v.conn.SyscallConn()
	if err != nil {
		return err
	}
	var runErr error
	drained := false
	// One RawConn.Read for the connection's life: between its calls of the
	// function the runtime waits for readiness without resetting it, so no
	// arrival is missed when a read is skipped.
	err = rc.Read(func(fd uintptr) bool {
		at := time.Now()
		for {
			done, err := v.frames(onText, at)
			if done || err != nil {
				runErr = err
				return true
			}
			if drained {
				drained = false
				return false
			}
			if v.n == len(v.buf) {
				v.buf = append(v.buf, make([]byte, len(v.buf))...)
			}
			n, err := syscall.Read(int(fd), v.buf[v.n:])
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				runErr = err
				return true
			case n == 0:
				runErr = io.ErrUnexpectedEOF
				return true
			}
			at = time.Now()
			drained = v.n+n < len(v.buf)
			v.n += n
		}
	})
	if runErr == nil && err != nil && !errors.Is(err, net.ErrClosed) {
		runErr = err
	}
	return runErr
}

// frames consumes the complete frames in the buffer. done is true after a
// close frame.
func (v *rawViewer) frames(onText func([]byte, time.Time) error, at time.Time) (done bool, err error) {
	p := v.buf[:v.n]
	for len(p) >= 2 {
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
			return true, fmt.Errorf("frame %#x %#x: the relay sends every message as one unmasked frame", p[0], p[1])
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
		case 1: // text
			if err := onText(payload, at); err != nil {
				return true, err
			}
		case 8: // close
			return true, nil
		case 9: // ping: answer with a masked pong (zero mask) of the same data
			pong := append([]byte{0x8a, 0x80 | byte(len(payload)), 0, 0, 0, 0}, payload...)
			if _, err := v.conn.Write(pong); err != nil {
				return true, err
			}
		}
	}
	v.n = copy(v.buf, p)
	return false, nil
}

func (v *rawViewer) Close() error { return v.conn.Close() }
