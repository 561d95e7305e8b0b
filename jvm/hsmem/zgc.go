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
		return p&l.zOffsetMask | l.zView
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
	inst, ok := r.static(p + "GlobalsForVMStructs::_instance_p")
	if !ok {
		r.fail("no %sGlobalsForVMStructs in the VM's tables", p)
		return 0
	}
	at := r.word(r.word(inst) + r.off(p+"GlobalsForVMStructs", field))
	if r.err != nil {
		return 0
	}
	return r.word(at)
}
