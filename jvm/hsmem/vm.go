// Package hsmem reads the identity of a running HotSpot JVM's threads
// (native TID, java.lang.Thread id and name, mounted virtual thread)
// straight from its memory, the way the serviceability agent does: no
// attach, no ptrace stop, no safepoint. Everything it needs is located
// through libjvm's own serviceability tables (gHotSpotVMStructs and
// friends) and the Java classes' field metadata, never hard-coded.
//
// Nothing protects an outside reader from the running JVM: every entry is
// re-read and cross-checked, and those that cannot be confirmed are
// reported apart so the caller can fall back to a thread dump for them.
package hsmem

import (
	"errors"
	"fmt"
	"github.com/jschedlat/jschedlat/jvm"
	"strings"
)

// ErrUnsupported means the JVM runs in a mode this package cannot decode.
var ErrUnsupported = errors.New("unsupported JVM configuration")

// VM is an opened HotSpot JVM.
type VM struct {
	pid int
	mem *mem
	lay layout
	// inPIDNS: the JVM's TIDs are not the host's.
	inPIDNS bool
	// threadKlasses are klasses confirmed to be java.lang.Thread or a
	// subclass.
	threadKlasses map[uint64]bool
	commOK        map[commKey]bool // as of the last scan
	// res resolves what is learnt after Open (its ELF image closed).
	res *resolver
	// vtKlasses are the klasses of mounted virtual threads already looked
	// at for VirtualThread.carrierThread (ZGC).
	vtKlasses map[uint64]bool
	Major     int   // Java feature release (8, 11, 17, 21, 25...)
	Flags     Flags // the JVM flags that change object layout
}

// Flags are the JVM flags the decoding depends on.
type Flags struct {
	UseCompressedOops          bool
	UseCompressedClassPointers bool
	UseCompactObjectHeaders    bool
	UseZGC                     bool
	ZGenerational              bool // JDK 21-23: ZGC with generations (the only ZGC from 24)
}

// layout is everything resolved at Open: addresses of statics, C++ field
// offsets, Java field offsets.
type layout struct {
	// Thread list: 17+ ThreadsSMRSupport::_java_thread_list; 8/11
	// Threads::_thread_list linked through JavaThread::_next.
	smrList     uint64 // address of the ThreadsList* static (0: linked list)
	listLength  uint64
	listThreads uint64
	linkedHead  uint64 // address of Threads::_thread_list
	jtNext      uint64

	jtStart, jtEnd  uint64 // the span of JavaThread read
	jtOSThread      uint64
	jtThreadObj     uint64
	jtVThread       uint64 // 0: no virtual threads (before 21)
	jtTerminated    uint64
	hasTerminated   bool // JDK 8 exports no JavaThread::_terminated
	notTerminated   uint32
	threadExiting   uint32
	handleIndirect  bool // _threadObj is an OopHandle (17+), not an oop
	osThreadID      uint64
	osThreadIDSize  uint64
	oopBase         uint64
	oopShift        uint64
	refSize         uint64 // 4 with compressed oops
	klassOff        uint64 // offset of the klass word in an object (not compact headers)
	klassBase       uint64
	klassShift      uint64
	compactKlassBit uint64 // markWord::klass_shift with compact headers
	flags           Flags
	zgc             zgcMode      // how ZGC colours full-width references (zgcNone: plain addresses)
	zOffsetMask     uint64       // zgcMultiMapped: the offset bits of a reference
	zView           uint64       // zgcMultiMapped: the colour bit of a heap view that is mapped
	zfwd            *zForwarding // zgcMultiMapped: where moved objects went (nil: not known)
	zMaskAt         uint64       // address of the colour mask BPFLayout.ZMaskAt names
	zGoodAt         uint64       // zgcMultiMapped: address of the good mask (BPFLayout.ZGoodAt)
	vtCarrier       uint64       // under ZGC: offset of VirtualThread.carrierThread (0: not known yet)

	klassSuper    uint64
	threadEnd     uint64 // bytes of a Thread object read
	stringEnd     uint64 // bytes of a String read
	arrayLength   uint64
	arrayBase     uint64 // payload of byte[] / char[]
	threadKlass   uint64
	stringKlass   uint64
	threadName    uint64
	threadNameArr bool // JDK 8: Thread.name is a char[]
	threadTID     uint64
	threadEETop   uint64
	stringValue   uint64
	stringCoder   uint64 // 0 with stringLatin1: JDK 8 has no coder (char[] value)
	stringHasCode bool
}

// Open locates the tables of the JVM running as pid and resolves the
// layout of its threads. It fails with ErrNotReady while the JVM is still
// starting (retry later), ErrNotHotSpot when pid is not a HotSpot JVM.
func Open(pid int) (*VM, error) {
	lib, err := findLibJVM(pid)
	if err != nil {
		return nil, err
	}
	m, err := openMem(pid)
	if err != nil {
		return nil, err
	}
	vm, err := open(pid, m, lib)
	if err != nil {
		m.close()
		return nil, err
	}
	return vm, nil
}

func open(pid int, m *mem, lib libjvm) (*VM, error) {
	img, err := openELF(lib)
	if err != nil {
		return nil, err
	}
	defer img.close()
	t, err := readTables(m, img)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	r := resolver{t: t, m: m, img: img}
	vm := &VM{pid: pid, mem: m, threadKlasses: map[uint64]bool{}, vtKlasses: map[uint64]bool{}, inPIDNS: jvm.InOwnPIDNamespace(pid)}
	if err := r.resolve(vm); err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	vm.res = &resolver{t: t, m: m}
	return vm, nil
}

// Close releases the process's memory file.
func (vm *VM) Close() error { return vm.mem.close() }

// resolver turns the tables into a layout, remembering the first
// missing entry.
type resolver struct {
	t   *tables
	m   *mem
	img *elfImage
	err error
}

func (r *resolver) fail(format string, a ...any) {
	if r.err == nil {
		r.err = fmt.Errorf(format, a...)
	}
}

// off is the offset of the first of typ::names that exists.
func (r *resolver) off(typ string, names ...string) uint64 {
	f, ok := r.lookup(typ, names...)
	if !ok {
		r.fail("no field %s::%s in the VM's tables", typ, strings.Join(names, "/"))
	}
	return f.offset
}

func (r *resolver) lookup(typ string, names ...string) (vmField, bool) {
	for _, n := range names {
		if f, ok := r.t.field(typ, n); ok {
			return f, true
		}
	}
	return vmField{}, false
}

// static is the address of a static field, trying alternative names
// ("Type::field") in order.
func (r *resolver) static(names ...string) (uint64, bool) {
	for _, n := range names {
		i := strings.LastIndex(n, "::")
		if f, ok := r.t.fields[n[:i]][n[i+2:]]; ok && f.static {
			return f.addr, true
		}
	}
	return 0, false
}

func (r *resolver) word(addr uint64) uint64 {
	b := make([]byte, 8)
	if r.err == nil {
		if err := r.m.read(addr, b); err != nil {
			r.fail("%v", err)
		}
	}
	return u64(b, 0)
}

// resolve fills vm's version, flags and layout from the tables.
func (r *resolver) resolve(vm *VM) error {
	l := &vm.lay
	r.readVersion(vm)

	r.readFlags(vm)
	l.flags = vm.Flags
	r.resolveZGC(vm)

	r.resolveThreadList(l)
	r.resolveJavaThread(l)
	r.resolveCompressedOops(vm)
	r.resolveKlassPointers(vm)
	r.resolveArrays(vm)
	if r.err != nil {
		return r.err
	}
	return r.resolveClasses(l)
}

// readVersion reads the Java feature release.
func (r *resolver) readVersion(vm *VM) {
	// Version: JDK_Version::_current through 21, then the VM's own.
	if a, ok := r.static("JDK_Version::_current"); ok {
		vm.Major = int(r.word(a+r.off("JDK_Version", "_major")) & 0xff)
	} else if a, ok := r.static("Abstract_VM_Version::_vm_major_version"); ok {
		vm.Major = int(int32(r.word(a)))
	}
	if vm.Major < 8 {
		r.fail("cannot tell the JDK version (%d)", vm.Major)
	}
}

// resolveThreadList locates the list of JavaThreads: the SMR list (17+)
// or the linked list (8/11).
func (r *resolver) resolveThreadList(l *layout) {
	if a, ok := r.static("ThreadsSMRSupport::_java_thread_list"); ok {
		l.smrList = a
		l.listLength = r.off("ThreadsList", "_length")
		l.listThreads = r.off("ThreadsList", "_threads")
	} else if a, ok := r.static("Threads::_thread_list"); ok {
		l.linkedHead = a
		l.jtNext = r.off("JavaThread", "_next")
	} else {
		r.fail("no thread list in the VM's tables")
	}
}

// resolveJavaThread resolves the JavaThread and OSThread fields read.
func (r *resolver) resolveJavaThread(l *layout) {
	t := r.t
	l.jtOSThread = r.off("JavaThread", "_osthread")
	th, _ := r.lookup("JavaThread", "_threadObj")
	l.jtThreadObj = r.off("JavaThread", "_threadObj")
	l.handleIndirect = th.typeString == "OopHandle"
	if f, ok := r.lookup("JavaThread", "_vthread"); ok {
		l.jtVThread = f.offset
	}
	// JDK 8 has no _terminated in its tables: an exiting thread is then
	// told by its Thread.eetop, cleared before it leaves the list.
	if f, ok := r.lookup("JavaThread", "_terminated"); ok {
		l.jtTerminated, l.hasTerminated = f.offset, true
		nt, ok1 := t.ints["JavaThread::_not_terminated"]
		te, ok2 := t.ints["JavaThread::_thread_exiting"]
		if !ok1 || !ok2 {
			r.fail("no JavaThread::_not_terminated/_thread_exiting constants")
		}
		l.notTerminated, l.threadExiting = uint32(nt), uint32(te)
	}
	tid, _ := r.lookup("OSThread", "_thread_id")
	l.osThreadID = r.off("OSThread", "_thread_id")
	l.osThreadIDSize = 4
	if tid.typeString == "pthread_t" || tid.typeString == "uintptr_t" {
		l.osThreadIDSize = 8
	}
}

// resolveCompressedOops resolves how references are stored.
func (r *resolver) resolveCompressedOops(vm *VM) {
	l := &vm.lay
	// Compressed references.
	l.refSize = 8
	if vm.Flags.UseCompressedOops {
		l.refSize = 4
		base, ok1 := r.static("CompressedOops::_base", "CompressedOops::_narrow_oop._base", "Universe::_narrow_oop._base")
		shift, ok2 := r.static("CompressedOops::_shift", "CompressedOops::_narrow_oop._shift", "Universe::_narrow_oop._shift")
		if !ok1 || !ok2 {
			r.fail("no compressed oop base/shift in the VM's tables")
		}
		l.oopBase = r.word(base)
		l.oopShift = uint64(uint32(r.word(shift)))
	}
}

// resolveKlassPointers resolves where an object's header holds its klass
// and how it is encoded.
func (r *resolver) resolveKlassPointers(vm *VM) {
	l := &vm.lay
	l.klassOff = r.off("oopDesc", "_metadata._klass", "_klass")
	if vm.Flags.UseCompressedClassPointers || vm.Flags.UseCompactObjectHeaders {
		base, ok1 := r.static("CompressedKlassPointers::_base", "CompressedKlassPointers::_narrow_klass._base", "Universe::_narrow_klass._base")
		shift, ok2 := r.static("CompressedKlassPointers::_shift", "CompressedKlassPointers::_narrow_klass._shift", "Universe::_narrow_klass._shift")
		if !ok1 || !ok2 {
			r.fail("no compressed class pointer base/shift in the VM's tables")
		}
		l.klassBase = r.word(base)
		l.klassShift = uint64(uint32(r.word(shift)))
	}
	if vm.Flags.UseCompactObjectHeaders {
		ks, ok := r.t.longs["markWord::klass_shift"]
		if !ok {
			r.fail("compact object headers but no markWord::klass_shift")
		}
		l.compactKlassBit = uint64(ks)
	}
}

// resolveArrays resolves where an array's length and payload lie.
func (r *resolver) resolveArrays(vm *VM) {
	l := &vm.lay
	t := r.t
	// Arrays: the length follows the header; the payload follows the
	// length, aligned to 8 bytes through JDK 21 (JDK-8139457 removed it).
	markOff := r.off("oopDesc", "_mark")
	switch {
	case vm.Flags.UseCompactObjectHeaders:
		l.arrayLength = markOff + t.types["markWord"].size
	case vm.Flags.UseCompressedClassPointers:
		l.arrayLength = l.klassOff + 4
	default:
		l.arrayLength = t.types["arrayOopDesc"].size
	}
	l.arrayBase = l.arrayLength + 4
	if vm.Major <= 21 {
		l.arrayBase = (l.arrayBase + 7) &^ 7
	}
}

// resolveClasses resolves java.lang.Thread and java.lang.String and the
// fields read from them, then the spans of memory read.
func (r *resolver) resolveClasses(l *layout) error {
	// The two classes and their fields.
	l.threadKlass = r.wellKnown("Thread")
	l.stringKlass = r.wellKnown("String")
	if r.err != nil {
		return r.err
	}
	tf, err := r.javaFields(l.threadKlass)
	if err != nil {
		return fmt.Errorf("reading the fields of java.lang.Thread: %w", err)
	}
	sf, err := r.javaFields(l.stringKlass)
	if err != nil {
		return fmt.Errorf("reading the fields of java.lang.String: %w", err)
	}
	name := r.need(tf, "Thread", "name")
	l.threadName = uint64(name.offset)
	l.threadNameArr = name.sig == "[C"
	l.threadTID = uint64(r.need(tf, "Thread", "tid").offset)
	l.threadEETop = uint64(r.need(tf, "Thread", "eetop").offset)
	value := r.need(sf, "String", "value")
	l.stringValue = uint64(value.offset)
	if c, ok := sf["coder"]; ok {
		l.stringCoder = uint64(c.offset)
		l.stringHasCode = true
	}
	l.klassSuper = r.off("Klass", "_super")
	l.setSpans()
	if r.err == nil && !l.stringHasCode && value.sig != "[C" {
		r.fail("java.lang.String has neither a coder nor a char[] value (%s)", value.sig)
	}
	return r.err
}

// need is the field name of java.lang.<cls>, failing when it has none.
func (r *resolver) need(fs map[string]javaField, cls, name string) javaField {
	f, ok := fs[name]
	if !ok {
		r.fail("java.lang.%s has no field %s", cls, name)
	}
	return f
}

// setSpans sets how much of a JavaThread, Thread and String is read: just
// enough to cover every field read.
func (l *layout) setSpans() {
	l.jtStart = min(l.jtOSThread, l.jtThreadObj)
	l.jtEnd = max(l.jtOSThread+8, l.jtThreadObj+8)
	if l.hasTerminated {
		l.jtStart, l.jtEnd = min(l.jtStart, l.jtTerminated), max(l.jtEnd, l.jtTerminated+4)
	}
	if l.jtVThread != 0 {
		l.jtStart, l.jtEnd = min(l.jtStart, l.jtVThread), max(l.jtEnd, l.jtVThread+8)
	}
	l.threadEnd = max(l.headerSize(), l.threadName+l.refSize, l.threadTID+8, l.threadEETop+8)
	l.stringEnd = max(l.headerSize(), l.stringValue+l.refSize, l.stringCoder+1)
}

// wellKnown is the klass of java.lang.<cls> from the VM's table of
// well-known classes (vmClasses from 17, SystemDictionary before).
func (r *resolver) wellKnown(cls string) uint64 {
	key := "::" + cls + "_klass_knum"
	for _, typ := range []string{"vmClasses", "SystemDictionary"} {
		for n, f := range r.t.fields[typ] {
			if f.static && strings.Contains(n, key) {
				k := r.word(f.addr)
				if k == 0 {
					r.fail("java.lang.%s is not loaded yet: %w", cls, ErrNotReady)
				}
				return k
			}
		}
	}
	r.fail("no well-known klass for java.lang.%s in the VM's tables", cls)
	return 0
}

// readFlags reads the JVM flags that change how objects are laid out.
func (r *resolver) readFlags(vm *VM) {
	typ := "JVMFlag"
	if _, ok := r.t.types[typ]; !ok {
		typ = "Flag" // JDK 8
	}
	arr, ok1 := r.static(typ + "::flags")
	num, ok2 := r.static(typ + "::numFlags")
	if !ok1 || !ok2 {
		r.fail("no %s::flags in the VM's tables", typ)
		return
	}
	size := r.t.types[typ].size
	nameOff := r.off(typ, "_name")
	addrOff := r.off(typ, "_addr")
	first, n := r.word(arr), r.word(num)
	if r.err != nil {
		return
	}
	if n == 0 || n > 100000 || size == 0 {
		r.fail("implausible flag table (%d flags of %d bytes)", n, size)
		return
	}
	b := make([]byte, n*size)
	if err := r.m.read(first, b); err != nil {
		r.fail("reading the flag table: %v", err)
		return
	}
	want := map[string]*bool{
		"UseCompressedOops":          &vm.Flags.UseCompressedOops,
		"UseCompressedClassPointers": &vm.Flags.UseCompressedClassPointers,
		"UseCompactObjectHeaders":    &vm.Flags.UseCompactObjectHeaders,
		"UseZGC":                     &vm.Flags.UseZGC,
		"ZGenerational":              &vm.Flags.ZGenerational,
	}
	for i := uint64(0); i < n; i++ {
		e := b[i*size : (i+1)*size]
		p := u64(e, nameOff)
		if p == 0 {
			continue
		}
		name, ok := r.img.cString(p)
		if !ok {
			continue
		}
		if dst, ok := want[name]; ok {
			v := make([]byte, 1)
			if err := r.m.read(u64(e, addrOff), v); err != nil {
				r.fail("reading flag %s: %v", name, err)
				return
			}
			*dst = v[0] != 0
		}
	}
}
