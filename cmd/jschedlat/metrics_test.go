package main

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/jschedlat/jschedlat/internal/testenv"
)

// scrape reads and parses a /metrics page.
// tryScrape reads and parses one scrape (an error while the server is not
// up yet).
func tryScrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("%s: %v", url, err)
	}
	return fams, nil
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestAttachMetrics scrapes a live run: the histogram's count is the
// record count, series carry the JVM's main class and the pools, and the
// dump and process metrics are there. A port in use is a clear error.
func TestAttachMetrics(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 30)
	addr := freeAddr(t)
	var fams map[string]*dto.MetricFamily
	// Scrape until the run has recorded waits and taken its start dump
	// (seconds on a loaded host), then stop it: metrics scraped before
	// they exist prove nothing.
	err, stderr := runAttachFor(t, bin, []string{strconv.Itoa(jvm.Process.Pid), "--min-latency", "0",
		"-o", filepath.Join(t.TempDir(), "r.csv"), "--metrics-addr", addr, "--dumps", "only", "--dump-budget", "100%"}, func(cmd *exec.Cmd) {
		// A scrape gathers the histogram and the counter one after the
		// other while records are written, so one scrape in a few hundred
		// sees them a few records apart; wait for one that sees them
		// equal. A real miscount never gets there and fails the wait.
		ready := func(f map[string]*dto.MetricFamily) bool {
			dumps := f["jschedlat_thread_dumps_total"].GetMetric()
			var count uint64
			for _, m := range f["jschedlat_runq_latency_seconds"].GetMetric() {
				count += m.GetHistogram().GetSampleCount()
			}
			return len(f["jschedlat_records_total"].GetMetric()) > 0 && f["jschedlat_records_total"].GetMetric()[0].GetCounter().GetValue() > 0 &&
				len(dumps) > 0 && dumps[0].GetCounter().GetValue() >= 1 && count > 0 &&
				float64(count) == f["jschedlat_records_total"].GetMetric()[0].GetCounter().GetValue()
		}
		testenv.WaitFor(t, 90*time.Second, "a scrape with records, a dump and the histogram count equal to the record count", func() bool {
			f, err := tryScrape("http://" + addr + "/metrics")
			if err == nil && ready(f) {
				fams = f
				return true
			}
			return false
		})
		_ = cmd.Process.Signal(syscall.SIGINT)
	})
	if err != nil {
		t.Fatalf("attach: %v\n%s", err, stderr)
	}
	val := func(name string) float64 {
		f := fams[name]
		if f == nil || len(f.Metric) == 0 {
			t.Errorf("no metric %s", name)
			return 0
		}
		m := f.Metric[0]
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		}
		return 0
	}
	var count uint64
	pools := map[string]bool{}
	for _, m := range fams["jschedlat_runq_latency_seconds"].GetMetric() {
		count += m.GetHistogram().GetSampleCount()
		l := map[string]string{}
		for _, lp := range m.Label {
			l[lp.GetName()] = lp.GetValue()
		}
		if l["jvm"] != "Workload" {
			t.Errorf("series with jvm=%q, want Workload", l["jvm"])
		}
		pools[l["pool"]] = true
	}
	records := val("jschedlat_records_total")
	t.Logf("scrape: %d waits in the histogram, %v records, %v events, %v dumps, %v lost, RSS %.1f MiB, CPU %.2f s; pools %d",
		count, records, val("jschedlat_events_total"), val("jschedlat_thread_dumps_total"), val("jschedlat_lost_events_total"),
		val("process_resident_memory_bytes")/(1<<20), val("process_cpu_seconds_total"), len(pools))
	if count == 0 || float64(count) != records {
		t.Errorf("histogram count %d, records %v: want equal and > 0", count, records)
	}
	if !pools["order-matcher-worker-*"] || !pools["settlement-batch-before-*"] {
		t.Errorf("pools %v lack the demo's", pools)
	}
	if val("jschedlat_thread_dumps_total") < 1 || val("jschedlat_events_total") < records || val("process_resident_memory_bytes") <= 0 {
		t.Error("dump, event or process metrics missing")
	}
	for _, name := range []string{"jschedlat_lost_events_total", "jschedlat_thread_dump_jvm_stopped_seconds_total", "jschedlat_records_dropped_total", "go_goroutines"} {
		if fams[name] == nil {
			t.Errorf("no metric %s", name)
		}
	}

	// The port taken: a one-line error before anything is loaded.
	l, lerr := net.Listen("tcp", "127.0.0.1:0")
	if lerr != nil {
		t.Fatal(lerr)
	}
	defer l.Close()
	out, err := exec.Command(bin, "attach", strconv.Itoa(jvm.Process.Pid), "--metrics-addr", l.Addr().String(), "-o", filepath.Join(t.TempDir(), "x.csv")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "--metrics-addr") || !strings.Contains(string(out), "address already in use") || strings.Count(strings.TrimSpace(string(out)), "\n") > 0 {
		t.Errorf("metrics port in use: %v, %q", err, out)
	}
	testenv.ChildrenGone(t)
}
