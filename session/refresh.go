package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/jvm/hsmem"
	"github.com/jschedlat/jschedlat/sched"
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
//     that a first dump is possible. What a dump is charged is its own VM
//     operations' safepoints (see dumpCost), not every safepoint of its
//     window; without HotSpot's vmops probes, the JVM's safepoint counters
//     over the window; without those, the dump's wall time;
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
	stopped     time.Duration // the JVM's safepoint time over the windows of the dumps that measured it (counters)
	stopKnown   int           // dumps that measured it
	points      int64         // safepoints in those windows
	skipped     int           // dumps not taken at exit because of it
	deferred    time.Duration // how long requests waited for it
	lastErr     error
	lastCost    time.Duration // the last dump's charge (the next one's estimate, until one is charged by its own operations)
	charged     time.Duration // stop time charged to the budget; a dump still pending counts with its provisional charge
	chargedN    int64         // safepoints charged (settled dumps)
	scans       int           // memory reads
	scanWall    time.Duration
	unconfirmed map[int]bool // host TIDs the previous memory read could not confirm
	dumpedFor   map[int]bool // TIDs a dump was already taken for
	memErr      error        // why memory stopped being read
	// first is closed once the first read is done (or the run ended
	// before it): HotSpot's probes are attached after it (Session.probe),
	// so that they do not compete with it for the one P.
	first     chan struct{}
	firstOnce sync.Once
	// onMemory, if set, is called after each memory read that worked
	// (outside r.mu), e.g. to tell the tracer where carriers are.
	onMemory func(memorySource)
	// prime, if set before run, is the first read (taken before tracing
	// began; see Session.primeRead).
	prime *jvm.Capture

	// HotSpot's vmops probes are on (vmops): a dump is charged with its
	// own VM operations once their events are in (pending, settle).
	vmops       bool
	opFrom      int64          // wall ns the dump under way began (0: none)
	ops         []vmOp         // ended VM operations a dump's window may hold
	opOpen      []vmOp         // begun, not ended yet
	opsSeen     int64          // the newest VM operation event's time: every one before it is in
	pending     []dumpCost     // dumps taken whose operations may still be on their way
	byOps       int            // dumps charged by their own operations
	opTime      time.Duration  // time inside the dumps' own operations
	lastOwn     time.Duration  // the charge of the last dump charged by its own operations
	otherN      int            // other VM operations that ended in the dumps' windows (not charged)
	otherDmp    int            // of them, thread dumps' operations (other tools' dumps)
	otherT      time.Duration  // their time inside the operations
	others      map[string]int // them by name
	wallCharged time.Duration  // charged as wall time (nothing measured the stop)
	// onSettle, if set, sees each dump's charge as it is settled (r.mu held).
	onSettle func(*dumpCost)
}

// newRefresher reads pid's identity from mem, with thread dumps from src
// as the fallback; either may be nil, not both.
func newRefresher(pid int, mem memorySource, src jvm.Source, live *correlate.Live, store *correlate.DumpStore, interval time.Duration, budget float64) *refresher {
	r := &refresher{mem: mem, src: src, pid: pid, live: live, store: store, interval: interval, budget: budget,
		wake: make(chan struct{}, 1), began: time.Now(), dumpCtx: context.Background(),
		unconfirmed: map[int]bool{}, dumpedFor: map[int]bool{}, first: make(chan struct{})}
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
	defer r.firstOnce.Do(func() { close(r.first) })
	defer func() {
		if r.mem != nil {
			r.mem.Close()
		}
	}()
	// The run ends once the tracer has handed over its last events: the
	// operations of every dump taken before are in, those of a dump taken
	// at exit will never come.
	defer func() {
		r.mu.Lock()
		r.settle(true)
		r.mu.Unlock()
	}()
	var last time.Time
	gap, byBudget := minDumpGap, false
	if c := r.prime; c != nil {
		// Read just before tracing began: a thread born since then asks
		// for the next read with its first wait.
		r.prime = nil
		r.deliver(c, "start")
		r.missed()
		r.scanned(c.End.Sub(c.Start))
		r.firstOnce.Do(func() { close(r.first) })
		last = c.End
	} else {
		r.request("start", 0)
	}
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
		r.firstOnce.Do(func() { close(r.first) })
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
				r.scanned(ours)
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

// scanned counts a memory read that worked and was enough (ours: its
// wall time).
func (r *refresher) scanned(ours time.Duration) {
	r.mu.Lock()
	r.failedInRow = 0
	r.scans++
	r.scanWall += ours
	r.mu.Unlock()
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
	r.settle(false)
	need := r.charged + r.dumpEstimate()
	r.mu.Unlock()
	run := time.Since(r.began)
	if time.Duration(r.budget*float64(max(run, budgetHorizon))) >= need {
		return 0
	}
	return max(time.Duration(float64(need)/r.budget)-run, minDumpGap)
}

// dumpEstimate is what the next dump will stop the JVM for: what the last
// one charged by its own VM operations was charged, else what the last one
// was charged (its window's counters, or its wall time); before any, three
// of the JVM's average safepoints (a dump takes two or three), at least
// 1 ms; firstDumpGuess when it does not say. r.mu held.
func (r *refresher) dumpEstimate() time.Duration {
	if r.lastOwn > 0 {
		return r.lastOwn
	}
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
	// The read counts as in flight until the join has it (events added
	// after AddDump returns are joined with it), so that no event asks
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
	r.mu.Lock()
	r.opFrom = time.Now().UnixNano()
	r.mu.Unlock()
	// Not bound to the run's context: a dump cut short at shutdown would
	// lose the names it was taken for. The source's timeout bounds it,
	// and shutdownGrace after the run ends.
	c, err := r.src.Capture(r.dumpCtx)
	if err != nil {
		r.mu.Lock()
		r.opFrom = 0
		r.pruneOps()
		r.mu.Unlock()
		// Nothing tells whether the JVM stopped: not charged to the budget.
		return 0, r.failedRead("thread dump", reason, err)
	}
	r.deliver(c, reason)
	d := c.End.Sub(c.Start)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opFrom = 0
	r.failedInRow = 0
	r.taken++
	r.total += d
	if d > r.max {
		r.max = d
	}
	p := dumpCost{start: c.Start.UnixNano(), end: c.End.UnixNano(), wall: d,
		counted: c.Stopped, countedN: c.Safepoints, countKnown: c.StopKnown}
	ours = d
	if c.StopKnown {
		r.stopped += c.Stopped
		r.points += c.Safepoints
		r.stopKnown++
		ours = max(d-c.Stopped, 0)
	}
	// Charged at once with what the counters (or the wall time) say,
	// which is never less than its own operations' share: the budget
	// holds while their events are on their way.
	p.provisional = p.counted
	if !p.countKnown {
		p.provisional = d
	}
	r.charged += p.provisional
	r.lastCost = p.provisional
	if r.vmops {
		r.pending = append(r.pending, p)
		r.settle(false)
	} else {
		r.charge(&p, false)
	}
	return ours, 0
}

// What a dump costs the application is the safepoints of its own VM
// operations: PrintThreads (the threads: the attach "threaddump" and jcmd
// Thread.print alike), PrintJNI (JDK 17 and older) and FindDeadlocks, run
// one after the other at a safepoint each. HotSpot's vmops probes see every
// VM operation begin and end (the JVM's own time inside it); the JVM's
// counters (hsperfdata) see the time of every safepoint, reaching and
// leaving it included (about half of a dump's stop on a loaded 2-CPU
// host: 47 ms inside the operations of 18 dumps on JDK 17, 97 ms at their
// safepoints). A dump's window may hold other VM operations: a GC, another
// tool's dump (a second jschedlat, jcmd). So a dump is charged with:
//   - its own operations: the last run of dump operations in its window
//     that begins with PrintThreads and ended within it (ownOps);
//   - plus their share of the time the window's safepoints spent reaching
//     and leaving: the counters' time over the window less the time inside
//     every operation that ended in it, split evenly among the window's
//     safepoints (the counters' count), and at most the time the VM thread
//     spent between our operations and the ones next to them (idleAround:
//     our safepoints were reached and left then). How long each safepoint
//     took to reach is not known, only their sum: one slow to reach
//     (13.5 ms, measured) makes the others' share too large;
//   - without counters (-XX:-UsePerfData), the time inside its operations
//     alone; without the probes, or when its operations were not seen (a
//     dump taken as the run ends, lost events), the counters' whole time
//     over the window (a GC in it included), or its wall time.
//
// Requests over the attach socket, ours and other tools', are served one
// at a time by the JVM's Attach Listener thread, which sends the reply
// after the last operation: two dumps' operations never interleave, and
// ours end before our reply is read. Another tool's dump that ran before
// ours in our window is not charged (ours is the last); one that came
// after ours, and whose operations all ended before we read the end of our
// reply, would be charged instead of ours: a dump of the same kind, at
// about the same cost. A thread dump from inside the JVM (JMX) is not
// serialized with ours and could be taken for it the same way.
const (
	printThreads = "PrintThreads" // correlate's printOp
	// opSlack covers the clock error between the kernel's stamps and
	// the wall time after a request (a few µs): an operation of ours
	// ends before the JVM sends the reply we wait for.
	opSlack = 100 * time.Microsecond
	// maxOps bounds the operations kept for the dumps' windows.
	maxOps = 4096
	// settleAfter is how long after a dump its operations are awaited
	// when no later operation of the JVM shows that they are in: a drain
	// period and the reader's wakeup (DeliverySlack) many times over, as
	// a reader late on a loaded host would have them charged by the
	// counters. Meanwhile the dump counts with the counters' charge.
	settleAfter = 25 * correlate.DeliverySlack
)

// A vmOp is one VM operation as HotSpot's vmops probes report it: its
// name (the kernel's comm size) and when it began and ended (wall ns;
// end 0: not ended).
type vmOp struct {
	name       string
	begin, end int64
}

func (o vmOp) dur() time.Duration { return time.Duration(o.end - o.begin) }

// isDumpOp tells the VM operations of a thread dump.
func isDumpOp(name string) bool {
	return name == printThreads || name == "PrintJNI" || name == "FindDeadlocks"
}

// A dumpCost is one dump's charge and what it was made from.
type dumpCost struct {
	start, end  int64         // the request's window (wall ns)
	wall        time.Duration // its length
	counted     time.Duration // the JVM's safepoint time over the window (counters)
	countedN    int64         // and its safepoints
	countKnown  bool
	provisional time.Duration // charged until settled
	own         []vmOp        // its own operations; nil: not seen
	other       []vmOp        // the other operations that ended in the window
	inside      time.Duration // the time inside its own operations
	around      time.Duration // the VM thread's time between its operations and their neighbours (idleAround)
	cost        time.Duration // charged
	points      int64         // safepoints charged
}

// price sets what the dump is charged, from its own operations if seen.
func (p *dumpCost) price() {
	switch {
	case p.own != nil:
		p.inside = 0
		for _, op := range p.own {
			p.inside += op.dur()
		}
		p.points = int64(len(p.own))
		p.cost = p.inside
		if p.countKnown {
			if over := p.counted - p.inside - union(p.other); over > 0 {
				share := time.Duration(int64(over) * p.points / max(p.countedN, p.points))
				p.cost += min(share, p.around)
			}
		}
	case p.countKnown:
		p.cost, p.points = p.counted, p.countedN
	default:
		p.cost, p.points = p.wall, 0
	}
}

// union is the time covered by ops (an operation may run inside another).
func union(ops []vmOp) time.Duration {
	ops = slices.Clone(ops)
	slices.SortFunc(ops, func(a, b vmOp) int { return cmp.Compare(a.begin, b.begin) })
	var total time.Duration
	var lo, hi int64
	for i, op := range ops {
		if i == 0 || op.begin > hi {
			total += time.Duration(hi - lo)
			lo, hi = op.begin, op.end
			continue
		}
		hi = max(hi, op.end)
	}
	return total + time.Duration(hi-lo)
}

// ownOps splits the VM operations around a dump's window [start, end]
// into the dump's own and the others whose time the JVM's counters over
// the window hold (those that ended in it). The dump's own are the last
// PrintThreads that began in the window with the dump operations after it
// (up to the next PrintThreads), all ended within it; none when there is
// no such run. ops may hold operations not ended (end 0). The counters are
// read before start: what ended before it (the previous dump's last
// operation, often less than a millisecond earlier) is not in them.
func ownOps(ops []vmOp, start, end int64) (own, other []vmOp) {
	lo, hi := start, end+int64(opSlack)
	ended := func(op vmOp) bool { return op.end != 0 && op.end <= hi }
	var in []vmOp
	for _, op := range ops {
		if op.begin >= lo && op.begin <= hi {
			in = append(in, op)
		}
	}
	slices.SortFunc(in, func(a, b vmOp) int { return cmp.Compare(a.begin, b.begin) })
	for i := len(in) - 1; i >= 0 && own == nil; i-- {
		if in[i].name != printThreads {
			continue
		}
		run := []vmOp{in[i]}
		for j := i + 1; j < len(in) && in[j].name != printThreads; j++ {
			if isDumpOp(in[j].name) {
				run = append(run, in[j])
			}
		}
		if !slices.ContainsFunc(run, func(op vmOp) bool { return !ended(op) }) {
			own = run
		}
	}
	for _, op := range ops {
		if op.end >= lo && ended(op) && !slices.Contains(own, op) {
			other = append(other, op)
		}
	}
	return own, other
}

// idleAround is how long the VM thread was between the operations own and
// the ones before and after each (in ops, or the window's bounds: the
// first safepoint is begun after our request, the last one left before our
// reply): reaching and leaving our safepoints took no longer. The VM thread
// runs one operation at a time, each at its own safepoint.
func idleAround(ops, own []vmOp, start, end int64) time.Duration {
	gaps := map[int64]int64{} // from -> to, each counted once
	for _, op := range own {
		prev, next := start, end
		for _, o := range ops {
			if o.end != 0 && o.end <= op.begin {
				prev = max(prev, o.end)
			}
			if o.begin >= op.end && o.begin < next {
				next = o.begin
			}
		}
		if op.begin > prev {
			gaps[prev] = op.begin
		}
		if next > op.end {
			gaps[op.end] = next
		}
	}
	var t time.Duration
	for from, to := range gaps {
		t += time.Duration(to - from)
	}
	return t
}

// setVMOps tells whether HotSpot's vmops probes are attached: from then
// on a dump is charged with its own VM operations.
func (r *refresher) setVMOps(on bool) {
	r.mu.Lock()
	r.vmops = on
	r.mu.Unlock()
}

// vmOp takes a VM operation's begin or end (sched.KindVMOpBegin/End) from
// the tracer.
func (r *refresher) vmOp(e *sched.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.opsSeen = max(r.opsSeen, e.Time)
	switch e.Kind {
	case sched.KindVMOpBegin:
		if len(r.opOpen) >= 8 { // begun before tracing, or an end lost
			r.opOpen = slices.Delete(r.opOpen, 0, 1)
		}
		r.opOpen = append(r.opOpen, vmOp{name: e.Comm, begin: e.Time})
	case sched.KindVMOpEnd:
		// The VM thread runs one operation at a time, but one may run
		// another inside it: the end closes the latest of its name.
		for i := len(r.opOpen) - 1; i >= 0; i-- {
			if r.opOpen[i].name == e.Comm {
				op := r.opOpen[i]
				op.end = max(e.Time, op.begin)
				r.opOpen = slices.Delete(r.opOpen, i, i+1)
				if from := r.keepOpsFrom(); from != 0 && op.end >= from && len(r.ops) < maxOps {
					r.ops = append(r.ops, op)
				}
				break
			}
		}
	}
	if len(r.pending) > 0 {
		r.settle(false)
	}
}

// keepOpsFrom is the oldest time a dump's window needs operations from: the
// dump under way's start, or the oldest pending dump's; 0: none needed.
// r.mu held.
func (r *refresher) keepOpsFrom() int64 {
	from := r.opFrom
	if len(r.pending) > 0 && (from == 0 || r.pending[0].start < from) {
		from = r.pending[0].start
	}
	if from == 0 {
		return 0
	}
	return from - int64(opSlack)
}

// pruneOps drops the operations no dump's window needs. r.mu held.
func (r *refresher) pruneOps() {
	from := r.keepOpsFrom()
	r.ops = slices.DeleteFunc(r.ops, func(op vmOp) bool { return from == 0 || op.end < from })
}

// settle charges the pending dumps whose operations are all in: one of the
// JVM's VM operations that began or ended after the dump's end has arrived
// (the ring buffer hands them over in order), or settleAfter has passed
// since it (later only when the reader stalls: the dump is then charged by
// its window's counters, never less than by its operations), or all: the
// tracer has stopped. r.mu held.
func (r *refresher) settle(all bool) {
	now := time.Now().UnixNano()
	n := 0
	for ; n < len(r.pending); n++ {
		p := &r.pending[n]
		if !all && r.opsSeen <= p.end+int64(opSlack) && now <= p.end+int64(settleAfter) {
			break
		}
		r.charge(p, true)
	}
	if n > 0 {
		r.pending = slices.Delete(r.pending, 0, n)
		r.pruneOps()
	}
}

// charge settles one dump's charge: from its own operations when probed
// and seen, else its window's counters or wall time. r.mu held.
func (r *refresher) charge(p *dumpCost, probed bool) {
	if probed {
		open := make([]vmOp, 0, len(r.ops)+len(r.opOpen))
		open = append(append(open, r.ops...), r.opOpen...)
		p.own, p.other = ownOps(open, p.start, p.end)
		p.around = idleAround(open, p.own, p.start, p.end)
	}
	p.price()
	r.charged += p.cost - p.provisional
	r.chargedN += p.points
	switch {
	case p.own != nil:
		r.byOps++
		r.opTime += p.inside
		r.lastOwn = p.cost
		if r.others == nil {
			r.others = map[string]int{}
		}
		for _, op := range p.other {
			r.otherN++
			r.otherT += op.dur()
			if isDumpOp(op.name) {
				r.otherDmp++
			}
			if len(r.others) < 32 || r.others[op.name] > 0 {
				r.others[op.name]++
			}
		}
	case !p.countKnown:
		r.wallCharged += p.cost
	}
	if r.onSettle != nil {
		r.onSettle(p)
	}
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
	r.settle(false)
	budget := ""
	if r.budget < 1 {
		budget = " (budget " + FormatBudget(r.budget) + ")"
	}
	switch {
	case r.byOps > 0:
		// "stopped the JVM for D in N safepoints", as without the
		// probes: scripts read it.
		fmt.Fprintf(w, "; their own VM operations stopped the JVM for %s in %d safepoints, %.2f%% of the run%s: %s inside them (HotSpot's vmops probes)",
			r.charged.Round(100*time.Microsecond), r.chargedN, 100*float64(r.charged)/float64(run), budget, r.opTime.Round(100*time.Microsecond))
		if r.stopKnown > 0 {
			fmt.Fprint(w, ", the rest reaching and leaving their safepoints (the JVM's counters)")
		} else {
			fmt.Fprint(w, "; reaching and leaving their safepoints not counted: the JVM publishes no safepoint counters")
		}
		if n := r.taken - r.byOps - len(r.pending); n > 0 {
			fmt.Fprintf(w, "; %d dumps whose operations were not seen (taken as tracing ended, or events lost) charged by their window's counters or wall time", n)
		}
	case r.stopKnown > 0:
		fmt.Fprintf(w, "; they stopped the JVM for %s in %d safepoints, %.2f%% of the run%s, by the JVM's safepoint counters over their windows (",
			r.stopped.Round(100*time.Microsecond), r.points, 100*float64(r.stopped)/float64(run), budget)
		if r.vmops {
			fmt.Fprint(w, "their VM operations were not seen")
		} else {
			fmt.Fprint(w, "no vmops probes")
		}
		fmt.Fprint(w, ": a GC or another tool's dump in those windows counts too)")
		if r.stopKnown < r.taken {
			fmt.Fprintf(w, " (%d dumps not measured)", r.taken-r.stopKnown)
		}
	case r.taken > 0:
		fmt.Fprintf(w, "; the JVM's safepoint counters could not be read (-XX:-UsePerfData, or its hsperfdata file is not readable: see docs/privileges.md): wall time charged to the budget%s", budget)
	default:
		fmt.Fprint(w, budget)
	}
	if r.failed > 0 {
		fmt.Fprintf(w, ", %d failed (last: %v)", r.failed, r.lastErr)
	}
	fmt.Fprintln(w)
	if r.byOps > 0 && r.otherN > 0 {
		fmt.Fprintf(w, "jschedlat: not charged to the dumps: %d other VM operations that ended in their windows (%s), %s inside them",
			r.otherN, r.otherNames(), r.otherT.Round(100*time.Microsecond))
		if r.otherDmp > 0 {
			fmt.Fprintf(w, "; %d of them other tools' thread dumps", r.otherDmp)
		}
		if r.stopKnown > 0 {
			fmt.Fprintf(w, "; the JVM's safepoint counters over the windows: %s in %d safepoints", r.stopped.Round(100*time.Microsecond), r.points)
		}
		fmt.Fprintln(w)
	}
	if r.deferred > 0 || r.skipped > 0 {
		fmt.Fprintf(w, "jschedlat: the dump budget held requested dumps back for %s in total", r.deferred.Round(time.Millisecond))
		if r.skipped > 0 {
			fmt.Fprint(w, " and skipped the one wanted at exit")
		}
		fmt.Fprintln(w, ": threads that lived and ended meanwhile stay unnamed (raise --dump-budget to name more)")
	}
}

// otherNames lists the other operations in the dumps' windows, most
// frequent first ("G1CollectFull 12, PrintThreads 2"). r.mu held.
func (r *refresher) otherNames() string {
	names := slices.Collect(maps.Keys(r.others))
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(r.others[b], r.others[a]); c != 0 {
			return c
		}
		return strings.Compare(a, b)
	})
	var b strings.Builder
	for i, n := range names {
		if i == 4 {
			fmt.Fprintf(&b, ", ...")
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %d", n, r.others[n])
	}
	return b.String()
}

// DumpStats are a refresher's counters (metrics).
type DumpStats struct {
	Taken, Failed int
	Wall          time.Duration
	// Stopped is the stop time charged to the dumps: their own VM
	// operations' safepoints where HotSpot's vmops probes saw them, else
	// the JVM's safepoint counters over their windows.
	Stopped  time.Duration
	Deferred time.Duration // requests held back by the budget
	// Dumps charged by their own VM operations; the time inside those;
	// the JVM's counters over every measured dump's window; the other VM
	// operations that ended in those windows (not charged), and how many
	// of them other tools' dumps.
	ByOps                 int
	OpTime, Counted       time.Duration
	OtherOps, OtherDumpOp int
}

// Add sums two JVMs' counters.
func (d DumpStats) Add(o DumpStats) DumpStats {
	return DumpStats{Taken: d.Taken + o.Taken, Failed: d.Failed + o.Failed, Wall: d.Wall + o.Wall, Stopped: d.Stopped + o.Stopped, Deferred: d.Deferred + o.Deferred,
		ByOps: d.ByOps + o.ByOps, OpTime: d.OpTime + o.OpTime, Counted: d.Counted + o.Counted, OtherOps: d.OtherOps + o.OtherOps, OtherDumpOp: d.OtherDumpOp + o.OtherDumpOp}
}

func (r *refresher) stats() DumpStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.settle(false)
	stopped := r.charged - r.wallCharged
	for _, p := range r.pending {
		if !p.countKnown {
			stopped -= p.provisional
		}
	}
	return DumpStats{Taken: r.taken, Failed: r.failed, Wall: r.total, Stopped: stopped, Deferred: r.deferred,
		ByOps: r.byOps, OpTime: r.opTime, Counted: r.stopped, OtherOps: r.otherN, OtherDumpOp: r.otherDmp}
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
