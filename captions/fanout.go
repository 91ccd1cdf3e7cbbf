package captions

import (
	"context"
	"runtime"
)

// fanoutChunk is how many connections one fan-out job writes to.
const fanoutChunk = 128

// fanout writes broadcasts to the subscribers' sockets on a few worker
// goroutines (one per CPU), a chunk of connections per job, instead of
// waking one writer goroutine per connection: at thousands of viewers the
// wake-ups, not the writes, were most of the cost. A worker never waits on a
// socket (client.send writes only what the socket takes at once).
type fanout struct {
	jobs chan []*client
}

// newFanout starts the workers; they end when ctx ends, after handing the
// jobs still queued to the connections' writer goroutines.
func newFanout(ctx context.Context, start func(func())) *fanout {
	f := &fanout{jobs: make(chan []*client, 4096)}
	for range runtime.GOMAXPROCS(0) {
		start(func() { f.run(ctx) })
	}
	return f
}

func (f *fanout) run(ctx context.Context) {
	for {
		select {
		case job := <-f.jobs:
			for _, c := range job {
				c.send()
			}
		case <-ctx.Done():
			for {
				select {
				case job := <-f.jobs:
					wakeWriters(job)
				default:
					return
				}
			}
		}
	}
}

// send hands the clients, whose queues have just grown, to the workers. It
// never blocks: when the workers are that far behind (or gone), the
// clients' writer goroutines write instead.
func (f *fanout) send(clients []*client) {
	for len(clients) > 0 {
		n := min(len(clients), fanoutChunk)
		select {
		case f.jobs <- clients[:n:n]:
		default:
			wakeWriters(clients[:n])
		}
		clients = clients[n:]
	}
}

func wakeWriters(clients []*client) {
	for _, c := range clients {
		c.mu.Lock()
		c.signalLocked()
		c.mu.Unlock()
	}
}
