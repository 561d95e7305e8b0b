// Package correlate is the join: it names kernel run-queue events
// (sched.Event) with Java thread identity from thread dumps and HotSpot's
// probes (Namer), live (Live, Joiner, Reorder) or offline from a saved run
// (Replay), into records (record.Record). The file formats live in
// packages record and eventlog.
package correlate

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// DefaultHorizon is how far past an event the join looks for a dump that
// names its thread. A dump triggered by an unknown thread starts tens of ms
// after the thread's first event and jcmd needs a few hundred ms, so the
// horizon must cover that; live output is delayed by it.
const DefaultHorizon = 2 * time.Second

// commLen is the kernel's TASK_COMM_LEN minus the NUL: HotSpot gives a
// thread the first 15 bytes of its Java name.
const commLen = 15

// defaultComm is the kernel name of a JVM thread before HotSpot names it, and
// of the main and launcher threads.
const defaultComm = "java"

type observation struct {
	start, end int64 // wall ns of the dump request and of its last byte
	name       string
	javaID     int64
	comm       string // the kernel name HotSpot would have given this name
	hotspot    bool   // from HotSpot's probes, not a dump
	memory     bool   // from a read of the JVM's memory, not a thread dump
}

// Namer answers "what was the Java name of TID x at time t" from thread
// dumps taken at known times and the exits of threads seen by the kernel.
//
// The answer for an event at time t depends only on dumps that were
// complete by t+Horizon and exits up to t+Horizon, so a live run (which
// waits Horizon before writing) and a replay of the same inputs give the
// same names.
type Namer struct {
	Horizon   time.Duration
	obs       map[uint32][]observation // by host TID, ordered by start
	marks     map[uint32][]mark        // lifecycle of each TID, ordered by time
	latest    map[uint32]observation   // newest observation per TID (for refresh decisions)
	mounts    map[uint32][]mount       // by carrier host TID, ordered by start
	vtNames   map[int64]vtName         // virtual thread Java id -> name (JSON dumps)
	ops       []vmop                   // thread-printing VM operations, ordered by begin
	opOpen    vmop                     // the one begun and not yet ended
	maxWindow int64                    // longest mount window (ns)
	starts    int                      // threads named at their start
	pending   map[uint32]pendingName   // full names given just before a kernel rename
	selfNamed int                      // renames named that way
	dumps     int
	lastEnd   int64
	// Known's answers (asked twice per event, the same few hundred
	// threads over and over) by TID, direct-mapped: an entry holds while
	// nothing new is learned about its TID (observe, addMark) and Prune
	// has not run (gen), for times at or after the TID's last mark.
	known []knownEntry
	gen   uint32
	// Name's answers by TID, direct-mapped like known: a thread's events
	// (and the previous task's) ask for the same name over and over, and
	// the answer holds over a span of time that only a new observation or
	// mark of the TID (forget), Prune (gen) or a time past the span ends.
	names []nameEntry
}

// nameEntry is a cached answer of Name for tid under comm at any time in
// [from, until).
type nameEntry struct {
	tid          uint32
	gen          uint32 // Namer.gen when cached; 0 = empty or forgotten
	from, until  int64
	comm         string
	name, source string
}

// knownSlots is the size of Known's cache: a JVM's TIDs are mostly
// consecutive, so a few hundred threads rarely share a slot.
const knownSlots = 1024

type knownEntry struct {
	tid   uint32
	gen   uint32 // Namer.gen when cached; 0 = empty or forgotten
	since int64  // the answer holds at t >= since: the TID's last mark
	comm  string
	known bool
}

// forget drops Known's answer for tid: something new is known about it.
func (n *Namer) forget(tid uint32) {
	if n.known != nil {
		if e := &n.known[tid%knownSlots]; e.tid == tid {
			e.gen = 0
		}
	}
	if n.names != nil {
		if e := &n.names[tid%knownSlots]; e.tid == tid {
			e.gen = 0
		}
	}
}

type vtName struct {
	name string
	seen int64 // end of the newest dump that listed it (wall ns)
}

type pendingName struct {
	name string
	t    int64 // wall ns of the probe
}

// A vmop is a HotSpot VM operation that printed threads, executed at a
// safepoint between begin and end (wall ns).
type vmop struct{ begin, end int64 }

// printOp names the VM operation of a HotSpot thread dump (VM_PrintThreads)
// as the vmops probes report it.
const printOp = "PrintThreads"

// AddVMOp records the begin or end of a VM operation (sched.KindVMOpBegin /
// KindVMOpEnd). The VM thread runs operations one at a time, so an end
// closes the begin before it.
func (n *Namer) AddVMOp(e *sched.Event) {
	if e.Comm != printOp {
		return
	}
	switch e.Kind {
	case sched.KindVMOpBegin:
		n.opOpen = vmop{begin: e.Time}
	case sched.KindVMOpEnd:
		if n.opOpen.begin != 0 && e.Time >= n.opOpen.begin {
			op := vmop{begin: n.opOpen.begin, end: e.Time}
			i := sort.Search(len(n.ops), func(i int) bool { return n.ops[i].begin > op.begin })
			n.ops = append(n.ops, vmop{})
			copy(n.ops[i+1:], n.ops[i:])
			n.ops[i] = op
		}
		n.opOpen = vmop{}
	}
}

// printedIn narrows a text dump's window [start, end] to the thread-printing
// VM operations inside it: the threads were listed during one of them, while
// every Java thread was stopped.
func (n *Namer) printedIn(start, end int64) (int64, int64) {
	i := sort.Search(len(n.ops), func(i int) bool { return n.ops[i].begin >= start })
	lo, hi := int64(0), int64(0)
	for ; i < len(n.ops) && n.ops[i].begin <= end; i++ {
		if n.ops[i].end > end {
			continue
		}
		if lo == 0 {
			lo = n.ops[i].begin
		}
		hi = max(hi, n.ops[i].end)
	}
	if lo == 0 {
		return start, end
	}
	return lo, hi
}

// A mount says that a carrier had virtual thread vt mounted at some instant
// within [start, end] (wall ns).
type mount struct {
	start, end int64
	vt         int64
	text       bool // from a text dump: narrowed by the printing VM operation
}

// NewNamer returns an empty Namer with the given horizon (0 = default).
func NewNamer(horizon time.Duration) *Namer {
	if horizon <= 0 {
		horizon = DefaultHorizon
	}
	return &Namer{
		Horizon: horizon,
		obs:     map[uint32][]observation{},
		marks:   map[uint32][]mark{},
		latest:  map[uint32]observation{},
		mounts:  map[uint32][]mount{},
		vtNames: map[int64]vtName{},
		pending: map[uint32]pendingName{},
		gen:     1,
	}
}

// Dumps returns how many dumps were added.
func (n *Namer) Dumps() int { return n.dumps }

// TidMap translates a TID printed in a dump into the host TID the kernel
// reports (they differ when the JVM runs in another PID namespace). nil
// means identity.
type TidMap func(dumpTid int) (uint32, bool)

// Host returns the host TID of a TID printed in a dump; false when the dump
// gave none (0) or it has no host TID.
func (m TidMap) Host(dumpTid int) (uint32, bool) {
	if dumpTid <= 0 {
		return 0, false
	}
	if m == nil {
		return uint32(dumpTid), true
	}
	return m(dumpTid)
}

// AddDump records the threads of a dump whose request started at start and
// ended at end (wall ns). A dump's threads are taken as observed at start.
func (n *Namer) AddDump(start, end int64, d *jvm.Dump, m TidMap) {
	n.dumps++
	if end > n.lastEnd {
		n.lastEnd = end
	}
	memory := d.VM == jvm.MemoryVM
	for i := range d.Threads {
		th := &d.Threads[i]
		if th.Virtual && th.JavaID > 0 {
			n.vtNames[th.JavaID] = vtName{name: th.Name, seen: end}
		}
		tid, ok := m.Host(th.Tid)
		if !ok {
			continue
		}
		if th.Carrying > 0 {
			n.addMount(tid, mountWindow(d, i, start, end), th.Carrying, !d.JSON)
		}
		n.observe(tid, observation{start: start, end: end, name: th.Name, javaID: th.JavaID, comm: KernelComm(th.Name), memory: memory})
	}
}

func (n *Namer) observe(tid uint32, o observation) {
	n.forget(tid)
	list := n.obs[tid]
	i := sort.Search(len(list), func(i int) bool { return list[i].start > o.start })
	list = append(list, observation{})
	copy(list[i+1:], list[i:])
	list[i] = o
	n.obs[tid] = list
	if cur, ok := n.latest[tid]; !ok || cur.start <= o.start {
		n.latest[tid] = o
	}
}

// AddThreadStart records the Java name a thread started with, seen by the
// hotspot:thread__start probe on the thread itself: like a dump of that
// one thread at that instant, without stopping the JVM.
func (n *Namer) AddThreadStart(e *sched.Event) {
	if e.NameCut {
		return
	}
	n.starts++
	n.observe(e.Tid, observation{start: e.Time, end: e.Time, name: e.Name, javaID: -1, comm: KernelComm(e.Name), hotspot: true})
}

// AddThreadName records the full name a thread is giving itself (HotSpot's
// os::set_native_thread_name, entered just before the kernel name is set):
// it names the thread from the kernel's rename record that follows.
func (n *Namer) AddThreadName(e *sched.Event) {
	if e.NameCut {
		return
	}
	n.pending[e.Tid] = pendingName{name: e.Name, t: e.Time}
}

// ThreadStarts returns how many threads were named by AddThreadStart.
func (n *Namer) ThreadStarts() int { return n.starts }

// mountWindow returns when carrier d.Threads[i] was seen carrying: a text
// dump lists every thread at one safepoint inside the request [start, end]
// (narrowed to the printing VM operation by Virtual when its probes fired);
// a JSON dump (JDK 25+) samples its threads one by one and stamps each, so
// the carrier's virtual thread was sampled between the stamps of the
// entries around it.
func mountWindow(d *jvm.Dump, i int, start, end int64) [2]int64 {
	if !d.JSON {
		return [2]int64{start, end}
	}
	// (JSON dumps are not taken at a safepoint: no VM operation to pin.)
	vt := -1
	for k := range d.Threads {
		if d.Threads[k].JavaID == d.Threads[i].Carrying {
			vt = k
			break
		}
	}
	if vt <= 0 || vt+1 >= len(d.Threads) {
		return [2]int64{start, end}
	}
	lo, hi := d.Threads[vt-1].Sampled, d.Threads[vt+1].Sampled
	if lo.IsZero() || hi.IsZero() || !lo.Before(hi) {
		return [2]int64{start, end}
	}
	return [2]int64{lo.UnixNano(), hi.UnixNano()}
}

func (n *Namer) addMount(tid uint32, w [2]int64, vt int64, text bool) {
	list := n.mounts[tid]
	i := sort.Search(len(list), func(i int) bool { return list[i].start > w[0] })
	list = append(list, mount{})
	copy(list[i+1:], list[i:])
	list[i] = mount{start: w[0], end: w[1], vt: vt, text: text}
	n.maxWindow = max(n.maxWindow, w[1]-w[0])
	n.mounts[tid] = list
}

// VirtualThreadName is the name of the virtual thread with Java id id as a
// dump showed it, "" when none did (most virtual threads have none).
func (n *Namer) VirtualThreadName(id int64) string { return n.vtNames[id].name }

// Virtual returns the virtual thread carrier tid had mounted while it was
// off the CPU over [from, to] (wall ns; to is the switch-in that ends a
// wait), in Java's notation, or "" when no dump proves it. A thread off
// the CPU runs no code, so it cannot mount or unmount: a dump that saw the
// carrier carrying #N at an instant inside the interval proves #N for all
// of it. The instant is known only to lie in the dump's window, so the
// whole window must lie inside the interval. For a text dump the window is
// the printing VM operation when its probes fired (a carrier that ran Java
// code stopped at the safepoint before it began and resumes after it ends:
// the wait that follows is its virtual thread's), else the whole request.
// Anything else would be a guess: a carrier switches virtual threads as
// often as they block.
func (n *Namer) Virtual(tid uint32, from, to int64) string {
	if len(n.mounts) == 0 { // no carriers seen: no lookup per event
		return ""
	}
	list := n.mounts[tid]
	// A window narrowed to its VM operation may fit even when the dump
	// began before from: look back over the longest dump window. All the
	// mounts that fit show the same virtual thread; the newest is taken
	// (the one Prune keeps).
	first := sort.Search(len(list), func(i int) bool { return list[i].start >= from-n.maxWindow })
	for i := sort.Search(len(list), func(i int) bool { return list[i].start > to }) - 1; i >= first; i-- {
		m := &list[i]
		lo, hi := m.start, m.end
		if m.text {
			lo, hi = n.printedIn(m.start, m.end)
		}
		if lo >= from && hi <= to {
			return VirtualName(m.vt, n.vtNames[m.vt].name)
		}
	}
	return ""
}

// VirtualName renders a virtual thread as Thread.toString does, without
// its state and carrier.
func VirtualName(id int64, name string) string {
	if name == "" {
		return "VirtualThread[#" + strconv.FormatInt(id, 10) + "]"
	}
	return "VirtualThread[#" + strconv.FormatInt(id, 10) + "," + name + "]"
}

func (o *observation) source() string {
	switch {
	case o.hotspot:
		return record.SourceHotSpot
	case o.memory:
		return record.SourceMemory
	}
	return record.SourceDump
}

// A mark is a moment in a TID's lifecycle seen by the kernel.
type mark struct {
	t    int64
	kind markKind
	comm string // rename: the new kernel name
}

type markKind uint8

const (
	markBirth markKind = iota + 1
	markRename
	markExit
)

func (n *Namer) addMark(tid uint32, m mark) {
	n.forget(tid)
	list := n.marks[tid]
	i := sort.Search(len(list), func(i int) bool { return list[i].t > m.t })
	list = append(list, mark{})
	copy(list[i+1:], list[i:])
	list[i] = m
	n.marks[tid] = list
}

// AddExit records that a thread ended at wall time t (ns): its TID may come
// back as another thread.
func (n *Namer) AddExit(tid uint32, t int64) { n.addMark(tid, mark{t: t, kind: markExit}) }

// AddBirth records that a thread was created at t. Its kernel name is its
// creator's until HotSpot names it: the first rename after a birth is that
// naming, not a change of Java name.
func (n *Namer) AddBirth(tid uint32, t int64) { n.addMark(tid, mark{t: t, kind: markBirth}) }

// AddRename records that a thread set its own kernel name at t (HotSpot does
// when a thread calls setName on itself, even when the first 15 bytes stay
// the same): dumps from before t do not name it after t.
func (n *Namer) AddRename(tid uint32, t int64, comm string) {
	n.addMark(tid, mark{t: t, kind: markRename, comm: comm})
	// The full name the thread gave itself just before, if the kernel
	// name is its prefix: observed just after the rename, in the span the
	// rename begins.
	if p, ok := n.pending[tid]; ok {
		name := p.name
		delete(n.pending, tid)
		o := observation{start: t + 1, end: t + 1, name: name, javaID: -1, comm: KernelComm(name), hotspot: true}
		if compatible(&o, comm) {
			n.observe(tid, o)
			n.selfNamed++
		}
	}
}

// SelfNamed returns how many self-renames were named by AddThreadName.
func (n *Namer) SelfNamed() int { return n.selfNamed }

// AddLifecycle records a lifecycle event (exit, birth, rename) of a thread.
func (n *Namer) AddLifecycle(e *sched.Event) {
	switch e.Kind {
	case sched.KindExit:
		n.AddExit(e.Tid, e.Time)
	case sched.KindBirth:
		n.AddBirth(e.Tid, e.Time)
	case sched.KindRename:
		n.AddRename(e.Tid, e.Time, e.Comm)
	}
}

// AddEvent records any event that tells about names (lifecycle, HotSpot's
// thread start and self-rename, VM operations) and ignores waits: the
// first pass over a saved event log.
func (n *Namer) AddEvent(e *sched.Event) {
	switch {
	case e.Kind.Lifecycle():
		n.AddLifecycle(e)
	case e.Kind.VMOp():
		n.AddVMOp(e)
	case e.Kind == sched.KindThreadStart:
		n.AddThreadStart(e)
	case e.Kind == sched.KindThreadName:
		n.AddThreadName(e)
	}
}

// epoch returns the span (lo, hi) around t in which thread tid kept one
// Java name as far as the kernel can tell, using marks up to limit, and
// the kernel name to check dumps against: before HotSpot named a new
// thread, that is the name it was about to get.
//
// A thread still runs after its exit mark (sched_process_exit fires early
// in do_exit; the task can be preempted before its last switch-out), so an
// event shortly after an exit, with no birth in between, belongs to the
// thread that is ending: its span ends at the exit.
//
// Dumps that ended before `until` may name the span: hi itself when the
// span ends with a rename (a dump across it may show either name), the next
// birth under the TID when it ends with an exit (until then no other thread
// can hold the TID, so a dump begun before the exit saw this one).
func (n *Namer) epoch(tid uint32, t, limit int64, comm string) (lo, hi, until int64, eff string) {
	const open = 1<<63 - 1
	lo, hi, eff = -1<<63, open, comm
	naming := false // a birth was seen and HotSpot has not named the thread yet
	marks := n.marks[tid]
	end := -1 // index of the mark that set hi
	for i, m := range marks {
		if m.t > limit {
			break
		}
		if m.t <= t {
			switch m.kind {
			case markExit:
				if t-m.t < int64(n.Horizon) {
					hi, end = m.t, i // the ending thread, unless a birth follows
				} else {
					lo, hi, end = m.t, open, -1
				}
				naming = false
			case markBirth:
				lo, hi, end, naming = m.t, open, -1, true
			case markRename:
				if naming {
					naming = false // HotSpot's naming of a new thread
				} else {
					lo, hi, end = m.t, open, -1
				}
			}
			continue
		}
		if hi != open {
			break // t is in an ending thread's last moments
		}
		if m.kind == markRename && naming {
			eff, naming = m.comm, false
			continue
		}
		hi, end = m.t, i
		break
	}
	until = hi
	if end >= 0 && marks[end].kind == markExit {
		until = open
		for _, m := range marks[end+1:] {
			if m.t > limit {
				break
			}
			if m.kind == markBirth {
				until = m.t
				break
			}
		}
	}
	return lo, hi, until, eff
}

// KernelComm is the kernel name HotSpot gives a thread called name: its
// first 15 bytes (possibly cutting a UTF-8 sequence), made valid UTF-8 the
// same way event comms are.
func KernelComm(name string) string {
	if len(name) > commLen {
		name = name[:commLen]
	}
	return strings.ToValidUTF8(name, "\uFFFD")
}

// compatible tells whether a thread called name could show comm in the
// kernel: a new thread runs as "java" until HotSpot names it.
func compatible(o *observation, comm string) bool {
	return comm == o.comm || comm == defaultComm
}

// Name returns the Java name of thread tid at wall time t (ns), given its
// kernel name comm at that moment, and where the name came from. The name
// is empty with SourceComm when no dump knows the thread.
func (n *Namer) Name(tid uint32, t int64, comm string) (string, string) {
	if n.gen == 0 { // not made by NewNamer: no cache
		return n.name(tid, t, comm)
	}
	if n.names == nil {
		n.names = make([]nameEntry, knownSlots)
	}
	e := &n.names[tid%knownSlots]
	if e.tid == tid && e.gen == n.gen && t >= e.from && t < e.until && e.comm == comm {
		return e.name, e.source
	}
	name, source := n.name(tid, t, comm)
	from, until := n.nameSpan(tid, t)
	*e = nameEntry{tid: tid, gen: n.gen, from: from, until: until, comm: comm, name: name, source: source}
	return name, source
}

// nameSpan returns the span [from, until) around t in which Name's answer
// for tid (under a given comm) is the one at t, with the marks and
// observations of tid known now. Name and epoch compare t only with these
// times, each as t >= x or t < x: a mark's time, it minus Horizon (the
// limit) and an exit's plus Horizon (an ending thread's last moments); an
// observation's start, and its end minus Horizon (the limit). Between two
// consecutive of them every comparison, so the answer, is the same.
func (n *Namer) nameSpan(tid uint32, t int64) (from, until int64) {
	from, until = -1<<63, 1<<63-1
	h := int64(n.Horizon)
	edge := func(x int64) {
		if x > t {
			until = min(until, x)
		} else {
			from = max(from, x)
		}
	}
	// x-h and x+h saturate, so that no edge is lost to an overflow.
	minus := func(x int64) int64 {
		if x < -1<<63+h {
			return -1 << 63
		}
		return x - h
	}
	plus := func(x int64) int64 {
		if x > 1<<63-1-h {
			return 1<<63 - 1
		}
		return x + h
	}
	for _, m := range n.marks[tid] {
		edge(m.t)
		edge(minus(m.t))
		if m.kind == markExit {
			edge(plus(m.t))
		}
	}
	for _, o := range n.obs[tid] {
		edge(o.start)
		edge(minus(o.end)) // (one begun after the limit ends after it)
	}
	return from, until
}

func (n *Namer) name(tid uint32, t int64, comm string) (string, string) {
	list := n.obs[tid]
	if len(list) == 0 {
		return "", record.SourceComm
	}
	limit := t + int64(n.Horizon)
	lo, hi, until, comm := n.epoch(tid, t, limit, comm)
	// A dump counts only if it was complete by the horizon and belongs to
	// this epoch: begun after its start, begun before its end, and over
	// before anything else could hold the TID or the name (see epoch).
	usable := func(o *observation) bool {
		return o.end <= limit && o.start > lo && o.start < hi && o.end < until
	}
	// Observations are ordered by start: look around t only, so that the
	// cost does not grow with the number of dumps of a long run. Nothing
	// at or before lo, nor after limit, can be usable.
	at := sort.Search(len(list), func(i int) bool { return list[i].start > t })
	var prev, next *observation
	for i := at - 1; i >= 0 && list[i].start > lo; i-- {
		if usable(&list[i]) {
			prev = &list[i]
			break
		}
	}
	for i := at; i < len(list) && list[i].start <= limit; i++ {
		if usable(&list[i]) {
			next = &list[i]
			break
		}
	}
	switch {
	case prev != nil && compatible(prev, comm):
		return prev.name, prev.source()
	case next != nil && compatible(next, comm):
		return next.name, next.source()
	case prev == nil:
		// The thread had another name before the first dump that saw
		// it (renamed by itself or by another thread): unknown.
		return "", record.SourceComm
	}
	// The kernel name matches neither neighbour. If it is the kernel name
	// of a name this same thread had earlier, comm is stale: another thread
	// renamed it, and the last name known at t is the answer.
	for i := at - 1; i >= 0 && list[i].start > lo; i-- {
		if usable(&list[i]) && list[i].comm == comm {
			return prev.name, record.SourceDumpRenamed
		}
	}
	// Otherwise the thread renamed itself to a name no dump has seen yet:
	// any name from a dump would be wrong.
	return "", record.SourceComm
}

// Known tells whether the newest dump knowledge about tid explains comm:
// the live pipeline asks for a fresh dump when it does not.
func (n *Namer) Known(tid uint32, comm string, t int64) bool {
	var e *knownEntry
	if n.gen != 0 { // a Namer made by NewNamer
		if n.known == nil {
			n.known = make([]knownEntry, knownSlots)
		}
		e = &n.known[tid%knownSlots]
		if e.tid == tid && e.gen == n.gen && t >= e.since && e.comm == comm {
			return e.known
		}
	}
	known, since := n.known1(tid, comm, t)
	if e != nil && t >= since {
		*e = knownEntry{tid: tid, gen: n.gen, since: since, comm: comm, known: known}
	}
	return known
}

// known1 is Known, and since, the time of tid's last mark: at every t at or
// after it the answer is the same (epoch then sees every mark at or before
// t, and none after).
func (n *Namer) known1(tid uint32, comm string, t int64) (known bool, since int64) {
	since = -1 << 63
	m := n.marks[tid]
	if len(m) > 0 {
		since = m[len(m)-1].t
	}
	return n.known2(tid, m, comm, t), since
}

func (n *Namer) known2(tid uint32, m []mark, comm string, t int64) bool {
	o, ok := n.latest[tid]
	if len(m) > 0 && m[len(m)-1].kind == markExit && m[len(m)-1].t <= t {
		return true // the thread has ended: no dump can name it any more
	}
	if !ok {
		return false
	}
	// Every mark known so far: a new thread runs under its creator's
	// name until HotSpot names it, and the naming, seen since, tells the
	// name comm stands for.
	lo, _, _, eff := n.epoch(tid, t, 1<<63-1, comm)
	if o.start <= lo {
		return false // the thread has exited or renamed itself since
	}
	return compatible(&o, eff)
}

// Naming tells whether the rename of tid at t is HotSpot giving a new
// thread its name (the first rename after its birth), not a change of the
// Java name.
func (n *Namer) Naming(tid uint32, t int64) bool {
	marks := n.marks[tid]
	i := sort.Search(len(marks), func(i int) bool { return marks[i].t >= t })
	return i > 0 && marks[i-1].kind == markBirth
}

// Ended tells whether the last lifecycle mark of tid is its exit.
func (n *Namer) Ended(tid uint32) bool {
	m := n.marks[tid]
	return len(m) > 0 && m[len(m)-1].kind == markExit
}

// LastDumpEnd returns the end time of the newest dump (wall ns).
func (n *Namer) LastDumpEnd() int64 { return n.lastEnd }

// maxOldComms bounds, per thread, how many kernel names Prune remembers
// from observations older than its horizon when it cannot tell the kernel
// name of the thread's current span (the thread predates the trace).
const maxOldComms = 16

// Prune forgets what no answer for a time at or after t (wall ns) can
// depend on: Name, Known and Naming for events at or after t, Virtual for
// waits that end at or after t. A run of days with threads starting and
// ending all the time, renaming themselves, and TIDs coming back keeps
// bounded memory this way.
//
// Name for an event at t' >= t looks at marks and at dumps of the span
// (see epoch) around t' that ended by t'+Horizon. Every span boundary at or
// before old = t-Horizon is behind t' by at least Horizon (an exit that far
// back is a boundary, not an ending thread's last moments), so with base
// the last boundary up to old, the span of t' begins at base or after old:
//   - marks before the one preceding the last mark up to old are dropped
//     (that one tells whether the last is HotSpot naming a new thread);
//   - observations begun at or before base are never usable again;
//   - observations over by old are all usable for t' or all not, so only
//     the newest one is kept (the answer when no newer one is usable) and,
//     for the stale-name case, the newest one per kernel name: only the
//     span's kernel name when the marks tell it, else the span's first
//     one and at most maxOldComms names (the one exception: a thread that
//     predates the trace, renamed by others before its first dump and
//     then to more than maxOldComms 15-byte prefixes, one of them back to
//     its kernel name, may lose a dump-renamed answer);
//   - a TID whose last mark is an exit up to old, with nothing seen of it
//     since, is forgotten whole (Known then tells that it is not known,
//     asking at worst once more about a reused TID whose wait came before
//     its birth record);
//   - of the mounts over by old, the newest is kept (a carrier off the CPU
//     cannot change virtual threads, so any mount inside a wait names the
//     same one), its window narrowed to its printing VM operation once and
//     for all, and the VM operations that no remaining mount can need are
//     dropped; names of virtual threads no dump listed since old and no
//     mount refers to, and full names a rename did not follow within the
//     horizon, are dropped.
func (n *Namer) Prune(t int64) {
	if n.gen != 0 { // every answer Known cached may change
		if n.gen++; n.gen == 0 {
			n.gen = 1
			clear(n.known)
			clear(n.names)
		}
	}
	old := t - int64(n.Horizon)
	for tid := range n.marks {
		n.pruneTid(tid, old)
	}
	for tid := range n.obs {
		if _, ok := n.marks[tid]; !ok {
			n.pruneTid(tid, old)
		}
	}
	for tid := range n.mounts {
		_, m := n.marks[tid]
		_, o := n.obs[tid]
		if !m && !o {
			n.pruneTid(tid, old)
		}
	}
	for tid, p := range n.pending {
		if p.t <= old {
			delete(n.pending, tid)
		}
	}
	// A text mount still needing VM operations began after
	// old-maxWindow (it ended after old, the frozen ones need none).
	if i := sort.Search(len(n.ops), func(i int) bool { return n.ops[i].begin >= old-n.maxWindow }); i > 0 {
		n.ops = append([]vmop(nil), n.ops[i:]...)
	}
	if len(n.vtNames) > 0 {
		used := map[int64]bool{}
		for _, list := range n.mounts {
			for i := range list {
				used[list[i].vt] = true
			}
		}
		for id, v := range n.vtNames {
			if v.seen <= old && !used[id] {
				delete(n.vtNames, id)
			}
		}
	}
}

func (n *Namer) pruneTid(tid uint32, old int64) {
	marks := n.marks[tid]
	k := sort.Search(len(marks), func(i int) bool { return marks[i].t > old }) - 1
	base, comm, commKnown := spanAt(marks, k)
	list := n.pruneObs(tid, base, old, comm, commKnown)

	ms := n.mounts[tid]
	newest, later := -1, false
	for i := range ms {
		if ms[i].end <= old {
			newest = i
		}
		if ms[i].start > base {
			later = true
		}
	}
	if k >= 0 && k == len(marks)-1 && marks[k].kind == markExit && len(list) == 0 && !later {
		// Ended long ago, nothing seen of it since.
		delete(n.marks, tid)
		delete(n.obs, tid)
		delete(n.latest, tid)
		delete(n.mounts, tid)
		delete(n.pending, tid)
		return
	}
	if k > 1 {
		n.marks[tid] = append([]mark(nil), marks[k-1:]...)
	}
	if newest >= 0 {
		n.pruneMounts(tid, ms, newest, old)
	}
}

// spanAt returns where the span of marks[k] began (base) and its kernel
// name when the marks tell it.
func spanAt(marks []mark, k int) (base int64, comm string, commKnown bool) {
	base = int64(-1 << 63)
	if k < 0 {
		return base, "", false
	}
	switch m := marks[k]; m.kind {
	case markBirth:
		base = m.t
		if k+1 < len(marks) && marks[k+1].kind == markRename {
			comm, commKnown = marks[k+1].comm, true // HotSpot's naming
		}
	case markRename:
		base, comm, commKnown = m.t, m.comm, true
		if k > 0 && marks[k-1].kind == markBirth {
			base = marks[k-1].t // the naming of a new thread
		}
	case markExit:
		base = m.t
	}
	return base, comm, commKnown
}

// pruneObs drops the observations of tid that ended by old and are not
// needed to name the current span (from base); it returns those kept.
func (n *Namer) pruneObs(tid uint32, base, old int64, comm string, commKnown bool) []observation {
	list := n.obs[tid]
	drop := 0
	var comms []string
	keepOld := func(o *observation) bool {
		for _, c := range comms {
			if c == o.comm {
				return false
			}
		}
		if len(comms) > 0 && (commKnown && o.comm != comm || !commKnown && len(comms) >= maxOldComms) {
			return false
		}
		comms = append(comms, o.comm)
		return true
	}
	// The span's first observation: without its kernel name from the
	// marks, the likeliest to show it (a thread renamed by others keeps
	// the kernel name it had before).
	first := -1
	if !commKnown {
		for i := range list {
			if list[i].start > base && list[i].end <= old {
				first = i
				break
			}
		}
	}
	keep := make([]bool, len(list))
	for i := len(list) - 1; i >= 0; i-- {
		o := &list[i]
		switch {
		case o.start <= base:
		case o.end > old:
			keep[i] = true
		default:
			keep[i] = keepOld(o) || i == first
		}
		if !keep[i] {
			drop++
		}
	}
	if drop == 0 {
		return list
	}
	kept := make([]observation, 0, len(list)-drop)
	for i := range list {
		if keep[i] {
			kept = append(kept, list[i])
		}
	}
	if len(kept) == 0 {
		delete(n.obs, tid)
	} else {
		n.obs[tid] = kept
	}
	return kept
}

// pruneMounts keeps the mounts of tid that end after old and the newest
// that ended by then (narrowed to its printing operation).
func (n *Namer) pruneMounts(tid uint32, ms []mount, newest int, old int64) {
	kept := make([]mount, 0, len(ms))
	for i := range ms {
		switch {
		case i == newest:
			m := ms[i]
			if m.text {
				m.start, m.end = n.printedIn(m.start, m.end)
				m.text = false
			}
			kept = append(kept, m)
		case ms[i].end > old:
			kept = append(kept, ms[i])
		}
	}
	sort.SliceStable(kept, func(i, j int) bool { return kept[i].start < kept[j].start })
	n.mounts[tid] = kept
}
