//go:build !linux

package relay

import "syscall"

const gsoControlLen = 0

// sendGSO: UDP segmentation offload is Linux-only; elsewhere the batch is
// sent one packet at a time.
func (c *batchConn) sendGSO(*sendBatch, []byte, int) error { return syscall.ENOPROTOOPT }
