package session

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/jvm"
)

// Thread dumps are rate-limited: each one stops the JVM at two or three
// safepoints (measured 10-45 ms in all on a saturated 2-CPU JDK 17, 0.5-6 ms
// on a JVM with CPU to spare), and through jcmd costs a JVM start-up of CPU.
// After a dump:
//   - the next waits until the JVM's stop time stays within the budget, a
//     share of wall time (--dump-budget): a dump that stopped it for s
//     is followed by a pause of s/budget (the dump's wall time stands in
//     for s when the JVM publishes no counters);
//   - and at least gapFactor times the rest of the dump's wall time (our
//     side: a jcmd client's start-up, the socket, a JVM slow to answer),
//     and never less than minDumpGap. The stop time is not counted twice:
//     a dump of 60 ms, 55 of them stopped, would otherwise hold the next
//     one back 300 ms, longer than the short-lived threads it is for.
const (
	minDumpGap    = 100 * time.Millisecond
	shutdownGrace = 2 * time.Second
	gapFactor     = 5
	DefaultBudget = 0.001
)

// refresher takes thread dumps when the join needs them (an unknown or
// renamed thread) and periodically, at most one at a time.
type refresher struct {
	src      jvm.Source
	live     *correlate.Live
	store    *correlate.DumpStore
	interval time.Duration
	budget   float64 // share of wall time the JVM may be stopped by dumps; >= 1: none
	wake     chan struct{}
	dumpCtx  context.Context // ends shutdownGrace after the run
	otherNS  bool            // the JVM prints TIDs of its own PID namespace
	began    time.Time

	mu          sync.Mutex
	reason      string // why the next dump is wanted ("" = none pending)
	inflight    int64  // wall ns when the dump under way began (0 = none)
	taken       int
	failed      int
	failedInRow int // dumps failed since the last that worked (backoff)
	total       time.Duration
	max         time.Duration
	stopped     time.Duration // JVM stop time of the dumps that measured it
	stopKnown   int           // dumps that measured it
	points      int64         // safepoints in those dumps
	skipped     int           // dumps not taken at exit because of it
	deferred    time.Duration // how long requests waited for it
	lastErr     error
}

func newRefresher(pid int, src jvm.Source, live *correlate.Live, store *correlate.DumpStore, interval time.Duration, budget float64) *refresher {
	r := &refresher{src: src, live: live, store: store, interval: interval, budget: budget, wake: make(chan struct{}, 1), began: time.Now(), dumpCtx: context.Background()}
	r.otherNS = jvm.InOwnPIDNamespace(pid)
	return r
}

// hostTids maps the JVM's own TIDs to host TIDs, read right after a dump:
// a thread that ended meanwhile is left out, so it stays unnamed rather
// than misnamed.
func hostTids(pid int) map[int]uint32 {
	m, err := jvm.HostTids(pid)
	if err != nil {
		slog.Warn("reading the JVM's namespace TIDs failed: its threads stay unnamed", "err", err)
		return map[int]uint32{}
	}
	return m
}

// request asks for a dump soon because of an event at wall time t (ns);
// requests made while one is pending are merged into it. A dump that began
// after t sees what the event saw: no new one is asked for then, and
// request returns false. It never blocks.
func (r *refresher) request(reason string, t int64) bool {
	r.mu.Lock()
	if r.inflight > t {
		r.mu.Unlock()
		return false
	}
	if r.reason == "" {
		r.reason = reason
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

// run takes a first dump at once, then dumps on request and every
// interval, until ctx is done. A dump in flight when ctx ends is finished
// (bounded by the source's timeout) so that it can still name threads.
func (r *refresher) run(ctx context.Context) {
	// A dump under way when the run ends may finish (it can name the
	// last threads), for shutdownGrace at most: a JVM that does not
	// answer must not hold up a SIGTERM (a container's grace period is
	// often 30 s; --dump-timeout may be longer).
	dumpCtx, cancelDump := context.WithCancel(context.Background())
	defer cancelDump()
	stopGrace := context.AfterFunc(ctx, func() { time.AfterFunc(shutdownGrace, cancelDump) })
	defer stopGrace()
	r.dumpCtx = dumpCtx
	r.request("start", 0)
	var last time.Time
	gap, byBudget := minDumpGap, false
	var timer <-chan time.Time
	if r.interval > 0 {
		t := time.NewTicker(r.interval)
		defer t.Stop()
		timer = t.C
	}
	for {
		select {
		case <-ctx.Done():
			r.final(last, gap, byBudget)
			return
		case <-r.wake:
		case <-timer:
			r.mu.Lock()
			if r.reason == "" {
				r.reason = "periodic"
			}
			r.mu.Unlock()
		}
		if wait := time.Until(last.Add(gap)); wait > 0 {
			t0 := time.Now()
			select {
			case <-ctx.Done():
				r.waited(byBudget, time.Since(t0))
				r.final(last, gap, byBudget)
				return
			case <-time.After(wait):
			}
			r.waited(byBudget, time.Since(t0))
		}
		r.mu.Lock()
		reason := r.reason
		r.reason = ""
		r.mu.Unlock()
		if reason == "" {
			continue
		}
		ours, cost, failed := r.capture(reason)
		last = time.Now()
		byBudget = false
		if failed > 0 {
			// Back off 1 s, 2 s, 4 s ... up to 32 s: a JVM that refuses is
			// not hammered, and one that was stopped or busy for a while
			// gets its names back soon after it runs again.
			gap = time.Second << min(failed-1, 5)
			continue
		}
		gap = max(minDumpGap, gapFactor*ours)
		if r.budget < 1 {
			if b := time.Duration(float64(cost) / r.budget); b > gap {
				gap, byBudget = b, true
			}
		}
	}
}

// waited accounts for a wait of d before a dump; byBudget tells that the
// budget, not the rate limit, set it.
func (r *refresher) waited(byBudget bool, d time.Duration) {
	if !byBudget {
		return
	}
	r.mu.Lock()
	r.deferred += d
	r.mu.Unlock()
}

// final takes the dump still wanted when the run ends (threads seen in the
// last moments would stay unnamed otherwise), unless the budget forbids a
// dump until after (last, gap).
func (r *refresher) final(last time.Time, gap time.Duration, byBudget bool) {
	r.mu.Lock()
	reason := r.reason
	r.reason = ""
	if reason != "" && byBudget && time.Since(last) < gap {
		r.skipped++
		reason = ""
	}
	failing := r.failedInRow > 0
	r.mu.Unlock()
	// Not when dumps fail: the JVM is not answering, and waiting for it
	// would only delay the exit.
	if reason != "" && reason != "periodic" && !failing {
		r.capture(reason + ", at exit")
	}
}

// capture takes one dump and returns what it cost: cost, the time the JVM
// was stopped; ours, the rest of the request's wall time (client, socket, a
// JVM slow to start its listener). Where the JVM publishes no counters,
// both are the wall time. When the dump failed, failed is how many dumps
// in a row have failed.
func (r *refresher) capture(reason string) (ours, cost time.Duration, failed int) {
	// Not bound to the run's context: a dump cut short at shutdown would
	// lose the names it was taken for. The source's timeout bounds it,
	// and shutdownGrace after the run ends.
	began := time.Now()
	r.mu.Lock()
	r.inflight = began.UnixNano()
	r.mu.Unlock()
	c, err := r.src.Capture(r.dumpCtx)
	if err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.inflight = 0
		r.failed++
		if r.lastErr == nil || r.lastErr.Error() != err.Error() {
			slog.Warn("thread dump failed", "reason", reason, "err", err)
		}
		r.lastErr = err
		r.failedInRow++
		// Nothing tells whether the JVM stopped: not charged to the budget.
		return 0, 0, r.failedInRow
	}
	r.mu.Lock()
	r.failedInRow = 0
	r.mu.Unlock()
	d := c.End.Sub(c.Start)
	td := &correlate.TimedDump{Start: c.Start.UnixNano(), End: c.End.UnixNano(), Dump: c.Dump, Pid: c.Pid}
	if r.otherNS {
		td.HostTids = hostTids(c.Pid)
	}
	// Outside r.mu: Live calls request with its own lock held. The dump
	// counts as in flight until the join has it, so that no event asks
	// for another one meanwhile.
	r.live.AddDump(td)
	var saveErr error
	if r.store != nil {
		_, saveErr = r.store.Save(c, reason, td.HostTids)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight = 0
	r.taken++
	r.total += d
	if d > r.max {
		r.max = d
	}
	if saveErr != nil {
		r.failed++
		slog.Warn("saving thread dump failed", "err", saveErr)
	}
	if c.StopKnown {
		r.stopped += c.Stopped
		r.points += c.Safepoints
		r.stopKnown++
		return max(d-c.Stopped, 0), c.Stopped, 0
	}
	return d, d, 0
}

func (r *refresher) summary(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := time.Since(r.began)
	fmt.Fprintf(w, "jschedlat: %d thread dumps via %s, %s wall in total (max %s)", r.taken, r.src.Name(),
		r.total.Round(time.Millisecond), r.max.Round(time.Millisecond))
	if r.stopKnown > 0 {
		fmt.Fprintf(w, "; they stopped the JVM for %s in %d safepoints, %.2f%% of the run", r.stopped.Round(100*time.Microsecond), r.points, 100*float64(r.stopped)/float64(run))
		if r.stopKnown < r.taken {
			fmt.Fprintf(w, " (%d dumps not measured)", r.taken-r.stopKnown)
		}
	} else if r.taken > 0 {
		fmt.Fprint(w, "; the JVM's safepoint counters could not be read (-XX:-UsePerfData, or its hsperfdata file is not readable: see docs/privileges.md): wall time charged to the budget")
	}
	if r.budget < 1 {
		fmt.Fprintf(w, " (budget %s)", FormatBudget(r.budget))
	}
	if r.failed > 0 {
		fmt.Fprintf(w, ", %d failed (last: %v)", r.failed, r.lastErr)
	}
	fmt.Fprintln(w)
	if r.deferred > 0 || r.skipped > 0 {
		fmt.Fprintf(w, "jschedlat: the dump budget held requested dumps back for %s in total", r.deferred.Round(time.Millisecond))
		if r.skipped > 0 {
			fmt.Fprint(w, " and skipped the one wanted at exit")
		}
		fmt.Fprintln(w, ": threads that lived and ended meanwhile stay unnamed (raise --dump-budget to name more)")
	}
}

// DumpStats are a refresher's counters (metrics).
type DumpStats struct {
	Taken, Failed int
	Wall, Stopped time.Duration
	Deferred      time.Duration // requests held back by the budget
}

// Add sums two JVMs' counters.
func (d DumpStats) Add(o DumpStats) DumpStats {
	return DumpStats{Taken: d.Taken + o.Taken, Failed: d.Failed + o.Failed, Wall: d.Wall + o.Wall, Stopped: d.Stopped + o.Stopped, Deferred: d.Deferred + o.Deferred}
}

func (r *refresher) stats() DumpStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return DumpStats{Taken: r.taken, Failed: r.failed, Wall: r.total, Stopped: r.stopped, Deferred: r.deferred}
}

// ParseBudget reads a --dump-budget value: a percentage of wall time, with
// or without the % sign ("0.1%", "0.1"); 100% means no budget.
func ParseBudget(s string) (float64, error) {
	v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(s), "%")), 64)
	if err != nil || v <= 0 || v > 100 || v != v {
		return 0, fmt.Errorf("--dump-budget %q: want a percentage of wall time above 0 and at most 100, such as 0.1%%", s)
	}
	return v / 100, nil
}

// FormatBudget writes a budget as --dump-budget takes it.
func FormatBudget(b float64) string {
	return strconv.FormatFloat(b*100, 'g', -1, 64) + "%"
}
