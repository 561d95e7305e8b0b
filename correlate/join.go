package correlate

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// Joiner turns events into records, naming the threads of one JVM. The live
// run and replay share it, so the same inputs give the same rows.
type Joiner struct {
	Pid   uint32 // the JVM; 0 when tracing all tasks (no naming)
	Namer *Namer
	// Cgroup, if set, gives a process's cgroup and container ID (live
	// runs; replay has none).
	Cgroup func(pid uint32) (cgroup, container string)

	// Rows written together (Live.Emit, Flush) take the JVM's cgroup
	// from one call of Cgroup, which reads the clock and takes a lock.
	batch           bool
	cgKnown         bool
	cg, cgContainer string
}

// beginBatch starts rows written together: the JVM's cgroup is looked up
// again, once.
func (j *Joiner) beginBatch() { j.batch, j.cgKnown = true, false }

func (j *Joiner) endBatch() { j.batch = false }

func (j *Joiner) cgroup(pid uint32) (string, string) {
	if !j.batch || pid != j.Pid || j.Pid == 0 {
		return j.Cgroup(pid)
	}
	if !j.cgKnown {
		j.cg, j.cgContainer = j.Cgroup(pid)
		j.cgKnown = true
	}
	return j.cg, j.cgContainer
}

// Annotate fills r from e.
func (j *Joiner) Annotate(e *sched.Event, r *record.Record) {
	// Field by field, every one (TestAnnotateSetsEveryField): a composite
	// literal is built on the stack and copied, the copy's wide loads
	// stalling on the narrow stores before them (5 ns of 24 measured
	// alone).
	r.Time, r.TimeText, r.KTime = e.Time, "", e.KTime
	r.CPU, r.QueuedCPU, r.Kind, r.LatencyNs = e.CPU, e.QueuedCPU, e.Kind.String(), e.Latency
	r.Pid, r.Tid, r.Comm, r.JavaThread, r.NameSource = e.Pid, e.Tid, e.Comm, "", record.SourceComm
	r.PrevPid, r.PrevTid, r.PrevComm, r.PrevJavaThread = e.PrevPid, e.PrevTid, e.PrevComm, ""
	r.VirtualThread, r.Cgroup, r.Container = "", "", ""
	if j.Cgroup != nil {
		r.Cgroup, r.Container = j.cgroup(e.Pid)
	}
	if j.Namer == nil || j.Pid == 0 {
		return
	}
	if e.Pid == j.Pid {
		r.JavaThread, r.NameSource = j.Namer.Name(e.Tid, e.Time, e.Comm)
		// Off the CPU since its last switch-out when known, else at
		// least for the wait.
		if e.VThread != 0 {
			// Read by the kernel side from the carrier's memory as it
			// left the CPU: exact.
			r.VirtualThread = VirtualName(int64(e.VThread), j.Namer.VirtualThreadName(int64(e.VThread)))
		} else {
			off := e.Latency
			if e.OffCPU > off {
				off = e.OffCPU
			}
			r.VirtualThread = j.Namer.Virtual(e.Tid, e.Time-int64(off), e.Time)
		}
	}
	// The task that held the CPU is named too when it is a thread of the
	// same JVM (a GC or compiler thread taking the CPU is an answer).
	if e.PrevPid == j.Pid && e.PrevTid != 0 {
		r.PrevJavaThread, _ = j.Namer.Name(e.PrevTid, e.Time, e.PrevComm)
	}
}

// Live holds events for the join horizon before writing them, so that a
// dump taken because of an event (a new or renamed thread) can still name
// it. The tracer's reader adds events and emits after each drain
// (bpf.RunOptions.AfterDrain), all in its goroutine; the dump refresher
// adds dumps from its own (AddDump, SetProbed: see post).
type Live struct {
	j       *Joiner
	out     record.Writer
	hold    int64 // ns an event waits before it is written
	pending []sched.Event
	head    int
	// unsorted is the first index of pending out of time order (0: all
	// in order; index 0 cannot be out of order).
	unsorted int
	scratch  []sched.Event // order's merge buffer, kept between calls
	runs     []int
	merge    cpuMerge // order's merge of the CPUs' sequences
	rec      record.Record
	// NeedDump is called (in the reader's goroutine: it must not block) when an
	// event's thread is not explained by the dumps known so far.
	// It returns false when no new dump is needed after all (one that
	// began after t is under way): the thread is checked again later.
	NeedDump func(tid uint32, comm string, t int64) bool
	asked    map[uint32][]string // kernel names already asked about, per TID
	// Probed tells that new Java threads report their names as they
	// start (sched.KindThreadStart): an unknown thread is then asked about
	// only if its start has not named it within ProbeGrace.
	Probed bool
	// ProbedSince is when the probes began to report (wall ns; 0: from
	// the start): a thread that started before cannot be named by its
	// start, and is asked about at once. Waiting ProbeGrace for it lost a
	// thread born between the first read and the probes' attaching, that
	// lived 0.3 s: gone when it was asked about.
	ProbedSince int64
	deferred    map[uint32]deferredCheck
	written     uint64
	unnamed     uint64 // records of the JVM's threads without a Java name
	err         error
	pruned      int64 // when Emit last pruned the Namer (wall ns)

	// Work other goroutines posted (post).
	inMu   sync.Mutex
	inbox  []func()
	posted atomic.Bool
}

// PruneLag is how late (past its hold time) an event may still arrive and
// be named exactly as if the Namer kept its whole history: Emit prunes
// what only older events could need (see Namer.Prune). Events arrive late
// by less than DeliverySlack, unless the reader stalls.
const PruneLag = time.Minute

// pruneEvery is how often Emit prunes the Namer: each time it visits
// every TID it remembers.
const pruneEvery = 10 * time.Second

// ProbeGrace is how long an unknown thread waits for its start to name it
// before a dump is asked for. A thread's start record follows its first
// switch-in by microseconds and reaches user space within one drain.
const ProbeGrace = 300 * time.Millisecond

type deferredCheck struct {
	comm string
	t    int64
}

// DeliverySlack covers the time between an event's timestamp and its
// arrival in user space (kernel staging up to the tracer's MaxHold, then the
// ring-buffer drain period) and the hand-over of a finished dump. Events
// arrive out of time order by less than this (each CPU sends its own
// batches), so held records are written in time order, and replay sorts
// in the same window. A JVM whose threads all name themselves is drained
// once a second (session.SteadyDrainInterval): its events may arrive up to
// ~1.05 s late, still well inside Live's hold (the Namer's horizon plus
// this), and no name of such a JVM waits for a later dump.
const DeliverySlack = 400 * time.Millisecond

// NewLive writes annotated records to out. When naming one JVM's threads,
// records are held for the join and written in time order. Without naming
// (tracing all tasks, at up to hundreds of thousands of events per second)
// they are written as they arrive: each CPU's in time order, CPUs
// interleaved by batch.
func NewLive(j *Joiner, out record.Writer) *Live {
	l := &Live{j: j, out: out, asked: map[uint32][]string{}}
	if j.Sorted() {
		h := DefaultHorizon
		if j.Namer != nil {
			h = j.Namer.Horizon
		}
		l.hold = int64(h + DeliverySlack)
		l.pending = make([]sched.Event, 0, 4096) // ~1 s at 4,000 waits/s
	}
	return l
}

// Sorted tells whether records of this join come in time order (live and
// replay alike): when it traces one process.
func (j *Joiner) Sorted() bool { return j.Pid != 0 }

// SetProbed sets Probed and ProbedSince while events flow (a JVM's
// probes attached after its tracing began, at since), from any goroutine.
func (l *Live) SetProbed(on bool, since int64) {
	l.post(func() { l.Probed, l.ProbedSince = on, since })
}

// post hands work from another goroutine (a finished dump, SetProbed) to
// the reader's, which does it at its next Add, Emit or Flush, before
// anything else: Add, called for every event, takes no lock, only looks
// at an atomic flag (a lock there was a sixth of the join's CPU).
func (l *Live) post(f func()) {
	l.inMu.Lock()
	l.inbox = append(l.inbox, f)
	l.posted.Store(true)
	l.inMu.Unlock()
}

// takeInbox does what other goroutines posted, in order (in the reader's
// goroutine).
func (l *Live) takeInbox() {
	l.inMu.Lock()
	in := l.inbox
	l.inbox = nil
	l.posted.Store(false)
	l.inMu.Unlock()
	for _, f := range in {
		f()
	}
}

// Add takes one event from the tracer. Add, Emit, Flush, Written,
// Unnamed and Pending are called from one goroutine (the reader's).
func (l *Live) Add(e *sched.Event) {
	if l.posted.Load() {
		l.takeInbox()
	}
	l.add(e)
}

func (l *Live) add(e *sched.Event) {
	if e.Kind.VMOp() {
		if l.j.Namer != nil {
			l.j.Namer.AddVMOp(e)
		}
		return
	}
	if e.Kind == sched.KindThreadStart || e.Kind == sched.KindThreadName {
		if l.j.Namer != nil && e.Pid == l.j.Pid {
			if e.Kind == sched.KindThreadStart {
				l.j.Namer.AddThreadStart(e)
			} else {
				l.j.Namer.AddThreadName(e)
			}
		}
		return
	}
	if e.Kind.Lifecycle() {
		if l.j.Namer != nil {
			l.j.Namer.AddLifecycle(e)
		}
		// The thread may now have another name, or the TID another thread.
		delete(l.asked, e.Tid)
		// A new or self-renamed thread needs a dump now: its first
		// switches may still be staged in the kernel, and a short-lived
		// thread must be caught before it ends. HotSpot naming a new
		// thread is not a rename: the birth asked already.
		if l.NeedDump != nil && e.Pid == l.j.Pid && l.j.Namer != nil {
			switch {
			case e.Kind == sched.KindBirth:
				l.check(e.Tid, e.Comm, e.Time)
			case e.Kind == sched.KindRename && !l.j.Namer.Naming(e.Tid, e.Time):
				// No probe reports the new name of a renamed thread.
				l.checkNow(e.Tid, e.Comm, e.Time)
			}
		}
		return
	}
	if l.hold == 0 {
		l.write(e)
		return
	}
	if l.NeedDump != nil && e.Pid == l.j.Pid {
		l.check(e.Tid, e.Comm, e.Time)
	}
	if l.NeedDump != nil && e.PrevPid == l.j.Pid && e.PrevTid != 0 {
		l.check(e.PrevTid, e.PrevComm, e.Time)
	}
	// Sorted into time order before anything is written (order): each
	// CPU's batches come in time order, but a batch of one CPU lands
	// behind the other's, and inserting each event in place moved half a
	// batch per event (a third of the tracer's CPU, measured with perf).
	if len(l.pending) == cap(l.pending) {
		l.grow()
	}
	if n := len(l.pending); l.unsorted == 0 && n > l.head && l.pending[n-1].Time > e.Time {
		l.unsorted = n
	}
	l.pending = append(l.pending, *e)
}

// grow moves what is held to an array twice the size. (append's growth by
// a quarter, copying the written part too, touched new pages at each step
// while the hold filled: ~800 page faults in the first seconds. Emit's
// compact keeps a written half from filling the array.)
func (l *Live) grow() {
	to := make([]sched.Event, 0, max(2*cap(l.pending), 1024))
	to = append(to, l.pending[l.head:]...)
	if l.unsorted != 0 {
		l.unsorted -= l.head
	}
	l.pending, l.head = to, 0
}

// order sorts what is held into time order, ties in arrival order (as
// replay does), touching only the span that the late events fall into.
func (l *Live) order() {
	k := l.unsorted
	if k == 0 {
		return
	}
	l.unsorted = 0
	m := l.pending[k].Time
	for i := k + 1; i < len(l.pending); i++ {
		m = min(m, l.pending[i].Time)
	}
	// pending[head:k] is in order: events up to m keep their place.
	p := l.head + sort.Search(k-l.head, func(i int) bool { return l.pending[l.head+i].Time > m })
	if !l.merge.sort(l.pending[p:]) {
		l.scratch = mergeRuns(l.pending[p:], l.scratch, l.runs[:0])
	}
}

// check asks for a dump if no dump or thread start explains tid under comm
// at t; with thread starts reported (since before t), only after
// ProbeGrace (see Emit).
func (l *Live) check(tid uint32, comm string, t int64) {
	if l.Probed && t >= l.ProbedSince {
		if l.j.Namer.Known(tid, comm, t) {
			return
		}
		if l.deferred == nil {
			l.deferred = map[uint32]deferredCheck{}
		}
		if _, ok := l.deferred[tid]; !ok {
			l.deferred[tid] = deferredCheck{comm, t}
		}
		return
	}
	l.checkNow(tid, comm, t)
}

// recheck asks about the deferred threads that their start did not name.
func (l *Live) recheck(now int64) {
	for tid, d := range l.deferred {
		if now-d.t < int64(ProbeGrace) {
			continue
		}
		delete(l.deferred, tid)
		l.checkNow(tid, d.comm, d.t)
	}
}

func (l *Live) checkNow(tid uint32, comm string, t int64) {
	if l.j.Namer.Known(tid, comm, t) {
		return
	}
	// Ask once per (thread, kernel name): a native thread that no dump
	// will ever list must not cause a dump storm.
	for _, c := range l.asked[tid] {
		if c == comm {
			return
		}
	}
	if l.NeedDump(tid, comm, t) {
		l.asked[tid] = append(l.asked[tid], comm)
	}
}

// AddDump hands a finished dump to the join, from any goroutine: events
// added after it returns are joined with it. td is not changed after.
func (l *Live) AddDump(td *TimedDump) {
	if l.j.Namer == nil {
		return
	}
	l.post(func() { l.j.Namer.AddDump(td.Start, td.End, &td.Dump, td.TidMap()) })
}

func (l *Live) write(e *sched.Event) {
	if l.err != nil {
		return
	}
	l.j.Annotate(e, &l.rec)
	if err := l.out.Write(&l.rec); err != nil {
		l.err = err
		return
	}
	l.written++
	if l.rec.JavaThread == "" && l.j.Pid != 0 && e.Pid == l.j.Pid {
		l.unnamed++
	}
}

// Emit writes the events whose hold time has passed at wall time now (ns)
// and flushes the output. It returns the first write error.
func (l *Live) Emit(now int64) error {
	l.takeInbox()
	if l.NeedDump != nil && len(l.deferred) > 0 {
		l.recheck(now)
	}
	l.order()
	l.j.beginBatch()
	for l.head < len(l.pending) && l.pending[l.head].Time+l.hold <= now {
		l.write(&l.pending[l.head])
		l.head++
	}
	l.j.endBatch()
	l.compact()
	if l.j.Namer != nil && l.hold > 0 && now-l.pruned >= int64(pruneEvery) {
		// A thread that ended is not asked about again; its TID will
		// come back as another thread (and a birth clears it anyway).
		for tid := range l.asked {
			if l.j.Namer.Ended(tid) {
				delete(l.asked, tid)
			}
		}
		l.j.Namer.Prune(now - l.hold - int64(PruneLag))
		l.pruned = now
	}
	if l.err == nil {
		l.err = l.out.Flush()
	}
	return l.err
}

func (l *Live) compact() {
	// Once half is written: each event is copied about once more, and the
	// slice stays near twice what is held. (At three quarters it grew to
	// four times, 2.7 MB at 2,000 events/s, and growing it was a fifth of
	// the tracer's CPU in its first 15 s: copies and page faults.)
	if l.head > 1024 && l.head*2 >= len(l.pending) {
		n := copy(l.pending, l.pending[l.head:])
		l.pending = l.pending[:n]
		l.head = 0
	}
}

// Flush writes every held event (at the end of a run).
func (l *Live) Flush() error {
	l.takeInbox()
	l.order()
	l.j.beginBatch()
	for ; l.head < len(l.pending); l.head++ {
		l.write(&l.pending[l.head])
	}
	l.j.endBatch()
	l.pending, l.head = l.pending[:0], 0
	if l.err == nil {
		l.err = l.out.Flush()
	}
	return l.err
}

// Written returns how many records were written.
func (l *Live) Written() uint64 {
	return l.written
}

// Unnamed returns how many records written of the JVM's own threads had no
// Java name.
func (l *Live) Unnamed() uint64 {
	return l.unnamed
}

// Pending returns how many events wait for their hold time.
func (l *Live) Pending() int {
	return len(l.pending) - l.head
}
