package correlate

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/eventlog"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

func parseTextDump(t *testing.T, path string) *jvm.Dump {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dumps, err := jvm.ParseDumps(f, time.UTC)
	if err != nil || len(dumps) != 1 {
		t.Fatalf("%s: %d dumps, %v", path, len(dumps), err)
	}
	return &dumps[0]
}

// A carrier's wait gets the virtual thread a dump saw it carry only when the
// dump's whole window lies inside the wait.
func TestVirtualNeedsDumpInsideWait(t *testing.T) {
	d := parseTextDump(t, "../testdata/dumps/hotspot/jdk25-vt-jstack-6037.txt")
	n := NewNamer(0)
	n.AddDump(1000, 2000, d, nil) // ForkJoinPool-1-worker-1 #27 [6062] carries #31
	for _, c := range []struct {
		tid      uint32
		from, to int64
		want     string
	}{
		{6062, 900, 2100, "VirtualThread[#31]"},
		{6062, 1000, 2000, "VirtualThread[#31]"},
		{6062, 1001, 2100, ""}, // began after the window began: the dump may predate it
		{6062, 900, 1999, ""},  // ended before the window ended
		{6062, 2100, 3000, ""}, // after the dump: the carrier ran since
		{6063, 900, 2100, ""},  // ForkJoinPool-1-worker-2 carries nothing
		{6039, 900, 2100, ""},  // main
	} {
		if got := n.Virtual(c.tid, c.from, c.to); got != c.want {
			t.Errorf("Virtual(%d, %d, %d) = %q, want %q", c.tid, c.from, c.to, got, c.want)
		}
	}
}

// A JSON dump of the same JVM names its virtual threads and, once a text
// dump gives the carriers' native TIDs by Java id, proves the mount at the
// instant the virtual thread was sampled.
func TestVirtualFromJSONDump(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"jdk25-vt-jstack-6037.txt", "jdk25-vt-dump-6037.json"} {
		b, err := os.ReadFile("../testdata/dumps/hotspot/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dir+"/"+f, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dumps, warns, err := LoadDumps([]string{dir}, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if len(warns) != 0 {
		t.Errorf("warnings: %q", warns)
	}
	var js *TimedDump
	for i := range dumps {
		if dumps[i].Dump.JSON {
			js = &dumps[i]
		}
	}
	if len(dumps) != 2 || js == nil {
		t.Fatalf("%d dumps, JSON one %v", len(dumps), js != nil)
	}
	if got := time.Unix(0, js.Start).UTC(); !got.Equal(time.Date(2026, 11, 25, 13, 37, 20, 530839550, time.UTC)) {
		t.Errorf("JSON dump starts %v", got)
	}
	tids := map[string]int{}
	for _, th := range js.Dump.Threads {
		tids[th.Name] = th.Tid
	}
	// Platform threads get the TIDs the text dump gives their Java ids;
	// virtual threads have none.
	if tids["main"] != 6039 || tids["ForkJoinPool-1-worker-1"] != 6062 || tids["vt-spinner"] != 0 {
		t.Errorf("resolved TIDs: %v", tids)
	}
	n := NewNamer(0)
	for i := range dumps {
		n.AddDump(dumps[i].Start, dumps[i].End, &dumps[i].Dump, dumps[i].TidMap())
	}
	// vt-spinner #31 was sampled between its neighbours' stamps,
	// 13:37:20.600551762 (vt-sleeper-2) and .619551167 (the next entry).
	at := func(ns int) int64 { return time.Date(2026, 11, 25, 13, 37, 20, ns, time.UTC).UnixNano() }
	if got := n.Virtual(6062, at(600000000), at(620000000)); got != "VirtualThread[#31,vt-spinner]" {
		t.Errorf("wait around the sample: %q", got)
	}
	if got := n.Virtual(6062, at(600600000), at(620000000)); got != "" {
		t.Errorf("wait that began after the first bound: %q, want none", got)
	}
	// The text dump's own window is its timestamp's whole second.
	if got := n.Virtual(6062, at(0)-1, at(999999999)+1); !strings.HasPrefix(got, "VirtualThread[#31") {
		t.Errorf("wait around the text dump's second: %q", got)
	}
}

// JSON dumps of another JVM, or without any text dump, name nothing.
func TestJSONDumpWithoutTextDump(t *testing.T) {
	dumps, warns, err := LoadDumps([]string{"../testdata/dumps/hotspot/jdk25-vt-dump-6037.json"}, time.UTC)
	if err != nil || len(dumps) != 1 {
		t.Fatalf("%d dumps, %v", len(dumps), err)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "no native TIDs") {
		t.Errorf("warnings %q", warns)
	}
	for _, th := range dumps[0].Dump.Threads {
		if th.Tid != 0 {
			t.Errorf("thread %q got TID %d", th.Name, th.Tid)
		}
	}
	// The JDK's own broken JSON (cut at a NUL in a name): the complete
	// threads are kept and the warning names the file and line.
	_, warns, err = LoadDumps([]string{"../testdata/dumps/hotspot/jdk25-emoji.json"}, time.UTC)
	if err != nil || len(warns) == 0 || !strings.Contains(warns[0], "jdk25-emoji.json:114: ") {
		t.Errorf("broken JSON dump: warnings %q, err %v", warns, err)
	}
}

// With the VM operation probes, a text dump's window narrows to the
// operation that printed the threads: a carrier that stopped at the
// safepoint before it began and got the CPU back after it ended had the
// dump's virtual thread mounted all along.
func TestVirtualNarrowedToPrintingOperation(t *testing.T) {
	d := parseTextDump(t, "../testdata/dumps/hotspot/jdk25-vt-jstack-6037.txt")
	n := NewNamer(0)
	op := func(k sched.Kind, name string, at int64) {
		n.AddVMOp(&sched.Event{Kind: k, Comm: name, Time: at})
	}
	op(sched.KindVMOpBegin, "PrintThreads", 2000)
	op(sched.KindVMOpEnd, "PrintThreads", 2500)
	op(sched.KindVMOpBegin, "FindDeadlocks", 2600)
	op(sched.KindVMOpEnd, "FindDeadlocks", 2700)
	n.AddDump(1000, 5000, d, nil)
	for _, c := range []struct {
		from, to int64
		want     string
	}{
		{1500, 3000, "VirtualThread[#31]"}, // off the CPU across the printing
		{2000, 2500, "VirtualThread[#31]"},
		{2100, 3000, ""}, // left the CPU after the printing began
		{1500, 2400, ""}, // back on the CPU before it ended
		{900, 1500, ""},
	} {
		if got := n.Virtual(6062, c.from, c.to); got != c.want {
			t.Errorf("Virtual(6062, %d, %d) = %q, want %q", c.from, c.to, got, c.want)
		}
	}
	// A dump whose window saw no printing operation keeps its whole window.
	n2 := NewNamer(0)
	n2.AddDump(1000, 5000, d, nil)
	if got := n2.Virtual(6062, 1500, 3000); got != "" {
		t.Errorf("no VM operation seen: %q, want none", got)
	}
	if got := n2.Virtual(6062, 1000, 5000); got != "VirtualThread[#31]" {
		t.Errorf("no VM operation seen, off the CPU over the whole request: %q", got)
	}
}

// The joiner uses how long the carrier was off the CPU, not only the wait.
func TestAnnotateVirtualUsesOffCPU(t *testing.T) {
	d := parseTextDump(t, "../testdata/dumps/hotspot/jdk25-vt-jstack-6037.txt")
	n := NewNamer(0)
	n.AddVMOp(&sched.Event{Kind: sched.KindVMOpBegin, Comm: "PrintThreads", Time: 2000})
	n.AddVMOp(&sched.Event{Kind: sched.KindVMOpEnd, Comm: "PrintThreads", Time: 2500})
	n.AddDump(1000, 5000, d, nil)
	j := &Joiner{Pid: 6037, Namer: n}
	var r record.Record
	e := sched.Event{Time: 3000, Latency: 300, Kind: sched.KindWakeup, Pid: 6037, Tid: 6062, Comm: "ForkJoinPool-1-"}
	j.Annotate(&e, &r)
	if r.VirtualThread != "" {
		t.Errorf("wait alone [2700, 3000]: %q, want none", r.VirtualThread)
	}
	e.OffCPU = 1500 // asleep at the safepoint since 1500
	j.Annotate(&e, &r)
	if r.VirtualThread != "VirtualThread[#31]" {
		t.Errorf("off the CPU [1500, 3000]: %q", r.VirtualThread)
	}
}

// Saved events keep the off-CPU time and the VM operations, so replay
// decides virtual_thread as the live run did.
func TestEventLogKeepsOffCPUAndVMOps(t *testing.T) {
	var buf strings.Builder
	w, err := eventlog.NewWriter(&buf, eventlog.Header{Pid: 7})
	if err != nil {
		t.Fatal(err)
	}
	in := []sched.Event{
		{KTime: 1, Time: 10, Kind: sched.KindVMOpBegin, Pid: 7, Tid: 8, Comm: "PrintThreads"},
		{KTime: 2, Time: 20, Kind: sched.KindVMOpEnd, Pid: 7, Tid: 8, Comm: "PrintThreads"},
		{KTime: 3, Time: 30, Kind: sched.KindWakeup, Latency: 5, OffCPU: 25, Pid: 7, Tid: 9, Comm: "c"},
		{KTime: 4, Time: 40, Kind: sched.KindPreempt, Latency: 5, Pid: 7, Tid: 9, Comm: "c"},
	}
	for i := range in {
		if err := w.Write(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	var out []sched.Event
	if _, err := eventlog.Read(strings.NewReader(buf.String()), func(e *sched.Event) error { out = append(out, *e); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d events back, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Errorf("event %d: got %+v, want %+v", i, out[i], in[i])
		}
	}
}
