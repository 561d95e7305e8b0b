package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/jvm/hsmem"
)

// A JVM's thread names are read from its memory (hsmem): no safepoint, a
// few ms of our CPU. Thread dumps are the fallback (--dumps): each one
// stops the JVM at two or three safepoints (measured 10-45 ms in all on a
// saturated 2-CPU JDK 17, 0.5-6 ms on a JVM with CPU to spare; 139-416 ms
// for the first on a host at load 20), and through jcmd costs a JVM
// start-up of CPU. So:
//   - a dump is taken only when the JVM's stop time with it, estimated
//     beforehand (dumpEstimate), stays within the budget (--dump-budget), a
//     share of the run's wall time, counted over at least budgetHorizon so
//     that a first dump is possible; the dump's wall time stands in for its
//     stop time when the JVM publishes no counters;
//   - reads, memory or dump, are at least gapFactor times the last one's
//     wall time (our side: a scan, a jcmd client's start-up, a JVM slow to
//     answer) and never less than minDumpGap apart. The stop time is not
//     counted twice: a dump of 60 ms, 55 of them stopped, would otherwise
//     hold the next one back 300 ms, longer than the short-lived threads
//     it is for.
const (
	minDumpGap    = 100 * time.Millisecond
	shutdownGrace = 2 * time.Second
	gapFactor     = 5
	DefaultBudget = 0.001
	budgetHorizon = 10 * time.Second
	// firstDumpGuess is a dump's stop time before any was measured and
	// when the JVM's own safepoint counters cannot be read.
	firstDumpGuess = 50 * time.Millisecond
)

// memorySource reads names without stopping the JVM (hsmem.Source).
type memorySource interface {
	jvm.Source
	// Unvalidated lists the threads the latest Capture could not confirm.
	Unvalidated() []hsmem.Unvalidated
	Close() error
}

// refresher reads the JVM's thread identity when the join needs it (an
// unknown or renamed thread) and periodically, one read at a time: from
// its memory, and with a thread dump where that fails.
type refresher struct {
	mem      memorySource // nil: not readable (not HotSpot, no permission, off)
	src      jvm.Source   // thread dumps; nil: none (--dumps never, or cannot)
	pid      int
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
	lastCost    time.Duration // the last dump's stop time (its estimate for the next)
	charged     time.Duration // stop time charged to the budget (wall time where not measured)
	scans       int           // memory reads
	scanWall    time.Duration
	unconfirmed map[int]bool // host TIDs the previous memory read could not confirm
	dumpedFor   map[int]bool // TIDs a dump was already taken for
	memErr      error        // why memory stopped being read
	// onMemory, if set, is called after each memory read that worked
	// (outside r.mu), e.g. to tell the tracer where carriers are.
	onMemory func(memorySource)
}

// newRefresher reads pid's identity from mem, with thread dumps from src
// as the fallback; either may be nil, not both.
func newRefresher(pid int, mem memorySource, src jvm.Source, live *correlate.Live, store *correlate.DumpStore, interval time.Duration, budget float64) *refresher {
	r := &refresher{mem: mem, src: src, pid: pid, live: live, store: store, interval: interval, budget: budget,
		wake: make(chan struct{}, 1), began: time.Now(), dumpCtx: context.Background(),
		unconfirmed: map[int]bool{}, dumpedFor: map[int]bool{}}
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
	defer func() {
		if r.mem != nil {
			r.mem.Close()
		}
	}()
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
		ours, failed, hold := r.read(reason)
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
		if hold > 0 {
			// A dump is still wanted, once the budget allows it.
			gap, byBudget = max(gap, hold), true
			r.request(reason, 0)
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

// final makes the read still wanted when the run ends (threads seen in the
// last moments would stay unnamed otherwise); a dump only if the budget
// allows it.
func (r *refresher) final(last time.Time, gap time.Duration, byBudget bool) {
	r.mu.Lock()
	reason := r.reason
	r.reason = ""
	failing := r.failedInRow > 0
	r.mu.Unlock()
	// Not when reads fail: the JVM is not answering, and waiting for it
	// would only delay the exit.
	if reason != "" && reason != "periodic" && !failing {
		if _, _, hold := r.read(reason + ", at exit"); hold > 0 {
			r.mu.Lock()
			r.skipped++
			r.mu.Unlock()
		}
	}
}

// read reads the JVM's identity and hands it to the join: from memory,
// then with a dump if memory cannot be read or left threads unconfirmed
// twice in a row (a thread named by another, a JNI thread whose kernel
// name is not its Java name). It returns our side's wall time; failed, how
// many reads in a row failed; hold > 0 when a wanted dump was not taken
// because of the budget: it may be taken after hold.
func (r *refresher) read(reason string) (ours time.Duration, failed int, hold time.Duration) {
	r.mu.Lock()
	r.inflight = time.Now().UnixNano()
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.inflight = 0
		r.mu.Unlock()
	}()
	if r.mem != nil {
		c, err := r.mem.Capture(r.dumpCtx)
		switch {
		case err == nil:
			r.deliver(c, reason)
			if r.onMemory != nil {
				r.onMemory(r.mem)
			}
			ours = c.End.Sub(c.Start)
			missed := r.missed()
			if r.src == nil || len(missed) == 0 {
				r.mu.Lock()
				r.failedInRow = 0
				r.scans++
				r.scanWall += ours
				r.mu.Unlock()
				return ours, 0, 0
			}
			reason = fmt.Sprintf("%s; %d threads not confirmed in memory", reason, len(missed))
			if hold = r.budgetWait(); hold > 0 {
				return ours, 0, hold
			}
			for _, tid := range missed {
				r.dumpedFor[tid] = true
			}
		case errors.Is(err, hsmem.ErrNotReady):
			// A JVM still starting: read again soon (a dump would not
			// be answered either).
			return 0, r.failedRead("reading the JVM's memory", reason, err), 0
		default:
			slog.Warn("cannot read thread names from the JVM's memory", "pid", r.pid, "err", err,
				"then", map[bool]string{true: "thread dumps, within --dump-budget", false: "threads keep their kernel names"}[r.src != nil])
			r.mem.Close()
			r.mu.Lock()
			r.mem, r.memErr = nil, err
			r.mu.Unlock()
			if r.src == nil {
				return 0, r.failedRead("reading the JVM's memory", reason, err), 0
			}
		}
	}
	if r.mem == nil {
		if r.src == nil {
			// Neither can name anything: kernel names it is.
			return 0, 0, 0
		}
		if hold = r.budgetWait(); hold > 0 {
			return 0, 0, hold
		}
	}
	o, f := r.dump(reason)
	return ours + o, f, 0
}

// missed returns the TIDs the latest memory read could not confirm, as
// the one before it could not, and no dump was taken for yet: a thread
// that just started or renamed itself is confirmed by the next read.
func (r *refresher) missed() []int {
	now := map[int]bool{}
	var out []int
	for _, u := range r.mem.Unvalidated() {
		if u.TID == 0 {
			continue
		}
		now[u.TID] = true
		if r.unconfirmed[u.TID] && !r.dumpedFor[u.TID] {
			out = append(out, u.TID)
		}
	}
	r.unconfirmed = now
	return out
}

// budgetWait returns 0 when a dump fits in the budget now, else how long
// until it would: the JVM's stop time with the dump's estimated
// (dumpEstimate) must stay within the budget's share of the run so far,
// counted over budgetHorizon at least.
func (r *refresher) budgetWait() time.Duration {
	if r.budget >= 1 {
		return 0
	}
	r.mu.Lock()
	need := r.charged + r.dumpEstimate()
	r.mu.Unlock()
	run := time.Since(r.began)
	if time.Duration(r.budget*float64(max(run, budgetHorizon))) >= need {
		return 0
	}
	return max(time.Duration(float64(need)/r.budget)-run, minDumpGap)
}

// dumpEstimate is what the next dump will stop the JVM for: what the last
// one did; before any, three of the JVM's average safepoints (a dump takes
// two or three), at least 1 ms; firstDumpGuess when it does not say.
// r.mu held.
func (r *refresher) dumpEstimate() time.Duration {
	if r.lastCost > 0 {
		return r.lastCost
	}
	if m, err := jvm.OpenSafepointMeter(r.pid); err == nil {
		sp, err := m.Read()
		m.Close()
		if err == nil && sp.Count > 0 {
			return max(3*sp.Stopped/time.Duration(sp.Count), time.Millisecond)
		}
	}
	return firstDumpGuess
}

// failedRead counts a read (what) that failed and returns how many in a
// row did.
func (r *refresher) failedRead(what, reason string, err error) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failed++
	if r.lastErr == nil || r.lastErr.Error() != err.Error() {
		slog.Warn(what+" failed", "pid", r.pid, "reason", reason, "err", err)
	}
	r.lastErr = err
	r.failedInRow++
	return r.failedInRow
}

// deliver hands a read to the join (and the dump store).
func (r *refresher) deliver(c *jvm.Capture, reason string) {
	td := &correlate.TimedDump{Start: c.Start.UnixNano(), End: c.End.UnixNano(), Dump: c.Dump, Pid: c.Pid}
	if r.otherNS {
		td.HostTids = hostTids(c.Pid)
	}
	// Outside r.mu: Live calls request with its own lock held. The read
	// counts as in flight until the join has it, so that no event asks
	// for another one meanwhile.
	r.live.AddDump(td)
	if r.store != nil {
		if _, err := r.store.Save(c, reason, td.HostTids); err != nil {
			r.mu.Lock()
			r.failed++
			r.mu.Unlock()
			slog.Warn("saving thread identity failed", "err", err)
		}
	}
}

// dump takes one thread dump and returns our side of its wall time: all
// of it but the JVM's stop time (where the JVM publishes no counters, the
// whole). When it failed, failed is how many reads in a row have failed.
func (r *refresher) dump(reason string) (ours time.Duration, failed int) {
	// Not bound to the run's context: a dump cut short at shutdown would
	// lose the names it was taken for. The source's timeout bounds it,
	// and shutdownGrace after the run ends.
	c, err := r.src.Capture(r.dumpCtx)
	if err != nil {
		// Nothing tells whether the JVM stopped: not charged to the budget.
		return 0, r.failedRead("thread dump", reason, err)
	}
	r.deliver(c, reason)
	d := c.End.Sub(c.Start)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failedInRow = 0
	r.taken++
	r.total += d
	if d > r.max {
		r.max = d
	}
	if c.StopKnown {
		r.stopped += c.Stopped
		r.points += c.Safepoints
		r.stopKnown++
		r.lastCost = c.Stopped
		r.charged += c.Stopped
		return max(d-c.Stopped, 0), 0
	}
	r.lastCost = d
	r.charged += d
	return d, 0
}

func (r *refresher) summary(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run := time.Since(r.began)
	if r.scans > 0 || r.memErr != nil {
		fmt.Fprintf(w, "jschedlat: %d reads of the thread names from the JVM's memory, %s in total, no safepoint", r.scans, r.scanWall.Round(100*time.Microsecond))
		if r.memErr != nil {
			fmt.Fprintf(w, "; then not readable: %v", r.memErr)
		}
		fmt.Fprintln(w)
	}
	if r.src == nil {
		if r.failed > 0 {
			fmt.Fprintf(w, "jschedlat: %d reads failed (last: %v)\n", r.failed, r.lastErr)
		}
		return
	}
	if r.taken == 0 && r.failed == 0 && r.deferred == 0 && r.skipped == 0 {
		fmt.Fprintf(w, "jschedlat: no thread dump taken (safepoints caused: 0)\n")
		return
	}
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
