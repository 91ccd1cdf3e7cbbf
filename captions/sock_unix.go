//go:build unix

package captions

import (
	"net"
	"syscall"
)

// rawFD returns nc's socket descriptor for tryWrite, or -1 when it has none.
func rawFD(nc net.Conn) int {
	fd := -1
	if sc, ok := nc.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			_ = raw.Control(func(f uintptr) { fd = int(f) })
		}
	}
	return fd
}

// tryWrite writes as much of p as the socket takes without waiting. See
// sockConn.fd for when it may be called.
func (s *sockConn) tryWrite(p []byte) (int, error) {
	if s.fd < 0 {
		return 0, nil
	}
	for {
		n, err := syscall.Write(s.fd, p)
		switch err {
		case nil:
			return n, nil
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, nil // the writer goroutine waits
		default:
			return 0, err
		}
	}
}
