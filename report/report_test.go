package report

import (
	"math/rand"
	"sort"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

// Percentiles are never below the exact value and at most 0.8% above it;
// count, sum, min and max are exact; merging equals adding.
func TestHistQuantiles(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	for _, n := range []int{1, 2, 7, 1000, 100000} {
		var h, a, b Hist
		vals := make([]uint64, n)
		var sum uint64
		for i := range vals {
			// Log-uniform from 1 ns to ~10 s: every bucket scale.
			v := uint64(1 + rng.ExpFloat64()*float64(uint64(1)<<uint(rng.Intn(34))))
			vals[i] = v
			sum += v
			h.Add(v)
			if i%2 == 0 {
				a.Add(v)
			} else {
				b.Add(v)
			}
		}
		a.Merge(&b)
		sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
		if h.Count != uint64(n) || h.Sum != sum || h.Min != vals[0] || h.Max != vals[n-1] {
			t.Fatalf("n=%d: count %d sum %d min %d max %d", n, h.Count, h.Sum, h.Min, h.Max)
		}
		for _, q := range []float64{0, 0.01, 0.5, 0.9, 0.99, 0.999, 1} {
			rank := int(float64(n)*q + 0.999999999)
			if rank < 1 {
				rank = 1
			}
			exact := vals[rank-1]
			got := h.Quantile(q)
			if got < exact || float64(got) > float64(exact)*(1+1.0/128)+1 {
				t.Errorf("n=%d q=%v: %d, exact %d", n, q, got, exact)
			}
			if m := a.Quantile(q); m != got {
				t.Errorf("n=%d q=%v: merged %d, whole %d", n, q, m, got)
			}
		}
	}
	var empty Hist
	if empty.Quantile(0.5) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram")
	}
}

func TestPool(t *testing.T) {
	for name, want := range map[string]string{
		"http-nio-8080-exec-12":   "http-nio-8080-exec-*",
		"ForkJoinPool-1-worker-3": "ForkJoinPool-1-worker-*",
		"GC Thread#0":             "GC Thread#*",
		"C2 CompilerThread0":      "C2 CompilerThread*",
		"G1 Service":              "G1 Service",
		"main":                    "main",
		"pool-3-thread-17":        "pool-3-thread-*",
		"42":                      "*",
	} {
		if got := Pool(name, nil); got != want {
			t.Errorf("Pool(%q) = %q, want %q", name, got, want)
		}
	}
	r, err := ParsePoolRule(`^ForkJoinPool-\d+-worker-\d+$=>ForkJoinPool-*-worker-*`)
	if err != nil {
		t.Fatal(err)
	}
	if got := Pool("ForkJoinPool-7-worker-3", []PoolRule{r}); got != "ForkJoinPool-*-worker-*" {
		t.Errorf("rule: %q", got)
	}
	if got := Pool("http-nio-8080-exec-1", []PoolRule{r}); got != "http-nio-8080-exec-*" {
		t.Errorf("no rule matches, default: %q", got)
	}
	for _, bad := range []string{"no arrow", "(=>x"} {
		if _, err := ParsePoolRule(bad); err == nil {
			t.Errorf("ParsePoolRule(%q): no error", bad)
		}
	}
}

// Synthetic records: every figure the report gives is checked against a
// direct count.
func TestReportExact(t *testing.T) {
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano()
	rp := New(Config{Interval: time.Second})
	type key struct{ thread string }
	want := map[string]uint64{}
	wantN := map[string]uint64{}
	holders := map[string]uint64{}
	var migrated, total uint64
	slots := map[int64]uint64{}
	rng := rand.New(rand.NewSource(2))
	names := []string{"http-nio-8080-exec-1", "http-nio-8080-exec-2", "http-nio-8080-exec-13", "GC Thread#0", ""}
	for i := 0; i < 20000; i++ {
		r := record.Record{
			Time: base + int64(rng.Intn(5000))*int64(time.Millisecond), LatencyNs: uint64(rng.Intn(20_000_000)),
			Kind: []string{"wakeup", "preempt", "yield"}[rng.Intn(3)], CPU: uint32(rng.Intn(2)), QueuedCPU: uint32(rng.Intn(2)),
			JavaThread: names[rng.Intn(len(names))], Comm: "kworker/0:1",
		}
		if rng.Intn(3) == 0 {
			r.PrevJavaThread = "GC Thread#0"
		} else {
			r.PrevComm = "swapper/0"
		}
		rp.Add(&r)
		want[ThreadLabel(&r)] += r.LatencyNs
		wantN[ThreadLabel(&r)]++
		holders[HolderLabel(&r)] += r.LatencyNs
		total += r.LatencyNs
		if r.CPU != r.QueuedCPU {
			migrated++
		}
		slots[(r.Time-base)/int64(time.Second)] += r.LatencyNs
	}
	s := rp.Summary()
	if s.Records != 20000 || s.All.Hist.Sum != total || s.Migrated != migrated {
		t.Fatalf("records %d total %d migrated %d; want 20000 %d %d", s.Records, s.All.Hist.Sum, s.Migrated, total, migrated)
	}
	for _, r := range s.Threads {
		if r.Hist.Sum != want[r.Name] || r.Hist.Count != wantN[r.Name] {
			t.Errorf("thread %q: %d waits %d ns, want %d %d", r.Name, r.Hist.Count, r.Hist.Sum, wantN[r.Name], want[r.Name])
		}
		var byKind uint64
		for _, h := range r.ByKind {
			byKind += h.Sum
		}
		if byKind != r.Hist.Sum {
			t.Errorf("thread %q: kinds add up to %d, not %d", r.Name, byKind, r.Hist.Sum)
		}
	}
	pools := map[string]uint64{}
	for _, r := range s.Pools {
		pools[r.Name] = r.Hist.Sum
	}
	if got, w := pools["http-nio-8080-exec-*"], want["http-nio-8080-exec-1"]+want["http-nio-8080-exec-2"]+want["http-nio-8080-exec-13"]; got != w {
		t.Errorf("pool http-nio-8080-exec-*: %d, want %d", got, w)
	}
	if pools["[kworker/0:1]"] != want["[kworker/0:1]"] {
		t.Errorf("a thread without a Java name is its own pool: %v", pools)
	}
	for _, r := range s.Holders {
		if r.Hist.Sum != holders[r.Name] {
			t.Errorf("holder %q: %d, want %d", r.Name, r.Hist.Sum, holders[r.Name])
		}
	}
	if len(s.Slots) != 5 {
		t.Fatalf("%d slots, want 5", len(s.Slots))
	}
	for i, sl := range s.Slots {
		if sl.Start != base+int64(i)*int64(time.Second) || sl.Sum != slots[int64(i)] {
			t.Errorf("slot %d: start %d sum %d, want %d %d", i, sl.Start, sl.Sum, base+int64(i)*int64(time.Second), slots[int64(i)])
		}
	}
	for i := 1; i < len(s.Threads); i++ {
		if s.Threads[i].Hist.Sum > s.Threads[i-1].Hist.Sum {
			t.Error("threads not ordered by total")
		}
	}
}
