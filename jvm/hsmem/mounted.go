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
// address = OopBase + narrow<<OopShift (0 stays null).
type BPFLayout struct {
	VThread        uint32 // offset of JavaThread::_vthread (0: no virtual threads)
	ThreadObj      uint32 // offset of JavaThread::_threadObj
	HandleIndirect bool   // both are OopHandles (JDK 17+)
	ThreadTID      uint32 // offset of java.lang.Thread.tid (s64)
	ThreadName     uint32 // offset of java.lang.Thread.name (a reference)
	CompressedOops bool
	OopBase        uint64
	OopShift       uint32
}

// BPF returns the layout for a BPF reader of mounted virtual threads.
func (vm *VM) BPF() BPFLayout {
	l := &vm.lay
	if l.zgc != zgcNone {
		// The BPF reader takes references as addresses: ZGC's are
		// coloured, so it would read the wrong memory. No virtual
		// threads at the switch-out under ZGC (docs/hsmem.md).
		return BPFLayout{}
	}
	return BPFLayout{
		VThread:        uint32(l.jtVThread),
		ThreadObj:      uint32(l.jtThreadObj),
		HandleIndirect: l.handleIndirect,
		ThreadTID:      uint32(l.threadTID),
		ThreadName:     uint32(l.threadName),
		CompressedOops: l.refSize == 4,
		OopBase:        l.oopBase,
		OopShift:       uint32(l.oopShift),
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
	if v == 0 || v == t {
		return 0, false, nil
	}
	if err := vm.mem.read(v+uint64(l.ThreadTID), b); err != nil {
		return 0, false, fmt.Errorf("reading the virtual thread's id: %w", err)
	}
	return int64(u64(b, 0)), true, nil
}
