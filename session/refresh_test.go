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
	t.Helper()
	w, err := record.NewWriter(io.Discard, "csv")
	if err != nil {
		t.Fatal(err)
	}
	live := correlate.NewLive(&correlate.Joiner{Pid: 1, Namer: correlate.NewNamer(0)}, w)
	r := newRefresher(1, src, live, nil, 0, budget)
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

// A dump that stopped the JVM for 20 ms under a 1% budget is followed by a
// 2 s pause, however many dumps are asked for: in 3 s, two dumps.
func TestRefresherKeepsToBudget(t *testing.T) {
	src := &stopSource{stop: 20 * time.Millisecond}
	r := runRefresher(t, src, 0.01, 3*time.Second)
	at := src.times()
	if len(at) != 2 {
		t.Fatalf("%d dumps in 3 s, want 2 (at 0 and after 2 s)", len(at))
	}
	if gap := at[1].Sub(at[0]); gap < 2*time.Second {
		t.Errorf("second dump %s after the first, want >= 2s", gap)
	}
	if r.stopped != 40*time.Millisecond || r.points != 6 {
		t.Errorf("accounted %s in %d safepoints, want 40ms in 6", r.stopped, r.points)
	}
	// The request pending at the end is inside the budget's pause: skipped.
	if r.skipped != 1 || r.deferred < time.Second {
		t.Errorf("skipped %d, held back %s", r.skipped, r.deferred)
	}
	var sb strings.Builder
	r.summary(&sb)
	for _, want := range []string{"2 thread dumps", "40ms in 6 safepoints", "budget 1%", "skipped the one wanted at exit"} {
		if !strings.Contains(sb.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sb.String())
		}
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
