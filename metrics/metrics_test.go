package metrics

import (
	"fmt"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/jschedlat/jschedlat/record"
)

// The latency histogram keeps at most maxSeries series; later pools are
// counted under "(other)", one series per (jvm, kind).
func TestMetricsSeriesBound(t *testing.T) {
	m := New(3, nil)
	for i := 0; i < 100; i++ {
		r := &record.Record{Kind: []string{"wakeup", "preempt"}[i%2], LatencyNs: 2e6, Pid: 1, Tid: uint32(i),
			JavaThread: fmt.Sprintf("pool%d-worker-%d", i%10, i)}
		m.Observe(r, "App")
	}
	fams, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series, other := 0, uint64(0)
	var total uint64
	for _, f := range fams {
		if f.GetName() != "jschedlat_runq_latency_seconds" {
			continue
		}
		for _, mm := range f.Metric {
			series++
			total += mm.GetHistogram().GetSampleCount()
			for _, l := range mm.Label {
				if l.GetName() == "pool" && l.GetValue() == OverflowPool {
					other += mm.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	if series != 3+2 || total != 100 || other != 70 {
		t.Errorf("%d series (want 3 + 2 of (other)), %d waits (want 100), %d under (other) (want 70)", series, total, other)
	}
	if got := counter(t, fams, "jschedlat_runq_latency_folded_total"); got != 70 {
		t.Errorf("folded counter %v, want 70", got)
	}
}

// Unnamed threads of a process count as unnamed and fold by their comm;
// --all's tasks (pid 0: the idle task) do not count as unnamed.
func TestMetricsUnnamed(t *testing.T) {
	m := New(10, nil)
	m.Observe(&record.Record{Kind: "wakeup", LatencyNs: 1e6, Pid: 7, Tid: 8, Comm: "req-17"}, "App")
	m.Observe(&record.Record{Kind: "wakeup", LatencyNs: 1e6, Pid: 7, Tid: 9, Comm: "req-18"}, "App")
	m.Observe(&record.Record{Kind: "wakeup", LatencyNs: 1e6, Pid: 0, Tid: 0, Comm: "swapper/0"}, "pid-0")
	fams, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if got := counter(t, fams, "jschedlat_records_unnamed_total"); got != 2 {
		t.Errorf("unnamed %v, want 2", got)
	}
	if got := counter(t, fams, "jschedlat_records_total"); got != 3 {
		t.Errorf("records %v, want 3", got)
	}
	pools := map[string]uint64{}
	for _, f := range fams {
		if f.GetName() == "jschedlat_runq_latency_seconds" {
			for _, mm := range f.Metric {
				for _, l := range mm.Label {
					if l.GetName() == "pool" {
						pools[l.GetValue()] += mm.GetHistogram().GetSampleCount()
					}
				}
			}
		}
	}
	if pools["[req-*]"] != 2 || len(pools) != 2 {
		t.Errorf("pools %v, want [req-*]: 2 and the idle task's", pools)
	}
}

// The run's counters are read when scraped, not when registered.
func TestMetricsRegisterReadsAtScrape(t *testing.T) {
	m := New(10, nil)
	var events, lost, dropped uint64
	dumps := DumpStats{}
	m.Register(Run{
		Events: func() uint64 { return events }, Lost: func() uint64 { return lost }, Dropped: func() uint64 { return dropped },
		Dumps: func() DumpStats { return dumps },
	})
	events, lost, dropped = 40, 3, 2
	dumps = DumpStats{Taken: 5, Failed: 1, Wall: 1500 * time.Millisecond, Stopped: 250 * time.Millisecond, Deferred: 2 * time.Second}
	fams, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		"jschedlat_events_total": 40, "jschedlat_lost_events_total": 3, "jschedlat_records_dropped_total": 2,
		"jschedlat_thread_dumps_total": 5, "jschedlat_thread_dump_failures_total": 1, "jschedlat_thread_dump_seconds_total": 1.5,
		"jschedlat_thread_dump_jvm_stopped_seconds_total": 0.25, "jschedlat_thread_dump_deferred_seconds_total": 2,
	}
	for name, w := range want {
		if got := counter(t, fams, name); got != w {
			t.Errorf("%s = %v, want %v", name, got, w)
		}
	}
}

// Without dumps (--all) no dump counters are registered.
func TestMetricsRegisterNoDumps(t *testing.T) {
	m := New(10, nil)
	zero := func() uint64 { return 0 }
	m.Register(Run{Events: zero, Lost: zero, Dropped: zero})
	fams, err := m.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "jschedlat_thread_dumps_total" {
			t.Errorf("dump counters registered without dumps")
		}
	}
}

// counter is the value of the single counter name in fams.
func counter(t *testing.T, fams []*dto.MetricFamily, name string) float64 {
	t.Helper()
	for _, f := range fams {
		if f.GetName() == name && len(f.Metric) == 1 {
			return f.Metric[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
