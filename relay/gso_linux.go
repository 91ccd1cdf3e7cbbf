package relay

import (
	"encoding/binary"
	"unsafe"

	"golang.org/x/sys/unix"
)

// gsoControlLen is the size of the UDP_SEGMENT control message.
var gsoControlLen = unix.CmsgSpace(2)

// sendGSO sends p, a run of seg-byte packets (the last may be shorter), in
// one sendmsg that the kernel splits into datagrams (Linux 4.18+).
func (c *batchConn) sendGSO(b *sendBatch, p []byte, seg int) error {
	h := (*unix.Cmsghdr)(unsafe.Pointer(&b.oob[0]))
	h.Level, h.Type = unix.SOL_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	binary.NativeEndian.PutUint16(b.oob[unix.CmsgLen(0):], uint16(seg))
	_, _, err := c.UDPConn.WriteMsgUDPAddrPort(p, b.oob, b.to)
	return err
}
