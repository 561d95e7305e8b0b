package hsmem

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
)

// Source serves a JVM's thread identity read from its memory as a
// jvm.Source: each Capture lists the threads a scan validated, taken with
// no safepoint (Stopped 0, StopKnown). Its Raw text is a thread dump in
// the Thread.print format the dump parser reads (replay), headed by a line
// saying where it came from.
type Source struct {
	Pid int

	mu   sync.Mutex
	vm   *VM  // opened on the first Capture; nil until it worked
	last Scan // the latest scan
}

var _ jvm.Source = (*Source)(nil)

// Name says where the identity comes from (summaries, logs).
func (s *Source) Name() string { return "memory" }

// Open reads the JVM's tables now (Capture would on its first call): a
// JVM still starting fails with ErrNotReady, one this package cannot read
// with ErrNotHotSpot, ErrUnsupported or a permission error.
func (s *Source) Open() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open()
}

func (s *Source) open() error {
	if s.vm != nil {
		return nil
	}
	vm, err := Open(s.Pid)
	if err != nil {
		return err
	}
	s.vm = vm
	return nil
}

// Close releases the JVM's memory file.
func (s *Source) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vm == nil {
		return nil
	}
	err := s.vm.Close()
	s.vm = nil
	return err
}

// Unvalidated is what the latest Capture could not confirm (threads
// starting or renamed by another thread, JNI threads named otherwise in
// the kernel): they are not in its dump.
func (s *Source) Unvalidated() []Unvalidated {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Unvalidated(nil), s.last.Unvalidated...)
}

// HasVirtualThreads tells whether the JVM (opened now if need be) has
// virtual threads whose carriers a BPF program can read (JDK 21+).
func (s *Source) HasVirtualThreads() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open() != nil {
		return false
	}
	l := s.vm.BPF()
	return l.VThread != 0 && l.HandleIndirect
}

// OrDump returns a Source reading pid's memory, or, when that cannot be
// read, dump() (thread dumps) with why it fell back.
func OrDump(pid int, dump func() (jvm.Source, error)) (src jvm.Source, why error, err error) {
	mem := &Source{Pid: pid}
	if why = mem.Open(); why == nil {
		return mem, nil, nil
	}
	if errors.Is(why, ErrNotHotSpot) {
		return nil, nil, fmt.Errorf("process %d is not a JVM", pid)
	}
	src, err = dump()
	return src, why, err
}

// Carriers returns how a BPF program reads the virtual thread a carrier
// has mounted in this JVM, and the threads of the latest read; ok is
// false before a read worked and when the JVM has no virtual threads
// (before JDK 21).
func (s *Source) Carriers() (l BPFLayout, threads []Thread, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vm == nil {
		return l, nil, false
	}
	l = s.vm.BPF()
	if l.VThread == 0 || !l.HandleIndirect {
		return l, nil, false
	}
	return l, append([]Thread(nil), s.last.Threads...), true
}

// Capture scans the thread list. The context is not consulted: a scan is
// a bounded number of reads that cannot hang on the JVM.
func (s *Source) Capture(context.Context) (*jvm.Capture, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.open(); err != nil {
		return nil, err
	}
	start := time.Now()
	sc, err := s.vm.Threads()
	end := time.Now()
	if err != nil {
		return nil, fmt.Errorf("reading the threads of JVM %d from its memory: %w", s.Pid, err)
	}
	s.last = sc
	d := jvm.Dump{Time: start, VM: memoryVM, Pid: s.Pid}
	for _, t := range sc.Threads {
		th := jvm.Thread{Name: t.Name, JavaID: t.JavaID, Tid: t.NSTID, Carrying: -1}
		if t.Mounted != nil {
			th.Carrying = t.Mounted.JavaID
		}
		d.Threads = append(d.Threads, th)
	}
	return &jvm.Capture{
		Pid: s.Pid, Start: start, End: end, Source: "memory",
		Raw: Render(d), Dump: d, StopKnown: true,
	}, nil
}

// memoryVM is the dump's VM text: it tells a reader of a saved file (and
// the join: name_source=memory) that no thread dump was taken.
const memoryVM = jvm.MemoryVM

// Render writes d as `jcmd PID Thread.print` would, with the fields a
// memory scan knows: the timestamp line, the header line, per thread its
// name, Java id, native TID (JDK 19+ style "[tid]" and nid=) and, for a
// carrier, the virtual thread it carries. The dump parser reads it back
// to the same threads.
func Render(d jvm.Dump) []byte {
	var b strings.Builder
	if d.Pid != 0 {
		fmt.Fprintf(&b, "%d:\n", d.Pid)
	}
	b.WriteString(d.Time.Format("2006-01-02 15:04:05"))
	b.WriteString("\nFull thread dump ")
	b.WriteString(d.VM)
	b.WriteString(":\n\n")
	for _, t := range d.Threads {
		b.WriteByte('"')
		b.WriteString(t.Name)
		b.WriteString("\" #")
		b.WriteString(strconv.FormatInt(t.JavaID, 10))
		b.WriteString(" [")
		b.WriteString(strconv.Itoa(t.Tid))
		b.WriteString("] prio=5 os_prio=0 cpu=0.00ms elapsed=0.00s tid=0x0 nid=")
		b.WriteString(strconv.Itoa(t.Tid))
		if t.Carrying >= 0 {
			b.WriteString(" runnable\n   Carrying virtual thread #")
			b.WriteString(strconv.FormatInt(t.Carrying, 10))
			b.WriteString("\n\n")
			continue
		}
		b.WriteString(" runnable\n\n")
	}
	// The footer tells the parser the dump is whole.
	b.WriteString("JNI global refs: 0, weak refs: 0\n\n")
	return []byte(b.String())
}
