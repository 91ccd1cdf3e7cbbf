package captions

import (
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
	kindMust    msgKind = iota // finals, corrections, backlog, acks, errors: never dropped
	kindPartial                // droppable; a newer partial of the same language replaces it
	kindStatus                 // droppable; a newer status of the same language replaces it
)

type outMsg struct {
	pm   *websocket.PreparedMessage
	size int
	kind msgKind
	lang string
	at   time.Time // when the cue entered the hub, for delivery latency; zero if not a cue
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

// client is one WebSocket connection's outgoing side: a bounded queue and
// the single goroutine that writes to the socket. Broadcasters only ever
// call enqueue, which never blocks on the network.
type client struct {
	conn    *websocket.Conn
	session string
	log     *slog.Logger
	lim     queueLimits

	mu        sync.Mutex
	q         []outMsg
	spare     []outMsg
	qBytes    int
	closed    bool
	flush     bool // write what is queued before the close frame
	closeCode int
	closeText string

	wake       chan struct{}
	stop       chan struct{}
	writerDone chan struct{}
}

func newClient(conn *websocket.Conn, session string, log *slog.Logger, lim queueLimits) *client {
	return &client{
		conn: conn, session: session, log: log, lim: lim,
		wake:       make(chan struct{}, 1),
		stop:       make(chan struct{}),
		writerDone: make(chan struct{}),
	}
}

// enqueue queues m for writing. When the queue is full, queued droppable
// messages go first; then a droppable m is dropped, and a must-deliver m
// closes the client with reason "slow". A message always fits an empty queue.
func (c *client) enqueue(m outMsg) enqueueResult {
	c.mu.Lock()
	defer c.mu.Unlock()
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
	select {
	case c.wake <- struct{}{}:
	default:
	}
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
	close(c.stop)
}

// take swaps out the queued messages.
func (c *client) take() []outMsg {
	c.mu.Lock()
	defer c.mu.Unlock()
	if (c.closed && !c.flush) || len(c.q) == 0 {
		return nil
	}
	out := c.q
	c.q = c.spare[:0]
	c.spare = nil
	c.qBytes = 0
	return out
}

func (c *client) giveBack(buf []outMsg) {
	clear(buf)
	c.mu.Lock()
	if c.spare == nil && cap(buf) <= 4*c.lim.maxMsgs {
		c.spare = buf[:0]
	}
	c.mu.Unlock()
}

// writeLoop is the connection's only writer. It ends, closing the
// connection, when the client is closed or a write fails.
func (c *client) writeLoop() {
	defer close(c.writerDone)
	defer c.conn.Close()
	ping := time.NewTicker(c.lim.pingInterval)
	defer ping.Stop()
	for {
		select {
		case <-c.wake:
			if err := c.writeQueued(); err != nil {
				c.failed(err)
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(c.lim.writeTimeout)); err != nil {
				c.failed(err)
				return
			}
		case <-c.stop:
			if err := c.writeQueued(); err != nil {
				return
			}
			c.mu.Lock()
			code, text := c.closeCode, c.closeText
			c.mu.Unlock()
			msg := websocket.FormatCloseMessage(code, text)
			_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWriteGrace))
			return
		}
	}
}

// writeQueued writes until the queue is empty.
func (c *client) writeQueued() error {
	for {
		msgs := c.take()
		if msgs == nil {
			return nil
		}
		for _, m := range msgs {
			if err := c.conn.SetWriteDeadline(time.Now().Add(c.lim.writeTimeout)); err != nil {
				return err
			}
			if err := c.conn.WritePreparedMessage(m.pm); err != nil {
				return err
			}
			if !m.at.IsZero() && c.lim.observe != nil {
				c.lim.observe(time.Since(m.at))
			}
		}
		c.giveBack(msgs)
	}
}

func (c *client) failed(err error) {
	c.log.Debug("caption socket write failed", "session", c.session, "err", err)
	c.close(closeGoingAway, "write failed")
}

// done is closed when the writer has ended and the connection is closed.
func (c *client) done() <-chan struct{} { return c.writerDone }
