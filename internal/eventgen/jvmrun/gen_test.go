package jvmrun

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/eventlog"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// A short, busy run: every kind of thing the generator makes happens
// several times within a few seconds of trace time.
func testConfig(waits int) Config {
	c := DefaultConfig()
	c.Waits = waits
	c.DumpEvery = 2 * time.Second
	c.BirthEvery = 100 * time.Millisecond
	c.LifeMean = time.Second
	c.RenameSelf = 200 * time.Millisecond
	c.GCEvery = 300 * time.Millisecond
	return c
}

type names struct{ name, prev string }

func generate(t *testing.T, c Config) (*bytes.Buffer, string, map[uint64]names, Summary) {
	t.Helper()
	var buf bytes.Buffer
	dir := filepath.Join(t.TempDir(), "dumps")
	g, err := newGen(c, &buf, dir)
	if err != nil {
		t.Fatal(err)
	}
	truth := map[uint64]names{}
	g.truth = func(e *sched.Event, name, prev string) {
		if _, dup := truth[e.KTime]; dup {
			t.Fatalf("two events at ktime %d", e.KTime)
		}
		truth[e.KTime] = names{name, prev}
	}
	sum, err := g.run()
	if err != nil {
		t.Fatal(err)
	}
	return &buf, dir, truth, sum
}

// replayTo joins the log with the dumps as `jschedlat replay` does
// (correlate.Replay) and reads back the rows it wrote.
func replayTo(log []byte, dir string, out func(*record.Record) error) error {
	var rows bytes.Buffer
	if _, err := correlate.Replay(context.Background(), correlate.ReplayConfig{
		Events: bytes.NewReader(log), EventsName: "events.jsonl",
		Dumps: []string{dir}, Load: correlate.LoadOptions{Loc: time.UTC},
		Format: "csv",
		Create: func() (io.Writer, error) { return &rows, nil },
	}); err != nil {
		return err
	}
	return record.ReadRecords(&rows, out)
}

func replay(t *testing.T, log []byte, dir string) []record.Record {
	t.Helper()
	var out []record.Record
	if err := replayTo(log, dir, func(r *record.Record) error { out = append(out, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReplayNamesEveryRow(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) { testReplayNames(t, seed) })
	}
}

func testReplayNames(t *testing.T, seed int64) {
	const n = 40_000
	c := testConfig(n)
	c.Seed = seed
	log, dir, truth, sum := generate(t, c)
	if sum.Waits != n || len(truth) != n {
		t.Fatalf("made %d waits (%d in truth), want %d", sum.Waits, len(truth), n)
	}
	// Everything the join uses must be there, more than once.
	for what, got := range map[string]int{"births": sum.Births, "exits": sum.Exits, "renames": sum.Renames,
		"thread starts": sum.ThreadStarts, "thread names": sum.ThreadNames, "dumps": sum.Dumps, "VM operations": sum.VMOps,
		"recovered waits": sum.Recovered} {
		if got < 2 {
			t.Errorf("%d %s, want several", got, what)
		}
	}
	recs := replay(t, log.Bytes(), dir)
	if len(recs) != n {
		t.Fatalf("replay wrote %d rows, want %d", len(recs), n)
	}
	sources := map[string]int{}
	kinds := map[string]int{}
	bad := 0
	for i := range recs {
		r := &recs[i]
		if i > 0 && r.Time < recs[i-1].Time {
			t.Fatalf("row %d out of time order", i)
		}
		want, ok := truth[r.KTime]
		if !ok {
			t.Fatalf("row %d: ktime %d was not generated", i, r.KTime)
		}
		delete(truth, r.KTime)
		if r.JavaThread != want.name || r.PrevJavaThread != want.prev {
			t.Errorf("row %d: tid %d comm %q (%s) named %q (%s), want %q; after tid %d comm %q named %q, want %q",
				i, r.Tid, r.Comm, r.Kind, r.JavaThread, r.NameSource, want.name, r.PrevTid, r.PrevComm, r.PrevJavaThread, want.prev)
			if bad++; bad >= 20 {
				t.FailNow()
			}
		}
		sources[r.NameSource]++
		kinds[r.Kind]++
	}
	// Most rows are named by dumps, those of threads born or renamed
	// since the last dump by HotSpot's probes.
	if sources[record.SourceDump] < n/2 || sources[record.SourceHotSpot] == 0 {
		t.Errorf("name sources %v", sources)
	}
	for _, k := range []string{"wakeup", "wakeup_new", "preempt", "yield"} {
		if kinds[k] == 0 {
			t.Errorf("no %s rows: %v", k, kinds)
		}
	}
}

// The log is in time order per CPU only, as a live run saves it, but for
// the recovered waits (no previous task), sent ahead of what their CPU
// has staged; and never later than replay's reordering window.
func TestArrivalOrder(t *testing.T) {
	log, _, _, _ := generate(t, testConfig(20_000))
	var newest, late int64
	lastPerCPU := map[uint32]int64{}
	recovered := 0
	_, err := eventlog.Read(bytes.NewReader(log.Bytes()), func(e *sched.Event) error {
		if !e.Kind.Wait() {
			return nil
		}
		if e.Time < lastPerCPU[e.CPU] {
			t.Fatalf("CPU %d: event at %d after one at %d", e.CPU, e.Time, lastPerCPU[e.CPU])
		}
		if e.PrevPid == 0 && e.PrevTid == 0 && e.PrevComm == "" {
			recovered++
		} else {
			lastPerCPU[e.CPU] = e.Time
		}
		if e.Time < newest {
			late = max(late, newest-e.Time)
		}
		newest = max(newest, e.Time)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if late == 0 || late >= int64(correlate.DeliverySlack) {
		t.Errorf("events arrive up to %v late, want some, less than %v", time.Duration(late), correlate.DeliverySlack)
	}
	if recovered < 5 {
		t.Errorf("%d recovered waits in 20,000, want about %d", recovered, 20_000/recoveredEvery)
	}
}

// TestTooFewThreads: the JVM's own threads and one per pool are needed.
func TestTooFewThreads(t *testing.T) {
	dumps := filepath.Join(t.TempDir(), "dumps")
	if _, err := Generate(Config{Waits: 1, Threads: 20, CPUs: 2, Rate: 1}, &bytes.Buffer{}, dumps); err == nil {
		t.Error("20 threads accepted: fewer than the JVM's own plus one per pool")
	}
}

// BenchmarkReplay times the join of replay in-process (no CLI, output to
// io.Discard as CSV), for profiling: go test -bench Replay -cpuprofile.
func BenchmarkReplay(b *testing.B) {
	const n = 200_000
	var buf bytes.Buffer
	dir := filepath.Join(b.TempDir(), "dumps")
	g, err := newGen(func() Config { c := DefaultConfig(); c.Waits = n; return c }(), &buf, dir)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := g.run(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	b.ResetTimer()
	for range b.N {
		if _, err := correlate.Replay(context.Background(), correlate.ReplayConfig{
			Events: bytes.NewReader(buf.Bytes()), EventsName: "events.jsonl",
			Dumps: []string{dir}, Load: correlate.LoadOptions{Loc: time.UTC},
			Format: "csv",
			Create: func() (io.Writer, error) { return io.Discard, nil },
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}
