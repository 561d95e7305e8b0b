package hsmem

import "fmt"

// BPFLayout is what a BPF program needs to read, at a carrier's
// switch-out, the Java id of the virtual thread mounted on it, given the
// carrier's JavaThread address (Thread.JavaThread):
//
//	h  = *(u64 *)(jt + VThread)           // JavaThread::_vthread
//	o  = HandleIndirect ? *(u64 *)h : h   // the oop (full width in a handle slot)
//	t  = *(u64 *)(jt + ThreadObj), same indirection: the carrier's own object
//	if o != 0 && o != t: id = *(s64 *)(o + ThreadTID)
//
// Reference fields inside objects are narrow when CompressedOops:
// address = OopBase + narrow<<OopShift (0 stays null). Under ZGC the oops
// in the handle slots are coloured (Uncolour), and o and t are compared
// uncoloured.
type BPFLayout struct {
	VThread        uint32 // offset of JavaThread::_vthread (0: no virtual threads)
	ThreadObj      uint32 // offset of JavaThread::_threadObj
	HandleIndirect bool   // both are OopHandles (JDK 17+)
	ThreadTID      uint32 // offset of java.lang.Thread.tid (s64)
	ThreadName     uint32 // offset of java.lang.Thread.name (a reference)
	CompressedOops bool
	OopBase        uint64
	OopShift       uint32
	// ZGC: 0 plain addresses, 1 one generation, 2 generational.
	ZGC         uint8
	ZOffsetMask uint64 // ZGC 1: the offset bits
	ZView       uint64 // ZGC 1: the colour of a mapped heap view
	// ZMaskAt is the address, in the JVM, of the colour mask read with
	// each oop (ZGC 1 the weak bad mask, ZGC 2 ZPointerLoadBadMask; 0:
	// not known, no virtual threads read): an oop with one of its bits
	// may point where its object was.
	ZMaskAt uint64
	// VThreadCarrier is the offset of VirtualThread.carrierThread (ZGC
	// only; 0: unknown). A mounted virtual thread's oop whose colour is
	// not current (its slot not healed yet after a collection began) is
	// used when the object it points to has as its carrierThread a Thread
	// with this carrier's own id (wherever that copy is): only the virtual
	// thread mounted here says so (or its old copy, if it moved: the same
	// id), not whatever reused the memory.
	VThreadCarrier uint32
	// ZGoodAt (ZGC 1) is the address of the good mask: a BPF reader reads
	// through the view of the colour that is good now, the one the JVM
	// touches. The JVM's page tables may lack the pages of another view
	// (each view maps the whole heap), and a BPF read cannot fault them
	// in: through the view that was good when the JVM was opened, a fifth
	// of the reads of a mounted virtual thread found no page at five
	// collections a second (JDK 21, /proc/PID/pagemap), where a reader
	// of /proc/PID/mem faults them in.
	ZGoodAt uint64
}

// Uncolour is the address of the object oop o points to, given the
// colour mask read at ZMaskAt; 0 for null, and for a ZGC oop whose colour
// is not current: it may point where its object was before a relocation,
// memory since reused (an id read there could be another thread's).
func (l BPFLayout) Uncolour(o, mask uint64) uint64 {
	if l.ZGC != 0 && o&mask != 0 {
		return 0
	}
	return l.UncolourAny(o)
}

// UncolourAny is Uncolour whatever the colour: where the object was when
// the oop was coloured (it may have moved since).
func (l BPFLayout) UncolourAny(o uint64) uint64 {
	switch l.ZGC {
	case 1:
		if o == 0 {
			return 0
		}
		return o&l.ZOffsetMask | l.ZView
	case 2:
		return uncolour(o)
	}
	return o
}

// BPF returns the layout for a BPF reader of mounted virtual threads.
func (vm *VM) BPF() BPFLayout {
	l := &vm.lay
	return BPFLayout{
		VThread:        uint32(l.jtVThread),
		ThreadObj:      uint32(l.jtThreadObj),
		HandleIndirect: l.handleIndirect,
		ThreadTID:      uint32(l.threadTID),
		ThreadName:     uint32(l.threadName),
		CompressedOops: l.refSize == 4,
		OopBase:        l.oopBase,
		OopShift:       uint32(l.oopShift),
		ZGC:            uint8(l.zgc),
		ZOffsetMask:    l.zOffsetMask,
		ZView:          l.zView,
		ZMaskAt:        l.zMaskAt,
		VThreadCarrier: uint32(l.vtCarrier),
		ZGoodAt:        l.zGoodAt,
	}
}

// Mounted reads, the way BPFLayout describes, the Java id of the virtual
// thread mounted on the carrier whose JavaThread is at jt; ok is false
// when the carrier runs itself (or the JVM has no virtual threads).
func (vm *VM) Mounted(jt uint64) (id int64, ok bool, err error) {
	l := vm.BPF()
	if l.VThread == 0 {
		return 0, false, nil
	}
	b := make([]byte, 8)
	oop := func(field uint32) (uint64, error) {
		if err := vm.mem.read(jt+uint64(field), b); err != nil {
			return 0, err
		}
		h := u64(b, 0)
		if !l.HandleIndirect || h == 0 {
			return h, nil
		}
		if err := vm.mem.read(h, b); err != nil {
			return 0, err
		}
		return u64(b, 0), nil
	}
	v, err := oop(l.VThread)
	if err != nil {
		return 0, false, fmt.Errorf("reading the mounted virtual thread: %w", err)
	}
	t, err := oop(l.ThreadObj)
	if err != nil {
		return 0, false, fmt.Errorf("reading the carrier thread: %w", err)
	}
	var mask uint64
	if l.ZGC != 0 {
		if err := vm.mem.read(l.ZMaskAt, b); err != nil {
			return 0, false, fmt.Errorf("reading ZGC's colour mask: %w", err)
		}
		mask = u64(b, 0)
	}
	if l.ZGC == 1 && l.ZGoodAt != 0 {
		// Through the view that is good now, as the BPF reader.
		if err := vm.mem.read(l.ZGoodAt, b); err != nil {
			return 0, false, fmt.Errorf("reading ZGC's good mask: %w", err)
		}
		if g := u64(b, 0) &^ l.ZOffsetMask; g != 0 {
			l.ZView = g
		}
	}
	// The carrier's own object is checked by its id (as the BPF reader
	// does): its colour does not matter.
	av, at := l.Uncolour(v, mask), l.UncolourAny(t)
	if av == 0 && l.ZGC != 0 && l.VThreadCarrier != 0 && v != 0 {
		if lv := l.UncolourAny(v); vm.carries(l, lv, at, b) {
			av = lv
		}
	}
	if av == 0 || at == 0 || av == at {
		return 0, false, nil
	}
	v = av
	if err := vm.mem.read(v+uint64(l.ThreadTID), b); err != nil {
		return 0, false, fmt.Errorf("reading the virtual thread's id: %w", err)
	}
	return int64(u64(b, 0)), true, nil
}

// carries tells whether the object at v has as its carrierThread a Thread
// with the id of the carrier's own object at t (BPFLayout.VThreadCarrier).
func (vm *VM) carries(l BPFLayout, v, t uint64, b []byte) bool {
	if v == 0 || vm.mem.read(t+uint64(l.ThreadTID), b) != nil {
		return false
	}
	own := u64(b, 0)
	if vm.mem.read(v+uint64(l.VThreadCarrier), b) != nil {
		return false
	}
	c := l.UncolourAny(u64(b, 0))
	if c == 0 || vm.mem.read(c+uint64(l.ThreadTID), b) != nil {
		return false
	}
	return u64(b, 0) == own
}
