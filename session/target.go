package session

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/eventlog"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/jvm/hsmem"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sink"
)

// scanEvery is how often /proc is scanned for new JVMs when following. A
// JVM is traced from at most this long after it started (its first dump
// names the threads it started before).
const scanEvery = time.Second

// maxEnded bounds the summaries kept of JVMs that ended.
const maxEnded = 50

// target is one traced process and its identity: its join, its dumps,
// its saved events.
type target struct {
	pid    int // 0: every task (All)
	label  string
	began  time.Time
	joiner *correlate.Joiner
	live   *correlate.Live
	coll   *collector // nil: rows go straight to the sink
	ref    *refresher
	stop   context.CancelFunc
	done   chan struct{}
	goneAt time.Time
	exit   *jvm.ExitWatch // nil for All
	events uint64
	// unprobed: HotSpot's probes are still to be attached (Session.probe).
	unprobed bool

	evFile *sink.Plain
	evlog  *eventlog.Writer
	store  *correlate.DumpStore

	threadStarts, selfNamed int
	summary                 string // when it ended
}

// targetSet is what a session traces.
type targetSet struct {
	single   *target // one PID or All: every event is its
	scanner  jvm.Scanner
	rejected map[int]bool // found but could not be traced (until it ends)
	// HotSpot probes per libjvm.so file: reading them parses the
	// library's notes and symbol table (~20 MB), and a host's JVMs
	// mostly share one or two JDKs.
	probes  map[probeKey]*bpf.HotSpotProbes // guarded by probeMu
	probeMu sync.Mutex
	probing sync.WaitGroup // probe's goroutines
	cgroups jvm.CgroupCache

	mu      sync.Mutex // targets, ended, endedDS: read by the metrics server
	targets map[uint32]*target
	ended   []*target
	endedDS DumpStats

	spill     collector // records of JVMs finished since the last merge
	nEnded    int       // targets finished in all (ended keeps the last maxEnded)
	waiting   bool      // "waiting for a JVM" said
	orphans   uint64
	lifecycle uint64
	lastErr   error
	// Summed over every target as it finishes.
	unnamed                 uint64
	threadStarts, selfNamed int
}

func (t *targetSet) init() {
	t.rejected = map[int]bool{}
	t.probes = map[probeKey]*bpf.HotSpotProbes{}
	t.targets = map[uint32]*target{}
}

// collector keeps one JVM's records of a drain, to be merged in time
// order with the others'.
type collector struct{ recs []record.Record }

func (c *collector) Write(r *record.Record) error { c.recs = append(c.recs, *r); return nil }
func (c *collector) Flush() error                 { return nil }

// metered counts every record on its way out.
type metered struct {
	record.Writer
	m   Metrics
	jvm string
}

func (w metered) Write(r *record.Record) error {
	if err := w.Writer.Write(r); err != nil {
		return err
	}
	w.m.Observe(r, w.jvm)
	return nil
}

// discover adds what is to be traced and is not yet: the one PID or All
// at the start, the matching JVMs not traced yet when following.
func (s *Session) discover() {
	c := &s.cfg
	switch {
	case c.All:
		if s.single == nil {
			s.single = s.newTarget(0, "(all)", nil, nil)
		}
		return
	case c.Pid != 0:
		if s.single == nil {
			args, _ := jvm.Cmdline(c.Pid)
			var err error
			if s.single, err = s.start(jvm.Found{Pid: c.Pid, Args: args}); err != nil {
				s.fail(err)
			}
		}
		return
	}
	found := s.scanner.Scan(c.Match)
	present := map[int]bool{}
	for _, j := range found {
		present[j.Pid] = true
		if s.targets[uint32(j.Pid)] == nil && !s.rejected[j.Pid] {
			if _, err := s.start(j); err != nil {
				slog.Warn("cannot trace JVM", "pid", j.Pid, "err", err)
				s.rejected[j.Pid] = true
			}
		}
	}
	for pid := range s.rejected {
		if !present[pid] {
			delete(s.rejected, pid)
		}
	}
	s.sayWaiting()
}

func (s *Session) sayWaiting() {
	if s.cfg.follow() && len(s.targets) == 0 && !s.waiting {
		slog.Info("waiting for a JVM", "matching", s.cfg.What)
		s.waiting = true
	}
}

// start traces one process with its own identity.
func (s *Session) start(j jvm.Found) (*target, error) {
	pid := j.Pid
	label := Label(jvm.MainClass(j.Args), pid)
	prime := s.primeRead(pid)
	// Traced first, probed after (probe): what can wait does not delay
	// tracing.
	st, err := s.tr.AddTarget(uint32(pid), nil)
	if err != nil {
		return nil, fmt.Errorf("cannot trace process %d (%s): %w", pid, label, err)
	}
	tg := s.newTarget(pid, label, &st, prime)
	tg.unprobed = true
	s.mu.Lock()
	s.targets[uint32(pid)] = tg
	s.mu.Unlock()
	s.waiting = false
	slog.Info("tracing JVM", "pid", pid, "jvm", label)
	return tg, nil
}

// probe attaches HotSpot's probes to the JVMs traced without them yet.
// Finding them in libjvm.so and loading the uprobe programs took a quarter
// of start-up's CPU, so it comes after tracing has begun, and off the
// reader's goroutine: events keep flowing meanwhile, and a thread born
// before its JVM's probes are in is named by a read of the JVM's memory
// (its birth wakes the reader and, not probed yet, asks for one at once)
// rather than by its thread__start.
func (s *Session) probe(then func()) {
	var todo []*target
	for _, tg := range s.sorted() {
		if tg.unprobed {
			tg.unprobed = false
			todo = append(todo, tg)
		}
	}
	if len(todo) == 0 && then == nil {
		return
	}
	s.probing.Add(1)
	go func() {
		defer s.probing.Done()
		s.probeMu.Lock() // one at a time: s.probes is theirs
		defer s.probeMu.Unlock()
		for _, tg := range todo {
			// After the JVM's first read, which names the threads
			// running now (those ending soon too): with one P the
			// probes' loading would delay it (a thread ending 60 ms
			// after tracing began went unnamed).
			if tg.ref != nil {
				select {
				case <-tg.ref.first:
				case <-time.After(firstReadWait):
				}
			}
			s.probeOne(tg)
		}
		if then != nil {
			then()
		}
	}()
}

// firstReadWait bounds how long a JVM's probes wait for its first read.
const firstReadWait = 2 * time.Second

func (s *Session) probeOne(tg *target) {
	var st bpf.HotSpotStatus
	var err error
	if hs := s.hotspotFor(tg.pid, tg.label); hs != nil { // nil: said why
		if st, err = s.tr.AddProbes(uint32(tg.pid), hs); err == nil {
			err = st.Err
		}
	}
	if err != nil {
		slog.Warn("some HotSpot probes are not in use", "pid", tg.pid, "thread_starts", st.ThreadStarts, "thread_names", st.ThreadNames, "vm_operations", st.VMOps, "err", err)
	}
	// Threads that started before now were not seen starting: asked
	// about at once.
	tg.live.SetProbed(st.ThreadStarts, time.Now().UnixNano())
	if !s.cfg.follow() && !s.cfg.All && st.ThreadStarts && st.ThreadNames {
		s.steadyAt.Store(time.Now().Add(steadyAfter).UnixNano())
	}
	if tg.ref != nil {
		tg.ref.setVMOps(st.VMOps)
	}
	slog.Info("HotSpot probes", "pid", tg.pid, "jvm", tg.label, "thread_starts", st.ThreadStarts, "thread_names", st.ThreadNames, "vm_operations", st.VMOps)
}

// newTarget builds a process's join, dumps and saved events. hs is nil
// for All (no identity: names are the kernel's); prime, if set, is the
// first read of the JVM's threads (primeRead).
func (s *Session) newTarget(pid int, label string, hs *bpf.HotSpotStatus, prime *jvm.Capture) *target {
	tg := &target{pid: pid, label: label, began: time.Now(), done: make(chan struct{})}
	if pid != 0 {
		tg.exit = jvm.WatchExit(pid)
	}
	tg.joiner = &correlate.Joiner{Pid: uint32(pid), Cgroup: s.cgroups.Lookup}
	var w record.Writer = s.cfg.Sink
	if s.cfg.follow() {
		tg.coll = &collector{}
		w = tg.coll
	}
	if s.cfg.Metrics != nil {
		w = metered{Writer: w, m: s.cfg.Metrics, jvm: label}
	}
	if pid != 0 {
		// Even with no dump source: births, renames and exits are kept,
		// and rows are held and ordered as replay orders them.
		tg.joiner.Namer = correlate.NewNamer(0)
	}
	tg.live = correlate.NewLive(tg.joiner, w)
	tg.live.Probed = hs != nil && hs.ThreadStarts
	s.openSaves(tg)
	if pid != 0 {
		mem, src := s.identitySources(pid, label)
		if mem != nil || src != nil {
			tg.ref = newRefresher(pid, mem, src, tg.live, tg.store, s.cfg.DumpInterval, s.cfg.Budget)
			tg.ref.vmops = hs != nil && hs.VMOps
			tg.ref.onMemory = s.carriersOf(pid)
			tg.ref.prime = prime
			ref := tg.ref
			tg.live.NeedDump = func(tid uint32, comm string, t int64) bool {
				return ref.request("thread "+strconv.Itoa(int(tid))+" ("+comm+") unknown", t)
			}
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
	return tg
}

// hotspotFor returns the HotSpot probes to put on pid, nil when off or
// not found (with a warning).
func (s *Session) hotspotFor(pid int, label string) *bpf.HotSpotProbes {
	if !s.cfg.Probes {
		return nil
	}
	if m := MissingForProbes(pid); m != "" {
		slog.Warn(PrivilegeWarning("HotSpot probes", m), "pid", pid, "jvm", label)
		return nil
	}
	lib, err := jvm.LibJVM(pid)
	var hs *bpf.HotSpotProbes
	if err == nil {
		hs, err = s.hotspot(lib)
	}
	if err != nil {
		slog.Warn("no HotSpot probes: new threads are named by thread dumps alone, virtual_thread stays empty", "pid", pid, "jvm", label, "err", err)
		return nil
	}
	return hs
}

// carriersOf returns what registers pid's virtual-thread carriers with the
// tracer after each memory read, so that their waits carry the virtual
// thread they had mounted (read by the kernel side at switch-out). The
// default scheduler's carriers are its ForkJoinPool workers; a thread seen
// carrying one (another scheduler) counts too.
func (s *Session) carriersOf(pid int) func(memorySource) {
	warned := false
	return func(m memorySource) {
		src, ok := m.(*hsmem.Source)
		if !ok {
			return
		}
		l, threads, ok := src.Carriers()
		if !ok {
			return
		}
		// After every read: the layout can grow (under ZGC a read of a
		// mounted virtual thread gives VirtualThread.carrierThread), and
		// an unchanged one costs nothing.
		if err := s.tr.SetVThreadLayout(uint32(pid), l); err != nil {
			if !warned {
				slog.Warn("virtual threads of carriers not read", "pid", pid, "err", err)
				warned = true
			}
			return
		}
		var cs []bpf.Carrier
		for _, t := range threads {
			if t.Mounted != nil || isCarrierName(t.Name) {
				cs = append(cs, bpf.Carrier{TID: uint32(t.TID), JavaThread: t.JavaThread, JavaID: t.JavaID})
			}
		}
		if len(cs) > 0 {
			s.carrying.Store(true) // paceDrains keeps the start's pace
		}
		if _, err := s.tr.SetCarriers(uint32(pid), cs); err != nil {
			slog.Debug("registering carriers", "pid", pid, "err", err)
		}
	}
}

// memorySource returns pid's memory reader, the one opened early if any.
func (s *Session) memorySource(pid int) *hsmem.Source {
	if src := s.opened[pid]; src != nil {
		return src
	}
	if s.opened == nil {
		s.opened = map[int]*hsmem.Source{}
	}
	src := &hsmem.Source{Pid: pid}
	s.opened[pid] = src
	return src
}

// primeRead registers the carriers of a JDK 21+ JVM before its waits are
// traced, so that the first waits carry their virtual threads too: one
// memory read (milliseconds, no safepoint) on the way to tracing. It
// returns that read (nil when none was taken), the JVM's first: a thread
// running then is named even if it ends before a read after tracing began
// could see it. Older JVMs are read after tracing began: a read before it
// (11 ms of CPU for 200 threads) would delay tracing.
func (s *Session) primeRead(pid int) *jvm.Capture {
	if s.cfg.Dumps == DumpsOnly || s.cfg.All {
		return nil
	}
	src := s.memorySource(pid)
	if !src.HasVirtualThreads() {
		return nil
	}
	c, err := src.Capture(context.Background())
	if err != nil {
		return nil
	}
	s.carriersOf(pid)(src)
	return c
}

// isCarrierName tells the default virtual-thread scheduler's workers
// ("ForkJoinPool-1-worker-3").
func isCarrierName(name string) bool {
	rest, ok := strings.CutPrefix(name, "ForkJoinPool-")
	return ok && strings.Contains(rest, "-worker-")
}

// identitySources returns where pid's thread names come from: its memory
// (nil when --dumps only) and thread dumps (nil when --dumps never or they
// cannot be taken, with a warning). Memory is opened by the first read,
// not here: nothing on the way to tracing waits for the JVM.
func (s *Session) identitySources(pid int, label string) (memorySource, jvm.Source) {
	if isJVM, err := jvm.IsJVM(pid); err == nil && !isJVM {
		slog.Warn("process is not a JVM: tracing it, names fall back to the kernel's comm", "pid", pid)
		return nil, nil
	}
	var mem memorySource
	if s.cfg.Dumps != DumpsOnly {
		mem = s.memorySource(pid)
		delete(s.opened, pid)
	}
	var src jvm.Source
	if s.cfg.Dumps != DumpsNever {
		src = s.dumpSource(pid, label)
	}
	return mem, src
}

// dumpSource returns how to take pid's thread dumps, nil (with a warning)
// when they cannot be taken.
func (s *Session) dumpSource(pid int, label string) jvm.Source {
	if m := MissingForDumps(pid); m != "" {
		slog.Warn(PrivilegeWarning("thread dumps", m), "pid", pid, "jvm", label)
		return nil
	}
	src, err := jvm.NewSourceAsUser(pid, s.cfg.DumpTimeout)
	if err != nil {
		slog.Warn("cannot take thread dumps: names fall back to the kernel's comm", "pid", pid, "jvm", label, "err", err)
		return nil
	}
	return src
}

// EventsPath is where a followed JVM's events are saved: the PID before
// the extension of --save-events (events.jsonl: events.4242.jsonl).
func EventsPath(path string, pid int) string {
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + "." + strconv.Itoa(pid) + ext
}

// DumpsPath is where a followed JVM's dumps are saved: a directory per
// PID in --save-dumps.
func DumpsPath(dir string, pid int) string { return filepath.Join(dir, strconv.Itoa(pid)) }

// openSaves starts a target's events file and dump store. A followed
// JVM's that cannot be opened is not saved, with a warning: the others'
// tracing goes on.
func (s *Session) openSaves(tg *target) {
	c := &s.cfg
	if !c.follow() {
		tg.evFile, tg.store = s.evFile, s.store
		s.evFile, s.store = nil, nil
	} else {
		var err error
		if c.SaveEvents != "" {
			if tg.evFile, err = sink.CreatePlain(EventsPath(c.SaveEvents, tg.pid)); err != nil {
				slog.Warn("--save-events: this JVM's events are not saved", "pid", tg.pid, "err", err)
			}
		}
		if c.SaveDumps != "" {
			if tg.store, err = correlate.NewDumpStore(DumpsPath(c.SaveDumps, tg.pid)); err != nil {
				slog.Warn("--save-dumps: this JVM's dumps are not saved", "pid", tg.pid, "err", err)
			}
		}
	}
	if tg.evFile == nil {
		return
	}
	var cg string
	if tg.pid != 0 {
		cg, _ = jvm.CgroupOf(tg.pid)
	}
	var err error
	tg.evlog, err = eventlog.NewWriter(tg.evFile, eventlog.Header{
		Pid: uint32(tg.pid), Start: record.FormatTime(tg.began.UnixNano()), Attachment: s.tr.Attachment(),
		MinLatency: int64(c.MinLatency), Kinds: c.KindsText, ClockErrNs: s.clock.Last().Err,
		Cgroup: cg, Container: jvm.ContainerID(cg),
	})
	if err != nil {
		s.fail(fmt.Errorf("--save-events: %w", err))
	}
}

type probeKey struct {
	dev, ino uint64
	size     int64
	mtime    int64
}

// hotspot returns the probes of the libjvm.so at path (as this JVM maps
// it), read once per file.
func (s *Session) hotspot(path string) (*bpf.HotSpotProbes, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var key probeKey
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		key = probeKey{dev: st.Dev, ino: st.Ino, size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	}
	h := s.probes[key]
	if h == nil || key == (probeKey{}) {
		if h, err = bpf.FindHotSpotProbes(path); err != nil {
			return nil, err
		}
		if len(s.probes) > 16 {
			clear(s.probes)
		}
		s.probes[key] = h
	}
	c := *h
	c.Path = path // the path of the first JVM goes with it
	return &c, nil
}

// emit writes what each join has ready, notices processes that ended and
// lets a followed JVM go once its last events are in.
func (s *Session) emit(now time.Time) error {
	ns := now.UnixNano()
	for _, tg := range s.sorted() {
		if err := tg.live.Emit(ns); err != nil {
			return err
		}
		if tg.evlog != nil {
			if err := tg.evlog.Flush(); err != nil {
				return fmt.Errorf("--save-events: %w", err)
			}
		}
		switch {
		case tg.pid == 0:
		case tg.goneAt.IsZero():
			if tg.exit.Exited() {
				tg.goneAt = now
				if !s.cfg.follow() {
					s.exited = true
					slog.Warn("target process exited: stopping", "pid", tg.pid)
					s.cancel()
				} else {
					slog.Warn("JVM exited", "pid", tg.pid, "jvm", tg.label)
				}
			}
		case s.cfg.follow() && now.Sub(tg.goneAt) > 2*correlate.DeliverySlack && tg.live.Pending() == 0:
			// Its last events were staged in the kernel or in the
			// ring at most this long: all are in, and written (the
			// file stays in time order).
			s.finish(tg, true)
		}
	}
	if err := s.merge(); err != nil {
		return err
	}
	s.sayWaiting()
	return nil
}

// finish ends a process's tracing: its uprobes and set bit (remove), its
// dumps, its held records, its saved events; it keeps its summary only.
func (s *Session) finish(tg *target, remove bool) {
	if remove {
		if err := s.tr.RemoveTarget(uint32(tg.pid)); err != nil {
			slog.Warn("removing a JVM from the traced set", "pid", tg.pid, "err", err)
		}
	}
	tg.stop()
	<-tg.done
	if tg.exit != nil {
		tg.exit.Close()
	}
	if err := tg.live.Flush(); err != nil && s.lastErr == nil {
		s.lastErr = err
	}
	s.closeSaves(tg)
	if tg.coll != nil {
		s.spill.recs = append(s.spill.recs, tg.coll.recs...)
	}
	if n := tg.joiner.Namer; n != nil {
		s.threadStarts += n.ThreadStarts()
		s.selfNamed += n.SelfNamed()
	}
	s.unnamed += tg.live.Unnamed()
	if tg.pid != 0 {
		tg.summary = tg.summarize()
	}
	s.mu.Lock()
	delete(s.targets, uint32(tg.pid))
	if tg.ref != nil {
		s.endedDS = s.endedDS.Add(tg.ref.stats())
	}
	// A service following a JVM that restarts for weeks must not keep
	// every instance's identity.
	tg.joiner, tg.live, tg.coll, tg.ref = nil, nil, nil, nil
	if tg.pid != 0 {
		s.nEnded++
		s.ended = append(s.ended, tg)
		if len(s.ended) > maxEnded {
			s.ended = slices.Delete(s.ended, 0, len(s.ended)-maxEnded)
		}
	}
	s.mu.Unlock()
}

func (s *Session) closeSaves(tg *target) {
	if tg.evlog != nil {
		if err := tg.evlog.Flush(); err != nil && s.lastErr == nil {
			s.lastErr = fmt.Errorf("--save-events: %w", err)
		}
	}
	if tg.evFile != nil {
		if err := tg.evFile.Close(); err != nil && s.lastErr == nil {
			s.lastErr = fmt.Errorf("--save-events: %w", err)
		}
	}
	if tg.store != nil {
		tg.store.Close()
	}
	tg.evlog, tg.evFile, tg.store = nil, nil, nil
}

// summarize is a finished process's lines of the summary.
func (tg *target) summarize() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "jschedlat: JVM %d (%s): traced %s, %d events, %d records (%d without a Java name)", tg.pid, tg.label,
		time.Since(tg.began).Round(time.Millisecond), tg.events, tg.live.Written(), tg.live.Unnamed())
	if !tg.goneAt.IsZero() {
		b.WriteString(", exited during the run")
	}
	b.WriteString("\n")
	if tg.ref != nil {
		tg.ref.summary(&b)
	} else {
		b.WriteString("jschedlat: no thread dumps of it: java_thread is empty, name_source is comm\n")
	}
	return b.String()
}

// merge writes the records collected from every followed JVM in time
// order; the one target's went straight to the sink.
func (s *Session) merge() error {
	var all []record.Record
	colls := []*collector{&s.spill}
	for _, tg := range s.targets {
		if tg.coll != nil {
			colls = append(colls, tg.coll)
		}
	}
	for _, c := range colls {
		all = append(all, c.recs...)
	}
	slices.SortStableFunc(all, func(a, b record.Record) int {
		switch {
		case a.Time < b.Time:
			return -1
		case a.Time > b.Time:
			return 1
		}
		return 0
	})
	for i := range all {
		if err := s.cfg.Sink.Write(&all[i]); err != nil {
			return err
		}
	}
	for _, c := range colls {
		c.recs = c.recs[:0]
	}
	if s.lastErr != nil {
		return s.lastErr
	}
	return s.cfg.Sink.Flush()
}

// sorted is every target traced now, by PID; the one target too.
func (s *Session) sorted() []*target {
	out := make([]*target, 0, len(s.targets)+1)
	for _, tg := range s.targets {
		out = append(out, tg)
	}
	slices.SortFunc(out, func(a, b *target) int { return a.pid - b.pid })
	if s.single != nil && s.single.pid == 0 {
		out = append(out, s.single)
	}
	return out
}

// dumpStats sums the dumps of every JVM traced (metrics).
func (s *Session) dumpStats() DumpStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.endedDS
	for _, tg := range s.targets {
		if tg.ref != nil {
			d = d.Add(tg.ref.stats())
		}
	}
	return d
}

// Label is the jvm label of a traced process: its main class or jar
// (stable across restarts), else "pid-N".
func Label(mainClass string, pid int) string {
	if mainClass == "" {
		return "pid-" + strconv.Itoa(pid)
	}
	return mainClass
}
