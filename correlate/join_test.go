package correlate

import (
	"bytes"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

type memWriter struct{ recs []record.Record }

func (m *memWriter) Write(r *record.Record) error { m.recs = append(m.recs, *r); return nil }
func (m *memWriter) Flush() error                 { return nil }

func TestLiveHoldsForTheHorizonAndAsksOnce(t *testing.T) {
	out := &memWriter{}
	j := &Joiner{Pid: 100, Namer: NewNamer(2 * time.Second)}
	l := NewLive(j, out)
	var asked []uint32
	l.NeedDump = func(tid uint32, comm string, _ int64) bool { asked = append(asked, tid); return true }

	base := 100 * sec
	ev := func(t int64, tid uint32, comm string) *sched.Event {
		return &sched.Event{Time: t, Kind: sched.KindWakeup, Pid: 100, Tid: tid, Comm: comm, Latency: 1000, PrevPid: 7, PrevTid: 8, PrevComm: "kworker"}
	}
	l.Add(ev(base, 101, "payment-callbac"))
	l.Add(ev(base+1, 101, "payment-callbac"))
	if len(asked) != 1 || asked[0] != 101 {
		t.Fatalf("dump requests %v: want exactly one, for 101", asked)
	}
	// A dump taken because of the event names it, although it came later.
	l.AddDump(&TimedDump{Start: base + sec/2, End: base + sec/2 + 1, Dump: *dump(th(101, 3, "payment-callback-short-lived-1"))})
	if err := l.Emit(base + sec); err != nil {
		t.Fatal(err)
	}
	if len(out.recs) != 0 {
		t.Fatalf("%d records written before the horizon", len(out.recs))
	}
	if err := l.Emit(base + 3*sec); err != nil {
		t.Fatal(err)
	}
	if len(out.recs) != 2 {
		t.Fatalf("%d records after the horizon, want 2", len(out.recs))
	}
	for _, r := range out.recs {
		if r.JavaThread != "payment-callback-short-lived-1" || r.NameSource != record.SourceDump || r.PrevJavaThread != "" {
			t.Errorf("record %+v", r)
		}
	}
	// An exit: the TID may come back as another thread and is asked about again.
	l.Add(&sched.Event{Time: base + 4*sec, Kind: sched.KindExit, Pid: 100, Tid: 101})
	l.Add(&sched.Event{Time: base + 5*sec, Kind: sched.KindBirth, Pid: 100, Tid: 101, Comm: "java"})
	l.Add(ev(base+5*sec+1, 101, "java"))
	if len(asked) != 2 {
		t.Errorf("dump requests %v: want a second one for the reused TID", asked)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := out.recs[len(out.recs)-1]; got.JavaThread != "" || got.NameSource != record.SourceComm {
		t.Errorf("reused TID named %q (%s) from the old thread's dump", got.JavaThread, got.NameSource)
	}
}

func TestLiveWithoutNamingWritesAtOnce(t *testing.T) {
	var buf bytes.Buffer
	w, _ := record.NewWriter(&buf, "csv")
	l := NewLive(&Joiner{}, w) // all tasks: nothing to wait for
	l.Add(&sched.Event{Time: 1, Kind: sched.KindPreempt, Pid: 5, Tid: 6, Comm: "x"})
	if l.Written() != 1 || l.Pending() != 0 {
		t.Errorf("written %d, pending %d", l.Written(), l.Pending())
	}
}

// TestLiveCgroupOncePerEmit: the rows one Emit writes take the JVM's cgroup
// from one lookup, the next Emit looks it up again (it may have moved),
// and another process's rows are looked up each.
func TestLiveCgroupOncePerEmit(t *testing.T) {
	out := &memWriter{}
	calls := map[uint32]int{}
	cg := "/app.slice/a"
	j := &Joiner{Pid: 100, Namer: NewNamer(0), Cgroup: func(pid uint32) (string, string) {
		calls[pid]++
		if pid != 100 {
			return "/other", ""
		}
		return cg, "c1"
	}}
	l := NewLive(j, out)
	base := 100 * sec
	for i := range 3 {
		l.Add(&sched.Event{Time: base + int64(i), Kind: sched.KindWakeup, Pid: 100, Tid: 101, Comm: "w"})
	}
	if err := l.Emit(base + 10*sec); err != nil {
		t.Fatal(err)
	}
	cg = "/app.slice/b"
	l.Add(&sched.Event{Time: base + 11*sec, Kind: sched.KindWakeup, Pid: 100, Tid: 101, Comm: "w"})
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if calls[100] != 2 {
		t.Errorf("the JVM's cgroup looked up %d times for 4 rows in 2 batches, want 2", calls[100])
	}
	if len(out.recs) != 4 || out.recs[0].Cgroup != "/app.slice/a" || out.recs[2].Container != "c1" || out.recs[3].Cgroup != "/app.slice/b" {
		t.Errorf("rows %+v", out.recs)
	}
	// Annotate alone (no batch) looks up every time.
	var r record.Record
	j.Annotate(&sched.Event{Pid: 100}, &r)
	j.Annotate(&sched.Event{Pid: 7}, &r)
	j.Annotate(&sched.Event{Pid: 7}, &r)
	if calls[100] != 3 || calls[7] != 2 || r.Cgroup != "/other" {
		t.Errorf("lookups %v, cgroup %q", calls, r.Cgroup)
	}
}

// A wait whose event carries the virtual thread the kernel side read at
// the carrier's switch-out names it, whatever dumps show; without it the
// dumps decide (none here: empty).
func TestAnnotateKernelVirtualThread(t *testing.T) {
	j := &Joiner{Pid: 100, Namer: NewNamer(0)}
	var r record.Record
	e := &sched.Event{Time: 5 * sec, Kind: sched.KindPreempt, Pid: 100, Tid: 101, Comm: "ForkJoinPool-1-", Latency: 1000, VThread: 4242}
	j.Annotate(e, &r)
	if r.VirtualThread != "VirtualThread[#4242]" {
		t.Errorf("virtual_thread %q, want VirtualThread[#4242]", r.VirtualThread)
	}
	e.VThread = 0
	r = record.Record{}
	j.Annotate(e, &r)
	if r.VirtualThread != "" {
		t.Errorf("virtual_thread %q without the kernel's id or a dump, want empty", r.VirtualThread)
	}
}

// With thread starts reported since a time, a thread that began before it
// (its start was not seen) is asked about at once; one that began after
// waits ProbeGrace for its start to name it.
func TestLiveAsksAtOnceAboutThreadsStartedBeforeTheProbes(t *testing.T) {
	j := &Joiner{Pid: 100, Namer: NewNamer(2 * time.Second)}
	l := NewLive(j, &memWriter{})
	var asked []uint32
	l.NeedDump = func(tid uint32, comm string, _ int64) bool { asked = append(asked, tid); return true }
	since := 100 * sec
	l.SetProbed(true, since)
	birth := func(t int64, tid uint32) {
		l.Add(&sched.Event{Time: t, Kind: sched.KindBirth, Pid: 100, Tid: tid, Comm: "java"})
		l.Add(&sched.Event{Time: t + 1, Kind: sched.KindWakeup, Pid: 100, Tid: tid, Comm: "java", Latency: 1000})
	}
	birth(since-sec/100, 101) // started 10 ms before the probes
	if len(asked) != 1 || asked[0] != 101 {
		t.Fatalf("asked about %v: want 101 at once", asked)
	}
	birth(since+sec/100, 102)
	if err := l.Emit(since + sec/100 + int64(ProbeGrace)/2); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 1 {
		t.Fatalf("asked about %v: want 102 left to its start within ProbeGrace", asked)
	}
	if err := l.Emit(since + sec/100 + int64(ProbeGrace) + 1); err != nil {
		t.Fatal(err)
	}
	if len(asked) != 2 || asked[1] != 102 {
		t.Fatalf("asked about %v: want 102 after ProbeGrace", asked)
	}
}
