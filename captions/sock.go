package captions

import (
	"bufio"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Our side of a caption WebSocket writes whole frames itself: each message
// is encoded once as a complete server frame (server frames are not masked,
// so the same bytes go to every connection), and a frame goes to the socket
// either straight from the fan-out, when the socket takes it without
// waiting, or from the connection's writer goroutine (client.go). gorilla
// still does the handshake and all reading.

// Frame opcodes (RFC 6455 5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xa
)

// frame returns a final, unmasked frame of opcode op carrying payload.
func frame(op byte, payload []byte) []byte {
	n := len(payload)
	var f []byte
	switch {
	case n < 126:
		f = make([]byte, 2, 2+n)
		f[1] = byte(n)
	case n <= 0xffff:
		f = make([]byte, 4, 4+n)
		f[1] = 126
		binary.BigEndian.PutUint16(f[2:], uint16(n))
	default:
		f = make([]byte, 10, 10+n)
		f[1] = 127
		binary.BigEndian.PutUint64(f[2:], uint64(n))
	}
	f[0] = 0x80 | op
	return append(f, payload...)
}

var pingFrame = frame(opPing, nil)

// sockConn is the hijacked connection under a caption WebSocket. Until a
// client is attached it is the plain connection (gorilla writes the
// handshake through it). Afterwards every write gorilla makes on its own (a
// pong, the echo of a close, the close after a protocol error or an
// oversized message) is queued on the client like any other frame, so that
// all frames reach the socket whole and in order from one place.
type sockConn struct {
	net.Conn
	// fd is the socket (non-blocking, as all of Go's), -1 if the
	// connection has none or the system is not Unix (sock_unix.go). tryWrite writes to it directly, without the
	// runtime's descriptor locks and poller bookkeeping (a tenth of the
	// fan-out's CPU through syscall.RawConn). That is safe because only the
	// client's writer goroutine closes the connection, and only once the
	// client is closed and nobody is writing (client.writing); send checks
	// both under the client's lock before it writes.
	fd     int
	client atomic.Pointer[client]
}

// sendBuffer is the kernel send buffer asked for each caption socket
// (Linux doubles it for its bookkeeping). Left to autotuning, a socket
// whose reader stalls keeps growing its buffer, up to net.ipv4.tcp_wmem's
// maximum (4 MiB by default), and holds that in kernel memory until the
// write timeout closes it; hundreds of stalled phones would pin gigabytes.
// Caption traffic is small: this holds several seconds of it, and a
// backlog that does not fit goes on from the connection's writer.
const sendBuffer = 16 << 10

func newSockConn(nc net.Conn) *sockConn {
	if tc, ok := nc.(*net.TCPConn); ok {
		_ = tc.SetWriteBuffer(sendBuffer) // best effort: the defaults work too
	}
	return &sockConn{Conn: nc, fd: rawFD(nc)}
}

func (s *sockConn) Write(p []byte) (int, error) {
	c := s.client.Load()
	if c == nil {
		return s.Conn.Write(p)
	}
	if len(p) >= 2 && p[0]&0x0f == opClose {
		c.noteCloseSent()
	}
	if res := c.enqueue(outMsg{frame: append([]byte(nil), p...), size: len(p), kind: kindMust}); res.closed {
		return 0, net.ErrClosed
	}
	return len(p), nil
}

// Deadlines of gorilla's own writes do not apply: its frames are queued,
// and the client's writes have their own.
func (s *sockConn) SetWriteDeadline(t time.Time) error {
	if s.client.Load() != nil {
		return nil
	}
	return s.Conn.SetWriteDeadline(t)
}

func (s *sockConn) SetDeadline(t time.Time) error {
	if s.client.Load() != nil {
		return s.Conn.SetReadDeadline(t)
	}
	return s.Conn.SetDeadline(t)
}

// writeAll writes p, waiting at most until deadline.
func (s *sockConn) writeAll(p []byte, deadline time.Time) error {
	if err := s.Conn.SetWriteDeadline(deadline); err != nil {
		return err
	}
	_, err := s.Conn.Write(p)
	return err
}

// hijackWrapper hands gorilla's Upgrade the connection wrapped in a
// sockConn.
type hijackWrapper struct {
	http.ResponseWriter
	sock *sockConn
}

func (w *hijackWrapper) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("captions: response does not implement http.Hijacker")
	}
	nc, brw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.sock = newSockConn(nc)
	return w.sock, brw, nil
}

// upgrade turns the request into a WebSocket; on failure the upgrader has
// answered.
func (s *Service) upgrade(w http.ResponseWriter, r *http.Request) (*websocket.Conn, *sockConn, error) {
	hw := &hijackWrapper{ResponseWriter: w}
	conn, err := s.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		return nil, nil, err
	}
	return conn, hw.sock, nil
}
