//go:build !unix

package captions

import "net"

// rawFD: writing straight to the descriptor is done on Unix systems only;
// elsewhere every frame goes through the connection's writer goroutine.
func rawFD(net.Conn) int { return -1 }

// tryWrite writes nothing: the writer goroutine sends the frame.
func (s *sockConn) tryWrite([]byte) (int, error) { return 0, nil }
