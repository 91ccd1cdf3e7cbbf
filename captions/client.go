package captions

import (
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes the server sends (RFC 6455 private range for ours).
const (
	closeSlow       = 4008 // reason "slow": the client could not keep up with finals
	closeRate       = 4029 // reason "rate": too many messages
	closeGoingAway  = websocket.CloseGoingAway
	closeNormal     = websocket.CloseNormalClosure
	closePolicy     = websocket.ClosePolicyViolation
	closeTooBig     = websocket.CloseMessageTooBig
	closeWriteGrace = time.Second
)

// msgKind says what the queue may do with a message when it is full.
type msgKind uint8

const (
	kindMust    msgKind = iota // finals, corrections, backlog, acks, errors, gorilla's control frames: never dropped
	kindPartial                // droppable; a newer partial of the same language replaces it
	kindStatus                 // droppable; a newer status of the same language replaces it
	kindPing                   // droppable; a newer ping replaces it
)

type outMsg struct {
	frame []byte // the whole WebSocket frame, shared by every connection: never modified
	size  int
	kind  msgKind
	lang  string
	at    time.Time // when the cue entered the hub, for delivery latency; zero if not a cue
}

// enqueueResult tells the broadcaster what became of a message.
type enqueueResult struct {
	dropped int  // droppable messages dropped (queued ones or this one)
	slow    bool // the client could not take a must-deliver message and is being closed
	closed  bool // the client was already closed
}

// queueLimits bound one connection's outgoing queue.
type queueLimits struct {
	maxMsgs      int
	maxBytes     int
	writeTimeout time.Duration
	pingInterval time.Duration
	observe      func(time.Duration) // delivery latency of cues; may be nil
}

// client is one WebSocket connection's outgoing side: a bounded queue, and
// two ways to the socket, one at a time (writing):
//
//   - send, called by the fan-out workers after a broadcast, writes queued
//     frames straight to the socket as long as it takes them without
//     waiting (a non-blocking write). This is how nearly every cue reaches
//     a viewer: no goroutine is woken per viewer.
//   - the connection's writer goroutine writes everything else (a frame
//     the socket did not take whole, acks, backlog, status, pings, the
//     close) with a deadline of WriteTimeout on every write.
//
// Broadcasters only ever queue, which never blocks on the network.
type client struct {
	conn    *websocket.Conn // reads; nil in tests of the queue
	sock    *sockConn       // writes; nil in tests of the queue
	session string
	log     *slog.Logger
	lim     queueLimits

	mu        sync.Mutex
	q         []outMsg
	spare     []outMsg
	qBytes    int
	rest      []byte    // the end of a frame the socket took only in part: goes first
	restAt    time.Time // its message's at
	writing   bool      // send or the writer goroutine is writing to the socket
	closeSent bool      // gorilla queued a close frame of its own: ours is not sent
	closed    bool
	flush     bool // write what is queued before the close frame
	closeCode int
	closeText string
	pingTimer *time.Timer

	// wake tells the writer goroutine that there is work. It is its only
	// channel: a receive on one channel costs much less than a select over
	// several.
	wake       chan struct{}
	writerDone chan struct{}
	readEnded  chan struct{} // closed by readerStopped
	readOnce   sync.Once
}

func newClient(conn *websocket.Conn, sock *sockConn, session string, log *slog.Logger, lim queueLimits) *client {
	c := &client{
		conn: conn, sock: sock, session: session, log: log, lim: lim,
		wake:       make(chan struct{}, 1),
		writerDone: make(chan struct{}),
		readEnded:  make(chan struct{}),
	}
	if sock != nil {
		sock.client.Store(c)
	}
	return c
}

func (c *client) signalLocked() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// enqueue queues m for the writer goroutine. When the queue is full,
// queued droppable messages go first; then a droppable m is dropped, and a
// must-deliver m closes the client with reason "slow". A message always
// fits an empty queue.
func (c *client) enqueue(m outMsg) enqueueResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	res := c.queueLocked(m)
	if !res.closed {
		c.signalLocked()
	}
	return res
}

// queue queues m like enqueue but wakes nobody: the broadcaster then hands
// the client to the fan-out (send).
func (c *client) queue(m outMsg) enqueueResult {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.queueLocked(m)
}

func (c *client) queueLocked(m outMsg) enqueueResult {
	if c.closed {
		return enqueueResult{closed: true}
	}
	var res enqueueResult
	if m.kind != kindMust {
		c.removeLocked(func(o outMsg) bool { return o.kind == m.kind && o.lang == m.lang })
	}
	if c.fullLocked(m.size) {
		res.dropped += c.removeLocked(func(o outMsg) bool { return o.kind != kindMust })
	}
	if c.fullLocked(m.size) {
		if m.kind != kindMust {
			res.dropped++
			return res
		}
		res.slow = true
		c.closeLocked(closeSlow, "slow", false)
		return res
	}
	c.q = append(c.q, m)
	c.qBytes += m.size
	return res
}

func (c *client) fullLocked(size int) bool {
	if len(c.q) == 0 {
		return false
	}
	return len(c.q) >= c.lim.maxMsgs || c.qBytes+size > c.lim.maxBytes
}

// removeLocked deletes queued messages matching drop and returns how many.
func (c *client) removeLocked(drop func(outMsg) bool) int {
	kept := c.q[:0]
	n := 0
	for _, o := range c.q {
		if drop(o) {
			c.qBytes -= o.size
			n++
			continue
		}
		kept = append(kept, o)
	}
	clear(c.q[len(kept):])
	c.q = kept
	return n
}

// close asks the writer to send a close frame with code and reason and to
// close the connection. The first reason wins. What is queued is written
// first, except when the client is too slow or the server shuts down.
func (c *client) close(code int, reason string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeLocked(code, reason, code != closeSlow && code != closeGoingAway)
}

func (c *client) closeLocked(code int, reason string, flush bool) {
	if c.closed {
		return
	}
	c.closed = true
	c.flush = flush
	c.closeCode, c.closeText = code, reason
	if !flush {
		clear(c.q)
		c.q = c.q[:0]
		c.qBytes = 0
	}
	c.signalLocked()
}

func (c *client) noteCloseSent() {
	c.mu.Lock()
	c.closeSent = true
	c.mu.Unlock()
}

// take swaps out the queued messages.
func (c *client) take() []outMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.takeLocked()
}

func (c *client) takeLocked() []outMsg {
	if (c.closed && !c.flush) || len(c.q) == 0 {
		return nil
	}
	out := c.q
	c.q = c.spare[:0]
	c.spare = nil
	c.qBytes = 0
	return out
}

func (c *client) giveBackLocked(buf []outMsg) {
	clear(buf)
	if c.spare == nil && cap(buf) <= 4*c.lim.maxMsgs {
		c.spare = buf[:0]
	}
}

// send writes the queued frames that the socket takes without waiting and
// leaves the rest to the writer goroutine. It is the fan-out's path.
func (c *client) send() {
	c.mu.Lock()
	if c.writing {
		c.mu.Unlock() // the writer: it writes what was queued before it stops
		return
	}
	if c.closed || c.rest != nil || c.sock == nil || c.sock.fd < 0 {
		c.signalLocked()
		c.mu.Unlock()
		return
	}
	msgs := c.takeLocked()
	if msgs == nil {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.mu.Unlock()

	var left []outMsg // not written, in order
	var err error
	for i, m := range msgs {
		var n int
		n, err = c.sock.tryWrite(m.frame)
		if err != nil {
			break
		}
		if n < len(m.frame) {
			left = msgs[i:]
			if n > 0 {
				c.mu.Lock()
				c.rest, c.restAt = m.frame[n:], m.at
				c.mu.Unlock()
				left = msgs[i+1:]
			}
			break
		}
		c.observed(m.at)
	}

	c.mu.Lock()
	c.writing = false
	if err != nil {
		c.log.Debug("caption socket write failed", "session", c.session, "err", err)
		c.closeLocked(closeGoingAway, "write failed", false)
	} else if len(left) > 0 && !(c.closed && !c.flush) {
		q := make([]outMsg, 0, len(left)+len(c.q))
		for _, m := range left {
			q = append(q, m)
			c.qBytes += m.size
		}
		c.q = append(q, c.q...)
	}
	c.giveBackLocked(msgs)
	if len(c.q) > 0 || c.rest != nil || c.closed {
		c.signalLocked()
	}
	c.mu.Unlock()
}

func (c *client) observed(at time.Time) {
	if !at.IsZero() && c.lim.observe != nil {
		c.lim.observe(time.Since(at))
	}
}

// ping queues a ping; the timer calls it every PingInterval.
func (c *client) ping() {
	if res := c.enqueue(outMsg{frame: pingFrame, size: len(pingFrame), kind: kindPing}); res.closed {
		return
	}
	c.mu.Lock()
	t := c.pingTimer
	c.mu.Unlock()
	t.Reset(c.lim.pingInterval)
}

// writeLoop is the connection's writer goroutine. It ends, closing the
// connection, when the client is closed or a write fails.
func (c *client) writeLoop() {
	defer close(c.writerDone)
	defer c.conn.Close()
	t := time.AfterFunc(time.Hour, c.ping)
	t.Stop()
	c.mu.Lock()
	c.pingTimer = t
	c.mu.Unlock()
	t.Reset(c.lim.pingInterval)
	defer t.Stop()
	for range c.wake {
		if c.writeQueued() {
			return
		}
	}
}

// writeQueued writes until nothing is queued, each write with a deadline
// of WriteTimeout. It returns true when the writer is done: the close
// frame went out (or could not) or a write failed.
func (c *client) writeQueued() bool {
	for {
		c.mu.Lock()
		if c.writing {
			c.mu.Unlock() // send is writing; it wakes us if it leaves anything
			return false
		}
		rest, restAt := c.rest, c.restAt
		c.rest = nil
		msgs := c.takeLocked()
		if rest == nil && msgs == nil {
			if !c.closed {
				c.mu.Unlock()
				return false
			}
			code, text, sent := c.closeCode, c.closeText, c.closeSent
			c.mu.Unlock()
			if !sent {
				_ = c.sock.writeAll(frame(opClose, websocket.FormatCloseMessage(code, text)), time.Now().Add(closeWriteGrace))
			}
			c.linger()
			return true
		}
		c.writing = true
		c.mu.Unlock()

		err := c.writeFrames(rest, restAt, msgs)

		c.mu.Lock()
		c.writing = false
		c.giveBackLocked(msgs)
		if err != nil && !c.closed {
			// Closed in the same critical section: send must not start a
			// write on a descriptor that is about to be closed.
			c.log.Debug("caption socket write failed", "session", c.session, "err", err)
			c.closeLocked(closeGoingAway, "write failed", false)
		}
		c.mu.Unlock()
		if err != nil {
			return true
		}
	}
}

func (c *client) writeFrames(rest []byte, restAt time.Time, msgs []outMsg) error {
	if rest != nil {
		if err := c.sock.writeAll(rest, time.Now().Add(c.lim.writeTimeout)); err != nil {
			return err
		}
		c.observed(restAt)
	}
	for _, m := range msgs {
		if err := c.sock.writeAll(m.frame, time.Now().Add(c.lim.writeTimeout)); err != nil {
			return err
		}
		c.observed(m.at)
	}
	return nil
}

// readerStopped tells the writer that the connection's reader stopped
// reading while the peer may still be sending (a captioner closed for
// abuse). Call it before closing the client.
func (c *client) readerStopped() { c.readOnce.Do(func() { close(c.readEnded) }) }

// linger runs after the close frame. When the reader stopped (see
// readerStopped), what the peer still sends would make
// closing it send a reset, and a reset can destroy our close frame before
// the peer has read it. So: half-close, and read and discard until the
// peer closes too, for at most closeWriteGrace.
func (c *client) linger() {
	select {
	case <-c.readEnded:
	default:
		return // the reader still reads; it ends on the peer's close
	}
	if cw, ok := c.sock.Conn.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.sock.Conn.SetReadDeadline(time.Now().Add(closeWriteGrace))
	_, _ = io.Copy(io.Discard, c.sock.Conn)
}

// done is closed when the writer has ended and the connection is closed.
func (c *client) done() <-chan struct{} { return c.writerDone }
