package bpf

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// Set mode (Config.Set): the programs trace the processes marked in the
// targets bitmap, which user space changes while they run: JVMs are added
// as they start and removed as they end, without reloading anything.
// Each target's HotSpot uprobes are a collection of their own, sharing the
// tracer's maps, with the probe arguments of that JVM's libjvm.so (JDK
// builds differ) and the target's PID as a constant.

// HotSpotStatus is what attaching one JVM's HotSpot probes gave.
type HotSpotStatus struct {
	ThreadStarts, ThreadNames, VMOps bool
	// QuietBirths: the target's thread births do not wake the reader
	// (its new threads name themselves; see Tracer.QuietBirths).
	QuietBirths bool
	Err         error // why some asked for are not in use
}

type target struct {
	coll  *ebpf.Collection
	links []link.Link
}

type targetSet struct {
	mu   sync.Mutex
	m    map[uint32]*target
	done bool // detached: no more uprobes
}

// pidMax is the kernel's bound on PIDs, which sizes the targets bitmap.
func pidMax() uint32 {
	b, err := os.ReadFile("/proc/sys/kernel/pid_max")
	if err == nil {
		if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 32); err == nil && v > 0 {
			return uint32(v)
		}
	}
	return 1 << 22 // the 64-bit maximum
}

// setBit marks pid in or out of one of the bitmaps: targets or probed.
func (t *Tracer) setBit(bitmap string, pid uint32, on bool) error {
	m := t.coll.Maps[bitmap]
	word := pid / 64
	var v uint64
	if err := m.Lookup(word, &v); err != nil {
		return fmt.Errorf("reading the %s set: %w", bitmap, err)
	}
	if on {
		v |= 1 << (pid % 64)
	} else {
		v &^= 1 << (pid % 64)
	}
	if err := m.Update(word, v, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("updating the %s set: %w", bitmap, err)
	}
	return nil
}

// AddTarget starts tracing process pid (set mode only), with HotSpot's
// probes in its libjvm.so when h is not nil. Lifecycle events (births,
// renames, exits) are sent for its threads from now on.
func (t *Tracer) AddTarget(pid uint32, h *HotSpotProbes) (HotSpotStatus, error) {
	var st HotSpotStatus
	if !t.set {
		return st, errors.New("AddTarget needs a tracer in set mode")
	}
	if pid == 0 || pid == t.self {
		return st, fmt.Errorf("pid %d cannot be a target", pid)
	}
	if t.closed.Load() {
		return st, os.ErrClosed
	}
	t.targets.mu.Lock()
	defer t.targets.mu.Unlock()
	if t.targets.done {
		return st, errors.New("tracer detached")
	}
	if _, ok := t.targets.m[pid]; ok {
		return st, fmt.Errorf("pid %d is already a target", pid)
	}
	if pid >= t.pidMax {
		return st, fmt.Errorf("pid %d is above pid_max %d", pid, t.pidMax)
	}
	tg := &target{}
	if h != nil {
		st = t.probe(tg, pid, h)
	}
	// The uprobes first: a thread starting now is either announced by
	// them or visible in the first dump.
	if err := t.setBit(runqlatMapTargets, pid, true); err != nil {
		_ = t.setBit(runqlatMapProbed, pid, false)
		tg.close()
		return HotSpotStatus{}, err
	}
	t.targets.m[pid] = tg
	return st, nil
}

// AddProbes attaches HotSpot's probes to a target added without them. A
// session traces first and probes after: loading and verifying the uprobe
// programs is a large part of start-up, and a thread born in between is
// named by the next read of the JVM instead of by its thread__start.
func (t *Tracer) AddProbes(pid uint32, h *HotSpotProbes) (HotSpotStatus, error) {
	if t.closed.Load() {
		return HotSpotStatus{}, os.ErrClosed
	}
	t.targets.mu.Lock()
	defer t.targets.mu.Unlock()
	tg, ok := t.targets.m[pid]
	switch {
	case t.targets.done:
		return HotSpotStatus{}, errors.New("tracer detached")
	case !ok:
		return HotSpotStatus{}, fmt.Errorf("pid %d is not a target", pid)
	case tg.coll != nil:
		return HotSpotStatus{}, fmt.Errorf("pid %d has its probes already", pid)
	case h == nil:
		return HotSpotStatus{}, nil
	}
	return t.probe(tg, pid, h), nil
}

// probe loads and attaches pid's uprobes into tg (targets.mu held).
func (t *Tracer) probe(tg *target, pid uint32, h *HotSpotProbes) (st HotSpotStatus) {
	coll, err := t.loadUprobes(pid, h)
	if err != nil {
		st.Err = err
		return st
	}
	links, _, hs := attachUprobes(coll, pid, h)
	tg.coll, tg.links = coll, links
	st = HotSpotStatus{ThreadStarts: hs.threadStart, ThreadNames: hs.setName, VMOps: hs.vmops, Err: hs.err}
	if st.ThreadStarts {
		st.QuietBirths = t.setBit(runqlatMapProbed, pid, true) == nil
	}
	return st
}

// RemoveTarget stops tracing pid and detaches its uprobes.
func (t *Tracer) RemoveTarget(pid uint32) error {
	t.targets.mu.Lock()
	defer t.targets.mu.Unlock()
	tg, ok := t.targets.m[pid]
	if !ok {
		return fmt.Errorf("pid %d is not a target", pid)
	}
	delete(t.targets.m, pid)
	err := t.setBit(runqlatMapTargets, pid, false)
	// Out of probed too: the PID may come back as a process without
	// the probes.
	return errors.Join(err, t.setBit(runqlatMapProbed, pid, false), tg.close(), t.RemoveVThreads(pid))
}

func (tg *target) close() error {
	var errs []error
	for _, l := range tg.links {
		errs = append(errs, l.Close())
	}
	tg.links = nil
	if tg.coll != nil {
		tg.coll.Close()
		tg.coll = nil
	}
	return errors.Join(errs...)
}

// detachTargets closes every target's uprobes (at detach).
func (t *Tracer) detachTargets() error {
	t.targets.mu.Lock()
	defer t.targets.mu.Unlock()
	t.targets.done = true
	var errs []error
	for _, tg := range t.targets.m {
		errs = append(errs, tg.close())
	}
	return errors.Join(errs...)
}

// loadUprobes loads the uprobe programs for one target, configured for its
// libjvm.so, using the tracer's maps.
func (t *Tracer) loadUprobes(pid uint32, h *HotSpotProbes) (*ebpf.Collection, error) {
	spec := t.spec.Copy()
	keep := map[string]bool{runqlatProgRunqVmopBegin: true, runqlatProgRunqVmopEnd: true,
		runqlatProgRunqThreadStart: true, runqlatProgRunqThreadName: true}
	for name := range spec.Programs {
		if !keep[name] {
			delete(spec.Programs, name)
		}
	}
	dropUnusedHotSpot(spec, h)
	if len(spec.Programs) == 0 {
		return nil, errors.New("HotSpot probes: none usable")
	}
	if err := setVars(spec, map[string]any{runqlatVarTargTgid: pid, runqlatVarTargSet: uint32(0)}); err != nil {
		return nil, err
	}
	if err := configureHotSpot(spec, h); err != nil {
		return nil, err
	}
	repl := map[string]*ebpf.Map{}
	for name, m := range t.coll.Maps {
		if !strings.HasPrefix(name, ".") {
			repl[name] = m
		}
	}
	coll, err := newCollection(spec, ebpf.CollectionOptions{MapReplacements: repl})
	if err != nil {
		return nil, fmt.Errorf("loading HotSpot probes for pid %d: %w", pid, verbose(err))
	}
	return coll, nil
}
