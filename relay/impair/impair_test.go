package impair

import (
	"net"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Every test here checks that a closed proxy leaves no goroutine behind.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type arrival struct {
	n  int
	at time.Duration // since the first packet was sent
}

// run sends n numbered packets, gap apart, from a client through a proxy
// to a sink and returns what the sink saw, in order, and the proxy's counts.
func run(t *testing.T, cfg Config, n int, gap time.Duration) ([]arrival, Stats) {
	t.Helper()
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	cfg.Upstream = sink.LocalAddr().(*net.UDPAddr)
	px, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer px.Close()
	client, err := net.DialUDP("udp4", nil, px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	start := time.Now()
	go func() {
		for i := 0; i < n; i++ {
			client.Write([]byte{byte(i), byte(i >> 8)})
			time.Sleep(gap) // keep order on the way in
		}
	}()
	var got []arrival
	buf := make([]byte, 16)
	for {
		sink.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		k, _, err := sink.ReadFromUDP(buf)
		if err != nil || k != 2 {
			break
		}
		got = append(got, arrival{int(buf[0]) | int(buf[1])<<8, time.Since(start)})
	}
	px.Close()
	return got, px.Stats()
}

func order(a []arrival) []int {
	out := make([]int, len(a))
	for i, x := range a {
		out[i] = x.n
	}
	return out
}

func TestDeterministicDamage(t *testing.T) {
	cfg := Config{Up: Damage{Loss: 0.1, Duplicate: 0.05, Reorder: 0.05}, Seed: 7}
	a, sa := run(t, cfg, 300, 100*time.Microsecond)
	b, _ := run(t, cfg, 300, 100*time.Microsecond)
	if len(a) != len(b) {
		t.Fatalf("same seed, different damage: %d and %d packets delivered", len(a), len(b))
	}
	for i := range a {
		if a[i].n != b[i].n {
			t.Fatalf("same seed, different damage at %d:\n%v\n%v", i, order(a), order(b))
		}
	}
	st := sa.Up
	t.Logf("300 packets: %d dropped, %d duplicated, %d held back; %d delivered", st.Dropped, st.Duplicated, st.Reordered, len(a))
	if st.Received != 300 || st.Dropped < 15 || st.Dropped > 50 || st.Duplicated == 0 || st.Reordered == 0 {
		t.Errorf("counts far from the configured rates: %+v", st)
	}
	if want := 300 - st.Dropped + st.Duplicated; uint64(len(a)) != want || st.Forwarded != want {
		t.Errorf("delivered %d, forwarded %d, want %d", len(a), st.Forwarded, want)
	}
	seen := map[int]int{}
	out := 0
	for i, x := range a {
		seen[x.n]++
		if i > 0 && x.n < a[i-1].n {
			out++
		}
	}
	if out == 0 {
		t.Error("nothing arrived out of order")
	}
	if uint64(len(seen)) != 300-st.Dropped {
		t.Errorf("%d distinct packets arrived, want %d", len(seen), 300-st.Dropped)
	}
	other, _ := run(t, Config{Up: cfg.Up, Seed: 8}, 300, 100*time.Microsecond)
	if len(other) == len(a) && func() bool {
		for i := range a {
			if a[i].n != other[i].n {
				return false
			}
		}
		return true
	}() {
		t.Error("another seed gave the very same damage")
	}
	clean, cs := run(t, Config{}, 200, 100*time.Microsecond)
	if len(clean) != 200 || cs.Up.Forwarded != 200 {
		t.Errorf("a clean proxy delivered %d of 200", len(clean))
	}
	for i, x := range clean {
		if x.n != i {
			t.Fatalf("a clean proxy reordered: %v", order(clean))
		}
	}
}

// TestDelayAndJitter: a fixed delay keeps order; jitter larger than the
// packet spacing lets packets overtake each other; no packet comes early.
func TestDelayAndJitter(t *testing.T) {
	const delay = 40 * time.Millisecond
	got, st := run(t, Config{Up: Damage{Delay: delay}}, 50, 2*time.Millisecond)
	if len(got) != 50 || st.Up.Delayed != 50 {
		t.Fatalf("delivered %d of 50 (%d delayed)", len(got), st.Up.Delayed)
	}
	for i, x := range got {
		if x.n != i {
			t.Fatalf("a fixed delay reordered: %v", order(got))
		}
		// Packet i was sent no earlier than i*gap after the start.
		if early := delay + time.Duration(i)*2*time.Millisecond; x.at < early {
			t.Errorf("packet %d arrived after %v, before %v", i, x.at, early)
		}
	}
	got, _ = run(t, Config{Up: Damage{Delay: 10 * time.Millisecond, Jitter: 30 * time.Millisecond}, Seed: 3}, 100, time.Millisecond)
	if len(got) != 100 {
		t.Fatalf("jitter lost packets: %d of 100", len(got))
	}
	out := 0
	for i := 1; i < len(got); i++ {
		if got[i].n < got[i-1].n {
			out++
		}
	}
	if out == 0 {
		t.Error("30 ms of jitter on packets 1 ms apart reordered nothing")
	}
	t.Logf("jitter: %d of 100 packets overtaken", out)
}

// TestQueueBounded: past MaxQueued waiting packets the proxy drops and
// counts instead of growing; Close with packets still queued returns and
// leaves no goroutine (TestMain checks).
func TestQueueBounded(t *testing.T) {
	got, st := run(t, Config{Up: Damage{Delay: 300 * time.Millisecond}, MaxQueued: 10}, 40, 0)
	if st.Up.Overflow == 0 || len(got) > 10 || st.Up.Delayed > 10 {
		t.Errorf("queue of 10: %d delivered, %+v", len(got), st.Up)
	}
	sink, _ := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	defer sink.Close()
	px, err := New(Config{Upstream: sink.LocalAddr().(*net.UDPAddr), Up: Damage{Delay: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	c, _ := net.DialUDP("udp4", nil, px.Addr())
	defer c.Close()
	for i := 0; i < 5; i++ {
		c.Write([]byte{1})
	}
	deadline := time.Now().Add(5 * time.Second)
	for px.Stats().Up.Delayed < 5 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	start := time.Now()
	px.Close()
	px.Close() // twice is fine
	if d := time.Since(start); d > time.Second {
		t.Errorf("Close took %v with packets queued for an hour", d)
	}
}
