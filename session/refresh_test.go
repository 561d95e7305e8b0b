package session

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/jvm/hsmem"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// stopSource answers every capture at once and says the JVM was stopped
// for stop.
type stopSource struct {
	stop time.Duration
	wall time.Duration // the request's wall time (Start is this much before End)
	mu   sync.Mutex
	at   []time.Time
}

func (s *stopSource) Name() string { return "fake" }

func (s *stopSource) Capture(context.Context) (*jvm.Capture, error) {
	now := time.Now()
	s.mu.Lock()
	s.at = append(s.at, now)
	s.mu.Unlock()
	return &jvm.Capture{Pid: 1, Start: now.Add(-s.wall), End: now, Source: "fake", Stopped: s.stop, Safepoints: 3, StopKnown: true}, nil
}

func (s *stopSource) times() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.at...)
}

// runRefresher asks for a dump every 10 ms for d and returns the refresher
// once it has stopped.
func runRefresher(t *testing.T, src jvm.Source, budget float64, d time.Duration) *refresher {
	return runRefresherMem(t, nil, src, budget, d)
}

// runRefresherMem does the same with names read from mem first.
func runRefresherMem(t *testing.T, mem memorySource, src jvm.Source, budget float64, d time.Duration) *refresher {
	t.Helper()
	w, err := record.NewWriter(io.Discard, "csv")
	if err != nil {
		t.Fatal(err)
	}
	live := correlate.NewLive(&correlate.Joiner{Pid: 1, Namer: correlate.NewNamer(0)}, w)
	// pid 1 publishes no safepoint counters: a first dump is estimated
	// at firstDumpGuess.
	r := newRefresher(1, mem, src, live, nil, 0, budget)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		r.request("test", time.Now().UnixNano())
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
	return r
}

// The budget is checked before each dump: with 20 ms dumps under a 1%
// budget (100 ms over the first budgetHorizon), five dumps are taken and
// then none, however many are asked for, until the run is long enough.
func TestRefresherKeepsToBudget(t *testing.T) {
	src := &stopSource{stop: 20 * time.Millisecond}
	r := runRefresher(t, src, 0.01, 3*time.Second)
	if n := len(src.times()); n != 5 {
		t.Fatalf("%d dumps in 3 s, want 5 (100 ms of stop allowed in the first 10 s)", n)
	}
	if r.stopped != 100*time.Millisecond || r.points != 15 {
		t.Errorf("accounted %s in %d safepoints, want 100ms in 15", r.stopped, r.points)
	}
	// Every later request waited for the budget, and so does the one
	// pending at the end: skipped.
	if r.skipped != 1 || r.deferred < time.Second {
		t.Errorf("skipped %d, held back %s", r.skipped, r.deferred)
	}
	var sb strings.Builder
	r.summary(&sb)
	for _, want := range []string{"5 thread dumps", "100ms in 15 safepoints", "budget 1%", "skipped the one wanted at exit"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sb.String())
		}
	}
}

// A first dump whose estimate does not fit the budget is not taken.
func TestRefresherFirstDumpWithinBudget(t *testing.T) {
	src := &stopSource{stop: time.Millisecond}
	// firstDumpGuess (50 ms) against 0.1% of 10 s (10 ms).
	r := runRefresher(t, src, 0.001, 500*time.Millisecond)
	if n := len(src.times()); n != 0 {
		t.Errorf("%d dumps, want none: the first one's estimate exceeds the budget", n)
	}
	if r.deferred == 0 {
		t.Error("no request was held back by the budget")
	}
}

// fakeMemory names threads without a dump; unconfirmed lists what it
// cannot confirm.
type fakeMemory struct {
	mu          sync.Mutex
	reads       int
	unconfirmed []int
	err         error
	closed      bool
}

func (m *fakeMemory) Name() string { return "memory" }

func (m *fakeMemory) Capture(context.Context) (*jvm.Capture, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return nil, m.err
	}
	m.reads++
	now := time.Now()
	return &jvm.Capture{Pid: 1, Start: now, End: now, Source: "memory", StopKnown: true}, nil
}

func (m *fakeMemory) Unvalidated() []hsmem.Unvalidated {
	m.mu.Lock()
	defer m.mu.Unlock()
	var u []hsmem.Unvalidated
	for _, tid := range m.unconfirmed {
		u = append(u, hsmem.Unvalidated{TID: tid})
	}
	return u
}

func (m *fakeMemory) Close() error { m.closed = true; return nil }

// Names come from memory: no dump while it confirms every thread.
func TestRefresherMemoryFirst(t *testing.T) {
	mem := &fakeMemory{}
	src := &stopSource{stop: time.Millisecond}
	r := runRefresherMem(t, mem, src, 1, 500*time.Millisecond)
	if mem.reads < 3 || len(src.times()) != 0 {
		t.Errorf("%d memory reads and %d dumps, want several and none", mem.reads, len(src.times()))
	}
	if !mem.closed {
		t.Error("memory source left open")
	}
	var sb strings.Builder
	r.summary(&sb)
	if !strings.Contains(sb.String(), "reads of the thread names from the JVM's memory") || !strings.Contains(sb.String(), "no thread dump taken") {
		t.Errorf("summary:\n%s", sb.String())
	}
}

// A thread memory cannot confirm twice in a row gets one dump (auto);
// with dumps off (never) it gets none.
func TestRefresherDumpsForUnconfirmed(t *testing.T) {
	mem := &fakeMemory{unconfirmed: []int{42}}
	src := &stopSource{stop: time.Millisecond}
	runRefresherMem(t, mem, src, 1, 500*time.Millisecond)
	if n := len(src.times()); n != 1 {
		t.Errorf("%d dumps for one unconfirmed thread, want 1", n)
	}
	never := &fakeMemory{unconfirmed: []int{42}}
	runRefresherMem(t, never, nil, 1, 300*time.Millisecond)
	if never.reads < 2 {
		t.Errorf("%d memory reads with dumps off", never.reads)
	}
}

// A JVM whose memory cannot be read is named by dumps (auto).
func TestRefresherMemoryUnreadable(t *testing.T) {
	mem := &fakeMemory{err: hsmem.ErrUnsupported}
	src := &stopSource{stop: time.Millisecond}
	r := runRefresherMem(t, mem, src, 1, 300*time.Millisecond)
	if len(src.times()) == 0 || !mem.closed || r.memErr == nil {
		t.Errorf("%d dumps, closed %v, memErr %v: want dumps after the memory read failed", len(src.times()), mem.closed, r.memErr)
	}
}

// Without a budget (100%) the same requests get a dump every minDumpGap.
func TestRefresherWithoutBudget(t *testing.T) {
	src := &stopSource{stop: 20 * time.Millisecond}
	runRefresher(t, src, 1, time.Second)
	if n := len(src.times()); n < 5 {
		t.Errorf("%d dumps in 1 s without a budget, want about %d", n, time.Second/minDumpGap)
	}
}

// The rate limit counts our side of a dump, not the JVM's stop time again:
// 60 ms dumps that stopped the JVM 55 ms of it still come every minDumpGap
// (5 x 60 ms = 300 ms apart, they would miss threads living 300 ms).
func TestRefresherRateLimitsOurSide(t *testing.T) {
	src := &stopSource{stop: 55 * time.Millisecond, wall: 60 * time.Millisecond}
	runRefresher(t, src, 1, time.Second)
	if n := len(src.times()); n < 6 {
		t.Errorf("%d dumps in 1 s, want about %d", n, time.Second/minDumpGap)
	}
	// Where the JVM does not say, the whole wall time is ours: 5 x 60 ms.
	slow := &stopSource{wall: 60 * time.Millisecond}
	slowSrc := &unmetered{slow}
	runRefresher(t, slowSrc, 1, time.Second)
	if n := len(slow.times()); n > 5 {
		t.Errorf("%d unmeasured dumps in 1 s, want at most 5 (300 ms apart, and the one at exit)", n)
	}
}

// unmetered hides the stop time, as for a JVM without hsperfdata.
type unmetered struct{ s *stopSource }

func (u *unmetered) Name() string { return "fake" }

func (u *unmetered) Capture(ctx context.Context) (*jvm.Capture, error) {
	c, err := u.s.Capture(ctx)
	c.StopKnown, c.Stopped = false, 0
	return c, err
}

func TestParseBudget(t *testing.T) {
	for in, want := range map[string]float64{"0.1%": 0.001, "0.1": 0.001, " 5 % ": 0.05, "100%": 1} {
		got, err := ParseBudget(in)
		if err != nil || got != want {
			t.Errorf("ParseBudget(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1%", "101%", "abc", "NaN"} {
		if _, err := ParseBudget(in); err == nil {
			t.Errorf("ParseBudget(%q): no error", in)
		}
	}
	if got := FormatBudget(DefaultBudget); got != "0.1%" {
		t.Errorf("default budget prints as %q", got)
	}
}

// A JVM whose memory cannot be read, with dumps off, keeps its kernel
// names: reads stop, nothing fails.
func TestRefresherNothingToRead(t *testing.T) {
	mem := &fakeMemory{err: hsmem.ErrUnsupported}
	r := runRefresherMem(t, mem, nil, 1, 300*time.Millisecond)
	if !mem.closed || r.memErr == nil || r.taken != 0 {
		t.Errorf("closed %v, memErr %v, %d dumps", mem.closed, r.memErr, r.taken)
	}
}

// windowSource answers one capture over [start, end] with what the JVM's
// safepoint counters said over it; during runs inside the request (the
// tracer may hand over the request's VM operations before it returns).
type windowSource struct {
	start, end time.Time
	stopped    time.Duration
	safepoints int64
	known      bool
	during     func()
}

func (s *windowSource) Name() string { return "attach" }

func (s *windowSource) Capture(context.Context) (*jvm.Capture, error) {
	if s.during != nil {
		s.during()
	}
	return &jvm.Capture{Pid: 1, Start: s.start, End: s.end, Source: "attach", Stopped: s.stopped, Safepoints: s.safepoints, StopKnown: s.known}, nil
}

// newTestRefresher is a refresher of pid 1's dumps from src, run by hand.
func newTestRefresher(t *testing.T, src jvm.Source) *refresher {
	t.Helper()
	w, err := record.NewWriter(io.Discard, "csv")
	if err != nil {
		t.Fatal(err)
	}
	live := correlate.NewLive(&correlate.Joiner{Pid: 1, Namer: correlate.NewNamer(0)}, w)
	return newRefresher(1, nil, src, live, nil, 0, 1)
}

// opEvents are the vmops probes' events of one operation.
func opEvents(name string, begin, end time.Time) []sched.Event {
	return []sched.Event{
		{Kind: sched.KindVMOpBegin, Time: begin.UnixNano(), Pid: 1, Tid: 7, Comm: name},
		{Kind: sched.KindVMOpEnd, Time: end.UnixNano(), Pid: 1, Tid: 7, Comm: name},
	}
}

// A dump is charged with its own VM operations and their share of the
// time its window's safepoints took to reach and leave, not with a GC nor
// with another tool's dump in its window. The window (100 ms), in ms from
// its start: the end of an earlier request (FindDeadlocks 1-2), a GC
// (10-30), another tool's dump (PrintThreads 35-40, FindDeadlocks 41-42),
// ours (PrintThreads 50-58, PrintJNI 59-59.5, FindDeadlocks 60-61), and
// the next request's PrintThreads, begun at 99 and not ended by the end of
// the window. The counters count its safepoint too (8), not its time yet:
// 36.5 ms inside the seven others, 0.5 ms each to reach and leave: 40 ms.
func TestDumpChargedWithItsOwnOperations(t *testing.T) {
	// In the future: nothing is settled by the clock, only by the events.
	s := time.Now().Add(time.Hour)
	ms := func(f float64) time.Time { return s.Add(time.Duration(f * float64(time.Millisecond))) }
	src := &windowSource{start: s, end: ms(100), stopped: 40 * time.Millisecond, safepoints: 8, known: true}
	r := newTestRefresher(t, src)
	r.vmops = true
	var window []sched.Event
	for _, op := range []struct {
		name       string
		begin, end float64
	}{
		{"FindDeadlocks", 1, 2}, {"G1CollectFull", 10, 30}, {"PrintThreads", 35, 40}, {"FindDeadlocks", 41, 42},
		{"PrintThreads", 50, 58}, {"PrintJNI", 59, 59.5}, {"FindDeadlocks", 60, 61},
	} {
		window = append(window, opEvents(op.name, ms(op.begin), ms(op.end))...)
	}
	window = append(window, sched.Event{Kind: sched.KindVMOpBegin, Time: ms(99).UnixNano(), Pid: 1, Tid: 7, Comm: "PrintThreads"})
	// Half of them arrive during the request, half after it.
	src.during = func() {
		for i := range window[:8] {
			r.vmOp(&window[i])
		}
	}
	var settled []dumpCost
	r.onSettle = func(p *dumpCost) { settled = append(settled, *p) }
	r.dump("test")
	for i := range window[8:] {
		r.vmOp(&window[8+i])
	}
	// Until an operation after its end arrives, the dump counts with
	// what the counters said: the budget holds meanwhile.
	if len(settled) != 0 || r.charged != 40*time.Millisecond {
		t.Fatalf("before its operations are known to be in: %d settled, %s charged; want 0, 40ms", len(settled), r.charged)
	}
	later := opEvents("PrintThreads", ms(99), ms(103))[1]
	r.vmOp(&later)
	if len(settled) != 1 {
		t.Fatalf("%d dumps settled once an operation after the window arrived", len(settled))
	}
	p := settled[0]
	var own []string
	for _, op := range p.own {
		own = append(own, op.name)
	}
	if got := strings.Join(own, ","); got != "PrintThreads,PrintJNI,FindDeadlocks" || p.own[0].begin != ms(50).UnixNano() {
		t.Errorf("own operations %s from %d, want ours (PrintThreads,PrintJNI,FindDeadlocks from 50 ms)", got, (p.own[0].begin-s.UnixNano())/1e6)
	}
	// 9.5 ms inside ours; the others' 27 ms are not charged; of the
	// 3.5 ms reaching and leaving, ours are 3 of the 8 safepoints.
	want := 9500*time.Microsecond + 3500*time.Microsecond*3/8
	if p.inside != 9500*time.Microsecond || p.cost != want || r.charged != want || r.chargedN != 3 {
		t.Errorf("inside %s, charged %s (total %s) in %d safepoints; want 9.5ms, %s in 3", p.inside, p.cost, r.charged, r.chargedN, want)
	}
	if r.otherN != 4 || r.otherDmp != 3 || r.others["G1CollectFull"] != 1 || r.otherT != 27*time.Millisecond {
		t.Errorf("other operations: %d (%d of dumps, %v), %s; want 4 (3, one GC), 27ms", r.otherN, r.otherDmp, r.others, r.otherT)
	}
	// The next dump is estimated at this one's charge, not at what the
	// counters said over its window.
	if e := r.dumpEstimate(); e != want {
		t.Errorf("next dump estimated at %s, want %s", e, want)
	}
	var sb strings.Builder
	r.summary(&sb)
	for _, w := range []string{
		"1 thread dumps via attach", "their own VM operations stopped the JVM for 10.8ms in 3 safepoints",
		": 9.5ms inside them (HotSpot's vmops probes), the rest reaching and leaving their safepoints (the JVM's counters)\n",
		"not charged to the dumps: 4 other VM operations that ended in their windows (FindDeadlocks 2, G1CollectFull 1, PrintThreads 1), 27ms inside them; 3 of them other tools' thread dumps",
		"the JVM's safepoint counters over the windows: 40ms in 8 safepoints",
	} {
		if !strings.Contains(sb.String(), w) {
			t.Errorf("summary lacks %q:\n%s", w, sb.String())
		}
	}
	if st := r.stats(); st.Stopped != want || st.ByOps != 1 || st.OpTime != 9500*time.Microsecond || st.Counted != 40*time.Millisecond || st.OtherOps != 4 {
		t.Errorf("stats %+v", st)
	}
}

// One safepoint slow to reach does not make our share of reaching and
// leaving larger than the time the VM thread spent around our operations:
// in a window of 18 ms, another tool's dump whose PrintThreads took 13 ms
// to reach (1-15 ms; FindDeadlocks 15.1-15.2), then ours, back to back
// (PrintThreads 16-17, PrintJNI 17.05-17.1, FindDeadlocks 17.15-17.2). The
// counters say 20 ms in 5 safepoints: 17.8 ms reaching and leaving, 10.7
// for our 3 of 5 evenly, but the VM thread was between our operations and
// their neighbours for 1.7 ms only.
func TestDumpCostCappedByIdleTime(t *testing.T) {
	ms := func(f float64) int64 { return int64(f * float64(time.Millisecond)) }
	ops := []vmOp{
		{"PrintThreads", ms(14), ms(15)}, {"FindDeadlocks", ms(15.1), ms(15.2)},
		{"PrintThreads", ms(16), ms(17)}, {"PrintJNI", ms(17.05), ms(17.1)}, {"FindDeadlocks", ms(17.15), ms(17.2)},
	}
	p := dumpCost{start: 0, end: ms(18), counted: 20 * time.Millisecond, countedN: 5, countKnown: true}
	p.own, p.other = ownOps(ops, p.start, p.end)
	p.around = idleAround(ops, p.own, p.start, p.end)
	p.price()
	if len(p.own) != 3 || len(p.other) != 2 || p.around != 1700*time.Microsecond || p.cost != 2800*time.Microsecond {
		t.Errorf("own %v, other %v, around %s, charged %s; want 3, 2, 1.7ms, 2.8ms", p.own, p.other, p.around, p.cost)
	}
}

// Without the vmops probes a dump is charged with the counters over its
// window, GC and all, and the summary says so; with them, a dump whose
// operations never came (taken as tracing ended) is charged the same way.
func TestDumpChargedByCountersWithoutOperations(t *testing.T) {
	s := time.Now().Add(time.Hour)
	for _, probes := range []bool{false, true} {
		src := &windowSource{start: s, end: s.Add(100 * time.Millisecond), stopped: 39 * time.Millisecond, safepoints: 7, known: true}
		r := newTestRefresher(t, src)
		r.vmops = probes
		r.dump("test")
		r.settle(true)
		if r.charged != 39*time.Millisecond || r.byOps != 0 || len(r.pending) != 0 {
			t.Errorf("probes %v: charged %s, %d by operations, %d pending; want 39ms, 0, 0", probes, r.charged, r.byOps, len(r.pending))
		}
		var sb strings.Builder
		r.summary(&sb)
		wants := []string{"they stopped the JVM for 39ms in 7 safepoints, ", "% of the run, by the JVM's safepoint counters over their windows (no vmops probes: a GC or another tool's dump in those windows counts too)"}
		if probes {
			wants[1] = "by the JVM's safepoint counters over their windows (their VM operations were not seen: a GC"
		}
		for _, want := range wants {
			if !strings.Contains(sb.String(), want) {
				t.Errorf("probes %v: summary lacks %q:\n%s", probes, want, sb.String())
			}
		}
	}
}

// crowdedSource takes a thread dump whose window holds, before its own
// request, a GC (jcmd GC.run) and another tool's thread dump: each done
// over the attach socket and over before ours is sent. The JVM's safepoint
// counters are read over the whole window, as a Metered source does.
type crowdedSource struct {
	ours, other *jvm.AttachSource
	meter       *jvm.SafepointMeter
	mu          sync.Mutex
	asked       []int64 // when each of our requests was sent (wall ns)
}

func (c *crowdedSource) Name() string { return "attach" }

func (c *crowdedSource) Capture(ctx context.Context) (*jvm.Capture, error) {
	before, err := c.meter.Read()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if _, err := c.other.Execute(ctx, "jcmd", "GC.run"); err != nil {
		return nil, err
	}
	if _, err := c.other.Capture(ctx); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.asked = append(c.asked, time.Now().UnixNano())
	c.mu.Unlock()
	cp, err := c.ours.Capture(ctx)
	if err != nil {
		return nil, err
	}
	after, err := c.meter.Read()
	if err != nil {
		return nil, err
	}
	cp.Start = start
	cp.Stopped, cp.Safepoints, cp.StopKnown = after.Stopped-before.Stopped, after.Count-before.Count, true
	return cp, nil
}

// loggedSafepoint is one line of -Xlog:safepoint: the operation and when
// the safepoint began and ended (wall ns), reaching and leaving included.
type loggedSafepoint struct {
	name       string
	begin, end int64
}

var safepointLine = regexp.MustCompile(`^\[(\d+)ns\] Safepoint "(\w+)".* Total: (\d+) ns`)

// readSafepointLog reads a -Xlog:safepoint log decorated with timenanos
// (CLOCK_MONOTONIC, the kernel's clock), on the wall clock: offset is what
// the events were converted with.
func readSafepointLog(t *testing.T, path string, offset int64) []loggedSafepoint {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []loggedSafepoint
	for _, l := range strings.Split(string(b), "\n") {
		m := safepointLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		at, _ := strconv.ParseUint(m[1], 10, 64)
		total, _ := strconv.ParseInt(m[3], 10, 64)
		end := int64(at) + offset
		out = append(out, loggedSafepoint{name: m[2], begin: end - total, end: end})
	}
	return out
}

// TestDumpCostRealJVM: on a real JVM with HotSpot's vmops probes, each of
// our dumps, whose window also holds a GC and another tool's dump, is
// charged with its own VM operations (those that began after our request
// was sent), which the JVM's own safepoint log names the same, and their
// share of reaching and leaving the safepoints: less than the JVM's
// counters over the same window, which hold the GC and the other dump.
func TestDumpCostRealJVM(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireJava(t)
	classes := t.TempDir()
	src, err := filepath.Abs("../testdata/java/ManyThreads.java")
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("javac", "-d", classes, src).CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	javas := []string{"path"}
	if _, err := os.Stat("/usr/lib/jvm/temurin-25-jdk-amd64/bin/java"); err == nil {
		javas = append(javas, "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java")
	}
	for _, java := range javas {
		name := filepath.Base(filepath.Dir(filepath.Dir(java)))
		if java == "path" {
			name, java = "java", "java"
		}
		t.Run(name, func(t *testing.T) { dumpCostRealJVM(t, java, classes) })
	}
}

func dumpCostRealJVM(t *testing.T, java, classes string) {
	logPath := filepath.Join(t.TempDir(), "safepoint.log")
	jc := exec.Command(java, "-Xmx64m", "-Xlog:safepoint=info:file="+logPath+":tn", "-cp", classes,
		"ManyThreads", "--threads", "20", "--busy", "2", "--spin-us", "300")
	stdout, err := jc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = jc.Process.Kill()
		_ = jc.Wait()
		os.Remove("/tmp/.java_pid" + strconv.Itoa(jc.Process.Pid)) // a killed JVM leaves its attach socket
	})
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready") {
		t.Fatalf("ManyThreads did not start: %q %v", sc.Text(), sc.Err())
	}
	pid := jc.Process.Pid
	lib, err := jvm.LibJVM(pid)
	if err != nil {
		t.Fatal(err)
	}
	hs, err := bpf.FindHotSpotProbes(lib)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := bpf.New(bpf.Config{Pid: uint32(pid), MinLatency: time.Hour, HotSpot: hs})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if !tr.VMOps() {
		t.Fatalf("the vmops probes are not attached: %v", tr.HotSpotErr())
	}
	var meter *jvm.SafepointMeter
	testenv.WaitFor(t, 30*time.Second, "the JVM's safepoint counters", func() bool {
		meter, err = jvm.OpenSafepointMeter(pid)
		return err == nil
	})
	defer meter.Close()
	ours, err := jvm.NewAttachSource(pid, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	other, err := jvm.NewAttachSource(pid, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	cs := &crowdedSource{ours: ours, other: other, meter: meter}
	r := newRefresher(pid, nil, cs, nil, nil, 0, 1)
	w, err := record.NewWriter(io.Discard, "csv")
	if err != nil {
		t.Fatal(err)
	}
	r.live = correlate.NewLive(&correlate.Joiner{Pid: uint32(pid), Namer: correlate.NewNamer(0)}, w)
	r.vmops = true
	var settled []dumpCost
	r.onSettle = func(p *dumpCost) { settled = append(settled, *p) }
	clock := bpf.NewWallClock()
	var offset atomic.Int64 // the kernel's clock to the wall clock, as the events were converted
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(ctx, bpf.RunOptions{
			Event: func(e *bpf.Event) {
				if e.Kind.VMOp() {
					ev := e.Convert(clock)
					offset.Store(ev.Time - int64(ev.KTime))
					r.vmOp(&ev)
				}
			},
			AfterDrain: func() { clock.Resample() },
		})
	}()
	const dumps = 4
	for i := 0; i < dumps; i++ {
		if _, failed := r.dump("test"); failed > 0 {
			t.Fatalf("dump %d: %v", i, r.lastErr)
		}
	}
	// Settled once an operation after it arrives: a GC.
	if _, err := other.Execute(context.Background(), "jcmd", "GC.run"); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 30*time.Second, "every dump's operations", func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.settle(false)
		return len(r.pending) == 0
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// Ours and the other tool's dumps, all logged by the JVM.
	var logged []loggedSafepoint
	testenv.WaitFor(t, 10*time.Second, "the JVM's safepoint log", func() bool {
		logged = readSafepointLog(t, logPath, offset.Load())
		n := 0
		for _, s := range logged {
			if s.name == printThreads {
				n++
			}
		}
		return n >= 2*dumps
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(settled) != dumps {
		t.Fatalf("%d dumps settled, want %d", len(settled), dumps)
	}
	var inside, charged, counted, truth time.Duration
	for i, p := range settled {
		asked := cs.asked[i]
		if len(p.own) == 0 || p.own[0].name != printThreads {
			t.Fatalf("dump %d: own operations %v, want a PrintThreads first", i, p.own)
		}
		// Ours are the dump operations begun after our request was sent.
		for _, op := range p.own {
			if op.begin < asked {
				t.Errorf("dump %d: charged with %s, begun %s before our request", i, op.name, time.Duration(asked-op.begin))
			}
		}
		var gc, otherDump bool
		for _, op := range p.other {
			if op.begin >= asked && isDumpOp(op.name) {
				t.Errorf("dump %d: its own %s not charged", i, op.name)
			}
			if op.end <= asked {
				gc = gc || !isDumpOp(op.name)
				otherDump = otherDump || op.name == printThreads
			}
		}
		if !gc || !otherDump {
			t.Errorf("dump %d: the GC (%v) or the other dump (%v) not seen in its window: %v", i, gc, otherDump, p.other)
		}
		// What the counters say over the window holds the GC and the
		// other dump: more than what is charged.
		if p.cost < p.inside || p.cost >= p.counted {
			t.Errorf("dump %d: charged %s, %s inside its operations, counters %s: want inside <= charged < counters", i, p.cost, p.inside, p.counted)
		}
		// The JVM's own log: each of our operations ran at a safepoint
		// of its name, the first logged after it ended (the log's stamp
		// is taken as the safepoint ends, on the kernel's clock).
		const logSlack = int64(10 * time.Microsecond)
		for _, op := range p.own {
			k := slices.IndexFunc(logged, func(s loggedSafepoint) bool { return s.end >= op.end-logSlack })
			if k < 0 || logged[k].name != op.name {
				t.Errorf("dump %d: no logged safepoint %s around our operation", i, op.name)
				continue
			}
			truth += time.Duration(logged[k].end - logged[k].begin)
		}
		inside, charged, counted = inside+p.inside, charged+p.cost, counted+p.counted
	}
	t.Logf("%d dumps: %s inside their own operations, %s charged, %s at their safepoints by the JVM's log, %s by the counters over their windows (a GC and another dump in each)",
		dumps, inside, charged, truth, counted)
}

// The read taken just before tracing began (Session.primeRead) is the
// first read: a thread it lists that ends before any later read is named
// all the same, and no other read is taken at start; a thread it does not
// list asks for one with its first wait.
func TestRefresherPrimedRead(t *testing.T) {
	coll := &collector{}
	live := correlate.NewLive(&correlate.Joiner{Pid: 1, Namer: correlate.NewNamer(0)}, coll)
	mem := &fakeMemory{} // later reads list no thread: the short-lived one has ended
	r := newRefresher(1, mem, nil, live, nil, 0, 1)
	live.NeedDump = func(tid uint32, comm string, t int64) bool { return r.request("unknown", t) }
	t0 := time.Now()
	r.prime = &jvm.Capture{Pid: 1, Start: t0, End: t0.Add(time.Millisecond), Source: "memory", StopKnown: true,
		Dump: jvm.Dump{Time: t0, VM: jvm.MemoryVM, Pid: 1, Threads: []jvm.Thread{
			{Name: "payment-callback-short-lived-2", JavaID: 30, Tid: 42, Carrying: -1}}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.run(ctx); close(done) }()
	<-r.first
	mem.mu.Lock()
	reads := mem.reads
	mem.mu.Unlock()
	if reads != 0 {
		t.Errorf("%d reads at start besides the primed one, want 0", reads)
	}
	at := func(d time.Duration) int64 { return t0.Add(d).UnixNano() }
	for _, e := range []sched.Event{
		{Kind: sched.KindWakeup, Time: at(2 * time.Millisecond), Latency: 1000, Pid: 1, Tid: 42, Comm: "payment-callbac"},
		{Kind: sched.KindPreempt, Time: at(4 * time.Millisecond), Latency: 1000, Pid: 1, Tid: 42, Comm: "payment-callbac"},
		{Kind: sched.KindExit, Time: at(5 * time.Millisecond), Pid: 1, Tid: 42, Comm: "payment-callbac"},
		{Kind: sched.KindWakeup, Time: at(6 * time.Millisecond), Latency: 1000, Pid: 1, Tid: 43, Comm: "worker-born-lat"},
	} {
		live.Add(&e)
	}
	// The thread the primed read does not list asks for a read.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		mem.mu.Lock()
		reads = mem.reads
		mem.mu.Unlock()
		if reads > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a thread the primed read did not list asked for no read")
		}
	}
	cancel()
	<-done
	if err := live.Flush(); err != nil {
		t.Fatal(err)
	}
	named := 0
	for _, rec := range coll.recs {
		if rec.Tid == 42 && rec.Kind != "exit" {
			if rec.JavaThread != "payment-callback-short-lived-2" || rec.NameSource != record.SourceMemory {
				t.Errorf("tid 42 at %s: %q (%s), want the primed read's name", rec.TimeText, rec.JavaThread, rec.NameSource)
			}
			named++
		}
	}
	if named != 2 {
		t.Errorf("%d records of tid 42, want 2", named)
	}
	if r.scans < 2 {
		t.Errorf("%d memory reads counted, want the primed one and the one asked for", r.scans)
	}
}
