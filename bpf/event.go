package bpf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
)

// Kind says why a thread was waiting in the run queue (or, for KindExit,
// that it ended).
type Kind uint8

// Values match enum kind in runqlat.bpf.c.
const (
	KindWakeup    Kind = 1 // woken from sleep
	KindWakeupNew Kind = 2 // newly created thread, first run
	KindPreempt   Kind = 3 // involuntarily switched out while runnable
	KindYield     Kind = 4 // voluntarily switched out while runnable (sched_yield, cond_resched)
	KindExit      Kind = 5 // lifecycle record: the thread exited (Latency 0)
	KindBirth     Kind = 6 // lifecycle record: the thread was created; Comm is its creator's
	KindRename    Kind = 7 // lifecycle record: the thread set its own name; Comm is the new one
	KindVMOpBegin Kind = 8 // a HotSpot VM operation began (Config.VMOps); Comm is its name, Tid the VM thread
	KindVMOpEnd   Kind = 9 // and ended
	// KindThreadStart: a Java thread started (Config.HotSpot); Name is
	// its Java name in HotSpot's modified UTF-8, Latency the length
	// HotSpot gave (Name is cut when shorter).
	KindThreadStart Kind = 10
	// KindThreadName: a thread named itself (Config.HotSpot); Name is the
	// full name, Latency its length (Name is cut when shorter). The
	// kernel's rename record follows.
	KindThreadName Kind = 11
)

// Lifecycle reports whether k is a lifecycle record of a thread.
func (k Kind) Lifecycle() bool { return k >= KindExit && k <= KindRename }

// VMOp reports whether k is the begin or end of a VM operation.
func (k Kind) VMOp() bool { return k == KindVMOpBegin || k == KindVMOpEnd }

// Wait reports whether k is a run-queue wait.
func (k Kind) Wait() bool { return k >= KindWakeup && k <= KindYield }

var kindNames = [...]string{
	KindWakeup:      "wakeup",
	KindWakeupNew:   "wakeup_new",
	KindPreempt:     "preempt",
	KindYield:       "yield",
	KindExit:        "exit",
	KindBirth:       "birth",
	KindRename:      "rename",
	KindVMOpBegin:   "vmop_begin",
	KindVMOpEnd:     "vmop_end",
	KindThreadStart: "thread_start",
	KindThreadName:  "thread_name",
}

func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// KindMask selects which kinds of waits are recorded: bit (1 << Kind).
// The zero mask means all. Exit records are not selectable: they are always
// sent when a target process is set, because consumers need them to tell
// reused TIDs apart.
type KindMask uint8

// KindsAll selects every kind of wait.
const KindsAll = KindMask(1<<KindWakeup | 1<<KindWakeupNew | 1<<KindPreempt | 1<<KindYield)

// MaskOf returns the mask selecting exactly the given kinds.
func MaskOf(kinds ...Kind) KindMask {
	var m KindMask
	for _, k := range kinds {
		m |= 1 << k
	}
	return m
}

// Has reports whether the mask selects k (the zero mask selects all).
func (m KindMask) Has(k Kind) bool {
	if m == 0 {
		m = KindsAll
	}
	return m&(1<<k) != 0
}

func (m KindMask) String() string {
	if m == 0 || m == KindsAll {
		return "all"
	}
	var names []string
	for k := KindWakeup; k <= KindYield; k++ {
		if m.Has(k) {
			names = append(names, k.String())
		}
	}
	return strings.Join(names, ",")
}

// ValidKindNames lists what ParseKinds accepts, for help texts.
const ValidKindNames = "wakeup, wakeup_new, preempt, yield, all"

// ParseKinds parses a comma-separated list of kinds such as
// "wakeup,preempt,yield". "wakeup" includes wakeup_new (a new thread's
// first run is a wakeup too); "wakeup_new" alone selects new threads only;
// "all" selects everything.
func ParseKinds(s string) (KindMask, error) {
	var m KindMask
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(strings.ToLower(f)) {
		case "wakeup":
			m |= MaskOf(KindWakeup, KindWakeupNew)
		case "wakeup_new":
			m |= MaskOf(KindWakeupNew)
		case "preempt":
			m |= MaskOf(KindPreempt)
		case "yield":
			m |= MaskOf(KindYield)
		case "all":
			m |= KindsAll
		case "":
			// Tolerate "wakeup," and empty input is caught below.
		default:
			return 0, fmt.Errorf("unknown kind %q (valid: %s)", strings.TrimSpace(f), ValidKindNames)
		}
	}
	if m == 0 {
		return 0, fmt.Errorf("no kinds given (valid: %s)", ValidKindNames)
	}
	return m, nil
}

// Event is one record from the kernel, decoded.
type Event struct {
	Time             uint64 // CLOCK_MONOTONIC ns of the switch-in (exit: of the exit)
	Latency          uint64 // ns waited in the run queue, on the scheduler's run-queue clock (as schedstat run_delay)
	Pid, Tid         uint32 // thread group (process) id, thread id
	PrevPid, PrevTid uint32 // the task switched out for this one (0 for exit records)
	CPU, QueuedCPU   uint32 // CPU it ran on, CPU it was queued on
	Kind             Kind
	Comm, PrevComm   [16]byte
	// OffCPU is how long the thread had been off the CPU at this
	// switch-in: since its previous switch-out (sleep and wait), on the
	// run-queue clock; 0 when unknown.
	OffCPU uint64
	Name   string // KindThreadStart and KindThreadName only
}

// CommString returns a task name up to the first NUL.
func CommString(c [16]byte) string {
	if i := bytes.IndexByte(c[:], 0); i >= 0 {
		return string(c[:i])
	}
	return string(c[:])
}

// Layout of struct event in runqlat.bpf.c (TestEventLayout checks these
// against the bpf2go-generated type).
const (
	offTs        = 0
	offLatency   = 8
	offPid       = 16
	offTid       = 20
	offPrevPid   = 24
	offPrevTid   = 28
	offCPU       = 32
	offQueuedCPU = 36
	offKind      = 40
	offComm      = 48
	offPrevComm  = 64
	offOffCPU    = 80
	eventSize    = 88
	nameSize     = 256 // NAME_MAX_BYTES
)

// decodeEvent fills e from a raw ring-buffer sample. It avoids
// encoding/binary.Read (reflection) because it runs once per event.
func decodeEvent(b []byte, e *Event) error {
	if len(b) < eventSize {
		return fmt.Errorf("short ring-buffer record: %d bytes, want %d", len(b), eventSize)
	}
	le := binary.LittleEndian
	e.Time = le.Uint64(b[offTs:])
	e.Latency = le.Uint64(b[offLatency:])
	e.Pid = le.Uint32(b[offPid:])
	e.Tid = le.Uint32(b[offTid:])
	e.PrevPid = le.Uint32(b[offPrevPid:])
	e.PrevTid = le.Uint32(b[offPrevTid:])
	e.CPU = le.Uint32(b[offCPU:])
	e.QueuedCPU = le.Uint32(b[offQueuedCPU:])
	e.Kind = Kind(b[offKind])
	copy(e.Comm[:], b[offComm:offComm+16])
	copy(e.PrevComm[:], b[offPrevComm:offPrevComm+16])
	e.OffCPU = le.Uint64(b[offOffCPU:])
	e.Name = ""
	if e.Kind == KindThreadStart || e.Kind == KindThreadName {
		if len(b) < eventSize+nameSize {
			return fmt.Errorf("short thread-start record: %d bytes", len(b))
		}
		n := int(e.PrevPid) // bytes read
		e.PrevPid = 0
		name := b[eventSize : eventSize+nameSize]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if n < len(name) {
			name = name[:n]
		}
		e.Name = string(name)
	}
	return nil
}
