package hsmem

import (
	"fmt"
	"runtime"
)

// zgcMode is how ZGC stores a reference: a coloured pointer, whose colour
// bits change with the collector's phases while the object stays put.
// The serviceability agent uncolours them the same way (sun.jvm.hotspot.gc.z).
type zgcMode uint8

const (
	zgcNone zgcMode = iota
	// ZGC with one generation (JDK 11-21; XGlobalsForVMStructs in 21-23):
	// colour bits above the heap offset, and the heap mapped once per
	// colour (marked0, marked1, remapped): the offset with any mapped
	// view's bit is the object.
	zgcMultiMapped
	// Generational ZGC (JDK 21-23 with -XX:+ZGenerational, the only ZGC
	// from 24): 16 bits of metadata below the address; where the address
	// starts is given by which of the four remapped bits (12-15) is set
	// (ZPointerLoadShiftTable in gc/z/zAddress.hpp, x86_64).
	zgcColoured
)

func (m zgcMode) String() string {
	switch m {
	case zgcMultiMapped:
		return "ZGC (one generation)"
	case zgcColoured:
		return "generational ZGC"
	}
	return "no ZGC"
}

// oop is the address of the object a full-width reference p (an object's
// field without compressed oops, or an OopHandle's slot) points to; 0 for
// null and for what is no reference.
//
// A reference coloured before the object moved (a relocation the
// collector has not healed it from yet) gives the object's old place:
// what is read there is checked like every read (klass, the re-read, the
// kernel's comm), and a failed check is retried at the next read.
func (l *layout) oop(p uint64) uint64 {
	switch l.zgc {
	case zgcMultiMapped:
		if p == 0 {
			return 0
		}
		off := p & l.zOffsetMask
		if l.zfwd != nil && p&l.zfwd.bad != 0 {
			off = l.zfwd.forwarded(off)
		}
		return off | l.zView
	case zgcColoured:
		return uncolour(p)
	}
	return p
}

// uncolour is ZPointer::uncolor on x86_64: the remapped bit set (one of
// four) says how far the address is shifted. A null reference has none
// set, or its address bits are zero.
func uncolour(p uint64) uint64 {
	switch (p >> 12) & 0xf {
	case 1:
		return p >> 13
	case 2:
		return p >> 14
	case 4:
		return p >> 15
	case 8:
		return p >> 16
	}
	return 0
}

// resolveZGC finds how references are coloured when the JVM runs ZGC.
func (r *resolver) resolveZGC(vm *VM) {
	l := &vm.lay
	if !vm.Flags.UseZGC || r.err != nil {
		return
	}
	if runtime.GOARCH != "amd64" {
		// AArch64 colours differently (no overlapping zeros, inverted
		// remapped bits): not decoded.
		r.err = fmt.Errorf("%w: ZGC on %s", ErrUnsupported, runtime.GOARCH)
		return
	}
	// JDK 21-23 build both collectors (the single-generation one as X);
	// 17-20 only the single-generation one, 24+ only the generational one.
	_, both := r.static("XGlobalsForVMStructs::_instance_p")
	_, single := r.lookup("ZGlobalsForVMStructs", "_ZAddressGoodMask")
	_, gen := r.lookup("ZGlobalsForVMStructs", "_ZPointerLoadShift")
	switch {
	case (both && vm.Flags.ZGenerational) || (!both && gen):
		l.zgc = zgcColoured
		// The current load shift is one of the table's: a layout this
		// decoding does not know would give another.
		if shift := r.zGlobal("Z", "_ZPointerLoadShift"); r.err == nil && (shift < 13 || shift > 16) {
			r.err = fmt.Errorf("%w: generational ZGC with a load shift of %d", ErrUnsupported, shift)
		}
		l.zMaskAt = r.zGlobalAt("Z", "_ZPointerLoadBadMask")
	case both || single:
		p := "Z"
		if both {
			p = "X"
		}
		l.zgc = zgcMultiMapped
		if _, ok := r.lookup(p+"GlobalsForVMStructs", "_"+p+"AddressOffsetMask"); ok {
			l.zOffsetMask = r.zGlobal(p, "_"+p+"AddressOffsetMask")
		} else {
			// JDK 11: the offset mask is a constant (a 4 TB heap space).
			l.zOffsetMask = uint64(r.t.longs["ZAddressOffsetMask"])
		}
		// The good colour now: the heap is mapped at each colour's view
		// for as long as the JVM runs, whichever is good later.
		l.zView = r.zGlobal(p, "_"+p+"AddressGoodMask")
		l.zGoodAt = r.zGlobalAt(p, "_"+p+"AddressGoodMask")
		// The weak bad mask: a reference with none of its bits points
		// where its object is (the good colour, or remapped while
		// marking: nothing moves then), as the serviceability agent's
		// weak barrier takes it.
		if _, ok := r.lookup(p+"GlobalsForVMStructs", "_"+p+"AddressWeakBadMask"); ok {
			l.zMaskAt = r.zGlobalAt(p, "_"+p+"AddressWeakBadMask")
		}
		l.zfwd = r.resolveForwarding(p, l.zMaskAt)
		if r.err == nil && (l.zOffsetMask == 0 || l.zView == 0 || l.zView&l.zOffsetMask != 0) {
			r.err = fmt.Errorf("%w: ZGC with offset mask %#x and good mask %#x", ErrUnsupported, l.zOffsetMask, l.zView)
		}
	default:
		r.err = fmt.Errorf("%w: a ZGC whose tables this reader does not know", ErrUnsupported)
	}
}

// zGlobal reads a ZGC global through <p>GlobalsForVMStructs, which holds
// a pointer to each.
func (r *resolver) zGlobal(p, field string) uint64 {
	at := r.zGlobalAt(p, field)
	if r.err != nil {
		return 0
	}
	return r.word(at)
}

// zGlobalAt is the address of a ZGC global (see zGlobal).
func (r *resolver) zGlobalAt(p, field string) uint64 {
	inst, ok := r.static(p + "GlobalsForVMStructs::_instance_p")
	if !ok {
		r.fail("no %sGlobalsForVMStructs in the VM's tables", p)
		return 0
	}
	at := r.word(r.word(inst) + r.off(p+"GlobalsForVMStructs", field))
	if r.err == nil && at == 0 {
		r.fail("%sGlobalsForVMStructs::%s is null", p, field)
	}
	return at
}

// zForwarding finds where ZGC (one generation) moved an object: a
// reference coloured before its page was relocated still holds the old
// offset until the collector or the program heals it, and a thread's
// Thread object or name can stay behind like that for a whole GC cycle.
// As the serviceability agent's weak barrier does (ZBarrier.weak_barrier,
// relocate_or_remap), a reference with a bit of the weak bad mask is
// looked up in the forwarding table: its page's granule has a ZForwarding
// whose entries (open addressing, ZHash) map the object's index in the
// page to its new offset. The others (the good colour, or remapped while
// marking: nothing moves then) point where their object is, and are not
// looked up: their granule may hold a newer page than a forwarding still
// listed for it.
type zForwarding struct {
	m        *mem
	bad      uint64 // the weak bad mask, as of the last refresh
	badAt    uint64 // address of the weak bad mask's global
	table    uint64 // address of the granule map's ZForwarding* array
	granule  uint64 // log2 of a granule
	start    uint64 // ZForwarding: ZVirtualMemory._start
	shift    uint64 // ZForwarding: _object_alignment_shift
	length   uint64 // ZForwarding: the entries' _length
	entries  uint64 // the entries, after the ZForwarding
	maxProbe int    // bound on the entries looked at
}

// resolveForwarding finds the forwarding table; nil (stale references
// are then read where they point, and their checks fail) when the VM's
// tables do not describe it (JDK 11).
func (r *resolver) resolveForwarding(p string, badAt uint64) *zForwarding {
	if r.err != nil {
		return nil
	}
	f := &zForwarding{m: r.m, maxProbe: 1 << 16}
	heapPtr, ok := r.static("Universe::_collectedHeap")
	need := [][2]string{
		{p + "CollectedHeap", "_heap"}, {p + "Heap", "_forwarding_table"}, {p + "ForwardingTable", "_map"},
		{p + "GranuleMapForForwarding", "_map"}, {p + "Forwarding", "_virtual"}, {p + "VirtualMemory", "_start"},
		{p + "Forwarding", "_object_alignment_shift"}, {p + "Forwarding", "_entries"},
		{p + "AttachedArrayForForwarding", "_length"},
	}
	offs := map[[2]string]uint64{}
	for _, n := range need {
		fl, found := r.lookup(n[0], n[1])
		if !found {
			return nil
		}
		offs[n] = fl.offset
	}
	granule, ok2 := r.t.longs[p+"GranuleSizeShift"]
	fwSize, entrySize := r.t.types[p+"Forwarding"].size, r.t.types[p+"ForwardingEntry"].size
	if !ok || !ok2 || fwSize == 0 || entrySize != 8 {
		return nil
	}
	f.badAt = badAt // the weak bad mask's global (0: not exported)
	heap := r.word(heapPtr)
	gmap := heap + offs[need[0]] + offs[need[1]] + offs[need[2]] + offs[need[3]]
	f.table = r.word(gmap)
	f.granule = uint64(granule)
	f.start = offs[need[4]] + offs[need[5]]
	f.shift = offs[need[6]]
	f.length = offs[need[7]] + offs[need[8]]
	// ZAttachedArray: the array follows the object, aligned to its
	// elements' size.
	f.entries = (fwSize + entrySize - 1) / entrySize * entrySize
	if r.err != nil || f.table == 0 || f.badAt == 0 {
		return nil
	}
	return f
}

// refresh reads the weak bad mask, which changes at each phase of a
// cycle.
func (f *zForwarding) refresh() error {
	b := make([]byte, 8)
	if err := f.m.read(f.badAt, b); err != nil {
		return err
	}
	f.bad = u64(b, 0)
	return nil
}

// forwarded is where the object at heap offset off is now: its new offset
// if its page was relocated and the object with it, else off.
func (f *zForwarding) forwarded(off uint64) uint64 {
	b := make([]byte, 8)
	word := func(addr uint64) (uint64, bool) {
		if err := f.m.read(addr, b); err != nil {
			return 0, false
		}
		return u64(b, 0), true
	}
	fw, ok := word(f.table + (off>>f.granule)*8)
	if !ok || fw == 0 {
		return off // its page is not being relocated
	}
	start, ok1 := word(fw + f.start)
	shift, ok2 := word(fw + f.shift)
	n, ok3 := word(fw + f.length)
	if !ok1 || !ok2 || !ok3 || off < start || shift > 12 || n == 0 || n&(n-1) != 0 {
		return off
	}
	from := (off - start) >> shift
	for i, c := 0, uint64(zHash(uint32(from)))&(n-1); i < f.maxProbe && uint64(i) < n; i, c = i+1, (c+1)&(n-1) {
		e, ok := word(fw + f.entries + c*8)
		if !ok || e&1 == 0 {
			return off // not moved (yet): still at its old place
		}
		if e>>46 == from {
			return e >> 1 & (1<<45 - 1)
		}
	}
	return off
}

// zHash is ZHash::uint32_to_uint32.
func zHash(key uint32) uint32 {
	key = ^key + key<<15
	key ^= key >> 12
	key += key << 2
	key ^= key >> 4
	key *= 2057
	key ^= key >> 16
	return key
}

// learnVThreadCarrier finds VirtualThread.carrierThread from the klass
// of a mounted virtual thread (VirtualThread is not among the classes
// HotSpot's tables list): under ZGC a mounted virtual thread's oop whose
// colour is not current is used only if the object it points to says it
// is mounted on this carrier (BPFLayout.VThreadCarrier).
func (vm *VM) learnVThreadCarrier(klass uint64) {
	l := &vm.lay
	if l.zgc == zgcNone || l.vtCarrier != 0 || klass == 0 || vm.vtKlasses[klass] || len(vm.vtKlasses) > 8 {
		return
	}
	vm.vtKlasses[klass] = true
	r := *vm.res
	r.err = nil
	fs, err := r.javaFields(klass)
	if err != nil {
		return
	}
	if c, ok := fs["carrierThread"]; ok && c.sig == "Ljava/lang/Thread;" {
		l.vtCarrier = uint64(c.offset)
	}
}
