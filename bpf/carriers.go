package bpf

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/jschedlat/jschedlat/jvm/hsmem"
)

// Virtual threads (Config.VirtualThreads): at each switch-out of a
// registered carrier the kernel side reads, from the carrier's own memory,
// the virtual thread it has mounted, and the wait that ends at the
// carrier's next switch-in carries that virtual thread's Java id
// (Event.VThread). User space gives, per JVM, the layout (SetVThreadLayout)
// and, per thread, where its JavaThread is (SetCarriers, AddCarrier); the
// entries live in the carriers array, in the slot of the TID modulo
// Config.Slots.

// Carrier is a JVM thread that may carry virtual threads, as
// hsmem.Thread gives it.
type Carrier struct {
	TID        uint32 // host TID
	JavaThread uint64 // address of its JavaThread
	JavaID     int64  // its own java.lang.Thread.threadId()
}

// CarrierStatus is what a SetCarriers call left registered.
type CarrierStatus struct {
	Registered int // threads of the JVM the kernel side reads
	// Collisions are threads left unregistered because their slot holds
	// another registered thread (TIDs equal modulo Config.Slots): their
	// waits carry no virtual thread.
	Collisions int
}

type carrierEntry struct {
	pid uint32
	c   Carrier
}

type carrierSet struct {
	mu      sync.Mutex
	on      bool
	mask    uint32
	layouts map[uint32]runqlatCarrier // per pid: the offsets of its entries
	byTID   map[uint32]carrierEntry
	bySlot  map[uint32]uint32 // slot -> TID registered there
}

var errNoVThreads = errors.New("the tracer reads no virtual threads (Config.VirtualThreads not set)")

// SetVThreadLayout tells the kernel side how to read the mounted virtual
// thread in process pid's memory (a JDK 21+ HotSpot: hsmem.VM.BPF()).
// Its threads are read once they are registered with SetCarriers or
// AddCarrier. Setting a different layout again re-registers them.
func (t *Tracer) SetVThreadLayout(pid uint32, l hsmem.BPFLayout) error {
	cs := &t.carriers
	if !cs.on {
		return errNoVThreads
	}
	if l.VThread == 0 {
		return errors.New("the JVM has no virtual threads (JavaThread::_vthread unknown)")
	}
	if !l.HandleIndirect {
		return errors.New("JavaThread::_vthread is not an OopHandle: unsupported JDK")
	}
	for _, f := range []struct {
		name string
		v    uint32
	}{{"JavaThread::_vthread", l.VThread}, {"JavaThread::_threadObj", l.ThreadObj}, {"Thread.tid", l.ThreadTID}} {
		if f.v == 0 || f.v > math.MaxUint16 {
			return fmt.Errorf("offset of %s %d: unusable", f.name, f.v)
		}
	}
	if l.ZGC > 2 || l.ZGC != 0 && l.ZMaskAt == 0 {
		return fmt.Errorf("ZGC mode %d with its colour mask at %#x: unusable", l.ZGC, l.ZMaskAt)
	}
	lay := runqlatCarrier{VthreadOff: uint16(l.VThread), ThreadobjOff: uint16(l.ThreadObj), TidOff: uint16(l.ThreadTID),
		VtcarrierOff: uint16(l.VThreadCarrier), Zgc: l.ZGC, ZoffsetMask: l.ZOffsetMask, Zview: l.ZView, ZmaskAt: l.ZMaskAt,
		ZgoodAt: l.ZGoodAt}
	if l.VThreadCarrier > math.MaxUint16 {
		return fmt.Errorf("offset of VirtualThread.carrierThread %d: unusable", l.VThreadCarrier)
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if old, ok := cs.layouts[pid]; ok && old == lay {
		return nil
	}
	cs.layouts[pid] = lay
	var errs []error
	for tid, e := range cs.byTID {
		if e.pid == pid {
			// Through an empty entry: see struct carrier.
			errs = append(errs, t.writeCarrier(tid, nil), t.writeCarrier(tid, t.carrierValue(e)))
		}
	}
	return errors.Join(errs...)
}

// SetCarriers makes threads the registered carriers of process pid: those
// registered before and not listed are removed, new ones added. Listing
// every JavaThread of a scan (hsmem.VM.Threads) is correct: a thread
// running itself reads as carrying nothing; each registered thread costs
// a few user-memory reads per switch-out. A listed thread that has already
// exited is not registered.
func (t *Tracer) SetCarriers(pid uint32, threads []Carrier) (CarrierStatus, error) {
	var st CarrierStatus
	cs := &t.carriers
	if !cs.on {
		return st, errNoVThreads
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if _, ok := cs.layouts[pid]; !ok {
		return st, fmt.Errorf("no virtual-thread layout for pid %d (SetVThreadLayout)", pid)
	}
	want := make(map[uint32]Carrier, len(threads))
	for _, c := range threads {
		want[c.TID] = c
	}
	var errs []error
	for tid, e := range cs.byTID {
		if _, ok := want[tid]; e.pid == pid && !ok {
			errs = append(errs, t.unregister(tid))
		}
	}
	for _, c := range threads {
		_, collided, err := t.register(pid, c)
		if err != nil {
			errs = append(errs, err)
		}
		if collided {
			st.Collisions++
		}
	}
	for _, e := range cs.byTID {
		if e.pid == pid {
			st.Registered++
		}
	}
	return st, errors.Join(errs...)
}

// AddCarrier registers one thread of pid (a thread seen starting); false
// when its slot holds another registered thread or it has exited.
func (t *Tracer) AddCarrier(pid uint32, c Carrier) (bool, error) {
	cs := &t.carriers
	if !cs.on {
		return false, errNoVThreads
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if _, ok := cs.layouts[pid]; !ok {
		return false, fmt.Errorf("no virtual-thread layout for pid %d (SetVThreadLayout)", pid)
	}
	ok, _, err := t.register(pid, c)
	return ok, err
}

// RemoveCarrier unregisters thread tid (it exited). The kernel side also
// empties the entry of a thread that exits; this keeps the bookkeeping.
func (t *Tracer) RemoveCarrier(tid uint32) error {
	cs := &t.carriers
	if !cs.on {
		return errNoVThreads
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return t.unregister(tid)
}

// RemoveVThreads forgets pid's layout and unregisters its threads.
func (t *Tracer) RemoveVThreads(pid uint32) error {
	cs := &t.carriers
	if !cs.on {
		return nil
	}
	cs.mu.Lock()
	defer cs.mu.Unlock()
	delete(cs.layouts, pid)
	var errs []error
	for tid, e := range cs.byTID {
		if e.pid == pid {
			errs = append(errs, t.unregister(tid))
		}
	}
	return errors.Join(errs...)
}

// Carriers returns how many threads are registered.
func (t *Tracer) Carriers() int {
	t.carriers.mu.Lock()
	defer t.carriers.mu.Unlock()
	return len(t.carriers.byTID)
}

// register writes c's entry unless its slot holds another registered
// thread (collided) or the thread has exited. Called with the lock held.
func (t *Tracer) register(pid uint32, c Carrier) (ok, collided bool, err error) {
	cs := &t.carriers
	if c.TID == 0 || c.JavaThread == 0 {
		return false, false, fmt.Errorf("carrier %+v: no TID or JavaThread", c)
	}
	e := carrierEntry{pid: pid, c: c}
	if old, ok := cs.byTID[c.TID]; ok && old == e {
		return true, false, nil
	}
	slot := c.TID & cs.mask
	if owner, ok := cs.bySlot[slot]; ok && owner != c.TID {
		return false, true, nil
	}
	// A changed entry goes through an empty one (see struct carrier).
	if _, ok := cs.byTID[c.TID]; ok {
		if err := t.writeCarrier(c.TID, nil); err != nil {
			return false, false, err
		}
	}
	if err := t.writeCarrier(c.TID, t.carrierValue(e)); err != nil {
		delete(cs.byTID, c.TID)
		delete(cs.bySlot, slot)
		return false, false, err
	}
	cs.byTID[c.TID] = e
	cs.bySlot[slot] = c.TID
	// The kernel side empties the entry of a thread that exits; one that
	// exited before the entry was written would leave it behind for the
	// next owner of its TID.
	if _, err := os.Stat(fmt.Sprintf("/proc/%d/task/%d", pid, c.TID)); err != nil {
		return false, false, t.unregister(c.TID)
	}
	return true, false, nil
}

// unregister empties tid's entry. Called with the lock held.
func (t *Tracer) unregister(tid uint32) error {
	cs := &t.carriers
	if _, ok := cs.byTID[tid]; !ok {
		return nil
	}
	delete(cs.byTID, tid)
	delete(cs.bySlot, tid&cs.mask)
	return t.writeCarrier(tid, nil)
}

func (t *Tracer) carrierValue(e carrierEntry) *runqlatCarrier {
	v := t.carriers.layouts[e.pid]
	v.Tid, v.Tgid, v.Jt, v.JavaId = e.c.TID, e.pid, e.c.JavaThread, e.c.JavaID
	return &v
}

// writeCarrier writes tid's slot: v, or an empty entry when nil.
func (t *Tracer) writeCarrier(tid uint32, v *runqlatCarrier) error {
	if t.closed.Load() {
		return os.ErrClosed
	}
	if v == nil {
		v = &runqlatCarrier{}
	}
	if err := t.coll.Maps[runqlatMapCarriers].Update(tid&t.carriers.mask, v, ebpf.UpdateExist); err != nil {
		return fmt.Errorf("writing the carrier entry of TID %d: %w", tid, err)
	}
	return nil
}
