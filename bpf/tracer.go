package bpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/cilium/ebpf/ringbuf"
	"github.com/cilium/ebpf/rlimit"
	"golang.org/x/sys/unix"

	"github.com/jschedlat/jschedlat/sched"
)

// Defaults for zero Config fields.
const (
	DefaultRingSize = 4 << 20
	DefaultSlots    = 32768
)

// DefaultDrainInterval is how often Run empties the ring buffer. The kernel side
// submits without waking the reader (unless the buffer fills past a quarter),
// so the reader's own wakeups stay rare and do not preempt the traced threads:
// measured on a 2-CPU VM, a 15 ms period cost ~780 tracer context switches/s
// against ~130/s at 100 ms (with GOMAXPROCS=1). Bursts still wake it early.
const DefaultDrainInterval = 100 * time.Millisecond

// DefaultMaxHold is how long the kernel side may keep an event staged in its
// per-CPU batch (see runqlat.bpf.c). An event reaches user space within
// MaxHold plus the drain interval.
const DefaultMaxHold = 50 * time.Millisecond

const kernelBTF = "/sys/kernel/btf/vmlinux"

// Config selects what is traced. Zero values mean the documented defaults.
type Config struct {
	Pid uint32 // target tgid; 0 = all tasks (or Set)
	// Set traces only the processes added with AddTarget, changing as
	// they come and go (Pid must be 0).
	Set        bool
	MinLatency time.Duration  // shorter waits are not reported
	Kinds      sched.KindMask // 0 = all
	RingSize   int            // bytes, power of two; 0 = 4 MiB
	Slots      uint32         // wait-start slots, a power of two (TIDs share slot TID mod Slots); 0 = 32768
	SelfPid    uint32         // never traced; 0 = os.Getpid()
	ForceRawTP bool           // skip tp_btf and attach raw_tp programs (tests, benchmarks)
	NoFallback bool           // tp_btf or an error: never fall back to raw_tp
	// DrainInterval is how often Run empties the ring buffer when the
	// kernel does not wake it first (0 = DefaultDrainInterval).
	DrainInterval time.Duration
	// MaxHold bounds how long an event may stay staged in the kernel
	// before it is sent to the ring buffer (0 = DefaultMaxHold).
	MaxHold time.Duration
	// HotSpot, if set, attaches uprobes to the target JVM's USDT probes
	// (Pid must be set): sched.KindVMOpBegin/End and sched.KindThreadStart events.
	HotSpot *HotSpotProbes
	// VirtualThreads makes waits of registered carrier threads carry the
	// virtual thread mounted at their switch-out (Event.VThread; see
	// SetVThreadLayout and SetCarriers). Off, that code is not loaded.
	VirtualThreads bool
}

// ProgStat is the kernel's accounting of one program (needs sysctl
// kernel.bpf_stats_enabled=1 to advance).
type ProgStat struct{ RunTimeNs, RunCount uint64 }

// Tracer owns the loaded BPF objects, their links and the ring-buffer reader.
type Tracer struct {
	coll       *ebpf.Collection
	links      []link.Link // kept referenced: a collected link detaches
	rd         *ringbuf.Reader
	attachment string
	fallback   error // why tp_btf was not used
	hotspot    hotspotState
	// quietBirths: a birth does not wake the reader (thread__start
	// names new threads).
	quietBirths bool
	progs       []string     // names of the attached programs
	drain       atomic.Int64 // ns; SetDrainInterval

	closed     atomic.Bool
	closeOnce  sync.Once
	closeErr   error
	detachOnce sync.Once
	detachErr  error

	stagedAtEnd int // events read from the per-CPU batches after detaching

	// Set mode.
	set     bool
	self    uint32
	pidMax  uint32
	spec    *ebpf.CollectionSpec // configured: per-target uprobes load from it
	targets targetSet

	carriers carrierSet
}

// hook pairs a tracepoint with its two entry points in runqlat.bpf.c.
type hook struct {
	tracepoint string
	btfProg    string
	rawProg    string
}

var hooks = []hook{
	{"sched_wakeup", runqlatProgRunqBtfWake, runqlatProgRunqRawWake},
	{"sched_wakeup_new", runqlatProgRunqBtfWnew, runqlatProgRunqRawWnew},
	{"sched_switch", runqlatProgRunqBtfSwitch, runqlatProgRunqRawSwitch},
	{"sched_process_exit", runqlatProgRunqBtfExit, runqlatProgRunqRawExit},
	{"task_rename", runqlatProgRunqBtfRename, runqlatProgRunqRawRename},
}

func (c Config) withDefaults() (Config, error) {
	if c.DrainInterval <= 0 {
		c.DrainInterval = DefaultDrainInterval
	}
	if c.MaxHold <= 0 {
		c.MaxHold = DefaultMaxHold
	}
	if c.RingSize == 0 {
		c.RingSize = DefaultRingSize
	}
	if c.RingSize < os.Getpagesize() || c.RingSize&(c.RingSize-1) != 0 {
		return c, fmt.Errorf("ring buffer size %d: must be a power of two of at least %d bytes", c.RingSize, os.Getpagesize())
	}
	if c.Slots == 0 {
		c.Slots = DefaultSlots
	}
	if c.Slots&(c.Slots-1) != 0 {
		return c, fmt.Errorf("%d wait-start slots: must be a power of two", c.Slots)
	}
	if c.SelfPid == 0 {
		c.SelfPid = uint32(os.Getpid())
	}
	if c.Set && c.Pid != 0 {
		return c, errors.New("a target pid and set mode exclude each other")
	}
	if c.Set && c.HotSpot != nil {
		return c, errors.New("in set mode HotSpot probes are given per target (AddTarget)")
	}
	if c.Pid != 0 && c.Pid == c.SelfPid {
		return c, fmt.Errorf("target pid %d is the tracer itself", c.Pid)
	}
	if c.MinLatency < 0 {
		return c, fmt.Errorf("negative minimum latency %v", c.MinLatency)
	}
	if c.Kinds == 0 {
		c.Kinds = sched.KindsAll
	}
	if c.Kinds&^sched.KindsAll != 0 {
		return c, fmt.Errorf("kind mask %#x selects unknown kinds", uint8(c.Kinds))
	}
	return c, nil
}

// New loads the programs and attaches them. It tries tp_btf first and falls
// back to raw_tp when tp_btf does not load or attach: deciding by trying is
// the only reliable probe (feature probes disagree with what loads).
func New(cfg Config) (*Tracer, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(kernelBTF); err != nil {
		return nil, fmt.Errorf("kernel BTF not available (%s: %w): a kernel built with CONFIG_DEBUG_INFO_BTF=y is needed", kernelBTF, err)
	}
	// Only needed before 5.11 (memlock accounting); a no-op after.
	if err := rlimit.RemoveMemlock(); err != nil {
		return nil, permission(fmt.Errorf("raising memlock rlimit: %w", err))
	}

	spec, err := loadRunqlat()
	if err != nil {
		return nil, err
	}
	if err := configure(spec, cfg); err != nil {
		return nil, err
	}

	ready := func(t *Tracer) *Tracer {
		t.drain.Store(int64(cfg.DrainInterval))
		t.set, t.self, t.pidMax, t.spec = cfg.Set, cfg.SelfPid, pidMax(), spec
		t.targets.m = map[uint32]*target{}
		t.carriers = carrierSet{on: cfg.VirtualThreads, mask: cfg.Slots - 1,
			layouts: map[uint32]runqlatCarrier{}, byTID: map[uint32]carrierEntry{}, bySlot: map[uint32]uint32{}}
		return t
	}
	var btfErr error
	if !cfg.ForceRawTP {
		t, err := load(spec, "tp_btf", cfg)
		if err == nil {
			return ready(t), nil
		}
		btfErr = err
		if cfg.NoFallback {
			if errors.Is(err, unix.EPERM) {
				return nil, permission(err)
			}
			return nil, fmt.Errorf("tp_btf programs cannot be used here: %w", err)
		}
	}
	t, err := load(spec, "raw_tp", cfg)
	if err == nil {
		t.fallback = btfErr
		return ready(t), nil
	}
	if errors.Is(err, unix.EPERM) {
		return nil, permission(err)
	}
	if btfErr != nil {
		err = fmt.Errorf("%w (tp_btf: %w)", err, btfErr)
	}
	return nil, err
}

// permission names the usual cause of EPERM from bpf(2).
func permission(err error) error {
	if errors.Is(err, unix.EPERM) {
		return fmt.Errorf("loading BPF needs root or CAP_BPF+CAP_PERFMON: %w", err)
	}
	return err
}

func configure(spec *ebpf.CollectionSpec, cfg Config) error {
	vars := []struct {
		name  string
		value any
	}{
		{runqlatVarTargTgid, cfg.Pid},
		{runqlatVarTargSet, b2u(cfg.Set)},
		{runqlatVarSelfTgid, cfg.SelfPid},
		{runqlatVarMinNs, uint64(cfg.MinLatency)},
		{runqlatVarKinds, uint32(cfg.Kinds)},
		// Wake the reader early only when a quarter of the buffer is used;
		// otherwise the drain timer collects everything.
		{runqlatVarWakeupBytes, uint64(cfg.RingSize / 4)},
		// Tells sched_yield(2) apart from preemption (runnable_kind).
		{runqlatVarNrSchedYield, uint64(unix.SYS_SCHED_YIELD)},
		{runqlatVarSlotMask, cfg.Slots - 1},
		// In jiffies of at most 10 ms (HZ >= 100): with a higher HZ
		// events are held shorter.
		{runqlatVarMaxHoldJiffies, uint64(max(1, cfg.MaxHold/(10*time.Millisecond)))},
		{runqlatVarVthreads, b2u(cfg.VirtualThreads)},
	}
	for _, v := range vars {
		vs, ok := spec.Variables[v.name]
		if !ok {
			return fmt.Errorf("BPF object has no variable %s", v.name)
		}
		if err := vs.Set(v.value); err != nil {
			return fmt.Errorf("setting %s: %w", v.name, err)
		}
	}
	if err := configureHotSpot(spec, cfg.HotSpot); err != nil {
		return err
	}
	spec.Maps[runqlatMapEvents].MaxEntries = uint32(cfg.RingSize)
	spec.Maps[runqlatMapStarts].MaxEntries = cfg.Slots
	// Indexed like starts; unused (and never looked up) when off.
	spec.Maps[runqlatMapCarriers].MaxEntries = 1
	if cfg.VirtualThreads {
		spec.Maps[runqlatMapCarriers].MaxEntries = cfg.Slots
	}
	if cfg.Set {
		spec.Maps[runqlatMapTargets].MaxEntries = (pidMax() + 63) / 64
		spec.Maps[runqlatMapProbed].MaxEntries = (pidMax() + 63) / 64
	} else {
		spec.Maps[runqlatMapTargets].MaxEntries = 1
		spec.Maps[runqlatMapProbed].MaxEntries = cfg.Pid/64 + 1 // room for the one target
	}
	return nil
}

// load loads the maps and one family of programs ("tp_btf" or "raw_tp"),
// attaches them and opens the reader; on failure it closes what it opened.
func load(spec *ebpf.CollectionSpec, attachment string, cfg Config) (_ *Tracer, err error) {
	spec = spec.Copy()
	dropUnusedHotSpot(spec, cfg.HotSpot)
	// Drop the other family so that it is neither loaded nor verified.
	for _, h := range hooks {
		keep, drop := h.btfProg, h.rawProg
		if attachment == "raw_tp" {
			keep, drop = drop, keep
		}
		if spec.Programs[keep] == nil {
			return nil, fmt.Errorf("BPF object has no program %s", keep)
		}
		delete(spec.Programs, drop)
	}

	coll, err := newCollection(spec, ebpf.CollectionOptions{})
	if err != nil {
		return nil, fmt.Errorf("loading %s programs: %w", attachment, verbose(err))
	}
	t := &Tracer{coll: coll, attachment: attachment}
	defer func() {
		if err != nil {
			t.Close()
		}
	}()

	if cfg.HotSpot != nil {
		// Optional: without them names and virtual_thread rely on
		// thread dumps alone. Attached before the scheduler hooks so
		// that every thread whose birth is seen also has its start
		// seen (HotSpot fires thread__start in the new thread, after
		// the clone); the other order left a thread born in between
		// unnamed until the next dump.
		t.attachHotSpot(cfg)
		if t.hotspot.threadStart {
			// Births need not wake the reader (if the bit cannot be
			// set they still do: slower, not wrong).
			t.quietBirths = t.setBit(runqlatMapProbed, cfg.Pid, true) == nil
		}
	}

	for _, h := range hooks {
		name := h.btfProg
		if attachment == "raw_tp" {
			name = h.rawProg
		}
		prog := coll.Programs[name]
		var l link.Link
		if attachment == "raw_tp" {
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: h.tracepoint, Program: prog})
		} else {
			l, err = link.AttachTracing(link.TracingOptions{Program: prog})
		}
		if err != nil {
			return nil, fmt.Errorf("attaching %s to %s: %w", attachment, h.tracepoint, err)
		}
		t.links = append(t.links, l)
		t.progs = append(t.progs, name)
	}

	t.rd, err = ringbuf.NewReader(coll.Maps[runqlatMapEvents])
	if err != nil {
		return nil, fmt.Errorf("opening ring buffer reader: %w", err)
	}
	return t, nil
}

// verboseError prints a verifier error with its log (%+v) while keeping it
// reachable through errors.As.
type verboseError struct{ err *ebpf.VerifierError }

func (v verboseError) Error() string { return fmt.Sprintf("%+v", v.err) }
func (v verboseError) Unwrap() error { return v.err }

func verbose(err error) error {
	var ve *ebpf.VerifierError
	if errors.As(err, &ve) {
		return verboseError{ve}
	}
	return err
}

// Attachment returns "tp_btf" or "raw_tp": the kind of programs attached.
func (t *Tracer) Attachment() string { return t.attachment }

// Fallback returns why tp_btf programs could not be used when raw_tp ones
// were attached instead (nil with tp_btf, or when Config.ForceRawTP chose).
func (t *Tracer) Fallback() error { return t.fallback }

// RunOptions are what Run calls.
type RunOptions struct {
	// Event is called for each event; it must not retain the *Event,
	// which is reused.
	Event func(*Event)
	// AfterDrain, if set, runs in Run's goroutine after every drain (and
	// at least every drain interval during a flood): a consumer's
	// periodic work rides on the reader's wakeup instead of a timer of
	// its own (each wakeup is a context switch on the host).
	AfterDrain func()
}

// Run reads events until ctx is cancelled, calling o.Event for each. The
// ring buffer is drained every drain interval (or earlier when it fills).
// When ctx is cancelled, Run detaches the programs, then delivers everything
// they produced: the ring buffer and the events still staged per CPU, so
// that nothing already seen is lost. Run returns nil when ctx is cancelled
// or the Tracer is closed.
func (t *Tracer) Run(ctx context.Context, o RunOptions) error {
	fn, afterDrain := o.Event, o.AfterDrain
	if fn == nil {
		fn = func(*Event) {}
	}
	if t.closed.Load() {
		return fmt.Errorf("reading ring buffer: %w", ringbuf.ErrClosed)
	}
	var (
		rec       ringbuf.Record
		ev        Event
		n         uint64
		lastAfter = time.Now()
	)
	// Cancellation wakes a reader waiting for its drain deadline: the
	// programs are detached when the run is asked to end, not up to a
	// drain interval later (--duration is the time traced).
	defer context.AfterFunc(ctx, func() { _ = t.rd.Flush() })()
	deliver := func(b []byte) error { return deliverSample(b, &ev, fn) }
	for {
		final := ctx.Err() != nil
		if final {
			// No producer after this: the drain below ends when the
			// ring is empty instead of chasing a storm.
			if err := t.detach(); err != nil {
				return err
			}
			t.rd.SetDeadline(time.Now())
		} else {
			t.rd.SetDeadline(time.Now().Add(time.Duration(t.drain.Load())))
		}
		for {
			err := t.rd.ReadInto(&rec)
			if err == nil {
				if err := deliver(rec.RawSample); err != nil {
					return err
				}
				// A steady flood never lets the ring run empty (no
				// deadline error): notice cancellation, and do the
				// consumer's periodic work, anyway.
				if n++; n&1023 == 0 && !final {
					if ctx.Err() != nil {
						break
					}
					if afterDrain != nil && time.Since(lastAfter) >= time.Duration(t.drain.Load()) {
						afterDrain()
						lastAfter = time.Now()
					}
				}
				continue
			}
			if errors.Is(err, os.ErrDeadlineExceeded) || (errors.Is(err, ringbuf.ErrFlushed) && !final) {
				break
			}
			if errors.Is(err, ringbuf.ErrFlushed) {
				continue // the final drain goes on until the ring is empty
			}
			if errors.Is(err, ringbuf.ErrClosed) {
				return nil
			}
			return fmt.Errorf("reading ring buffer: %w", err)
		}
		if final {
			if err := t.drainStaged(deliver); err != nil {
				return err
			}
		}
		if afterDrain != nil {
			afterDrain()
			lastAfter = time.Now()
		}
		if final {
			return nil
		}
	}
}

// SetDrainInterval changes how often Run empties the ring buffer when the
// kernel does not wake it first, from the next drain on (d > 0).
func (t *Tracer) SetDrainInterval(d time.Duration) {
	if d > 0 {
		t.drain.Store(int64(d))
	}
}

// deliverSample decodes one ring-buffer record, a thread-name record or a
// batch of events, into ev and calls fn for each.
func deliverSample(b []byte, ev *Event, fn func(*Event)) error {
	if k := sched.Kind(b[offKind]); len(b) == eventSize+nameSize && k.HasName() {
		if err := decodeEvent(b, ev); err != nil {
			return err
		}
		fn(ev)
		return nil
	}
	if len(b) == 0 || len(b)%eventSize != 0 {
		return fmt.Errorf("ring-buffer record of %d bytes: not a whole number of %d-byte events", len(b), eventSize)
	}
	for ; len(b) > 0; b = b[eventSize:] {
		if err := decodeEvent(b, ev); err != nil {
			return err
		}
		fn(ev)
	}
	return nil
}

// detach stops the programs; the maps stay readable until Close.
func (t *Tracer) detach() error {
	t.detachOnce.Do(func() {
		// In reverse attach order: the scheduler tracepoints first, the
		// HotSpot uprobes last, so the uprobes cover the whole window
		// the tracepoints saw. Closing a tp_btf link waits for an RCU
		// grace period (~100 ms here): a thread born meanwhile still
		// gets its start reported.
		var errs []error
		for i := len(t.links) - 1; i >= 0; i-- {
			errs = append(errs, t.links[i].Close())
		}
		errs = append(errs, t.detachTargets())
		t.detachErr = errors.Join(errs...)
		// Detaching does not wait for a program already running on
		// another CPU; one run takes well under a microsecond.
		time.Sleep(5 * time.Millisecond)
	})
	return t.detachErr
}

// drainStaged delivers the events the programs staged but had not sent
// when they were detached, CPU by CPU.
func (t *Tracer) drainStaged(deliver func([]byte) error) error {
	m := t.coll.Maps[runqlatMapStaged]
	if m == nil {
		return nil
	}
	var per []runqlatBatch
	if err := m.Lookup(uint32(0), &per); err != nil {
		return fmt.Errorf("reading staged events: %w", err)
	}
	for i := range per {
		b := &per[i]
		n := min(int(b.N), len(b.Ev))
		if n == 0 {
			continue
		}
		// The staged events have the ring-buffer layout (bpfel: this
		// host's byte order; TestEventLayout checks the size).
		raw := unsafe.Slice((*byte)(unsafe.Pointer(&b.Ev[0])), n*eventSize)
		t.stagedAtEnd += n
		if err := deliver(raw); err != nil {
			return err
		}
	}
	return nil
}

// Counters is a snapshot of what the kernel side counted.
type Counters struct {
	// Lost is how many events the kernel could not reserve room for in
	// the ring buffer, in total and per CPU.
	Lost       uint64
	LostPerCPU []uint64
	// Collisions is how many wait starts took the slot of another
	// thread's live start (their TIDs are equal modulo Config.Slots);
	// that other wait is then measured from the scheduler's own stamp, as
	// an unobserved one.
	Collisions uint64
	// Unobserved is how many reported waits began without a wakeup or
	// runnable switch-out that the tracer saw: waits in progress when it
	// attached, and ones whose enqueue (or an earlier switch) the kernel
	// did not deliver to BPF. Their latency is the scheduler's own
	// enqueue stamp (sched_info.last_queued); their kind is reported as
	// KindWakeup.
	Unobserved uint64
	// Recovered is how many waits were reported although the kernel
	// never delivered the switch-in that ended them (some kernels skip
	// sched_switch tracepoints). Each was reported at the task's next
	// switch-out, ending at the scheduler's own last_arrival stamp; its
	// previous task is unknown (PrevPid and PrevTid 0, PrevComm empty).
	Recovered uint64
	// Missed is how many waits ended in a switch-in the kernel did not
	// deliver and could not be recovered either (the switch-out after it
	// was not delivered too): they are missing from the events. MissedNs
	// is their total run-queue time.
	Missed   uint64
	MissedNs uint64
}

// Counters reads the kernel's counters; they stay readable after Run
// returned, until Close. On an error the counters read before it are set.
func (t *Tracer) Counters() (Counters, error) {
	var c Counters
	var err error
	if c.LostPerCPU, err = t.perCPUCounter(runqlatMapLost); err != nil {
		return c, err
	}
	for _, v := range c.LostPerCPU {
		c.Lost += v
	}
	for _, f := range []struct {
		name string
		v    *uint64
	}{
		{runqlatMapCollisions, &c.Collisions},
		{runqlatMapUnobserved, &c.Unobserved},
		{runqlatMapRecovered, &c.Recovered},
		{runqlatMapMissed, &c.Missed},
		{runqlatMapMissedNs, &c.MissedNs},
	} {
		if *f.v, err = t.sumCounter(f.name); err != nil {
			return c, err
		}
	}
	return c, nil
}

func (t *Tracer) sumCounter(name string) (uint64, error) {
	perCPU, err := t.perCPUCounter(name)
	var total uint64
	for _, v := range perCPU {
		total += v
	}
	return total, err
}

func (t *Tracer) perCPUCounter(name string) ([]uint64, error) {
	if t.closed.Load() {
		return nil, fmt.Errorf("reading %s: %w", name, os.ErrClosed)
	}
	var vals []uint64
	if err := t.coll.Maps[name].Lookup(uint32(0), &vals); err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return vals, nil
}

// ProgStats returns the kernel's run time and run count per attached
// program, keyed by program name. They only advance while sysctl
// kernel.bpf_stats_enabled=1.
func (t *Tracer) ProgStats() (map[string]ProgStat, error) {
	if t.closed.Load() {
		return nil, fmt.Errorf("reading program stats: %w", os.ErrClosed)
	}
	out := make(map[string]ProgStat, len(t.progs))
	for _, name := range t.progs {
		st, err := t.coll.Programs[name].Stats()
		if err != nil {
			return nil, fmt.Errorf("reading stats of %s: %w", name, err)
		}
		out[name] = ProgStat{RunTimeNs: uint64(st.Runtime), RunCount: st.RunCount}
	}
	return out, nil
}

// Close detaches and unloads everything; it is safe to call more than once
// and concurrently with Run (which then returns).
func (t *Tracer) Close() error {
	t.closeOnce.Do(func() {
		t.closed.Store(true)
		var errs []error
		if t.rd != nil {
			errs = append(errs, t.rd.Close())
		}
		errs = append(errs, t.detach())
		t.coll.Close()
		t.closeErr = errors.Join(errs...)
	})
	return t.closeErr
}
