package impair

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"
)

const ms = time.Millisecond

// TestBottleneckModel drives the token bucket and its queue on a made-up
// clock: exact spacing at the rate, tail drop at the bound, a rate change
// timing the head packet afresh, a late wake-up costing no rate, 0
// draining the queue.
func TestBottleneckModel(t *testing.T) {
	t0 := time.Unix(1000, 0)
	pkt := make([]byte, 1250) // 10 ms at 1 Mbit/s
	b := newBottleneck(Damage{Rate: 1_000_000}, t0)
	if !b.pass(t0, len(pkt)) {
		t.Fatal("an idle link with a full bucket held the first packet")
	}
	if b.pass(t0, len(pkt)) {
		t.Fatal("the bucket passed a second packet at once")
	}
	// 100 ms at 1 Mbit/s is 12 500 bytes: ten packets, then drops.
	n := 0
	for b.enqueue(t0, pkt) {
		n++
	}
	if n != 10 || b.limit() != 12_500 || b.delay() != 100*ms {
		t.Fatalf("queue took %d packets (limit %d, delay %v), want 10 (12 500, 100ms)", n, b.limit(), b.delay())
	}
	// 250 tokens left: the first waits for 1 000 bytes (8 ms), the rest 10 ms each.
	out, next := b.release(t0, nil)
	if len(out) != 0 || next != t0.Add(8*ms) {
		t.Fatalf("released %d, next at %v, want 0 and +8ms", len(out), next.Sub(t0))
	}
	for i := 0; i < 3; i++ {
		at := next
		out, next = b.release(at, nil)
		if len(out) != 1 || next.Sub(at) != 10*ms {
			t.Fatalf("step %d: released %d, next after %v, want 1 and 10ms", i, len(out), next.Sub(at))
		}
	}
	// At 250 kbit/s the head is timed afresh: the bucket holds what it
	// earned by the change, the rest comes at the new rate.
	change := next.Add(-5 * ms) // half the head's 1 250 bytes earned
	b.setRate(change, 250_000)
	_, next = b.release(change, nil)
	if got := next.Sub(change); got != 20*ms {
		t.Fatalf("after the change the head leaves in %v, want 20ms", got)
	}
	// Waking late releases everything due, timed as if on time: the queue
	// drains at the rate, not at the goroutine's pace.
	// (40 ms a packet now: at +20, +60, +100, then +140).
	late := change.Add(100 * ms)
	out, next = b.release(late, nil)
	if len(out) != 3 || next != change.Add(140*ms) {
		t.Fatalf("late wake: released %d, next at +%v, want 3 and +140ms", len(out), next.Sub(change))
	}
	if b.maxWait != late.Sub(t0) {
		t.Errorf("longest wait %v, want %v", b.maxWait, late.Sub(t0))
	}
	b.setRate(late, 0)
	out, next = b.release(late, nil)
	if len(out) != 4 || !next.IsZero() || b.bytes != 0 || b.delay() != 0 {
		t.Fatalf("lifting the cap released %d, left %d bytes, next %v", len(out), b.bytes, next)
	}
	if !b.pass(late, 1<<20) {
		t.Error("an unlimited link held a packet")
	}

	// Offered twice the rate for 10 s, served by a goroutine waking only
	// every 7 ms, the link still delivers its rate.
	b = newBottleneck(Damage{Rate: 1_000_000}, t0)
	sent := 0
	for now := t0; now.Before(t0.Add(10 * time.Second)); now = now.Add(ms) {
		if now.Sub(t0)%(5*ms) == 0 { // 2 Mbit/s offered
			if b.pass(now, len(pkt)) {
				sent++
			} else {
				b.enqueue(now, pkt)
			}
		}
		if now.Sub(t0)%(7*ms) == 0 {
			out, _ = b.release(now, nil)
			sent += len(out)
		}
	}
	if sent < 998 || sent > 1002 { // 10 s at 1 Mbit/s is 1 000 packets
		t.Errorf("sent %d packets in 10 s at 1 Mbit/s, want 1 000", sent)
	}

	// The queue holds three full-size packets however slow the link, and
	// a packet larger than the bucket leaves once it is full, owing the rest.
	b = newBottleneck(Damage{Rate: 10_000, Burst: 500}, t0)
	if b.limit() != minQueue {
		t.Errorf("limit at 10 kbit/s is %d bytes, want %d", b.limit(), minQueue)
	}
	b.enqueue(t0, make([]byte, 1000))
	b.enqueue(t0, make([]byte, 1000))
	out, next = b.release(t0, nil)
	if len(out) != 1 || next != t0.Add(800*ms) {
		t.Errorf("1 000 bytes through a 500-byte bucket at 1 250 B/s: released %d, next at +%v, want 1 and +800ms", len(out), next.Sub(t0))
	}
}

// flow is one stretch of a test stream: rate bit/s of 1 250-byte packets
// for dur, after calling before (at the stretch's start).
type flow struct {
	dur    time.Duration
	rate   int64
	before func()
}

// delivery is a packet the receiver got: its number, when it was sent and
// when it arrived, since the stream started.
type delivery struct {
	n            int
	sent, arrive time.Duration
}

const pktSize = 1250

// stream sends the flows through send, reads them from recv, and returns
// what arrived, when each stretch started, and how many packets each sent.
func stream(t *testing.T, send func([]byte), recv *net.UDPConn, flows []flow) (got []delivery, starts []time.Duration, sent []int) {
	t.Helper()
	recv.SetReadBuffer(1 << 20)
	start := time.Now()
	done := make(chan struct{})
	starts = make([]time.Duration, len(flows))
	sent = make([]int, len(flows))
	go func() {
		pkt := make([]byte, pktSize)
		n := 0
		for i, f := range flows {
			if f.before != nil {
				f.before()
			}
			from := time.Since(start)
			starts[i] = from
			gap := time.Duration(int64(pktSize*8) * int64(time.Second) / f.rate)
			for k := time.Duration(0); k*gap < f.dur; k++ {
				due := start.Add(from + k*gap)
				time.Sleep(time.Until(due)) // a late sender catches up: the rate holds over the stretch
				binary.BigEndian.PutUint64(pkt, uint64(n))
				binary.BigEndian.PutUint64(pkt[8:], uint64(time.Since(start)))
				send(pkt)
				n++
				sent[i]++
			}
		}
		close(done)
	}()
	buf := make([]byte, 2048)
	for {
		recv.SetReadDeadline(time.Now().Add(300 * ms))
		k, _, err := recv.ReadFromUDP(buf)
		if err != nil {
			select {
			case <-done:
				return got, starts, sent
			default:
				continue
			}
		}
		if k == pktSize {
			got = append(got, delivery{int(binary.BigEndian.Uint64(buf)), time.Duration(binary.BigEndian.Uint64(buf[8:])), time.Since(start)})
		}
	}
}

// rateIn is the rate in bit/s at which packets arrived in [from, to): the
// median over the pairs of arrivals half the stretch apart, so that a stall
// of the machine, which holds some packets back and bunches them after,
// moves it little. It is 0 when too few arrived to tell.
func rateIn(got []delivery, from, to time.Duration) float64 {
	var at []time.Duration
	for _, d := range got {
		if d.arrive >= from && d.arrive < to {
			at = append(at, d.arrive)
		}
	}
	if len(at) < 8 {
		return 0
	}
	slices.Sort(at)
	m := len(at) / 2
	rates := make([]float64, 0, len(at)-m)
	for i := 0; i+m < len(at); i++ {
		rates = append(rates, float64(m*pktSize*8)/(at[i+m]-at[i]).Seconds())
	}
	slices.Sort(rates)
	return rates[len(rates)/2]
}

// sentIn counts the packets sent in [from, to) that arrived, and reports
// their delay percentiles.
func sentIn(got []delivery, from, to time.Duration) (n int, p50, p95, top time.Duration) {
	var ds []time.Duration
	for _, d := range got {
		if d.sent >= from && d.sent < to {
			ds = append(ds, d.arrive-d.sent)
		}
	}
	if len(ds) == 0 {
		return 0, 0, 0, 0
	}
	slices.Sort(ds)
	return len(ds), ds[len(ds)/2], ds[len(ds)*95/100], ds[len(ds)-1]
}

func within(got, want, frac float64) bool { return got >= want*(1-frac) && got <= want*(1+frac) }

func kbps(r float64) string { return fmt.Sprintf("%.0f kbit/s", r/1000) }

// TestRateCap: 1 Mbit/s through a 500 kbit/s cap delivers 500 kbit/s,
// drops about half, and delays by about the queue's 100 ms; raising the cap
// to 2 Mbit/s while the stream runs brings delivery back to the sent rate
// within a second with the delay gone; lifting it passes 4 Mbit/s whole.
// Rates are measured over seconds; the margins allow for a loaded machine.
func TestRateCap(t *testing.T) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	px, err := New(Config{Upstream: sink.LocalAddr().(*net.UDPAddr), Up: Damage{Rate: 500_000}})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	client, err := net.DialUDP("udp4", nil, px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	var at []Counts // the counts when each stretch starts
	mark := func(bps int64, set bool) func() {
		return func() {
			if set {
				px.SetRate(Up, bps)
			}
			at = append(at, px.Stats().Up)
		}
	}
	got, starts, sent := stream(t, func(b []byte) { client.Write(b) }, sink, []flow{
		{3 * time.Second, 1_000_000, mark(0, false)},
		{time.Second, 1_000_000, mark(2_000_000, true)},
		{2 * time.Second, 1_000_000, mark(0, false)},
		{time.Second, 4_000_000, mark(0, true)},
	})
	end := px.Stats().Up
	t.Logf("%v packets sent, %d arrived; proxy: %+v", sent, len(got), end)
	if end.Forwarded+end.QueueDropped != end.Received {
		t.Errorf("proxy received %d, forwarded %d, dropped %d in the queue", end.Received, end.Forwarded, end.QueueDropped)
	}

	// Capped: the rate, half dropped, the queue's delay.
	capped := rateIn(got, 500*ms, starts[1])
	n, p50, p95, top := sentIn(got, 0, starts[1])
	offered := sent[0]
	dropped := 1 - float64(n)/float64(offered)
	t.Logf("capped at 500 kbit/s: delivered %s, %.0f %% of %d packets dropped, delay p50 %v p95 %v max %v, proxy's longest queue wait %v",
		kbps(capped), 100*dropped, offered, p50, p95, top, at[1].MaxQueueDelay)
	if !within(capped, 500_000, 0.10) {
		t.Errorf("delivered %s through a 500 kbit/s cap", kbps(capped))
	}
	if dropped < 0.40 || dropped > 0.60 {
		t.Errorf("dropped %.0f %% of a 1 Mbit/s stream at a 500 kbit/s cap, want about half", 100*dropped)
	}
	if q := at[1].QueueDropped; q == 0 || at[1].QueueDroppedBytes != q*pktSize {
		t.Errorf("queue drops counted: %d packets, %d bytes", q, at[1].QueueDroppedBytes)
	}
	const budget, margin = defaultQueue, 100 * ms
	// End to end, the median: p95 and max carry the machine's stalls.
	if p50 < budget/2 || p50 > budget+margin {
		t.Errorf("queue delay p50 %v, want the queue used (≥ %v) and within %v + %v", p50, budget/2, budget, margin)
	}
	// By the bucket's clock the wait is the queue's bound, whatever the load.
	if at[1].MaxQueueDelay < budget/2 || at[1].MaxQueueDelay > budget+ms {
		t.Errorf("proxy's longest queue wait %v, want between %v and %v", at[1].MaxQueueDelay, budget/2, budget)
	}

	// Raised to 2 Mbit/s: within 1 s the sent rate, no drops, no queue.
	raised := rateIn(got, starts[2], starts[3])
	n, p50, p95, _ = sentIn(got, starts[2], starts[3])
	t.Logf("raised to 2 Mbit/s: from 1 s after the change delivered %s, delay p50 %v p95 %v, %d queue drops",
		kbps(raised), p50, p95, at[3].QueueDropped-at[2].QueueDropped)
	if !within(raised, 1_000_000, 0.10) {
		t.Errorf("1 s after raising the cap to 2 Mbit/s a 1 Mbit/s stream arrives at %s", kbps(raised))
	}
	if at[3].QueueDropped != at[2].QueueDropped || p50 > budget/4 {
		t.Errorf("after the raise: %d queue drops, delay p50 %v", at[3].QueueDropped-at[2].QueueDropped, p50)
	}
	if n < sent[2]*99/100 {
		t.Errorf("after the raise %d of %d packets arrived", n, sent[2])
	}

	// Lifted: everything passes.
	n, _, _, _ = sentIn(got, starts[3], time.Hour)
	offered = sent[3]
	t.Logf("unlimited: %d of %d packets at 4 Mbit/s arrived", n, offered)
	if end.QueueDropped != at[3].QueueDropped || n < offered*99/100 {
		t.Errorf("unlimited: %d of %d arrived, queue dropped %d", n, offered, end.QueueDropped-at[3].QueueDropped)
	}
	if end.QueueBytes != 0 || end.QueueDelay != 0 {
		t.Errorf("unlimited link still queues %d bytes (%v)", end.QueueBytes, end.QueueDelay)
	}
}

// TestRateCapDown: the cap set in Config on the way to the client, with a
// deeper queue (250 ms): the rate, and a delay that grows to the queue's.
func TestRateCapDown(t *testing.T) {
	server, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	const budget = 250 * ms
	px, err := New(Config{Upstream: server.LocalAddr().(*net.UDPAddr), Down: Damage{Rate: 500_000, Queue: budget}})
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	client, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	// The client's first packet tells the proxy where the client is and the
	// server where the proxy is.
	if _, err := client.WriteToUDP([]byte("hello"), px.Addr()); err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, proxy, err := server.ReadFromUDP(make([]byte, 64))
	if err != nil {
		t.Fatal(err)
	}
	got, starts, sent := stream(t, func(b []byte) { server.WriteToUDP(b, proxy) }, client, []flow{{3 * time.Second, 1_000_000, nil}})
	st := px.Stats()
	r := rateIn(got, 500*ms, starts[0]+3*time.Second)
	_, p50, p95, top := sentIn(got, time.Second, time.Hour)
	t.Logf("down, 1 Mbit/s through 500 kbit/s with a %v queue: %d of %d arrived, %s, delay p50 %v p95 %v max %v; proxy: %+v",
		budget, len(got), sent[0], kbps(r), p50, p95, top, st.Down)
	if !within(r, 500_000, 0.10) {
		t.Errorf("delivered %s through a 500 kbit/s cap", kbps(r))
	}
	if st.Down.QueueDropped == 0 || st.Up.Queued != 0 || st.Up.QueueDropped != 0 {
		t.Errorf("the cap on the way down: down %+v, up %+v", st.Down, st.Up)
	}
	if p50 < budget/2 || p50 > budget+100*ms || st.Down.MaxQueueDelay > budget+ms {
		t.Errorf("delay p50 %v, longest queue wait %v, with a %v queue", p50, st.Down.MaxQueueDelay, budget)
	}
}

// TestLiftCapDrains: packets queued behind a slow cap leave as soon as it
// is lifted, in order.
func TestLiftCapDrains(t *testing.T) {
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	px, err := New(Config{Upstream: sink.LocalAddr().(*net.UDPAddr), Up: Damage{Rate: 10_000}}) // 1 s a packet
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	client, err := net.DialUDP("udp4", nil, px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for i := 0; i < 4; i++ {
		client.Write(append([]byte{byte(i)}, make([]byte, 999)...))
	}
	deadline := time.Now().Add(5 * time.Second)
	for px.Stats().Up.Received < 4 && time.Now().Before(deadline) {
		time.Sleep(ms)
	}
	if st := px.Stats().Up; st.Forwarded != 1 || st.Queued != 3 || st.QueueDelay != 2400*ms {
		t.Fatalf("before lifting: %+v, want 1 through, 3 queued for 2.4 s", st)
	}
	lifted := time.Now()
	px.SetRate(Up, 0)
	buf := make([]byte, 2048)
	for i := 0; i < 4; i++ {
		sink.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, _, err := sink.ReadFromUDP(buf); err != nil || n != 1000 || buf[0] != byte(i) {
			t.Fatalf("packet %d: %d bytes, first %d, %v", i, n, buf[0], err)
		}
	}
	took := time.Since(lifted)
	t.Logf("the queue drained %v after the cap was lifted", took)
	if took > time.Second {
		t.Errorf("the queue drained %v after the cap was lifted", took)
	}
	// (Forwarded may lag the sink by a packet: it counts after the write.)
	if st := px.Stats().Up; st.QueueBytes != 0 || st.QueueDelay != 0 {
		t.Errorf("after lifting: %+v", st)
	}
}
