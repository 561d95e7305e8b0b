package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/runmeta"
)

// defaultMinLatency keeps the event rate of a busy production host low
// while still catching every wait that matters to a millisecond-scale
// latency target.
const defaultMinLatency = time.Millisecond

type attachOpts struct {
	all          bool
	jvm          string // --jvm PATTERN
	allJVMs      bool
	minLatency   time.Duration
	kinds        string
	duration     time.Duration
	output       string
	format       string
	saveDumps    string
	saveEvents   string
	dumpInterval time.Duration
	dumpTimeout  time.Duration
	dumpBudget   string
	ringSize     int
	probes       bool // HotSpot's USDT/uprobes
	rotate       rotateOpts
	onFull       string
	metricsAddr  string
	maxSeries    int
	bpfAttach    string // auto, tp_btf, raw_tp
}

func newAttachCmd() *cobra.Command {
	o := &attachOpts{}
	c := &cobra.Command{
		Use:   "attach PID | --jvm PATTERN | --all-jvms | --all",
		Short: "Trace run-queue latency of a JVM's threads and name them",
		Long: `Traces every run-queue wait of the threads of process PID (a JVM) from the
kernel, names each thread with its Java name, and writes one record per wait.
Runs until --duration has passed, the JVM exits, or SIGINT/SIGTERM.

With --jvm PATTERN or --all-jvms it follows JVMs instead of one PID: it
waits for matching JVMs, traces each with its own thread identity, and goes
on after they exit (a restarted JVM is traced under its new PID) until
--duration or SIGINT/SIGTERM.

Records are written about 2.4 s after the wait they describe: that delay lets a
thread dump taken because of a new or renamed thread name it.

Needs root (or CAP_BPF and CAP_PERFMON, plus the JVM's user for thread dumps).`,
		Args: func(cmd *cobra.Command, args []string) error {
			modes := 0
			for _, on := range []bool{o.all, o.jvm != "", o.allJVMs} {
				if on {
					modes++
				}
			}
			if modes > 1 {
				return errors.New("--all, --jvm and --all-jvms exclude each other")
			}
			if modes == 1 {
				if len(args) != 0 {
					return errors.New("--all, --jvm and --all-jvms choose what to trace: give no PID")
				}
				return nil
			}
			if len(args) != 1 {
				return errors.New("attach needs exactly one PID (or --jvm PATTERN, --all-jvms, --all)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.jvm != "" {
				match, err := jvmMatcher(o.jvm)
				if err != nil {
					return err
				}
				return runFollow(cmd.Context(), match, strconv.Quote(o.jvm), o)
			}
			if o.allJVMs {
				return runFollow(cmd.Context(), nil, "(any)", o)
			}
			pid := 0
			if !o.all {
				p, err := strconv.Atoi(args[0])
				if err != nil || p <= 0 {
					return fmt.Errorf("invalid PID %q", args[0])
				}
				pid = p
			}
			return runAttach(cmd.Context(), pid, o)
		},
	}
	f := c.Flags()
	f.BoolVar(&o.all, "all", false, "trace every task on the host (no Java names)")
	f.StringVar(&o.jvm, "jvm", "", "follow the JVMs whose command line (main class, jar, options) matches this regular expression: wait for them, trace each, and trace the next after a restart")
	f.BoolVar(&o.allJVMs, "all-jvms", false, "follow every JVM on the host, as they come and go (each record's pid says which)")
	f.DurationVar(&o.minLatency, "min-latency", defaultMinLatency, "record only waits at least this long (0 = all)")
	f.StringVar(&o.kinds, "kind", "wakeup,preempt,yield", "kinds to record: wakeup (includes wakeup_new), wakeup_new, preempt, yield, all")
	f.DurationVar(&o.duration, "duration", 0, "stop after this long (0 = until SIGINT/SIGTERM)")
	f.StringVarP(&o.output, "output", "o", "-", "write records to FILE (- = stdout)")
	f.StringVar(&o.format, "format", "csv", "record format: csv, jsonl")
	f.StringVar(&o.saveDumps, "save-dumps", "", "save every thread dump taken, with its exact time, into DIR (for replay)")
	f.StringVar(&o.saveEvents, "save-events", "", "save the raw kernel events into FILE (for replay)")
	f.DurationVar(&o.dumpInterval, "dump-interval", 30*time.Second, "take a thread dump at least this often (dumps are also taken when an unknown or renamed thread appears)")
	f.DurationVar(&o.dumpTimeout, "dump-timeout", 10*time.Second, "give up on one thread dump after this long")
	f.StringVar(&o.dumpBudget, "dump-budget", formatBudget(DefaultBudget), "share of wall time thread dumps may keep the JVM stopped at safepoints (100% = no limit)")
	f.IntVar(&o.ringSize, "ring-size", 4<<20, "kernel ring buffer size in bytes (power of two)")
	f.Var(newSizeValue(&o.rotate.size), "rotate-size", "start a new record file once the current one holds SIZE (e.g. 100MB, 1GiB); the full one is renamed FILE-<UTC time it was started, ms>.EXT, e.g. records-20261207T101500.123Z.csv")
	f.DurationVar(&o.rotate.age, "rotate-age", 0, "start a new record file once the current one is this old (e.g. 1h)")
	f.IntVar(&o.rotate.keep, "rotate-keep", 10, "rotated record files kept, oldest deleted first (0 = all)")
	f.BoolVar(&o.rotate.compress, "rotate-compress", false, "gzip rotated record files (report reads them as they are)")
	f.StringVar(&o.onFull, "on-disk-full", "exit", "when the output's disk is full: exit (non-zero, the file ends with its last complete record) or wait (drop records, counted, until there is room again)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on ADDR (e.g. :9464) at /metrics")
	f.IntVar(&o.maxSeries, "metrics-max-series", 200, "most (jvm, pool, kind) series of the latency histogram; waits past it count under pool=\"(other)\"")
	f.StringVar(&o.bpfAttach, "bpf-attach", "auto", "kind of BPF programs: auto (tp_btf, else raw_tp), tp_btf or raw_tp (no fallback)")
	f.BoolVar(&o.probes, "hotspot-probes", true, "put uprobes on the JVM's own probes (thread start, self-rename, VM operations): names without dumps, virtual_thread; false: dumps only")
	return c
}

// outFile is an output destination that reports write errors with its name.
type outFile struct {
	name    string
	f       *os.File
	created bool // by this run; removed again if the run does not start
	started bool
}

func createOut(path string) (*outFile, error) {
	if path == "" || path == "-" {
		return &outFile{name: "stdout", f: os.Stdout}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cannot write output: %w", err)
	}
	return &outFile{name: path, f: f, started: true}, nil
}

// prepareOut opens path for writing without changing what it holds: a run
// checks every output before it truncates any (start).
func prepareOut(path string) (*outFile, error) {
	if path == "" || path == "-" {
		return &outFile{name: "stdout", f: os.Stdout, started: true}, nil
	}
	f, created, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("cannot write output: %w", err)
	}
	return &outFile{name: path, f: f, created: created}, nil
}

// start empties a file opened by prepareOut.
func (o *outFile) start() error {
	if o.started {
		return nil
	}
	if fi, err := o.f.Stat(); err == nil && fi.Mode().IsRegular() {
		if err := o.f.Truncate(0); err != nil {
			return fmt.Errorf("cannot write output: truncating %s: %w", o.name, errors.Unwrap(err))
		}
	}
	o.started = true
	return nil
}

func (o *outFile) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", o.name, errors.Unwrap(err))
	}
	return n, err
}

func (o *outFile) Close() error {
	if o.f == os.Stdout {
		return nil
	}
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", o.name, err)
	}
	if !o.started && o.created {
		os.Remove(o.name)
	}
	return nil
}

// openRecords creates the record output in the given format.
func openRecords(path, format string) (correlate.Writer, *outFile, error) {
	out, err := createOut(path)
	if err != nil {
		return nil, nil, err
	}
	w, err := correlate.NewWriter(out, format)
	if err != nil {
		out.Close()
		return nil, nil, err
	}
	return w, out, nil
}

func validFormat(f string) error {
	for _, v := range correlate.Formats {
		if f == v {
			return nil
		}
	}
	return fmt.Errorf("unknown --format %q (valid: csv, jsonl)", f)
}

func validAttachKind(k string) error {
	switch k {
	case "auto", "tp_btf", "raw_tp":
		return nil
	}
	return fmt.Errorf("--bpf-attach %q: auto, tp_btf or raw_tp", k)
}

// newTracer loads the tracer with the programs --bpf-attach asks for.
func newTracer(o *attachOpts, cfg bpf.Config) (*bpf.Tracer, error) {
	cfg.ForceRawTP = o.bpfAttach == "raw_tp"
	cfg.NoFallback = o.bpfAttach == "tp_btf"
	tr, err := bpf.New(cfg)
	if err != nil && cfg.NoFallback {
		// The loader's error may carry a multi-line verifier log.
		msg, _, _ := strings.Cut(err.Error(), "\n")
		return nil, fmt.Errorf("--bpf-attach tp_btf: %s", msg)
	}
	return tr, err
}

// attachSettings are the checked values of the options.
type attachSettings struct {
	kinds  bpf.KindMask
	budget float64
}

// checkAttach validates everything before any BPF is loaded or any file
// created.
func checkAttach(o *attachOpts) (st attachSettings, err error) {
	if st.kinds, err = bpf.ParseKinds(o.kinds); err != nil {
		return st, fmt.Errorf("--kind: %w", err)
	}
	if o.minLatency < 0 {
		return st, errors.New("--min-latency must not be negative")
	}
	if o.duration < 0 {
		return st, errors.New("--duration must not be negative")
	}
	if err := validFormat(o.format); err != nil {
		return st, err
	}
	if o.ringSize <= 0 || o.ringSize&(o.ringSize-1) != 0 || o.ringSize < 4096 {
		return st, fmt.Errorf("--ring-size %d: must be a power of two of at least 4096", o.ringSize)
	}
	if st.budget, err = parseBudget(o.dumpBudget); err != nil {
		return st, err
	}
	if o.onFull != "exit" && o.onFull != "wait" {
		return st, fmt.Errorf("--on-disk-full %q: exit or wait", o.onFull)
	}
	if err := validAttachKind(o.bpfAttach); err != nil {
		return st, err
	}
	if o.metricsAddr != "" && o.maxSeries < 1 {
		return st, fmt.Errorf("--metrics-max-series %d: at least 1", o.maxSeries)
	}
	return st, checkPrivileges()
}

// runOutputs are where a run's records and metrics go.
type runOutputs struct {
	sink  *recordSink
	met   *metrics // nil without --metrics-addr
	close []func() error
}

// openOutputs starts the metrics server and opens the record sink, with
// SIGHUP reopening it. The record file is left as it is until start.
// Close releases them in reverse order.
func openOutputs(o *attachOpts) (_ *runOutputs, err error) {
	out := &runOutputs{}
	defer func() {
		if err != nil {
			out.Close()
		}
	}()
	if o.metricsAddr != "" {
		l, err := listenMetrics(o.metricsAddr)
		if err != nil {
			return nil, err
		}
		out.met = newMetrics(o.maxSeries, nil)
		srv := out.met.serve(l)
		out.close = append(out.close, func() error { srv.Close(); return nil })
	}
	if out.sink, err = prepareSink(o.output, o.format, o.rotate); err != nil {
		return nil, err
	}
	out.sink.waitFull = o.onFull == "wait"
	out.close = append(out.close, out.sink.Close)
	// SIGHUP (main handles it from the process's start to its end): open
	// the record file again by its name (after logrotate renamed it),
	// between two records.
	sink := out.sink
	hupSink.Store(sink)
	out.close = append(out.close, func() error { hupSink.CompareAndSwap(sink, nil); return nil })
	return out, nil
}

// start truncates the record file and writes its header: once every
// output of the run is known to be writable.
func (r *runOutputs) start() error { return r.sink.start() }

// Close closes everything; the first error is the sink's.
func (r *runOutputs) Close() error {
	var err error
	for i := len(r.close) - 1; i >= 0; i-- {
		if cerr := r.close[i](); err == nil {
			err = cerr
		}
	}
	r.close = nil
	return err
}

func runAttach(ctx context.Context, pid int, o *attachOpts) (err error) {
	settings, err := checkAttach(o)
	if err != nil {
		return err
	}
	kinds, budget := settings.kinds, settings.budget
	var src jvm.Source
	if pid != 0 {
		isJVM, err := jvm.IsJVM(pid)
		if err != nil {
			return err
		}
		if !isJVM {
			slog.Warn("process is not a JVM: tracing it, names fall back to the kernel's comm", "pid", pid)
		} else if m := missingForDumps(pid); m != "" {
			slog.Warn(privilegeWarning("thread dumps", m), "pid", pid)
		} else if s, err := jvm.NewSourceAsUser(pid, o.dumpTimeout); err != nil {
			slog.Warn("cannot take thread dumps: names fall back to the kernel's comm", "pid", pid, "err", err)
		} else {
			src = s
		}
	}
	outs, err := openOutputs(o)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := outs.Close(); err == nil {
			err = cerr
		}
	}()
	sink, met := outs.sink, outs.met
	// Every output is checked before any is truncated: a run that cannot
	// start leaves an existing record file as it was.
	var evFile *outFile
	if o.saveEvents != "" {
		if evFile, err = prepareOut(o.saveEvents); err != nil {
			return fmt.Errorf("--save-events: %w", err)
		}
		defer func() {
			if cerr := evFile.Close(); err == nil {
				err = cerr
			}
		}()
	}
	var store *correlate.DumpStore
	if o.saveDumps != "" {
		if store, err = correlate.NewDumpStore(o.saveDumps); err != nil {
			return err
		}
		defer store.Close()
	}
	if err := outs.start(); err != nil {
		return err
	}
	if evFile != nil {
		if err := evFile.start(); err != nil {
			return fmt.Errorf("--save-events: %w", err)
		}
	}

	if pid != 0 && os.Getenv("GOMAXPROCS") == "" {
		// One JVM's events need a fraction of a CPU. With one P the Go
		// runtime does not hand work between threads, which would add
		// context switches to the host being measured (~130/s instead of
		// ~370/s on the workload of the observer benchmark).
		runtime.GOMAXPROCS(1)
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Everything periodic runs in the reader's goroutine right after each
	// drain, on the reader's own wakeup: no timers of our own that would
	// add context switches to the host being measured.
	var (
		clock   *bpf.WallClock
		live    *correlate.Live
		evlog   *correlate.EventLogWriter
		runErr  error
		events  atomic.Uint64 // waits read (the metrics server reads it too)
		jvmGone bool
	)
	fail := func(err error) {
		if runErr == nil {
			runErr = err
		}
		cancel()
	}
	afterDrain := func() {
		// A clock step is seen within one drain; events are converted
		// with the offset in force at their own time.
		clock.Resample()
		if err := live.Emit(time.Now().UnixNano()); err != nil {
			fail(err)
		}
		if err := sink.Maintain(); err != nil {
			fail(err)
		}
		if evlog != nil {
			if err := evlog.Flush(); err != nil {
				fail(fmt.Errorf("--save-events: %w", err))
			}
		}
		if pid != 0 && !jvmGone && !jvm.Alive(pid) {
			jvmGone = true
			slog.Warn("target process exited: stopping", "pid", pid)
			cancel()
		}
	}
	drain := bpf.DefaultDrainInterval
	if pid != 0 {
		// One JVM's events fit the ring for seconds; bursts still wake
		// the reader early (the kernel forces a wakeup past a quarter).
		drain = 250 * time.Millisecond
	}
	// HotSpot's own probes: thread starts name new threads without a dump,
	// VM operations pin each dump to the instant it printed (virtual_thread).
	// Optional.
	var hotspot *bpf.HotSpotProbes
	if pid != 0 && o.probes {
		if m := missingForProbes(pid); m != "" {
			slog.Warn(privilegeWarning("HotSpot probes", m), "pid", pid)
		} else {
			lib, err := jvm.LibJVM(pid)
			if err == nil {
				hotspot, err = bpf.FindHotSpotProbes(lib)
			}
			if err != nil {
				slog.Warn("no HotSpot probes: new threads are named by thread dumps alone, virtual_thread stays empty", "err", err)
			}
		}
	}
	tr, err := newTracer(o, bpf.Config{
		Pid:           uint32(pid),
		MinLatency:    o.minLatency,
		Kinds:         kinds,
		RingSize:      o.ringSize,
		DrainInterval: drain,
		HotSpot:       hotspot,
	})
	if err != nil {
		return err
	}
	defer tr.Close()
	if err := tr.HotSpotErr(); err != nil {
		slog.Warn("some HotSpot probes are not in use", "thread_starts", tr.ThreadStarts(), "thread_names", tr.ThreadNames(), "vm_operations", tr.VMOps(), "err", err)
	}
	// Tracing starts here: --duration counts from now, start-up (reading
	// the JVM, loading BPF) is not in it.
	started := time.Now()
	stop, unstop := stopAfter(runCtx, o.duration, cancel)
	defer unstop()
	clock = bpf.NewWallClock()
	// The span the records cover, for report (FILE.runs.jsonl).
	run := runmeta.Begin(runCtx, o.output, runInfo(o, pid))

	var cgStart string
	if pid != 0 {
		cgStart, _ = jvm.CgroupOf(pid)
	}
	if evFile != nil {
		evlog, err = correlate.NewEventLogWriter(evFile, correlate.EventLogHeader{
			Pid: uint32(pid), Start: correlate.FormatTime(started.UnixNano()), Attachment: tr.Attachment(),
			MinLatency: int64(o.minLatency), Kinds: o.kinds, ClockErrNs: clock.Last().Err,
			Cgroup: cgStart, Container: jvm.ContainerID(cgStart),
		})
		if err != nil {
			return fmt.Errorf("--save-events: %w", err)
		}
	}

	cgroups := &jvm.CgroupCache{}
	joiner := &correlate.Joiner{Pid: uint32(pid), Cgroup: cgroups.Lookup}
	if pid != 0 {
		// Even with no dump source: births, renames and exits are kept,
		// and rows are held and ordered as replay orders them.
		joiner.Namer = correlate.NewNamer(0)
	}
	var out correlate.Writer = sink
	if met != nil {
		name := "(all)"
		if pid != 0 {
			args, _ := jvm.Cmdline(pid)
			name = jvmLabel(jvm.MainClass(args), pid)
		}
		out = meteredSink{Writer: sink, m: met, jvm: name}
	}
	live = correlate.NewLive(joiner, out)
	live.Probed = tr.ThreadStarts()
	var ref *refresher
	if src != nil {
		ref = newRefresher(pid, src, live, store, o.dumpInterval, budget)
		live.NeedDump = func(tid uint32, comm string, t int64) bool {
			return ref.request("thread "+strconv.Itoa(int(tid))+" ("+comm+") unknown", t)
		}
	}
	if met != nil {
		var dumps func() dumpStats
		if ref != nil {
			dumps = ref.stats
		}
		met.registerRun(func() uint64 { return events.Load() }, func() uint64 { n, _, _ := tr.Lost(); return n }, sink, dumps)
	}
	slog.Info("tracing", "pid", pid, "attachment", tr.Attachment(), "min_latency", o.minLatency, "kinds", o.kinds, "clock_err_ns", clock.Last().Err,
		"thread_starts", tr.ThreadStarts(), "thread_names", tr.ThreadNames(), "vm_operations", tr.VMOps())

	var wg sync.WaitGroup
	refCtx, refCancel := context.WithCancel(context.Background())
	if ref != nil {
		wg.Add(1)
		go func() { defer wg.Done(); ref.run(refCtx) }()
	}

	var lifecycle uint64
	var ev correlate.Event
	err = tr.Run(runCtx, bpf.RunOptions{AfterDrain: afterDrain, Event: func(e *bpf.Event) {
		ev = e.Convert(clock)
		switch {
		case ev.Kind.Lifecycle():
			lifecycle++
		case ev.Kind.Wait():
			events.Add(1)
		}
		if evlog != nil {
			if err := evlog.Write(&ev); err != nil {
				fail(fmt.Errorf("--save-events: %w", err))
			}
		}
		live.Add(&ev)
	}})
	traced := stop.traced(started)
	run.Stopped()
	if err != nil && runErr == nil {
		runErr = err
	}
	// The reader has drained the kernel buffer. Let a dump in flight finish
	// (it may name the last threads), then write everything held.
	refCancel()
	wg.Wait()
	ferr := live.Flush()
	if evlog != nil {
		if err := evlog.Flush(); err != nil && runErr == nil {
			runErr = fmt.Errorf("--save-events: %w", err)
		}
	}
	lost, lostPerCPU, lerr := tr.Lost()
	var kc kernelCounts
	kc.collisions, _ = tr.Collisions()
	kc.recovered, _ = tr.Recovered()
	kc.missed, _ = tr.Missed()
	kc.missedNs, _ = tr.MissedNs()
	if joiner.Namer != nil {
		kc.threadStarts = joiner.Namer.ThreadStarts()
		kc.selfNamed = joiner.Namer.SelfNamed()
	}
	if cerr := tr.Close(); cerr != nil && runErr == nil {
		runErr = cerr
	}
	// What the files hold: flushed, and not dropped on a full disk.
	if ferr == nil {
		ferr = sink.FlushAll()
	}
	run.End(sink.Committed(), errors.Join(runErr, ferr))
	kc.dropped = sink.Dropped()
	summary(os.Stderr, pid, traced, events.Load(), lifecycle, sink.Committed(), live.Unnamed(), lost, lostPerCPU, lerr, kc, ref, jvmGone)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return ferr
}

// stopClock notes when a run was asked to stop: --duration's timer (here
// the time is exact) or the run's context (a signal, the JVM's exit).
type stopClock struct{ ns atomic.Int64 }

// stopAfter stops the run d after now (--duration), or when ctx is done.
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

// kernelCounts are the tracer's counters of waits measured in a fallback way.
type kernelCounts struct {
	collisions uint64 // starts that shared a slot
	recovered  uint64 // switch-ins the kernel did not deliver, recovered
	missed     uint64 // such switch-ins that could not be recovered
	missedNs   uint64 // the run-queue time of their waits
	// threads named as they started (HotSpot probe)
	threadStarts int
	selfNamed    int    // self-renames named by their full name (HotSpot)
	dropped      uint64 // records dropped on a full disk (--on-disk-full wait)
}

func summary(w io.Writer, pid int, d time.Duration, events, lifecycle, written, unnamed, lost uint64, lostPerCPU []uint64, lerr error, kc kernelCounts, ref *refresher, jvmGone bool) {
	fmt.Fprintf(w, "jschedlat: traced=%.2fs: %d events, %d records written", d.Seconds(), events, written)
	if ref != nil {
		fmt.Fprintf(w, " (%d of them without a Java name)", unnamed)
	}
	fmt.Fprintf(w, ", %d thread births/renames/exits", lifecycle)
	if lerr != nil {
		fmt.Fprintf(w, ", lost events unknown (%v)", lerr)
	} else {
		fmt.Fprintf(w, ", %d lost", lost)
	}
	if kc.collisions > 0 {
		// Rare: two threads with TIDs equal modulo the slot count queued
		// at once. The displaced wait is still measured, from the
		// scheduler's own stamp, but reported as a wakeup.
		fmt.Fprintf(w, ", %d wait starts shared a slot (measured from the kernel's stamp, kind may read wakeup)", kc.collisions)
	}
	fmt.Fprintln(w)
	if kc.threadStarts > 0 {
		fmt.Fprintf(w, "jschedlat: %d new threads named as they started (HotSpot's thread__start probe), without a thread dump\n", kc.threadStarts)
	}
	if kc.selfNamed > 0 {
		fmt.Fprintf(w, "jschedlat: %d names threads gave themselves read in full as they set them (os::set_native_thread_name), without a thread dump\n", kc.selfNamed)
	}
	if kc.recovered > 0 || kc.missed > 0 {
		// Seen on kernels that skip some sched_switch tracepoints.
		fmt.Fprintf(w, "jschedlat: the kernel did not report %d switch-ins: %d of those waits recovered from the scheduler's stamps (their prev_comm is empty), %d missing (%d ns of run-queue time)\n",
			kc.recovered+kc.missed, kc.recovered, kc.missed, kc.missedNs)
	}
	if kc.dropped > 0 {
		fmt.Fprintf(w, "jschedlat: WARNING: %d records dropped while the output's disk was full\n", kc.dropped)
	}
	if lost > 0 {
		fmt.Fprintf(w, "jschedlat: WARNING: events were lost (per CPU: %v): raise --ring-size or --min-latency\n", lostPerCPU)
	}
	if ref != nil {
		ref.summary(w)
	} else if pid != 0 {
		fmt.Fprintln(w, "jschedlat: no thread dumps: java_thread is empty, name_source is comm")
	}
	if jvmGone {
		fmt.Fprintf(w, "jschedlat: process %d exited during the run\n", pid)
	}
}
