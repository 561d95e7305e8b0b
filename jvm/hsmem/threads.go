package hsmem

import (
	"errors"
	"fmt"
	"github.com/jschedlat/jschedlat/jvm"
	"os"
	"strconv"
	"strings"
)

// Thread is one live JavaThread, every field confirmed by a second read.
type Thread struct {
	TID        int    // native TID as the host sees it
	NSTID      int    // native TID as the JVM sees it (its PID namespace)
	JavaID     int64  // java.lang.Thread.threadId()
	Name       string // java.lang.Thread.getName()
	JavaThread uint64 // address of the JavaThread (for BPF)
	// Mounted is the virtual thread this carrier runs (JDK 21+), nil when
	// none.
	Mounted *VirtualThread
}

// VirtualThread is a virtual thread mounted on a carrier.
type VirtualThread struct {
	JavaID int64
	Name   string // empty when it has none
}

// Unvalidated is a JavaThread whose identity could not be confirmed:
// resolve it another way (a thread dump) instead of guessing.
type Unvalidated struct {
	JavaThread uint64
	TID        int    // host TID when it was read, else 0
	Reason     string // why, for logs
}

// Scan is one read of the thread list.
type Scan struct {
	Threads     []Thread
	Unvalidated []Unvalidated
	Gone        int // entries of threads past JavaThread::exit, or freed
	Retries     int // entries read again because a check failed
	Syscalls    int // memory-read syscalls (the /proc reads not counted)
}

// maxRetries bounds the re-reads of an entry that failed a check (a GC
// moving objects, a thread starting or renaming itself).
const maxRetries = 4

// maxNameUnits bounds the names read (Java allows any length).
const maxNameUnits = 1 << 16

// Threads reads every live JavaThread.
func (vm *VM) Threads() (s Scan, err error) {
	before := vm.mem.Syscall
	defer func() { s.Syscalls = vm.mem.Syscall - before }()
	list, err := vm.threadList()
	if err != nil {
		return s, err
	}
	tasks, err := vm.tasks()
	if err != nil {
		return s, err
	}
	procComm := readComm(fmt.Sprintf("/proc/%d/comm", vm.pid))
	refreshed := false
	// A thread whose kernel name matched for this name needs no second
	// look: the comm check is only for names not seen before.
	commOK := map[commKey]bool{}
	defer func() { vm.commOK = commOK }()
	pending := make([]*entry, len(list))
	for i, jt := range list {
		pending[i] = &entry{jt: jt}
	}
	for try := 0; len(pending) > 0; try++ {
		if f := vm.lay.zfwd; f != nil {
			// ZGC's weak bad mask changes with its phases: read it before
			// each round, so that a reference coloured before a
			// relocation is looked up.
			if err := f.refresh(); err != nil {
				return s, fmt.Errorf("reading ZGC's weak bad mask: %w", err)
			}
		}
		vm.readEntries(pending)
		var again []*entry
		for _, e := range pending {
			// Thread.eetop cleared, all else held still: exited.
			if e.gone || e.err == "" && e.eetop == 0 {
				s.Gone++
				continue
			}
			if e.err == "" {
				host, ok := tasks[int(e.nstid)]
				if !ok && !refreshed {
					// Started after the task list was read.
					refreshed = true
					if tasks, err = vm.tasks(); err != nil {
						return s, err
					}
					host, ok = tasks[int(e.nstid)]
				}
				key := commKey{e.jt, e.nstid, e.name.text}
				switch {
				case !ok:
					e.err = fmt.Sprintf("TID %d is not a task of process %d", e.nstid, vm.pid)
				case !vm.commOK[key]:
					c := readComm(fmt.Sprintf("/proc/%d/task/%d/comm", vm.pid, host))
					if !commMatches(e.name.units, c) && c != procComm {
						// The name is being changed (Java field first,
						// kernel name after) or the thread has not named
						// itself yet.
						e.err = fmt.Sprintf("kernel name %q does not match", c)
					}
				}
				if e.err == "" {
					commOK[key] = true
					t := Thread{TID: host, NSTID: int(e.nstid), JavaID: e.javaID, Name: e.name.text, JavaThread: e.jt}
					if e.voop != 0 {
						t.Mounted = &VirtualThread{JavaID: e.vjavaID, Name: e.vname.text}
						vm.learnVThreadCarrier(e.vklass)
					}
					s.Threads = append(s.Threads, t)
					continue
				}
			}
			if try+1 < maxRetries {
				s.Retries++
				again = append(again, &entry{jt: e.jt})
				continue
			}
			u := Unvalidated{JavaThread: e.jt, Reason: e.err}
			if h, ok := tasks[int(e.nstid)]; ok && e.nstid != 0 {
				u.TID = h
			}
			s.Unvalidated = append(s.Unvalidated, u)
		}
		pending = again
	}
	return s, nil
}

// threadList reads the addresses of the JavaThreads. The list can be
// freed while it is read (a thread started or exited): read it again.
func (vm *VM) threadList() ([]uint64, error) {
	l := &vm.lay
	var last error
	for try := 0; try < maxRetries; try++ {
		if l.smrList == 0 {
			return vm.linkedList()
		}
		b := make([]byte, 8)
		if err := vm.mem.read(l.smrList, b); err != nil {
			return nil, fmt.Errorf("reading the thread list of process %d: %w", vm.pid, err)
		}
		list := u64(b, 0)
		h := make([]byte, max(l.listLength+4, l.listThreads+8))
		if err := vm.mem.read(list, h); err != nil {
			last = err
			continue
		}
		n := uint64(u32(h, l.listLength))
		arr := u64(h, l.listThreads)
		if n > 1<<20 {
			last = fmt.Errorf("thread list of %d entries", n)
			continue
		}
		a := make([]byte, 8*n)
		if err := vm.mem.read(arr, a); err != nil {
			last = err
			continue
		}
		// A list replaced while we read it may have been freed and its
		// array reused: only a list still current afterwards is kept.
		b2, h2 := make([]byte, 8), make([]byte, len(h))
		if vm.mem.read(l.smrList, b2) != nil || u64(b2, 0) != list || vm.mem.read(list, h2) != nil || string(h2) != string(h) {
			last = errors.New("the list changed while it was read")
			continue
		}
		out := make([]uint64, n)
		for i := range out {
			out[i] = u64(a, uint64(8*i))
		}
		return out, nil
	}
	return nil, fmt.Errorf("reading the thread list of process %d: %w", vm.pid, last)
}

// linkedList walks Threads::_thread_list (JDK 8 and 11): one read per
// thread, a broken chain ends it.
func (vm *VM) linkedList() ([]uint64, error) {
	b := make([]byte, 8)
	if err := vm.mem.read(vm.lay.linkedHead, b); err != nil {
		return nil, fmt.Errorf("reading the thread list of process %d: %w", vm.pid, err)
	}
	var out []uint64
	seen := map[uint64]bool{}
	for p := u64(b, 0); p != 0 && !seen[p] && len(out) < 1<<20; {
		seen[p] = true
		out = append(out, p)
		if vm.mem.read(p+vm.lay.jtNext, b) != nil {
			break
		}
		p = u64(b, 0)
	}
	return out, nil
}

// tasks maps the JVM's TIDs (its PID namespace's) to the host's.
func (vm *VM) tasks() (map[int]int, error) {
	if vm.inPIDNS {
		m, err := jvm.HostTids(vm.pid)
		if err != nil {
			return nil, err
		}
		out := make(map[int]int, len(m))
		for ns, host := range m {
			out[ns] = int(host)
		}
		return out, nil
	}
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", vm.pid))
	if err != nil {
		return nil, fmt.Errorf("listing the threads of process %d: %w", vm.pid, err)
	}
	out := make(map[int]int, len(ents))
	for _, d := range ents {
		if tid, err := strconv.Atoi(d.Name()); err == nil {
			out[tid] = tid
		}
	}
	return out, nil
}

func readComm(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSuffix(string(b), "\n")
}

// commKey is a thread whose kernel name was found consistent with its
// Java name.
type commKey struct {
	jt    uint64
	nstid int32
	name  string
}
