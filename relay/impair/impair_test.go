package impair

import (
	"net"
	"testing"
	"time"
)

// run sends n numbered packets from a client through a proxy to a sink and
// returns the sequence the sink saw.
func run(t *testing.T, d Damage, seed int64, n int) []byte {
	t.Helper()
	sink, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	px, err := New(Config{Upstream: sink.LocalAddr().(*net.UDPAddr), Up: d, Seed: seed})
	if err != nil {
		t.Fatal(err)
	}
	client, err := net.DialUDP("udp4", nil, px.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	for i := 0; i < n; i++ {
		client.Write([]byte{byte(i)})
		time.Sleep(100 * time.Microsecond) // keep order on the way in
	}
	var got []byte
	buf := make([]byte, 16)
	sink.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		k, _, err := sink.ReadFromUDP(buf)
		if err != nil {
			break
		}
		got = append(got, buf[:k]...)
	}
	px.Close()
	return got
}

func TestDeterministicDamage(t *testing.T) {
	d := Damage{Loss: 0.1, Duplicate: 0.05, Reorder: 0.05}
	a, b := run(t, d, 7, 200), run(t, d, 7, 200)
	if string(a) != string(b) {
		t.Fatalf("same seed, different damage:\n%v\n%v", a, b)
	}
	if len(a) == 200 {
		t.Fatal("no damage at all")
	}
	var out int
	for i := 1; i < len(a); i++ {
		if a[i] < a[i-1] {
			out++
		}
	}
	if out == 0 {
		t.Error("nothing reordered")
	}
	if clean := run(t, Damage{}, 7, 100); len(clean) != 100 {
		t.Errorf("a clean proxy delivered %d of 100", len(clean))
	}
}
