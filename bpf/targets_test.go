package bpf

import (
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/sched"
)

// TestSetMode traces a set of processes that changes while the programs
// run: only the members' events arrive, each member gets lifecycle events
// and its own HotSpot uprobes, and nothing is left loaded after Close.
func TestSetMode(t *testing.T) {
	testenv.RequireRoot(t)
	a := startWorkload(t, "--seconds", "600", "--short-every-ms", "50", "--short-life-ms", "20")
	b := startWorkload(t, "--seconds", "600", "--short-every-ms", "50", "--short-life-ms", "20")
	other := startWorkload(t, "--seconds", "600", "--short-every-ms", "50", "--short-life-ms", "20")
	pa, pb, po := uint32(a.Process.Pid), uint32(b.Process.Pid), uint32(other.Process.Pid)
	// JVM start-up takes seconds on a busy machine: wait until each
	// catches SIGQUIT (its libjvm is mapped and its VM is up).
	testenv.WaitFor(t, 120*time.Second, "the three JVMs to start", func() bool {
		return sigQuitCaught(int(pa)) && sigQuitCaught(int(pb)) && sigQuitCaught(int(po))
	})
	probes := func(pid uint32) *HotSpotProbes {
		lib, err := jvm.LibJVM(int(pid))
		if err != nil {
			t.Fatal(err)
		}
		h, err := FindHotSpotProbes(lib)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}

	r := record(t, Config{Set: true})
	add := func(pid uint32) {
		st, err := r.tr.AddTarget(pid, probes(pid))
		if err != nil {
			t.Fatal(err)
		}
		if st.Err != nil || !st.ThreadStarts || !st.ThreadNames || !st.VMOps || !st.QuietBirths {
			t.Fatalf("pid %d: HotSpot probes %+v", pid, st)
		}
		if !probedBit(t, r.tr, pid) {
			t.Fatalf("pid %d: thread starts probed, yet its births still wake the reader", pid)
		}
	}
	time.Sleep(500 * time.Millisecond)
	tAddA := MonotonicNow()
	add(pa)
	time.Sleep(time.Second)
	// b as a session adds it: traced first, probed after.
	tAddB := MonotonicNow()
	if _, err := r.tr.AddTarget(pb, nil); err != nil {
		t.Fatal(err)
	}
	if probedBit(t, r.tr, pb) {
		t.Fatalf("pid %d: probed bit set before its probes", pb)
	}
	if _, err := r.tr.AddProbes(po, probes(po)); err == nil {
		t.Error("probes for a process that is not a target: no error")
	}
	st, err := r.tr.AddProbes(pb, probes(pb))
	if err != nil || st.Err != nil || !st.ThreadStarts || !st.ThreadNames || !st.VMOps || !st.QuietBirths || !probedBit(t, r.tr, pb) {
		t.Fatalf("pid %d: probes added later: %+v, %v", pb, st, err)
	}
	if _, err := r.tr.AddProbes(pb, probes(pb)); err == nil {
		t.Error("adding probes twice: no error")
	}
	if _, err := r.tr.AddTarget(pb, nil); err == nil {
		t.Error("adding a target twice: no error")
	}
	time.Sleep(time.Second)
	// Ours: the tracer's programs and each target's uprobe programs.
	ours := map[ebpf.ProgramID]bool{}
	colls := []*ebpf.Collection{r.tr.coll}
	for _, tg := range r.tr.targets.m {
		colls = append(colls, tg.coll)
	}
	for _, c := range colls {
		for _, p := range c.Programs {
			if info, err := p.Info(); err == nil {
				if id, ok := info.ID(); ok {
					ours[id] = true
				}
			}
		}
	}
	if len(ours) < 9 {
		t.Fatalf("only %d programs of ours found", len(ours))
	}
	if err := r.tr.RemoveTarget(pa); err != nil {
		t.Fatal(err)
	}
	tRemA := MonotonicNow()
	if probedBit(t, r.tr, pa) || !probedBit(t, r.tr, pb) {
		t.Errorf("after removing %d: probed bits %d %v, %d %v", pa, pa, probedBit(t, r.tr, pa), pb, probedBit(t, r.tr, pb))
	}
	time.Sleep(time.Second)
	events := r.stop(t)

	type counts struct{ waits, births, exits, starts, early, late int }
	got := map[uint32]*counts{pa: {}, pb: {}}
	for _, e := range events {
		c := got[e.Pid]
		if c == nil {
			t.Fatalf("event of pid %d, not a target (other JVM %d): %+v", e.Pid, po, e)
		}
		switch e.Kind {
		case sched.KindWakeup, sched.KindWakeupNew, sched.KindPreempt, sched.KindYield:
			c.waits++
		case sched.KindBirth:
			c.births++
		case sched.KindExit:
			c.exits++
		case sched.KindThreadStart:
			c.starts++
		}
		// The clock of a wait is its switch-in; staging delays sending
		// by at most MaxHold, so allow that much past removal.
		if e.Pid == pa && e.Time > tRemA+uint64(DefaultMaxHold+50*time.Millisecond) {
			c.late++
		}
		if (e.Pid == pa && e.Time < tAddA) || (e.Pid == pb && e.Time < tAddB) {
			// A wait may begin before its process was added, but it
			// ends (its time) after.
			c.early++
		}
	}
	for pid, c := range got {
		t.Logf("pid %d: %+v", pid, *c)
		if c.waits < 20 || c.births < 5 || c.exits < 5 || c.starts < 5 {
			t.Errorf("pid %d: too few events: %+v", pid, *c)
		}
		if c.early > 0 || c.late > 0 {
			t.Errorf("pid %d: %d events before it was added, %d after it was removed", pid, c.early, c.late)
		}
	}
	if err := r.tr.Close(); err != nil {
		t.Fatal(err)
	}
	for id := range programIDs() {
		if ours[id] {
			t.Errorf("program %d still loaded after Close", id)
		}
	}
}

// probedBit tells whether pid is marked in the probed bitmap: its births
// do not wake the reader.
func probedBit(t *testing.T, tr *Tracer, pid uint32) bool {
	t.Helper()
	var w uint64
	if err := tr.coll.Maps[runqlatMapProbed].Lookup(pid/64, &w); err != nil {
		t.Fatal(err)
	}
	return w&(1<<(pid%64)) != 0
}
