package session

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/jvm/hsmem"
	"github.com/jschedlat/jschedlat/record"
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
