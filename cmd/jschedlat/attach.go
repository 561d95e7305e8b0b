package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/metrics"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/runmeta"
	"github.com/jschedlat/jschedlat/sched"
	"github.com/jschedlat/jschedlat/session"
	"github.com/jschedlat/jschedlat/sink"
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
	dumps        string
	ringSize     int
	probes       bool // HotSpot's USDT/uprobes
	rotate       sink.Options
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
			pid := 0
			if !o.all && o.jvm == "" && !o.allJVMs {
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
	f.StringVar(&o.saveDumps, "save-dumps", "", "save every read of the thread names (memory or thread dump), with its exact time, into DIR (for replay)")
	f.StringVar(&o.saveEvents, "save-events", "", "save the raw kernel events into FILE (for replay)")
	f.DurationVar(&o.dumpInterval, "dump-interval", 30*time.Second, "read the thread names at least this often (they are also read when an unknown or renamed thread appears)")
	f.DurationVar(&o.dumpTimeout, "dump-timeout", 10*time.Second, "give up on one thread dump after this long")
	f.StringVar(&o.dumps, "dumps", session.DumpsAuto, "thread names come from the JVM's memory (no safepoint); thread dumps: auto (only where memory fails, within --dump-budget), never, or only (dumps alone)")
	f.StringVar(&o.dumpBudget, "dump-budget", session.FormatBudget(session.DefaultBudget), "share of wall time thread dumps may keep the JVM stopped at safepoints, checked before each dump (100% = no limit)")
	f.IntVar(&o.ringSize, "ring-size", 4<<20, "kernel ring buffer size in bytes (power of two)")
	f.Var(newSizeValue(&o.rotate.Size), "rotate-size", "start a new record file once the current one holds SIZE (e.g. 100MB, 1GiB); the full one is renamed FILE-<UTC time it was started, ms>.EXT, e.g. records-20261207T101500.123Z.csv")
	f.DurationVar(&o.rotate.Age, "rotate-age", 0, "start a new record file once the current one is this old (e.g. 1h)")
	f.IntVar(&o.rotate.Keep, "rotate-keep", 10, "rotated record files kept, oldest deleted first (0 = all)")
	f.BoolVar(&o.rotate.Compress, "rotate-compress", false, "gzip rotated record files (report reads them as they are)")
	f.StringVar(&o.onFull, "on-disk-full", "exit", "when the output's disk is full: exit (non-zero, the file ends with its last complete record) or wait (drop records, counted, until there is room again)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "serve Prometheus metrics on ADDR (e.g. :9464) at /metrics")
	f.IntVar(&o.maxSeries, "metrics-max-series", 200, "most (jvm, pool, kind) series of the latency histogram; waits past it count under pool=\"(other)\"")
	f.StringVar(&o.bpfAttach, "bpf-attach", "auto", "kind of BPF programs: auto (tp_btf, else raw_tp), tp_btf or raw_tp (no fallback)")
	f.BoolVar(&o.probes, "hotspot-probes", true, "put uprobes on the JVM's own probes (thread start, self-rename, VM operations): names without dumps, virtual_thread; false: dumps only")
	return c
}

// attachSettings are the checked values of the options.
type attachSettings struct {
	kinds  sched.KindMask
	budget float64
}

// checkAttach validates everything before any BPF is loaded or any file
// created.
func checkAttach(o *attachOpts) (st attachSettings, err error) {
	if st.kinds, err = sched.ParseKinds(o.kinds); err != nil {
		return st, fmt.Errorf("--kind: %w", err)
	}
	if o.minLatency < 0 {
		return st, errors.New("--min-latency must not be negative")
	}
	if o.duration < 0 {
		return st, errors.New("--duration must not be negative")
	}
	if err := record.CheckFormat(o.format); err != nil {
		return st, err
	}
	if o.ringSize <= 0 || o.ringSize&(o.ringSize-1) != 0 || o.ringSize < 4096 {
		return st, fmt.Errorf("--ring-size %d: must be a power of two of at least 4096", o.ringSize)
	}
	if st.budget, err = session.ParseBudget(o.dumpBudget); err != nil {
		return st, err
	}
	if _, err = session.ParseDumps(o.dumps); err != nil {
		return st, err
	}
	if o.onFull != "exit" && o.onFull != "wait" {
		return st, fmt.Errorf("--on-disk-full %q: exit or wait", o.onFull)
	}
	if err := session.CheckBPFAttach(o.bpfAttach); err != nil {
		return st, err
	}
	if o.metricsAddr != "" && o.maxSeries < 1 {
		return st, fmt.Errorf("--metrics-max-series %d: at least 1", o.maxSeries)
	}
	return st, checkPrivileges()
}

// runOutputs are where a run's records and metrics go.
type runOutputs struct {
	sink  *sink.File
	met   *metrics.Metrics // nil without --metrics-addr
	close []func() error
}

// openOutputs starts the metrics server and opens the record sink, with
// SIGHUP reopening it. The record file is left as it is until the session starts it.
// Close releases them in reverse order.
func openOutputs(o *attachOpts) (_ *runOutputs, err error) {
	out := &runOutputs{}
	defer func() {
		if err != nil {
			out.Close()
		}
	}()
	if o.metricsAddr != "" {
		l, err := metrics.Listen(o.metricsAddr)
		if err != nil {
			return nil, err
		}
		out.met = metrics.New(o.maxSeries, nil)
		srv := out.met.Serve(l)
		out.close = append(out.close, func() error { srv.Close(); return nil })
	}
	opts := o.rotate
	opts.WaitFull = o.onFull == "wait"
	if out.sink, err = sink.Prepare(o.output, o.format, opts); err != nil {
		return nil, err
	}
	out.close = append(out.close, out.sink.Close)
	// SIGHUP (main handles it from the process's start to its end): open
	// the record file again by its name (after logrotate renamed it),
	// between two records.
	stopHUP := out.sink.OnHUP()
	out.close = append(out.close, func() error { stopHUP(); return nil })
	return out, nil
}

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

// runAttach traces what o and target choose (a PID, or 0 with --all,
// --jvm or --all-jvms) and prints the summary.
func runAttach(ctx context.Context, target int, o *attachOpts) (err error) {
	cfg, err := sessionConfig(o, target)
	if err != nil {
		return err
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
	cfg.Sink = sessionSink{outs.sink}
	if outs.met != nil {
		cfg.Metrics = sessionMetrics{Metrics: outs.met, sink: outs.sink}
	}
	s, err := session.New(cfg)
	if err != nil {
		return err
	}
	st, err := s.Run(ctx)
	st.WriteSummary(os.Stderr)
	return err
}

// sessionConfig checks the options and builds the session's
// configuration, before any BPF is loaded or any file created.
func sessionConfig(o *attachOpts, pid int) (session.Config, error) {
	st, err := checkAttach(o)
	if err != nil {
		return session.Config{}, err
	}
	cfg := session.Config{
		Pid: pid, All: o.all,
		MinLatency: o.minLatency, Kinds: st.kinds, KindsText: o.kinds, RingSize: o.ringSize, BPFAttach: o.bpfAttach,
		Duration: o.duration, DumpInterval: o.dumpInterval, DumpTimeout: o.dumpTimeout, Budget: st.budget, Dumps: o.dumps, Probes: o.probes,
		SaveEvents: o.saveEvents, SaveDumps: o.saveDumps,
		Output: o.output,
		// For the run's sidecar (FILE.runs.jsonl).
		RunInfo: runmeta.Info{Mode: "all", MinLatency: o.minLatency, Kinds: o.kinds, Format: o.format, Version: versionString()},
	}
	switch {
	case o.jvm != "":
		if cfg.Match, err = jvm.MatchCmdline(o.jvm); err != nil {
			return cfg, fmt.Errorf("--jvm %q: %w", o.jvm, err)
		}
		cfg.What, cfg.RunInfo.Mode, cfg.RunInfo.Match = strconv.Quote(o.jvm), "jvm", o.jvm
	case o.allJVMs:
		cfg.What, cfg.RunInfo.Mode = "(any)", "all-jvms"
	case pid != 0:
		cfg.RunInfo.Mode, cfg.RunInfo.Pids = "pid", []uint32{uint32(pid)}
	}
	return cfg, nil
}

// sessionSink is the record file as the session writes it.
type sessionSink struct{ *sink.File }

// sessionMetrics is the metrics server as the session feeds it.
type sessionMetrics struct {
	*metrics.Metrics
	sink *sink.File
}

func (a sessionMetrics) Register(events, lost func() uint64, dumps func() session.DumpStats) {
	a.Metrics.Register(metrics.Run{Events: events, Lost: lost, Dropped: a.sink.Dropped, Dumps: func() metrics.DumpStats {
		d := dumps()
		return metrics.DumpStats{Taken: d.Taken, Failed: d.Failed, Wall: d.Wall, Stopped: d.Stopped, Deferred: d.Deferred}
	}})
}
