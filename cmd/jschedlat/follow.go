package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/runmeta"
)

// Follow mode (--jvm PATTERN, --all-jvms): one tracer in set mode whose
// targets are the matching JVMs, added as they appear and removed when
// they end, each with its own thread identity (namer, dumps, HotSpot
// probes). Nothing is reloaded when a JVM restarts: its new PID is added.

// scanEvery is how often /proc is scanned for new JVMs. A JVM is traced
// from at most this long after it started (its first dump names the
// threads it started before).
const scanEvery = time.Second

// maxEnded bounds the summaries kept of JVMs that ended.
const maxEnded = 50

// jvmMatcher returns the match function of --jvm PATTERN: a regular
// expression found anywhere in the command line (arguments joined by
// spaces), which holds the main class or jar.
func jvmMatcher(pattern string) (func([]string) bool, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("--jvm %q: %w", pattern, err)
	}
	return func(args []string) bool { return re.MatchString(strings.Join(args, " ")) }, nil
}

// collector keeps one JVM's records of a drain, to be merged in time
// order with the others'.
type collector struct{ recs []correlate.Record }

func (c *collector) Write(r *correlate.Record) error { c.recs = append(c.recs, *r); return nil }
func (c *collector) Flush() error                    { return nil }

type followed struct {
	pid     int
	label   string
	began   time.Time
	joiner  *correlate.Joiner
	live    *correlate.Live
	coll    *collector
	ref     *refresher
	stop    context.CancelFunc
	done    chan struct{}
	hs      bpf.HotSpotStatus
	goneAt  time.Time
	events  uint64
	summary string // when it ended
}

type follower struct {
	o        *attachOpts
	st       attachSettings
	match    func([]string) bool
	what     string // for messages
	tr       *bpf.Tracer
	out      correlate.Writer
	met      *metrics
	scanner  jvm.Scanner
	rejected map[int]bool // found but could not be traced (until it ends)
	// HotSpot probes per libjvm.so file: reading them parses the
	// library's notes and symbol table (~20 MB), and a host's JVMs
	// mostly share one or two JDKs.
	probes  map[probeKey]*bpf.HotSpotProbes
	cgroups jvm.CgroupCache

	mu      sync.Mutex // targets, ended: read by the metrics server
	targets map[uint32]*followed
	ended   []*followed
	endedDS dumpStats

	spill   collector // records of JVMs finished since the last merge
	nEnded  int       // JVMs finished in all (ended keeps the last maxEnded)
	waiting bool      // "waiting for a JVM" said
	orphans uint64
	lastErr error
}

func runFollow(ctx context.Context, match func([]string) bool, what string, o *attachOpts) (err error) {
	st, err := checkAttach(o)
	if err != nil {
		return err
	}
	if o.saveDumps != "" || o.saveEvents != "" {
		return errors.New("--save-dumps and --save-events take one PID: not available with --jvm or --all-jvms")
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
	if err := outs.start(); err != nil {
		return err
	}
	if os.Getenv("GOMAXPROCS") == "" {
		// As with one PID: a few JVMs' events need a fraction of a CPU.
		runtime.GOMAXPROCS(1)
	}
	f := &follower{o: o, st: st, match: match, what: what, out: outs.sink, met: outs.met,
		rejected: map[int]bool{}, targets: map[uint32]*followed{}, probes: map[probeKey]*bpf.HotSpotProbes{}}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		clock    *bpf.WallClock
		runErr   error
		events   atomic.Uint64
		lastScan time.Time
	)
	fail := func(err error) {
		if runErr == nil {
			runErr = err
		}
		cancel()
	}
	afterDrain := func() {
		clock.Resample()
		now := time.Now()
		if now.Sub(lastScan) >= scanEvery {
			lastScan = now
			f.discover()
		}
		if err := f.emit(now); err != nil {
			fail(err)
		}
		if err := outs.sink.Maintain(); err != nil {
			fail(err)
		}
	}
	f.tr, err = newTracer(o, bpf.Config{
		Set:           true,
		MinLatency:    o.minLatency,
		Kinds:         st.kinds,
		RingSize:      o.ringSize,
		DrainInterval: 250 * time.Millisecond,
	})
	if err != nil {
		return err
	}
	defer f.tr.Close()
	clock = bpf.NewWallClock()
	started := time.Now()
	if f.met != nil {
		f.met.registerRun(func() uint64 { return events.Load() }, func() uint64 { n, _, _ := f.tr.Lost(); return n }, outs.sink, f.dumpStats)
	}
	slog.Info("following JVMs", "matching", what, "attachment", f.tr.Attachment(), "min_latency", o.minLatency, "kinds", o.kinds, "clock_err_ns", clock.Last().Err)
	lastScan = time.Now()
	f.discover()
	// The span the records cover, for report (FILE.runs.jsonl): from when
	// the JVMs running now are traced (one started later is traced from
	// its discovery, up to a scan later).
	run := runmeta.Begin(runCtx, o.output, runInfo(o, 0))
	// --duration counts from here, when the JVMs running at the start are
	// traced: start-up (loading BPF, reading their libjvm.so for the
	// HotSpot probes) is not in it.
	started = time.Now()
	stop, unstop := stopAfter(runCtx, o.duration, cancel)
	defer unstop()

	var lifecycle uint64
	var ev correlate.Event
	err = f.tr.Run(runCtx, bpf.RunOptions{AfterDrain: afterDrain, Event: func(e *bpf.Event) {
		ev = e.Convert(clock)
		tg := f.targets[ev.Pid]
		if tg == nil {
			// Sent between a JVM's removal from the set and the
			// programs seeing it: its JVM has ended.
			f.orphans++
			return
		}
		switch {
		case ev.Kind.Lifecycle():
			lifecycle++
		case ev.Kind.Wait():
			events.Add(1)
			tg.events++
		}
		tg.live.Add(&ev)
	}})
	traced := stop.traced(started)
	run.Stopped()
	if err != nil && runErr == nil {
		runErr = err
	}
	// Everything is drained: end every JVM's identity and write what it
	// holds.
	all := f.sorted()
	for _, tg := range all {
		tg.stop() // dumps under way end together, not one after another
	}
	for _, tg := range all {
		f.finish(tg, false)
	}
	if f.orphans > 0 {
		slog.Info("events of JVMs already finished were dropped", "events", f.orphans)
	}
	ferr := f.merge()
	lost, lostPerCPU, lerr := f.tr.Lost()
	if cerr := f.tr.Close(); cerr != nil && runErr == nil {
		runErr = cerr
	}
	if ferr == nil {
		ferr = outs.sink.FlushAll()
	}
	run.End(outs.sink.Committed(), errors.Join(runErr, ferr))
	f.summary(os.Stderr, traced, events.Load(), lifecycle, outs.sink.Committed(), outs.sink.Dropped(), lost, lostPerCPU, lerr)
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		return runErr
	}
	return ferr
}

// discover adds the matching JVMs not traced yet.
func (f *follower) discover() {
	found := f.scanner.Scan(f.match)
	present := map[int]bool{}
	for _, j := range found {
		present[j.Pid] = true
		if f.targets[uint32(j.Pid)] != nil || f.rejected[j.Pid] {
			continue
		}
		f.add(j)
	}
	for pid := range f.rejected {
		if !present[pid] {
			delete(f.rejected, pid)
		}
	}
	if len(f.targets) == 0 && !f.waiting {
		slog.Info("waiting for a JVM", "matching", f.what)
		f.waiting = true
	}
}

func (f *follower) add(j jvm.Found) {
	pid := j.Pid
	label := jvmLabel(jvm.MainClass(j.Args), pid)
	var hs *bpf.HotSpotProbes
	if m := missingForProbes(pid); f.o.probes && m != "" {
		slog.Warn(privilegeWarning("HotSpot probes", m), "pid", pid, "jvm", label)
	} else if f.o.probes {
		lib, err := jvm.LibJVM(pid)
		if err == nil {
			hs, err = f.hotspot(lib)
		}
		if err != nil {
			slog.Warn("no HotSpot probes: new threads are named by thread dumps alone", "pid", pid, "jvm", label, "err", err)
			hs = nil
		}
	}
	st, err := f.tr.AddTarget(uint32(pid), hs)
	if err != nil {
		slog.Warn("cannot trace JVM", "pid", pid, "jvm", label, "err", err)
		f.rejected[pid] = true
		return
	}
	if st.Err != nil {
		slog.Warn("some HotSpot probes are not in use", "pid", pid, "thread_starts", st.ThreadStarts, "thread_names", st.ThreadNames, "vm_operations", st.VMOps, "err", st.Err)
	}
	tg := &followed{pid: pid, label: label, began: time.Now(), hs: st, coll: &collector{}, done: make(chan struct{})}
	tg.joiner = &correlate.Joiner{Pid: uint32(pid), Namer: correlate.NewNamer(0), Cgroup: f.cgroups.Lookup}
	var w correlate.Writer = tg.coll
	if f.met != nil {
		w = meteredSink{Writer: tg.coll, m: f.met, jvm: label}
	}
	tg.live = correlate.NewLive(tg.joiner, w)
	tg.live.Probed = st.ThreadStarts
	if m := missingForDumps(pid); m != "" {
		slog.Warn(privilegeWarning("thread dumps", m), "pid", pid, "jvm", label)
	} else if src, err := jvm.NewSourceAsUser(pid, f.o.dumpTimeout); err != nil {
		slog.Warn("cannot take thread dumps: names fall back to the kernel's comm", "pid", pid, "jvm", label, "err", err)
	} else {
		tg.ref = newRefresher(pid, src, tg.live, nil, f.o.dumpInterval, f.st.budget)
		ref := tg.ref
		tg.live.NeedDump = func(tid uint32, comm string, t int64) bool {
			return ref.request("thread "+strconv.Itoa(int(tid))+" ("+comm+") unknown", t)
		}
	}
	var ctx context.Context
	ctx, tg.stop = context.WithCancel(context.Background())
	go func() {
		defer close(tg.done)
		if tg.ref != nil {
			tg.ref.run(ctx)
		}
	}()
	f.mu.Lock()
	f.targets[uint32(pid)] = tg
	f.mu.Unlock()
	f.waiting = false
	slog.Info("tracing JVM", "pid", pid, "jvm", label, "thread_starts", st.ThreadStarts, "thread_names", st.ThreadNames, "vm_operations", st.VMOps)
}

type probeKey struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

// hotspot returns the probes of the libjvm.so at path (as this JVM maps
// it), read once per file.
func (f *follower) hotspot(path string) (*bpf.HotSpotProbes, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var key probeKey
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		key = probeKey{dev: st.Dev, ino: st.Ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	}
	h := f.probes[key]
	if h == nil || key == (probeKey{}) {
		if h, err = bpf.FindHotSpotProbes(path); err != nil {
			return nil, err
		}
		if len(f.probes) > 16 {
			clear(f.probes)
		}
		f.probes[key] = h
	}
	c := *h
	c.Path = path // the path of the first JVM goes with it
	return &c, nil
}

// emit writes what each JVM's join has ready, notices JVMs that ended and
// lets them go once their last events are in.
func (f *follower) emit(now time.Time) error {
	ns := now.UnixNano()
	for _, tg := range f.sorted() {
		if err := tg.live.Emit(ns); err != nil {
			return err
		}
		switch {
		case tg.goneAt.IsZero():
			if !jvm.Alive(tg.pid) {
				tg.goneAt = now
				slog.Warn("JVM exited", "pid", tg.pid, "jvm", tg.label)
			}
		case now.Sub(tg.goneAt) > 2*correlate.DeliverySlack && tg.live.Pending() == 0:
			// Its last events were staged in the kernel or in the
			// ring at most this long: all are in, and written (the
			// file stays in time order).
			f.finish(tg, true)
		}
	}
	if err := f.merge(); err != nil {
		return err
	}
	if len(f.targets) == 0 && !f.waiting {
		slog.Info("waiting for a JVM", "matching", f.what)
		f.waiting = true
	}
	return nil
}

// finish ends a JVM's tracing: its uprobes and set bit, its dumps, its
// held records.
func (f *follower) finish(tg *followed, remove bool) {
	if remove {
		if err := f.tr.RemoveTarget(uint32(tg.pid)); err != nil {
			slog.Warn("removing a JVM from the traced set", "pid", tg.pid, "err", err)
		}
	}
	tg.stop()
	<-tg.done
	if err := tg.live.Flush(); err != nil && f.lastErr == nil {
		f.lastErr = err
	}
	f.spill.recs = append(f.spill.recs, tg.coll.recs...)
	var b bytes.Buffer
	fmt.Fprintf(&b, "jschedlat: JVM %d (%s): traced %s, %d events, %d records (%d without a Java name)", tg.pid, tg.label,
		time.Since(tg.began).Round(time.Millisecond), tg.events, tg.live.Written(), tg.live.Unnamed())
	if !tg.goneAt.IsZero() {
		b.WriteString(", exited")
	}
	b.WriteString("\n")
	if tg.ref != nil {
		tg.ref.summary(&b)
	} else {
		b.WriteString("jschedlat: no thread dumps of it: java_thread is empty, name_source is comm\n")
	}
	tg.summary = b.String()
	f.mu.Lock()
	delete(f.targets, uint32(tg.pid))
	if tg.ref != nil {
		f.endedDS = f.endedDS.add(tg.ref.stats())
	}
	// Keep its summary only: a service following a JVM that restarts
	// for weeks must not keep every instance's identity.
	tg.joiner, tg.live, tg.coll, tg.ref = nil, nil, nil, nil
	f.nEnded++
	f.ended = append(f.ended, tg)
	if len(f.ended) > maxEnded {
		f.ended = slices.Delete(f.ended, 0, len(f.ended)-maxEnded)
	}
	f.mu.Unlock()
}

// merge writes the records collected from every JVM in time order.
func (f *follower) merge() error {
	var all []correlate.Record
	colls := []*collector{&f.spill}
	for _, tg := range f.targets {
		colls = append(colls, tg.coll)
	}
	for _, c := range colls {
		all = append(all, c.recs...)
	}
	slices.SortStableFunc(all, func(a, b correlate.Record) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	for i := range all {
		if err := f.out.Write(&all[i]); err != nil {
			return err
		}
	}
	for _, c := range colls {
		c.recs = c.recs[:0]
	}
	if f.lastErr != nil {
		return f.lastErr
	}
	return f.out.Flush()
}

func (f *follower) sorted() []*followed {
	out := make([]*followed, 0, len(f.targets))
	for _, tg := range f.targets {
		out = append(out, tg)
	}
	slices.SortFunc(out, func(a, b *followed) int { return a.pid - b.pid })
	return out
}

// dumpStats sums the dumps of every JVM traced (metrics).
func (f *follower) dumpStats() dumpStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.endedDS
	for _, tg := range f.targets {
		if tg.ref != nil {
			s = s.add(tg.ref.stats())
		}
	}
	return s
}

func (f *follower) summary(w io.Writer, d time.Duration, events, lifecycle, written, dropped, lost uint64, lostPerCPU []uint64, lerr error) {
	fmt.Fprintf(w, "jschedlat: traced=%.2fs: %d JVMs matching %s, %d events, %d records written, %d thread births/renames/exits", d.Seconds(), f.nEnded, f.what, events, written, lifecycle)
	if lerr != nil {
		fmt.Fprintf(w, ", lost events unknown (%v)", lerr)
	} else {
		fmt.Fprintf(w, ", %d lost", lost)
	}
	fmt.Fprintln(w)
	if f.nEnded > len(f.ended) {
		fmt.Fprintf(w, "jschedlat: (the first %d JVMs' lines are left out)\n", f.nEnded-len(f.ended))
	}
	for _, tg := range f.ended {
		io.WriteString(w, tg.summary)
	}
	if dropped > 0 {
		fmt.Fprintf(w, "jschedlat: WARNING: %d records dropped while the output's disk was full\n", dropped)
	}
	if lost > 0 {
		fmt.Fprintf(w, "jschedlat: WARNING: events were lost (per CPU: %v): raise --ring-size or --min-latency\n", lostPerCPU)
	}
}
