// Package sched is the vocabulary of scheduler events shared by the tracer,
// the join, the event log and the reports: the kinds of run-queue waits and
// thread lifecycle records, and the event after clock conversion. It imports
// no BPF library, so readers of saved files do not link the loader.
package sched

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"sync/atomic"
)

// Kind says why a thread was waiting in the run queue (or, for KindExit,
// that it ended).
type Kind uint8

// Values match enum kind in bpf/runqlat.bpf.c.
const (
	KindWakeup    Kind = 1 // woken from sleep
	KindWakeupNew Kind = 2 // newly created thread, first run
	KindPreempt   Kind = 3 // involuntarily switched out while runnable
	KindYield     Kind = 4 // voluntarily switched out while runnable (sched_yield, cond_resched)
	KindExit      Kind = 5 // lifecycle record: the thread exited (Latency 0)
	KindBirth     Kind = 6 // lifecycle record: the thread was created; Comm is its creator's
	KindRename    Kind = 7 // lifecycle record: the thread set its own name; Comm is the new one
	KindVMOpBegin Kind = 8 // a HotSpot VM operation began (HotSpot probes); Comm is its name, Tid the VM thread
	KindVMOpEnd   Kind = 9 // and ended
	// KindThreadStart: a Java thread started (HotSpot probes); Name is
	// its Java name, Latency the length HotSpot gave (Name is cut when
	// shorter).
	KindThreadStart Kind = 10
	// KindThreadName: a thread named itself (HotSpot probes); Name is the
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

// HasName reports whether records of kind k carry a Java thread name.
func (k Kind) HasName() bool { return k == KindThreadStart || k == KindThreadName }

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

// CommString returns a task name up to the first NUL. The tracer calls it
// twice per event, and a host has few task names: the string made for a
// name is kept and handed out again, so that an event makes no garbage.
func CommString(c [16]byte) string { return commEntryOf(c).s }

// ValidCommString is CommString as valid UTF-8 (each invalid byte becomes
// U+FFFD, as strings.ToValidUTF8 does), from the same cache: a task name
// is checked once, not at every event.
func ValidCommString(c [16]byte) string { return commEntryOf(c).valid }

func commEntryOf(c [16]byte) *commEntry {
	lo, hi := binary.LittleEndian.Uint64(c[:8]), binary.LittleEndian.Uint64(c[8:])
	slot := &comms[((lo^hi*0x9E3779B97F4A7C15)*0xBF58476D1CE4E5B9)>>(64-commSlotsLog2)]
	if e := slot.Load(); e != nil && e.c == c {
		return e
	}
	s := string(c[:])
	if i := bytes.IndexByte(c[:], 0); i >= 0 {
		s = string(c[:i])
	}
	e := &commEntry{c: c, s: s, valid: strings.ToValidUTF8(s, "\uFFFD")}
	slot.Store(e)
	return e
}

// comms is a direct-mapped cache of task names, safe for concurrent use:
// an entry is never changed once stored. Its size covers the threads of a
// few JVMs with few collisions; tracing every task of a busy host, a
// name that collides is made again, as it was before the cache.
const commSlotsLog2 = 12

var comms [1 << commSlotsLog2]atomic.Pointer[commEntry]

type commEntry struct {
	c        [16]byte
	s, valid string
}
