// Package jvmrun makes a synthetic saved run of one JVM, as attach
// --save-events and --save-dumps write it: the event log of ~200 threads in
// pools waiting in the run queue (with births, exits, self-renames, HotSpot
// probes and VM operations) and the periodic thread dumps that name them.
// The genevents command writes one for measuring replay; benchmarks of the
// live path read one back.
package jvmrun

import (
	"container/heap"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/eventlog"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// Config shapes the synthetic run; DefaultConfig is what the bench uses.
type Config struct {
	Waits      int           // wait events: the rows replay writes
	Threads    int           // threads alive when the trace begins
	CPUs       int           // CPUs the events are spread over
	Rate       float64       // wait events per second of trace time
	Seed       int64         // of the random choices: the same seed, the same files
	Pid        uint32        // the JVM
	DumpEvery  time.Duration // periodic dumps (attach's --dump-interval)
	BirthEvery time.Duration // mean gap between new short-lived pool threads
	LifeMean   time.Duration // their mean life
	RenameSelf time.Duration // mean gap between self-renames of batch threads
	GCEvery    time.Duration // mean gap between GC pauses (VM operations)
	Start      time.Time     // wall clock of the first event
}

func DefaultConfig() Config {
	return Config{
		Waits: 1_000_000, Threads: 200, CPUs: 8, Rate: 10_000, Seed: 1, Pid: 4242,
		DumpEvery: 30 * time.Second, BirthEvery: 2 * time.Second, LifeMean: 20 * time.Second,
		RenameSelf: 10 * time.Second, GCEvery: 3 * time.Second,
		Start: time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC),
	}
}

// Summary counts what was written.
type Summary struct {
	Events, Waits, Births, Exits, Renames, ThreadStarts, ThreadNames, VMOps, Dumps int
	Recovered                                                                      int // waits sent on their own, out of their CPU's order
	MaxLive                                                                        int
	Seconds                                                                        float64
}

func (s Summary) String() string {
	return fmt.Sprintf("events=%d waits=%d recovered=%d births=%d exits=%d renames=%d thread_starts=%d thread_names=%d vmops=%d dumps=%d max_live_threads=%d trace_seconds=%.1f",
		s.Events, s.Waits, s.Recovered, s.Births, s.Exits, s.Renames, s.ThreadStarts, s.ThreadNames, s.VMOps, s.Dumps, s.MaxLive, s.Seconds)
}

// A pool is a group of Java threads named alike that behave alike.
type pool struct {
	format  string  // thread name, %d = index in the pool
	share   float64 // of the pooled threads at the start
	weight  float64 // how often a thread of the pool waits, relative
	preempt float64 // share of its waits that are preemptions
	daemon  bool
	churn   bool // threads come and go (a cached pool beyond its core size)
	renames bool // threads rename themselves per job
	state   string
	stack   []string
	live    []*thread
	next    int
}

type thread struct {
	tid      uint32
	javaID   int64 // -1: VM-internal
	name     string
	comm     string // the kernel's name for it now
	daemon   bool
	internal bool
	born     int64 // wall ns (for the dump's elapsed=)
	fresh    bool  // has not run yet: its first wait is wakeup_new
	pool     *pool
	addr     uint64
	job      int
}

type other struct {
	pid  uint32
	comm string
}

// Processes that take a CPU from the JVM now and then.
var others = []other{
	{1, "systemd"}, {412, "systemd-journal"}, {97, "kworker/u16:3"}, {15, "ksoftirqd/1"},
	{1320, "sshd"}, {2101, "node_exporter"}, {2388, "containerd"}, {3017, "fluent-bit"},
}

const (
	batchSize = 16 // events the kernel side stages per CPU before sending
	// One wait in this many is recovered (a live run on the Workload: 159
	// of 103,787 in 65 s on this kernel).
	recoveredEvery = 650
	maxHold        = bpf.DefaultMaxHold // and the longest it keeps one staged
	vmName         = "OpenJDK 64-Bit Server VM (17.0.15+6-Debian-1deb12u1 mixed mode, sharing)"
	dumpSrc        = "attach"
	nsPerMs        = int64(time.Millisecond)
	uptime         = 3 * 24 * time.Hour // CLOCK_MONOTONIC at the first event
)

// gen writes a saved event log (as attach --save-events does) and a
// --save-dumps directory for one JVM whose ~cfg.Threads threads live in
// pools: periodic dumps name them, HotSpot's probes name the threads born
// and renamed in between. truth, if set, gets every wait event as it is
// made, with the Java names of its thread and of the JVM thread it
// follows on the CPU ("" for another process).
type gen struct {
	cfg    Config
	rng    *rand.Rand
	ev     *eventlog.Writer
	dir    string
	index  *os.File
	truth  func(e *sched.Event, name, prevName string)
	sum    Summary
	now    int64 // wall ns of the last event made (strictly increasing)
	t0     int64
	boot   int64 // wall ns at CLOCK_MONOTONIC 0
	pools  []*pool
	fixed  []*thread // main, JDK system threads, VM-internal threads
	all    []*thread // live, in creation order (the dump's order)
	byPool []float64 // cumulative pick weights: fixed threads, then pools
	vmThr  *thread
	attach *thread
	nextID int64
	tid    uint32
	stage  [][]sched.Event
	queue  actions
	seq    int // orders actions due at the same time
	err    error
}

// Generate writes a run shaped by cfg: the event log to events, the dumps
// and their index into dumpDir, which must not hold a capture yet.
func Generate(cfg Config, events io.Writer, dumpDir string) (Summary, error) {
	g, err := newGen(cfg, events, dumpDir)
	if err != nil {
		return Summary{}, err
	}
	return g.run()
}

func newGen(cfg Config, events io.Writer, dumpDir string) (*gen, error) {
	if cfg.Waits < 0 || cfg.CPUs < 1 || cfg.Rate <= 0 {
		return nil, fmt.Errorf("need waits >= 0, cpus >= 1, rate > 0")
	}
	g := &gen{cfg: cfg, rng: rand.New(rand.NewSource(cfg.Seed)), dir: dumpDir, stage: make([][]sched.Event, cfg.CPUs)}
	g.t0 = cfg.Start.UnixNano()
	g.now = g.t0
	g.boot = g.t0 - int64(uptime)
	if err := os.MkdirAll(dumpDir, 0o755); err != nil {
		return nil, err
	}
	idx, err := os.OpenFile(filepath.Join(dumpDir, correlate.DumpIndexFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return nil, err
	}
	g.index = idx
	g.ev, err = eventlog.NewWriter(events, eventlog.Header{
		Pid: cfg.Pid, Start: record.FormatTime(g.t0), Attachment: "tp_btf",
		MinLatency: int64(time.Millisecond), Kinds: "wakeup,preempt,yield", ClockErrNs: 150,
		Cgroup: "/system.slice/app.service",
	})
	if err != nil {
		idx.Close()
		return nil, err
	}
	if err := g.populate(); err != nil {
		idx.Close()
		return nil, err
	}
	return g, nil
}

// populate creates the threads alive when the trace begins, as HotSpot
// creates them (TIDs in creation order).
func (g *gen) populate() error {
	g.tid = g.cfg.Pid + 1
	g.nextID = 1
	java := func(name string, daemon bool, p *pool) *thread {
		t := &thread{tid: g.tid, javaID: g.nextID, name: name, comm: correlate.KernelComm(name), daemon: daemon,
			born: g.t0 - int64(time.Hour) + int64(g.tid-g.cfg.Pid)*nsPerMs, pool: p, addr: g.addr()}
		g.tid++
		g.nextID++
		g.all = append(g.all, t)
		return t
	}
	internal := func(name string) *thread {
		t := &thread{tid: g.tid, javaID: -1, name: name, comm: correlate.KernelComm(name), internal: true,
			born: g.t0 - int64(time.Hour), addr: g.addr()}
		g.tid++
		g.all = append(g.all, t)
		g.fixed = append(g.fixed, t)
		return t
	}
	main := java("main", false, nil)
	main.comm = "java" // the launcher's thread keeps its kernel name
	g.fixed = append(g.fixed, main)
	gcs := min(g.cfg.CPUs, 8)
	for i := range gcs {
		internal(fmt.Sprintf("GC Thread#%d", i))
	}
	internal("G1 Main Marker")
	internal("G1 Conc#0")
	internal("G1 Refine#0")
	internal("G1 Service")
	g.vmThr = internal("VM Thread")
	for _, n := range []string{"Reference Handler", "Finalizer", "Signal Dispatcher", "Service Thread",
		"Monitor Deflation Thread", "C2 CompilerThread0", "C1 CompilerThread0", "Sweeper thread",
		"Notification Thread"} {
		g.fixed = append(g.fixed, java(n, true, nil))
	}
	internal("VM Periodic Task Thread")
	g.fixed = append(g.fixed, java("Common-Cleaner", true, nil))

	g.pools = defaultPools()
	pooled := g.cfg.Threads - len(g.all)
	if pooled < len(g.pools) {
		return fmt.Errorf("threads %d: at least %d needed (%d JVM threads plus one per pool)", g.cfg.Threads, len(g.all)+len(g.pools), len(g.all))
	}
	left := pooled
	for i, p := range g.pools {
		n := int(math.Round(float64(pooled) * p.share / 100))
		if i == len(g.pools)-1 || n > left-(len(g.pools)-1-i) {
			n = left - (len(g.pools) - 1 - i)
		}
		n = max(n, 1)
		for range n {
			p.live = append(p.live, java(fmt.Sprintf(p.format, p.next), p.daemon, p))
			p.next++
		}
		left -= n
	}
	// Pick weights: a fixed thread counts like a quiet pool thread (the VM
	// and GC threads run in bursts); a pool by its threads and weight.
	acc := 0.0
	for range g.fixed {
		acc += 0.3
		g.byPool = append(g.byPool, acc)
	}
	for _, p := range g.pools {
		acc += p.weight * float64(len(p.live))
		g.byPool = append(g.byPool, acc)
	}
	g.sum.MaxLive = len(g.all)
	return nil
}

// defaultPools are the JVM's thread pools: names, shares of the threads,
// how busy and how often preempted their threads are, and what a dump
// shows them doing.
func defaultPools() []*pool {
	return []*pool{
		{format: "http-nio-8080-exec-%d", share: 25, weight: 3, preempt: 0.2, daemon: true, state: "WAITING (parking)",
			stack: []string{"jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)", "java.util.concurrent.locks.LockSupport.park(java.base@17.0.15/LockSupport.java:341)", "java.util.concurrent.LinkedBlockingQueue.take(java.base@17.0.15/LinkedBlockingQueue.java:435)", "org.apache.tomcat.util.threads.TaskQueue.take(TaskQueue.java:141)", "org.apache.tomcat.util.threads.ThreadPoolExecutor.getTask(ThreadPoolExecutor.java:1114)", "org.apache.tomcat.util.threads.ThreadPoolExecutor$Worker.run(ThreadPoolExecutor.java:659)", "java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"}},
		{format: "pool-3-thread-%d", share: 15, weight: 2, preempt: 0.3, churn: true, state: "TIMED_WAITING (parking)",
			stack: []string{"jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)", "java.util.concurrent.locks.LockSupport.parkNanos(java.base@17.0.15/LockSupport.java:252)", "java.util.concurrent.SynchronousQueue$TransferStack.awaitFulfill(java.base@17.0.15/SynchronousQueue.java:462)", "java.util.concurrent.ThreadPoolExecutor.getTask(java.base@17.0.15/ThreadPoolExecutor.java:1061)", "java.util.concurrent.ThreadPoolExecutor.runWorker(java.base@17.0.15/ThreadPoolExecutor.java:1122)", "java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"}},
		{format: "ForkJoinPool.commonPool-worker-%d", share: 10, weight: 3, preempt: 0.5, daemon: true, state: "WAITING (parking)",
			stack: []string{"jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)", "java.util.concurrent.ForkJoinPool.awaitWork(java.base@17.0.15/ForkJoinPool.java:1724)", "java.util.concurrent.ForkJoinPool.runWorker(java.base@17.0.15/ForkJoinPool.java:1623)", "java.util.concurrent.ForkJoinWorkerThread.run(java.base@17.0.15/ForkJoinWorkerThread.java:165)"}},
		{format: "grpc-default-executor-%d", share: 10, weight: 2, preempt: 0.2, daemon: true, churn: true, state: "TIMED_WAITING (parking)",
			stack: []string{"jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)", "java.util.concurrent.locks.LockSupport.parkNanos(java.base@17.0.15/LockSupport.java:252)", "java.util.concurrent.SynchronousQueue$TransferStack.awaitFulfill(java.base@17.0.15/SynchronousQueue.java:462)", "java.util.concurrent.ThreadPoolExecutor.getTask(java.base@17.0.15/ThreadPoolExecutor.java:1061)", "java.util.concurrent.ThreadPoolExecutor$Worker.run(java.base@17.0.15/ThreadPoolExecutor.java:635)", "java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"}},
		{format: "batch-worker-%d", share: 10, weight: 3, preempt: 0.7, renames: true, state: "RUNNABLE",
			stack: []string{"com.example.batch.Cruncher.crunch(Cruncher.java:88)", "com.example.batch.Cruncher.run(Cruncher.java:41)", "java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"}},
		{format: "kafka-producer-network-thread | producer-%d", share: 5, weight: 2, preempt: 0.1, daemon: true, state: "RUNNABLE",
			stack: []string{"sun.nio.ch.EPoll.wait(java.base@17.0.15/Native Method)", "sun.nio.ch.EPollSelectorImpl.doSelect(java.base@17.0.15/EPollSelectorImpl.java:118)", "sun.nio.ch.SelectorImpl.select(java.base@17.0.15/SelectorImpl.java:141)", "org.apache.kafka.common.network.Selector.poll(Selector.java:469)", "org.apache.kafka.clients.producer.internals.Sender.run(Sender.java:243)", "java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"}},
		{format: "lettuce-epollEventLoop-4-%d", share: 5, weight: 2, preempt: 0.1, daemon: true, state: "RUNNABLE",
			stack: []string{"io.netty.channel.epoll.Native.epollWait(Native Method)", "io.netty.channel.epoll.EpollEventLoop.epollWait(EpollEventLoop.java:209)", "io.netty.channel.epoll.EpollEventLoop.run(EpollEventLoop.java:290)", "io.netty.util.concurrent.SingleThreadEventExecutor$4.run(SingleThreadEventExecutor.java:997)", "java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"}},
		{format: "scheduling-%d", share: 5, weight: 0.5, preempt: 0.1, state: "TIMED_WAITING (parking)",
			stack: []string{"jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)", "java.util.concurrent.locks.LockSupport.parkNanos(java.base@17.0.15/LockSupport.java:252)", "java.util.concurrent.ScheduledThreadPoolExecutor$DelayedWorkQueue.take(java.base@17.0.15/ScheduledThreadPoolExecutor.java:1182)", "java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"}},
		{format: "logback-%d", share: 5, weight: 0.5, preempt: 0.1, daemon: true, state: "WAITING (parking)",
			stack: []string{"jdk.internal.misc.Unsafe.park(java.base@17.0.15/Native Method)", "java.util.concurrent.locks.LockSupport.park(java.base@17.0.15/LockSupport.java:341)", "java.util.concurrent.ArrayBlockingQueue.take(java.base@17.0.15/ArrayBlockingQueue.java:420)", "ch.qos.logback.core.AsyncAppenderBase$Worker.run(AsyncAppenderBase.java:289)"}},
		{format: "Thread-%d", share: 10, weight: 1, preempt: 0.3, churn: true, state: "TIMED_WAITING (sleeping)",
			stack: []string{"java.lang.Thread.sleep(java.base@17.0.15/Native Method)", "com.example.Poller.loop(Poller.java:57)", "java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"}},
	}
}

func (g *gen) addr() uint64 { return 0x00007f7c68000000 + uint64(g.rng.Intn(1<<24))*16 }

// tick returns a wall time just after the last event made, at least t:
// every event gets its own ns, so that it can be told apart after replay
// reorders them.
func (g *gen) tick(t int64) int64 {
	if t <= g.now {
		t = g.now + 1
	}
	g.now = t
	return t
}

func (g *gen) base(kind sched.Kind, t int64, th *thread) sched.Event {
	return sched.Event{KTime: uint64(t - g.boot), Time: t, Kind: kind, CPU: uint32(g.rng.Intn(g.cfg.CPUs)),
		Pid: g.cfg.Pid, Tid: th.tid, Comm: th.comm}
}

// emit writes an event that the kernel side sends at once (thread
// lifecycle, HotSpot probes): a birth wakes the reader.
func (g *gen) emit(e *sched.Event) {
	if g.err == nil {
		g.err = g.ev.Write(e)
	}
	g.sum.Events++
	switch {
	case e.Kind == sched.KindBirth:
		g.sum.Births++
	case e.Kind == sched.KindExit:
		g.sum.Exits++
	case e.Kind == sched.KindRename:
		g.sum.Renames++
	case e.Kind == sched.KindThreadStart:
		g.sum.ThreadStarts++
	case e.Kind == sched.KindThreadName:
		g.sum.ThreadNames++
	case e.Kind.VMOp():
		g.sum.VMOps++
	}
}

// wait makes one run-queue wait of th ending at t (its switch-in) and
// stages it on its CPU: the kernel side sends a CPU's events 16 at a time
// or when the oldest has waited maxHold, so the log is in time order per
// CPU only, as a live run saves it.
func (g *gen) wait(t int64, th *thread, kind sched.Kind) {
	t = g.tick(t)
	e := g.base(kind, t, th)
	e.QueuedCPU = e.CPU
	if g.rng.Intn(10) == 0 {
		e.QueuedCPU = uint32(g.rng.Intn(g.cfg.CPUs)) // woken on another CPU, migrated
	}
	e.Latency = uint64(nsPerMs) + uint64(g.rng.ExpFloat64()*2e6)
	e.OffCPU = e.Latency
	prevName := ""
	r := g.rng.Float64()
	switch {
	case kind == sched.KindWakeup && r < 0.25, kind == sched.KindWakeupNew && r < 0.25:
		e.PrevComm = fmt.Sprintf("swapper/%d", e.CPU) // the CPU was idle
	case r < 0.85:
		p := g.pick(th)
		e.PrevPid, e.PrevTid, e.PrevComm = g.cfg.Pid, p.tid, p.comm
		prevName = p.name
	default:
		o := others[g.rng.Intn(len(others))]
		e.PrevPid, e.PrevTid, e.PrevComm = o.pid, o.pid, o.comm
	}
	if kind == sched.KindWakeup {
		e.OffCPU += uint64(g.rng.ExpFloat64() * 20e6) // asleep before it was woken
	}
	// A switch-in the kernel did not report: the kernel side recovers the
	// wait from the scheduler's stamps and sends it on its own, ahead of
	// older events its CPU has staged, with no previous task.
	recovered := g.rng.Intn(recoveredEvery) == 0
	if recovered {
		e.PrevPid, e.PrevTid, e.PrevComm, prevName = 0, 0, "", ""
	}
	if g.truth != nil {
		g.truth(&e, th.name, prevName)
	}
	th.fresh = false
	g.sum.Waits++
	g.sum.Events++
	g.flushOld(t)
	if recovered {
		g.sum.Recovered++
		if g.err == nil {
			g.err = g.ev.Write(&e)
		}
		return
	}
	g.stage[e.CPU] = append(g.stage[e.CPU], e)
	if len(g.stage[e.CPU]) >= batchSize {
		g.flushCPU(int(e.CPU))
	}
}

func (g *gen) flushCPU(c int) {
	for i := range g.stage[c] {
		if g.err == nil {
			g.err = g.ev.Write(&g.stage[c][i])
		}
	}
	g.stage[c] = g.stage[c][:0]
}

func (g *gen) flushOld(t int64) {
	for c := range g.stage {
		if len(g.stage[c]) > 0 && t-g.stage[c][0].Time >= int64(maxHold) {
			g.flushCPU(c)
		}
	}
}

// pick returns a live thread of the JVM other than not, by weight.
func (g *gen) pick(not *thread) *thread {
	for {
		x := g.rng.Float64() * g.byPool[len(g.byPool)-1]
		i := 0
		for g.byPool[i] <= x {
			i++
		}
		var th *thread
		if i < len(g.fixed) {
			th = g.fixed[i]
		} else {
			p := g.pools[i-len(g.fixed)]
			if len(p.live) == 0 {
				continue
			}
			th = p.live[g.rng.Intn(len(p.live))]
		}
		if th != not {
			return th
		}
	}
}

func (g *gen) kind(th *thread) sched.Kind {
	pre := 0.3
	if th.pool != nil {
		pre = th.pool.preempt
	}
	switch r := g.rng.Float64(); {
	case th.fresh:
		return sched.KindWakeupNew
	case r < 0.005:
		return sched.KindYield
	case r < pre:
		return sched.KindPreempt
	}
	return sched.KindWakeup
}

// run makes cfg.Waits waits, with dumps, births, exits, self-renames and
// GC pauses scheduled between them.
func (g *gen) run() (Summary, error) {
	t := g.t0
	g.at(t+20*nsPerMs, g.firstDump)
	g.at(t+g.exp(g.cfg.BirthEvery), g.birth)
	// Not before the first dump: a thread that renamed itself before any
	// dump saw it has no known name for its waits before the rename.
	g.at(t+30*nsPerMs+g.exp(g.cfg.RenameSelf), g.selfRename)
	g.at(t+g.exp(g.cfg.GCEvery), g.gc)
	gap := 1e9 / g.cfg.Rate
	for g.sum.Waits < g.cfg.Waits && g.err == nil {
		t += 1 + int64(g.rng.ExpFloat64()*gap)
		for len(g.queue) > 0 && g.queue[0].t <= t && g.sum.Waits < g.cfg.Waits {
			a := heap.Pop(&g.queue).(action)
			a.fn(a.t)
		}
		if g.sum.Waits >= g.cfg.Waits {
			break
		}
		th := g.pick(nil)
		g.wait(t, th, g.kind(th))
	}
	for c := range g.stage {
		g.flushCPU(c)
	}
	if g.err == nil {
		g.err = g.ev.Flush()
	}
	if err := g.index.Close(); g.err == nil {
		g.err = err
	}
	g.sum.Seconds = float64(g.now-g.t0) / 1e9
	return g.sum, g.err
}

func (g *gen) exp(mean time.Duration) int64 {
	return 1 + int64(g.rng.ExpFloat64()*float64(mean))
}

// firstDump: attach's first request makes the JVM start its Attach
// Listener (born, named by HotSpot), then the dump is taken.
func (g *gen) firstDump(t int64) {
	sd := g.fixed[0]
	for _, f := range g.fixed {
		if f.name == "Signal Dispatcher" {
			sd = f
		}
	}
	g.attach = g.born(t, sd, "Attach Listener", true, nil)
	g.at(t+2*nsPerMs, g.dump)
}

// dump takes a thread dump as direct attach does: the Attach Listener
// wakes, the VM thread prints the threads at three safepoints, and the
// dump and its index line are saved as --save-dumps saves them.
func (g *gen) dump(t int64) {
	start := g.tick(t)
	if g.attach != nil {
		g.wait(start+50_000, g.attach, sched.KindWakeup)
	}
	n := len(g.all)
	stop := int64(n) * 10_000 // ~10 µs of stop per thread
	op := start + 300_000
	var raw strings.Builder
	g.vmop(op, "PrintThreads", stop) // the threads are listed at this safepoint
	g.writeDump(&raw, g.now)
	g.vmop(g.now+200_000, "PrintJNI", 30_000)
	g.vmop(g.now+200_000, "FindDeadlocks", 80_000)
	end := g.tick(g.now + 500_000 + int64(len(raw.String()))*2) // reading it off the socket
	g.sum.Dumps++
	stopped := float64(stop+110_000) / 1e6
	sp := int64(3)
	m := correlate.DumpMeta{
		File: fmt.Sprintf("dump-%06d.txt", g.sum.Dumps), Pid: int(g.cfg.Pid),
		Start: record.FormatTime(start), End: record.FormatTime(end), StartNs: start, EndNs: end,
		Source: dumpSrc, Threads: n, WallMs: float64((end-start)/1000) / 1000,
		StoppedMs: &stopped, Safepoints: &sp, Reason: "periodic",
	}
	if g.sum.Dumps == 1 {
		m.Reason = "start"
	}
	if g.err == nil {
		g.err = os.WriteFile(filepath.Join(g.dir, m.File), []byte(raw.String()), 0o644)
	}
	b, _ := json.Marshal(m)
	if _, err := g.index.Write(append(b, '\n')); err != nil && g.err == nil {
		g.err = err
	}
	g.at(start+int64(g.cfg.DumpEvery), g.dump)
}

func (g *gen) vmop(t int64, name string, d int64) {
	e := g.base(sched.KindVMOpBegin, g.tick(t), g.vmThr)
	e.Comm = name
	g.emit(&e)
	e = g.base(sched.KindVMOpEnd, g.tick(t+d), g.vmThr)
	e.Comm = name
	g.emit(&e)
}

// writeDump prints the live threads as HotSpot 17 does (jcmd
// Thread.print, direct attach): Java threads in creation order, then the
// VM's own.
func (g *gen) writeDump(w *strings.Builder, t int64) {
	ts := time.Unix(0, t).UTC().Format(time.DateTime)
	fmt.Fprintf(w, "%s\nFull thread dump %s:\n\nThreads class SMR info:\n", ts, vmName)
	var javas []*thread
	for _, th := range g.all {
		if !th.internal {
			javas = append(javas, th)
		}
	}
	fmt.Fprintf(w, "_java_thread_list=0x%016x, length=%d, elements={\n", g.addr(), len(javas))
	for i, th := range javas {
		sep := ", "
		if i%4 == 3 || i == len(javas)-1 {
			sep = ",\n"
		}
		fmt.Fprintf(w, "0x%016x%s", th.addr, sep)
	}
	w.WriteString("}\n\n")
	for _, th := range javas {
		elapsed := float64(t-th.born) / 1e9
		daemon := ""
		if th.daemon {
			daemon = "daemon "
		}
		state, detail, stack := "RUNNABLE", "runnable", []string(nil)
		if th.pool != nil {
			state, stack = th.pool.state, th.pool.stack
			if state != "RUNNABLE" {
				detail = "waiting on condition"
			}
		} else {
			state, detail = "WAITING (on object monitor)", "in Object.wait()"
			stack = []string{"java.lang.Object.wait(java.base@17.0.15/Native Method)"}
		}
		fmt.Fprintf(w, "\"%s\" #%d %sprio=5 os_prio=0 cpu=%.2fms elapsed=%.2fs tid=0x%016x nid=0x%x %s  [0x%016x]\n",
			th.name, th.javaID, daemon, elapsed*3, elapsed, th.addr, th.tid, detail, th.addr+0x1000)
		fmt.Fprintf(w, "   java.lang.Thread.State: %s\n", state)
		for _, f := range stack {
			fmt.Fprintf(w, "\tat %s\n", f)
		}
		w.WriteString("\n")
	}
	for _, th := range g.all {
		if th.internal {
			fmt.Fprintf(w, "\"%s\" os_prio=0 cpu=%.2fms elapsed=%.2fs tid=0x%016x nid=0x%x runnable  \n\n",
				th.name, float64(t-th.born)/1e7, float64(t-th.born)/1e9, th.addr, th.tid)
		}
	}
	fmt.Fprintf(w, "JNI global refs: %d, weak refs: 0\n\n", 20+len(javas)/4)
}

// born creates a Java thread the way HotSpot starts one: the kernel
// reports its birth under its creator's name, it first runs (wakeup_new),
// the thread__start probe gives its Java name, then HotSpot sets its
// kernel name.
func (g *gen) born(t int64, creator *thread, name string, daemon bool, p *pool) *thread {
	g.tid += 1 + uint32(g.rng.Intn(40)) // other processes create tasks too
	th := &thread{tid: g.tid, javaID: g.nextID, name: name, comm: creator.comm, daemon: daemon,
		born: g.tick(t), pool: p, addr: g.addr(), fresh: true}
	g.nextID++
	e := g.base(sched.KindBirth, th.born, th)
	g.emit(&e)
	g.all = append(g.all, th)
	g.sum.MaxLive = max(g.sum.MaxLive, len(g.all))
	if p != nil {
		p.live = append(p.live, th)
	}
	g.wait(th.born+30_000, th, sched.KindWakeupNew)
	g.at(th.born+60_000, func(t int64) {
		e := g.base(sched.KindThreadStart, g.tick(t), th)
		e.Name, e.Latency = th.name, uint64(len(th.name))
		g.emit(&e)
	})
	g.at(th.born+100_000, func(t int64) {
		th.comm = correlate.KernelComm(th.name)
		e := g.base(sched.KindRename, g.tick(t), th)
		g.emit(&e)
	})
	return th
}

// birth starts a short-lived thread in a pool that grows and shrinks.
func (g *gen) birth(t int64) {
	var churn []*pool
	for _, p := range g.pools {
		if p.churn {
			churn = append(churn, p)
		}
	}
	p := churn[g.rng.Intn(len(churn))]
	creator := g.fixed[0]
	if len(p.live) > 0 && p.format != "Thread-%d" {
		creator = p.live[g.rng.Intn(len(p.live))] // a worker submitting to its own pool
	}
	th := g.born(t, creator, fmt.Sprintf(p.format, p.next), p.daemon, p)
	p.next++
	g.reweigh()
	g.at(th.born+g.exp(g.cfg.LifeMean), func(t int64) { g.exit(t, th) })
	g.at(t+g.exp(g.cfg.BirthEvery), g.birth)
}

func (g *gen) exit(t int64, th *thread) {
	e := g.base(sched.KindExit, g.tick(t), th)
	g.emit(&e)
	g.all = remove(g.all, th)
	if th.pool != nil {
		th.pool.live = remove(th.pool.live, th)
	}
	g.reweigh()
}

func remove(list []*thread, th *thread) []*thread {
	for i, x := range list {
		if x == th {
			return append(list[:i], list[i+1:]...)
		}
	}
	return list
}

func (g *gen) reweigh() {
	acc := g.byPool[len(g.fixed)-1]
	for i, p := range g.pools {
		acc += p.weight * float64(len(p.live))
		g.byPool[len(g.fixed)+i] = acc
	}
}

// selfRename: a batch worker names itself after the job it takes, and
// back when done (Thread.currentThread().setName): HotSpot's
// set_native_thread_name probe gives the full name, then the kernel name
// changes.
func (g *gen) selfRename(t int64) {
	var p *pool
	for _, q := range g.pools {
		if q.renames && len(q.live) > 0 {
			p = q
		}
	}
	if p != nil {
		th := p.live[g.rng.Intn(len(p.live))]
		base := th.name
		if i := strings.Index(base, " job-"); i >= 0 {
			base = base[:i]
		}
		name := base
		if th.job%2 == 0 {
			name = fmt.Sprintf("%s job-%d", base, 1000+g.sum.Renames)
		}
		th.job++
		e := g.base(sched.KindThreadName, g.tick(t), th)
		e.Name, e.Latency = name, uint64(len(name))
		g.emit(&e)
		th.name, th.comm = name, correlate.KernelComm(name)
		e = g.base(sched.KindRename, g.tick(t+5_000), th)
		g.emit(&e)
	}
	g.at(t+g.exp(g.cfg.RenameSelf), g.selfRename)
}

// gc: a young collection, a VM operation the join ignores (only the
// thread-printing ones narrow a dump's time).
func (g *gen) gc(t int64) {
	g.vmop(t, "G1CollectForAll", 2*nsPerMs+g.rng.Int63n(8*nsPerMs))
	g.at(t+g.exp(g.cfg.GCEvery), g.gc)
}

type action struct {
	t   int64
	seq int
	fn  func(int64)
}

type actions []action

func (a actions) Len() int { return len(a) }
func (a actions) Less(i, j int) bool {
	if a[i].t != a[j].t {
		return a[i].t < a[j].t
	}
	return a[i].seq < a[j].seq
}
func (a actions) Swap(i, j int) { a[i], a[j] = a[j], a[i] }
func (a *actions) Push(x any)   { *a = append(*a, x.(action)) }
func (a *actions) Pop() any {
	old := *a
	x := old[len(old)-1]
	*a = old[:len(old)-1]
	return x
}

func (g *gen) at(t int64, fn func(int64)) {
	g.seq++
	heap.Push(&g.queue, action{t: t, seq: g.seq, fn: fn})
}
