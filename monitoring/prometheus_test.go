package monitoring

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/relay-av/relay/relay/peer"
)

func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found: install Debian's prometheus package (scripts/test does as root)", name)
	}
	return p
}

// TestAlertRules: promtool accepts the rules and their unit tests pass
// (publisher down, caption language silent, capacity near the limit,
// language channel down, booth silent).
func TestAlertRules(t *testing.T) {
	promtool := tool(t, "promtool")
	for _, args := range [][]string{{"check", "rules", "alerts.yml"}, {"test", "rules", "alerts_test.yml"}} {
		t.Run(strings.Join(args[:2], " "), func(t *testing.T) {
			if out, err := exec.Command(promtool, args...).CombinedOutput(); err != nil {
				t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		})
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestRealPrometheusScrapes: a real Prometheus server (Debian's package, on
// loopback, 1 s scrape interval) scrapes the relay, and its query API
// returns the number of viewers actually connected.
func TestRealPrometheusScrapes(t *testing.T) {
	prom := tool(t, "prometheus")
	s := newStack(t)
	ctx := context.Background()
	s.publish(t, "hall")
	const n = 3
	for i := 0; i < n; i++ {
		v, err := peer.View(ctx, peer.ViewConfig{URL: s.url + "/whep/hall", Options: peer.Options{Loopback: true}})
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close(true)
	}

	dir := t.TempDir()
	target := strings.TrimPrefix(s.url, "http://")
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [%q]\nscrape_configs:\n  - job_name: relay\n    static_configs:\n      - targets: [%q]\n",
		mustAbs(t, "alerts.yml"), target)
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freePort(t)
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}()
	query := func(q string) (string, error) {
		resp, err := http.Get("http://" + addr + "/api/v1/query?" + url.Values{"query": {q}}.Encode())
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var r struct {
			Status string
			Data   struct {
				Result []struct {
					Value [2]any `json:"value"`
				}
			}
		}
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return "", err
		}
		if len(r.Data.Result) == 0 {
			return "", fmt.Errorf("no result yet")
		}
		return fmt.Sprint(r.Data.Result[0].Value[1]), nil
	}
	deadline := time.Now().Add(40 * time.Second)
	for {
		got, err := query(`relay_viewers{room="hall"}`)
		if err == nil && got == fmt.Sprint(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus never reported %d viewers (last %q, %v); its output:\n%s", n, got, err, out.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	if up, err := query(`up{job="relay"}`); err != nil || up != "1" {
		t.Errorf("up = %q, %v", up, err)
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestDashboardQueriesExportedMetrics: the Grafana dashboard parses, and
// every metric its queries name is one the relay exports.
func TestDashboardQueriesExportedMetrics(t *testing.T) {
	raw, err := os.ReadFile("grafana/relay.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Type    string
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("dashboard is not valid JSON: %v", err)
	}
	if len(dash.Panels) == 0 {
		t.Fatal("no panels")
	}
	s := newStack(t)
	exported := map[string]bool{}
	for _, line := range strings.Split(s.scrape(t), "\n") {
		if strings.HasPrefix(line, "# TYPE ") {
			f := strings.Fields(line)
			exported[f[2]] = true
			if f[3] == "histogram" {
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					exported[f[2]+suffix] = true
				}
			}
		}
	}
	// Families with labels appear in a scrape only once a room, a language
	// or a request exists: take their names from the collectors' descriptors.
	ch := make(chan *prometheus.Desc, 256)
	(&stateCollector{}).Describe(ch)
	(&turnCollector{}).Describe(ch)
	(&hlsCollector{}).Describe(ch)
	s.metrics.requests.Describe(ch)
	close(ch)
	fq := regexp.MustCompile(`fqName: "([^"]+)"`)
	for d := range ch {
		if m := fq.FindStringSubmatch(d.String()); m != nil {
			for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
				exported[m[1]+suffix] = true
			}
		}
	}
	metricName := regexp.MustCompile(`\b(relay|process)_[a-z0-9_]+`)
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue // a row heads the panels below it and queries nothing
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			for _, name := range metricName.FindAllString(tg.Expr, -1) {
				if !exported[name] {
					t.Errorf("panel %q queries %s, which the relay does not export", p.Title, name)
				}
			}
		}
	}
}
