// Package session runs one live tracing session: it chooses the processes
// to trace (one PID, the JVMs matching a pattern as they come and go, or
// every task), gives each JVM its own thread identity (thread dumps,
// HotSpot probes, a refresh policy), joins each JVM's events with it,
// writes the records, the saved events and dumps, counts, and shuts down
// in an order that loses nothing: the kernel's buffer drained, dumps under
// way finished, every held row written, then the files flushed.
//
// One PID is a follow set of one: the same code traces it, saves its events
// and dumps, and summarizes it as it does each followed JVM.
package session

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/jvm/hsmem"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/runmeta"
	"github.com/jschedlat/jschedlat/sched"
	"github.com/jschedlat/jschedlat/sink"
)

// Sink is where the records go (the command's record file, with its
// rotation).
type Sink interface {
	record.Writer
	// Start empties the file and writes its header: called once every
	// output of the session is known to be writable.
	Start() error
	// Maintain runs after each drain (rotation by size or age).
	Maintain() error
	// FlushAll writes everything held, to the disk.
	FlushAll() error
	// Shared: another program is at the file (logrotate's copytruncate):
	// writes stay small (drains keep the start's pace).
	Shared() bool
	Committed() uint64 // records in the files
	Dropped() uint64   // records dropped on a full disk
}

// Metrics sees every record written and reads the session's counters when
// scraped.
type Metrics interface {
	Observe(r *record.Record, jvm string)
	Register(events, lost func() uint64, dumps func() DumpStats)
}

// Config says what a session traces and where its output goes. Exactly one
// of Pid, All and following (Match, or neither: every JVM) applies.
type Config struct {
	Pid   int                 // one process, until it exits
	All   bool                // every task on the host, not named
	Match func([]string) bool // follow the JVMs whose command line matches; nil: every JVM
	What  string              // what Match matches, for messages

	MinLatency time.Duration
	Kinds      sched.KindMask
	KindsText  string // as given, for the events file and messages
	RingSize   int
	BPFAttach  string // auto, tp_btf or raw_tp

	Duration     time.Duration // 0: until ctx ends
	DumpInterval time.Duration
	DumpTimeout  time.Duration
	Budget       float64 // share of wall time dumps may stop a JVM
	Dumps        string  // when thread dumps are taken: DumpsAuto, DumpsNever, DumpsOnly
	Probes       bool    // HotSpot's probes

	// SaveEvents and SaveDumps keep what the join used, for replay: with
	// one PID (or All) in these paths, else per JVM in EventsPath and
	// DumpsPath.
	SaveEvents string
	SaveDumps  string

	Output  string // the record file's path, for its sidecar (runmeta)
	RunInfo runmeta.Info
	Sink    Sink
	Metrics Metrics // nil: none
}

func (c *Config) follow() bool { return c.Pid == 0 && !c.All }

// Where thread names come from (Config.Dumps). A JVM's memory is read
// without stopping it; a thread dump stops it at safepoints.
const (
	// DumpsAuto reads memory and takes a dump, within the budget, only
	// where memory cannot be read or leaves threads unconfirmed.
	DumpsAuto = "auto"
	// DumpsNever reads memory alone: what it cannot name keeps the
	// kernel's name.
	DumpsNever = "never"
	// DumpsOnly takes thread dumps alone (no memory reads), as tools
	// without the memory reader do.
	DumpsOnly = "only"
)

// ParseDumps checks a --dumps value.
func ParseDumps(s string) (string, error) {
	switch s {
	case DumpsAuto, DumpsNever, DumpsOnly:
		return s, nil
	}
	return "", fmt.Errorf("--dumps %q: want auto (memory, dumps where it fails), never (memory only) or only (dumps only)", s)
}

// DrainInterval is how often the reader empties the ring when the kernel
// does not wake it first, at start.
func (c *Config) DrainInterval() time.Duration {
	if c.All {
		return bpf.DefaultDrainInterval
	}
	// A few JVMs' events fit the ring for seconds; bursts still wake the
	// reader early (the kernel forces a wakeup past a quarter). But a
	// thread born before the HotSpot probes are in is named by a memory
	// read asked for when its events are read: at one drain a second,
	// threads living 300 ms ended before it (TestAttachRealJVM).
	return 250 * time.Millisecond
}

// SteadyDrainInterval is how often the reader empties the ring once one
// JVM's probes report its threads' starts and names (then no thread waits
// for a drain to be named). Each drain costs a wakeup, cold caches and a
// write(2): tracing every wait of a busy JVM on a 2-CPU VM took 1.3-1.4
// ms/s of CPU at one drain a second against 2.4-2.7 at four.
const SteadyDrainInterval = time.Second

// steadyAfter is how long the probes are in before drains slow down: the
// drains just after them name the threads born before them.
const steadyAfter = time.Second

// paceDrains slows the drains down once the one JVM traced names all its
// threads itself (see SteadyDrainInterval), and keeps or brings back the
// start's pace while
//   - the JVM carries virtual threads: a new carrier is registered with the
//     kernel side when its start is read;
//   - another program is at the record file (Sink.Shared): a copytruncate
//     whose copy ends inside a write loses the rest of it, so writes stay
//     a quarter second's rows.
func (s *Session) paceDrains(now time.Time) {
	if at := s.steadyAt.Load(); at != 0 && now.UnixNano() >= at {
		s.steadyAt.Store(0)
		s.steady = true
	}
	if !s.steady {
		return
	}
	slow, why := true, ""
	switch {
	case s.carrying.Load():
		slow, why = false, "the JVM carries virtual threads"
	case s.cfg.Sink.Shared():
		slow, why = false, "another program is at the record file"
	}
	if slow == s.slow {
		return
	}
	s.slow = slow
	if slow {
		s.tr.SetDrainInterval(SteadyDrainInterval)
		// Said: records reach the file up to a second later from now on.
		slog.Info("drains slowed down", "interval", SteadyDrainInterval)
		return
	}
	s.tr.SetDrainInterval(s.cfg.DrainInterval())
	slog.Info("drains back to the start's pace", "interval", s.cfg.DrainInterval(), "why", why)
}

// Session is one tracing run. Use New, then Run once.
type Session struct {
	cfg     Config
	tr      *bpf.Tracer
	clock   *bpf.WallClock
	evFile  *sink.Plain          // SaveEvents with one PID or All
	store   *correlate.DumpStore // SaveDumps with one PID
	cancel  context.CancelFunc
	runErr  error
	waits   uint64        // waits read
	events  atomic.Uint64 // waits, as of the last drain: the metrics server reads it
	started time.Time
	opened  map[int]*hsmem.Source // JVMs' memory opened before their target
	// steadyAt: when drains may slow down (wall ns; 0 = not, or done);
	// carrying: the JVM has virtual-thread carriers (paceDrains).
	steadyAt atomic.Int64
	carrying atomic.Bool
	steady   bool // the probes are in: drains may slow down (paceDrains)
	slow     bool // drains are at SteadyDrainInterval
	exited   bool // the one PID exited

	targetSet
}

// New checks every output, starts the record file and loads the tracer.
// On an error nothing is left open, and an existing record file is left as
// it was.
func New(cfg Config) (_ *Session, err error) {
	s := &Session{cfg: cfg}
	s.targetSet.init()
	defer func() {
		if err != nil {
			s.closeFiles()
		}
	}()
	if cfg.Pid != 0 {
		if _, err := jvm.IsJVM(cfg.Pid); err != nil {
			return nil, err
		}
		if cfg.Dumps != DumpsOnly {
			// Reading HotSpot's tables takes a while on a loaded host:
			// done while the BPF programs load, the first read of the
			// threads (and of the carriers whose waits carry virtual
			// threads) comes as tracing starts, not after.
			src := &hsmem.Source{Pid: cfg.Pid}
			s.opened = map[int]*hsmem.Source{cfg.Pid: src}
			go src.Open()
		}
	}
	if err := s.prepareSaves(); err != nil {
		return nil, err
	}
	// Every output is checked before any is truncated.
	if err := cfg.Sink.Start(); err != nil {
		return nil, err
	}
	if s.evFile != nil {
		if err := s.evFile.Start(); err != nil {
			return nil, fmt.Errorf("--save-events: %w", err)
		}
	}
	bc := bpf.Config{Set: !cfg.All, MinLatency: cfg.MinLatency, Kinds: cfg.Kinds, RingSize: cfg.RingSize,
		DrainInterval: cfg.DrainInterval(), ForceRawTP: cfg.BPFAttach == "raw_tp", NoFallback: cfg.BPFAttach == "tp_btf",
		VirtualThreads: !cfg.All}
	if s.tr, err = bpf.New(bc); err != nil {
		if bc.NoFallback {
			// The loader's error may carry a multi-line verifier log.
			msg, _, _ := strings.Cut(err.Error(), "\n")
			return nil, fmt.Errorf("--bpf-attach tp_btf: %s", msg)
		}
		return nil, err
	}
	return s, nil
}

// prepareSaves opens the events file and the dump directory without
// changing what the events file holds.
func (s *Session) prepareSaves() error {
	c := &s.cfg
	if c.follow() {
		// Per JVM, as they come: what can be checked now is checked.
		if c.SaveEvents == "-" {
			return errors.New("--save-events: following JVMs saves one file per JVM: give a file name, not -")
		}
		if c.SaveDumps != "" {
			if err := os.MkdirAll(c.SaveDumps, 0o755); err != nil {
				return fmt.Errorf("--save-dumps: %w", err)
			}
		}
		return nil
	}
	var err error
	if c.SaveEvents != "" {
		if s.evFile, err = sink.PreparePlain(c.SaveEvents); err != nil {
			return fmt.Errorf("--save-events: %w", err)
		}
	}
	if c.SaveDumps != "" {
		if s.store, err = correlate.NewDumpStore(c.SaveDumps); err != nil {
			return err
		}
	}
	return nil
}

// closeFiles closes what New opened when the session does not run.
func (s *Session) closeFiles() {
	for _, src := range s.opened {
		src.Close()
	}
	if s.evFile != nil {
		s.evFile.Close()
	}
	if s.store != nil {
		s.store.Close()
	}
	if s.tr != nil {
		s.tr.Close()
	}
}

func (s *Session) fail(err error) {
	if s.runErr == nil {
		s.runErr = err
	}
	s.cancel()
}

// Run traces until the duration has passed, ctx ends, or the one PID
// exits, then shuts down and returns what was seen. Its error is the
// first that stopped the run or lost records; ctx's end is no error.
func (s *Session) Run(ctx context.Context) (st Stats, err error) {
	if !s.cfg.All && os.Getenv("GOMAXPROCS") == "" {
		// A few JVMs' events need a fraction of a CPU. With one P the Go
		// runtime does not hand work between threads, which would add
		// context switches to the host being measured (~130/s instead of
		// ~370/s on the workload of the observer benchmark).
		runtime.GOMAXPROCS(1)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.cancel = cancel
	s.clock = bpf.NewWallClock()
	if m := s.cfg.Metrics; m != nil {
		m.Register(s.events.Load, func() uint64 { c, _ := s.tr.Counters(); return c.Lost }, s.dumpStats)
	}
	s.started = time.Now()
	if s.cfg.follow() {
		s.logStart()
		s.discover()
	} else {
		// Said once the process is traced: tests and operators wait
		// for this line.
		s.discover()
		s.logStart()
	}
	tracing := time.Now()
	s.probe(func() { startedUp(tracing) })
	// The span the records cover, for report (FILE.runs.jsonl): from when
	// the processes running now are traced (a JVM started later is traced
	// from its discovery, up to a scan later).
	run := runmeta.Begin(runCtx, s.cfg.Output, s.cfg.RunInfo)
	// --duration counts from here: start-up (loading BPF, reading each
	// libjvm.so for the HotSpot probes) is not in it.
	s.started = time.Now()
	stop, unstop := stopAfter(runCtx, s.cfg.Duration, cancel)
	defer unstop()

	var ev sched.Event
	lastScan := time.Now()
	err = s.tr.Run(runCtx, bpf.RunOptions{
		Event: func(e *bpf.Event) {
			ev = e.Convert(s.clock)
			s.add(&ev)
		},
		// Everything periodic runs in the reader's goroutine right after
		// each drain, on the reader's own wakeup: no timers of our own
		// that would add context switches to the host being measured.
		AfterDrain: func() {
			// A clock step is seen within one drain; events are
			// converted with the offset in force at their own time.
			s.clock.Resample()
			s.events.Store(s.waits)
			now := time.Now()
			if s.cfg.follow() && now.Sub(lastScan) >= scanEvery {
				lastScan = now
				s.discover()
				s.probe(nil)
			}
			if err := s.emit(now); err != nil {
				s.fail(err)
			}
			s.paceDrains(now)
			if err := s.cfg.Sink.Maintain(); err != nil {
				s.fail(err)
			}
		},
	})
	st.Traced = stop.traced(s.started)
	run.Stopped()
	if err != nil && s.runErr == nil {
		s.runErr = err
	}
	ferr := s.shutdown(&st)
	run.End(s.cfg.Sink.Committed(), errors.Join(s.runErr, ferr))
	st.Written, st.Dropped = s.cfg.Sink.Committed(), s.cfg.Sink.Dropped()
	if s.runErr != nil && !errors.Is(s.runErr, context.Canceled) {
		return st, s.runErr
	}
	return st, ferr
}

func (s *Session) logStart() {
	c := &s.cfg
	args := []any{"attachment", s.tr.Attachment(), "min_latency", c.MinLatency, "kinds", c.KindsText, "clock_err_ns", s.clock.Last().Err,
		"startup_cpu", cpuSoFar().Round(time.Millisecond)}
	if c.follow() {
		slog.Info("following JVMs", append([]any{"matching", c.What}, args...)...)
	} else {
		slog.Info("tracing", append([]any{"pid", c.Pid}, args...)...)
	}
}

// startedUp ends start-up once the probes of the JVMs traced at start are
// attached: frees its memory and says what all of start-up cost, tracing
// included (benchmarks measure the steady state from this line on).
func startedUp(tracing time.Time) {
	freeStartupMemory()
	slog.Info("started", "startup_cpu", cpuSoFar().Round(time.Millisecond), "after_tracing", time.Since(tracing).Round(time.Millisecond))
}

// add hands one event to its process's join (and events file).
func (s *Session) add(ev *sched.Event) {
	tg := s.single
	if tg == nil {
		if tg = s.targets[ev.Pid]; tg == nil {
			// Sent between a JVM's removal from the set and the
			// programs seeing it: its JVM has ended.
			s.orphans++
			return
		}
	}
	switch {
	case ev.Kind.Lifecycle():
		s.lifecycle++
	case ev.Kind.Wait():
		s.waits++ // published after the drain: an atomic add per event cost more
		tg.events++
	case ev.Kind.VMOp() && tg.ref != nil:
		tg.ref.vmOp(ev) // what its thread dumps cost
	case ev.Kind == sched.KindThreadStart && tg.ref != nil && tg.ref.mem != nil && isCarrierName(ev.Name):
		// A new worker of the virtual-thread scheduler (it grows, or
		// makes up for a carrier blocked in I/O): it is registered as a
		// carrier by a memory read, which its start, naming it, would
		// otherwise not ask for. Without this a carrier born while
		// tracing carried no virtual thread at all (204 waits of one
		// on JDK 21).
		tg.ref.request("new carrier "+ev.Name, ev.Time)
	}
	if tg.evlog != nil {
		if err := tg.evlog.Write(ev); err != nil {
			s.fail(fmt.Errorf("--save-events: %w", err))
		}
	}
	tg.live.Add(ev)
}

// shutdown runs once the reader has drained the kernel buffer: every
// process's dumps under way finish together (they may name the last
// threads), each writes what it holds, then the counters are read, the
// programs unloaded and the files flushed.
func (s *Session) shutdown(st *Stats) error {
	s.probing.Wait() // uprobes being attached are in before the tracer goes
	all := s.sorted()
	for _, tg := range all {
		tg.stop()
	}
	for _, tg := range all {
		s.finish(tg, false)
	}
	if s.orphans > 0 {
		slog.Info("events of JVMs already finished were dropped", "events", s.orphans)
	}
	ferr := s.merge()
	st.Counters, st.CountersErr = s.tr.Counters()
	if cerr := s.tr.Close(); cerr != nil && s.runErr == nil {
		s.runErr = cerr
	}
	// What the files hold: flushed, and not dropped on a full disk.
	if ferr == nil {
		ferr = s.cfg.Sink.FlushAll()
	}
	s.fillStats(st)
	return ferr
}

// stopClock notes when a run was asked to stop: --duration's timer (here
// the time is exact) or the run's context (a signal, the JVM's exit).
type stopClock struct{ ns atomic.Int64 }

// stopAfter stops the run d after now, or when ctx is done.
func stopAfter(ctx context.Context, d time.Duration, cancel func()) (*stopClock, func()) {
	c := &stopClock{}
	unwatch := context.AfterFunc(ctx, c.mark)
	var t *time.Timer
	if d > 0 {
		t = time.AfterFunc(d, func() { c.mark(); cancel() })
	}
	return c, func() {
		unwatch()
		if t != nil {
			t.Stop()
		}
	}
}

func (c *stopClock) mark() { c.ns.CompareAndSwap(0, time.Now().UnixNano()) }

// traced is how long was traced: from the start to the stop request,
// after which the reader detaches the programs at once; or to now when
// the run ended otherwise.
func (c *stopClock) traced(started time.Time) time.Duration {
	if ns := c.ns.Load(); ns != 0 {
		return time.Unix(0, ns).Sub(started)
	}
	return time.Since(started)
}

// CheckBPFAttach checks the kind of BPF programs asked for (--bpf-attach).
func CheckBPFAttach(k string) error {
	switch k {
	case "auto", "tp_btf", "raw_tp":
		return nil
	}
	return fmt.Errorf("--bpf-attach %q: auto, tp_btf or raw_tp", k)
}

// cpuSoFar is the CPU time this process has used (user and system): at
// the start of tracing, what start-up cost a host that may be loaded.
func cpuSoFar() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
