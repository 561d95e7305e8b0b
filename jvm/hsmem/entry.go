package hsmem

import (
	"fmt"
)

// entry is one JavaThread being read. A failed check sets err; the entry
// is then read again from scratch.
type entry struct {
	jt uint64

	osthread, handle, vhandle uint64 // JavaThread fields
	terminated                uint32
	nstid                     int32
	oop, voop                 uint64 // thread object, mounted virtual thread (0: none)
	javaID, vjavaID           int64
	vklass                    uint64 // the mounted virtual thread's klass
	eetop                     uint64
	name, vname               nameRead

	gone bool // exited, or not a thread any more
	err  string
}

// nameRead is a Thread.name being read: the String (or JDK 8 char[]),
// its value array, the decoded text.
type nameRead struct {
	ref    uint64 // Thread.name
	array  uint64 // the array holding the characters
	coder  byte   // 0 Latin-1, 1 UTF-16
	length uint64 // array elements
	units  []uint16
	text   string
}

func (e *entry) fail(format string, a ...any) {
	if e.err == "" {
		e.err = fmt.Sprintf(format, a...)
	}
}

// batch gathers the reads of one phase, to be made in as few syscalls as
// the kernel allows.
type batch struct {
	rs   []region
	fns  []func(b []byte)
	errs []func()
	size int
}

// add queues a read of n bytes at addr; fn runs with them, or onErr when
// they could not be read.
func (b *batch) add(addr uint64, n uint64, fn func(b []byte), onErr func()) {
	b.rs = append(b.rs, region{addr: addr, buf: make([]byte, n)})
	b.fns = append(b.fns, fn)
	b.errs = append(b.errs, onErr)
}

func (b *batch) run(m *mem) {
	m.readv(b.rs)
	for i, r := range b.rs {
		if r.ok {
			b.fns[i](r.buf)
		} else {
			b.errs[i]()
		}
	}
	*b = batch{}
}

// ref decodes a reference field of an object.
func (l *layout) ref(b []byte, off uint64) uint64 {
	if l.refSize == 4 {
		n := uint64(u32(b, off))
		if n == 0 {
			return 0
		}
		return l.oopBase + n<<l.oopShift
	}
	return l.oop(u64(b, off))
}

// klassOf decodes the klass of an object from its header.
func (l *layout) klassOf(b []byte) uint64 {
	switch {
	case l.flags.UseCompactObjectHeaders:
		return l.klassBase + (u64(b, 0)>>l.compactKlassBit)<<l.klassShift
	case l.flags.UseCompressedClassPointers:
		return l.klassBase + uint64(u32(b, l.klassOff))<<l.klassShift
	}
	return u64(b, l.klassOff)
}

// headerSize is how much of an object holds its header.
func (l *layout) headerSize() uint64 {
	if l.flags.UseCompactObjectHeaders {
		return 8
	}
	return l.klassOff + 8
}

// ok says whether e is still being read: no failed check, not gone.
func (e *entry) ok() bool { return e.err == "" && !e.gone }

// names are the names e reads: its own, and the mounted virtual thread's.
func (e *entry) names() []*nameRead {
	if e.voop != 0 {
		return []*nameRead{&e.name, &e.vname}
	}
	return []*nameRead{&e.name}
}

// readEntries reads every entry through the chain JavaThread → OSThread,
// thread object → name → characters, then reads every link again: an
// entry whose links all held still is a consistent snapshot. Each stage
// is one batch.
func (vm *VM) readEntries(es []*entry) {
	vm.readJavaThreads(es)
	vm.readOSThreads(es)
	vm.readThreadObjects(es)
	vm.readNameStrings(es)
	vm.readNameArrays(es)
	vm.readNameChars(es)
	// Everything again: the JVM moves objects (GC), renames threads and
	// frees exiting ones while we read.
	vm.recheckEntries(es)
}

// readJavaThreads reads the JavaThread fields of every entry and checks
// its state.
func (vm *VM) readJavaThreads(es []*entry) {
	l := &vm.lay
	var b batch
	for _, e := range es {
		b.add(e.jt+l.jtStart, l.jtEnd-l.jtStart, func(p []byte) {
			e.osthread = u64(p, l.jtOSThread-l.jtStart)
			e.handle = u64(p, l.jtThreadObj-l.jtStart)
			if l.jtVThread != 0 {
				e.vhandle = u64(p, l.jtVThread-l.jtStart)
			}
			if l.hasTerminated {
				e.terminated = u32(p, l.jtTerminated-l.jtStart)
			}
		}, func() { e.gone = true }) // a live JavaThread's memory stays mapped
	}
	b.run(vm.mem)
	for _, e := range es {
		switch {
		case e.err != "" || e.gone:
		case l.hasTerminated && e.terminated >= l.threadExiting && e.terminated <= l.threadExiting+3:
			// _thread_exiting and the states after it
			// (TerminatedTypes): on its way out, not live.
			e.gone = true
		case l.hasTerminated && e.terminated != l.notTerminated:
			e.fail("JavaThread state %#x", e.terminated)
		case e.osthread == 0 || e.handle == 0:
			e.fail("JavaThread not started")
		}
	}
}

// readOSThreads reads the OSThread's TID and the handles' slots.
func (vm *VM) readOSThreads(es []*entry) {
	l := &vm.lay
	var b batch
	for _, e := range es {
		if !e.ok() {
			continue
		}
		b.add(e.osthread+l.osThreadID, 4, func(p []byte) { e.nstid = int32(u32(p, 0)) },
			func() { e.fail("OSThread not readable") })
		if l.handleIndirect {
			b.add(e.handle, 8, func(p []byte) { e.oop = l.oop(u64(p, 0)) }, func() { e.fail("thread handle not readable") })
			if e.vhandle != 0 {
				b.add(e.vhandle, 8, func(p []byte) { e.voop = l.oop(u64(p, 0)) }, func() { e.fail("virtual thread handle not readable") })
			}
		} else {
			e.oop = l.oop(e.handle)
		}
	}
	b.run(vm.mem)
}

// readThreadObjects reads the thread objects (carrier and mounted virtual
// thread) and checks they are Threads of this JavaThread.
func (vm *VM) readThreadObjects(es []*entry) {
	l := &vm.lay
	var b batch
	for _, e := range es {
		if !e.ok() {
			continue
		}
		if e.nstid <= 0 {
			e.fail("no TID")
			continue
		}
		if e.oop == 0 {
			e.fail("no thread object")
			continue
		}
		if e.voop == e.oop {
			e.voop = 0 // the carrier runs itself
		}
		b.add(e.oop, l.threadEnd, func(p []byte) {
			if !vm.isThreadKlass(l.klassOf(p)) {
				e.fail("thread object is not a java.lang.Thread")
				return
			}
			e.eetop = u64(p, l.threadEETop)
			e.javaID = int64(u64(p, l.threadTID))
			e.name.ref = l.ref(p, l.threadName)
			// A thread that has exited clears its eetop before its
			// JavaThread leaves the list: gone if the rest holds still.
			if e.eetop != e.jt && e.eetop != 0 {
				e.fail("Thread.eetop %#x is not the JavaThread %#x", e.eetop, e.jt)
			}
		}, func() { e.fail("thread object not readable") })
		if e.voop != 0 {
			b.add(e.voop, l.threadEnd, func(p []byte) {
				if !vm.isThreadKlass(l.klassOf(p)) {
					e.fail("mounted virtual thread is not a java.lang.Thread")
					return
				}
				e.vjavaID = int64(u64(p, l.threadTID))
				e.vklass = l.klassOf(p)
				e.vname.ref = l.ref(p, l.threadName)
			}, func() { e.fail("virtual thread object not readable") })
		}
	}
	b.run(vm.mem)
}

// readNameStrings reads the names' Strings for their value arrays and
// coders (JDK 8 names are char[] themselves).
func (vm *VM) readNameStrings(es []*entry) {
	l := &vm.lay
	var b batch
	for _, e := range es {
		if !e.ok() {
			continue
		}
		for _, n := range e.names() {
			if n.ref == 0 {
				e.fail("null name")
				continue
			}
			if l.threadNameArr {
				n.array, n.coder = n.ref, 1
				continue
			}
			b.add(n.ref, l.stringEnd, func(p []byte) {
				if l.klassOf(p) != l.stringKlass {
					e.fail("name is not a java.lang.String")
					return
				}
				n.array = l.ref(p, l.stringValue)
				n.coder = 1
				if l.stringHasCode {
					n.coder = p[l.stringCoder]
				}
				if n.coder > 1 || n.array == 0 {
					e.fail("String with coder %d value %#x", n.coder, n.array)
				}
			}, func() { e.fail("name not readable") })
		}
	}
	b.run(vm.mem)
}

// readNameArrays reads the lengths of the names' arrays.
func (vm *VM) readNameArrays(es []*entry) {
	l := &vm.lay
	var b batch
	for _, e := range es {
		if !e.ok() {
			continue
		}
		for _, n := range e.names() {
			b.add(n.array, l.arrayLength+4, func(p []byte) {
				n.length = uint64(u32(p, l.arrayLength))
				if n.length > maxNameUnits*2 {
					e.fail("name of %d bytes", n.length)
				}
			}, func() { e.fail("name array not readable") })
		}
	}
	b.run(vm.mem)
}

// readNameChars reads and decodes the names' characters.
func (vm *VM) readNameChars(es []*entry) {
	l := &vm.lay
	var b batch
	for _, e := range es {
		if !e.ok() {
			continue
		}
		for _, n := range e.names() {
			size := n.length
			if l.threadNameArr || !l.stringHasCode {
				size *= 2 // char[]
			}
			if n.coder == 1 && size%2 != 0 {
				e.fail("odd UTF-16 length")
				continue
			}
			b.add(n.array+l.arrayBase, size, func(p []byte) {
				if n.coder == 0 {
					n.text = decodeLatin1(p)
					n.units = make([]uint16, len(p))
					for i, c := range p {
						n.units[i] = uint16(c)
					}
				} else {
					n.units = utf16Units(p)
					n.text = decodeUTF16(p)
				}
			}, func() { e.fail("name characters not readable") })
		}
	}
	b.run(vm.mem)
}

// recheckEntries reads every link of every entry again, in one batch,
// and fails the entries where one changed.
func (vm *VM) recheckEntries(es []*entry) {
	var b batch
	for _, e := range es {
		if !e.ok() {
			continue
		}
		vm.recheckThread(&b, e)
		vm.recheckObjects(&b, e)
	}
	b.run(vm.mem)
}

// recheckThread queues the re-reads of e's JavaThread, OSThread and
// handles.
func (vm *VM) recheckThread(b *batch, e *entry) {
	l := &vm.lay
	b.add(e.jt+l.jtStart, l.jtEnd-l.jtStart, func(p []byte) {
		v := uint64(0)
		if l.jtVThread != 0 {
			v = u64(p, l.jtVThread-l.jtStart)
		}
		t := uint32(0)
		if l.hasTerminated {
			t = u32(p, l.jtTerminated-l.jtStart)
		}
		if u64(p, l.jtOSThread-l.jtStart) != e.osthread || u64(p, l.jtThreadObj-l.jtStart) != e.handle || v != e.vhandle || t != e.terminated {
			e.fail("JavaThread changed")
		}
	}, func() { e.fail("JavaThread gone") })
	b.add(e.osthread+l.osThreadID, 4, func(p []byte) {
		if int32(u32(p, 0)) != e.nstid {
			e.fail("TID changed")
		}
	}, func() { e.fail("OSThread gone") })
	if !l.handleIndirect {
		return
	}
	b.add(e.handle, 8, func(p []byte) {
		if l.oop(u64(p, 0)) != e.oop {
			e.fail("thread object moved")
		}
	}, func() { e.fail("thread handle gone") })
	if e.vhandle != 0 {
		b.add(e.vhandle, 8, func(p []byte) {
			v := l.oop(u64(p, 0))
			if v == e.oop {
				v = 0
			}
			if v != e.voop {
				e.fail("mounted virtual thread changed")
			}
		}, func() { e.fail("virtual thread handle gone") })
	}
}

// recheckObjects queues the re-reads of e's thread objects and name
// Strings.
func (vm *VM) recheckObjects(b *batch, e *entry) {
	l := &vm.lay
	b.add(e.oop, l.threadEnd, func(p []byte) {
		if u64(p, l.threadEETop) != e.eetop || l.ref(p, l.threadName) != e.name.ref {
			e.fail("thread object changed")
		}
	}, func() { e.fail("thread object gone") })
	if e.voop != 0 {
		b.add(e.voop, l.threadEnd, func(p []byte) {
			if l.ref(p, l.threadName) != e.vname.ref {
				e.fail("virtual thread object changed")
			}
		}, func() { e.fail("virtual thread object gone") })
	}
	for _, n := range e.names() {
		if l.threadNameArr {
			continue
		}
		b.add(n.ref, l.stringEnd, func(p []byte) {
			if l.klassOf(p) != l.stringKlass || l.ref(p, l.stringValue) != n.array || l.stringHasCode && p[l.stringCoder] != n.coder {
				e.fail("name changed")
			}
		}, func() { e.fail("name gone") })
	}
}

// isThreadKlass says whether klass is java.lang.Thread or a subclass,
// remembering the answer.
func (vm *VM) isThreadKlass(k uint64) bool {
	if k == 0 {
		return false
	}
	if v, ok := vm.threadKlasses[k]; ok {
		return v
	}
	is := false
	p := k
	b := make([]byte, 8)
	for i := 0; i < 16 && p != 0; i++ {
		if p == vm.lay.threadKlass {
			is = true
			break
		}
		if vm.mem.read(p+vm.lay.klassSuper, b) != nil {
			return false // not remembered: maybe garbage
		}
		p = u64(b, 0)
	}
	// Only a confirmed subclass is remembered: a garbage klass pointer
	// read once must not poison later scans.
	if is {
		vm.threadKlasses[k] = true
	}
	return is
}
