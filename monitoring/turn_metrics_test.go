package monitoring

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"testing"

	"github.com/relay-av/relay/relay"
	"github.com/relay-av/relay/relay/turnserver"
)

type fakeTURN map[string]turnserver.RoomStats

func (f fakeTURN) Stats() map[string]turnserver.RoomStats { return f }

// The viewers' paths and the TURN server's figures are exposed per room:
// every path of every room (0 until used), allocations, bytes relayed and
// both kinds of refusal; promtool accepts the exposition.
func TestTURNAndPathMetrics(t *testing.T) {
	m := NewMetrics(nil)
	m.Watch(fakeStats{{Room: "hall", Paths: map[string]int{relay.PathUDP: 3, relay.PathTURNTLS: 2}}, {Room: "side"}}, nil, Limits{})
	m.WatchTURN(fakeTURN{"hall": {Allocations: 4, BytesRelayed: 123456, RefusedPermissions: 2, RefusedDatagrams: 7}})
	got := scrapeSeries(t, m, "relay_viewers_by_path")
	for k, v := range scrapeSeries(t, m, "relay_turn_") {
		got[k] = v
	}
	want := map[string]float64{
		`relay_turn_allocations{room="hall"}`:                     4,
		`relay_turn_relayed_bytes_total{room="hall"}`:             123456,
		`relay_turn_refused_total{room="hall",what="permission"}`: 2,
		`relay_turn_refused_total{room="hall",what="datagram"}`:   7,
	}
	for _, room := range []string{"hall", "side"} {
		for _, p := range []string{"udp", "tcp", "turn-udp", "turn-tcp", "turn-tls"} {
			want[`relay_viewers_by_path{path="`+p+`",room="`+room+`"}`] = 0
		}
	}
	want[`relay_viewers_by_path{path="udp",room="hall"}`] = 3
	want[`relay_viewers_by_path{path="turn-tls",room="hall"}`] = 2
	checkSeries(t, got, want)

	promtoolCheckMetrics(t, m)
}

// promtoolCheckMetrics runs promtool's linter on m's exposition.
func promtoolCheckMetrics(t *testing.T, m *Metrics) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool not found: install Debian's prometheus package (scripts/test does as root)")
	}
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(rec.Body.Bytes())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}
