package bpf

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/sched"
)

// Event is one record from the kernel, decoded.
type Event struct {
	Time             uint64 // CLOCK_MONOTONIC ns of the switch-in (exit: of the exit)
	Latency          uint64 // ns waited in the run queue, on the scheduler's run-queue clock (as schedstat run_delay)
	Pid, Tid         uint32 // thread group (process) id, thread id
	PrevPid, PrevTid uint32 // the task switched out for this one (0 for exit records)
	CPU, QueuedCPU   uint32 // CPU it ran on, CPU it was queued on
	Kind             sched.Kind
	Comm, PrevComm   [16]byte
	// OffCPU is how long the thread had been off the CPU at this
	// switch-in: since its previous switch-out (sleep and wait), on the
	// run-queue clock; 0 when unknown.
	OffCPU uint64
	// VThread is the Java id of the virtual thread the thread had mounted
	// at its previous switch-out, read from the JVM's memory when the
	// thread is a registered carrier (Tracer.SetCarriers); 0 = none or
	// unknown.
	VThread uint64
	Name    string // KindThreadStart and KindThreadName only
}

// Convert returns the event with its time on the wall clock and its names
// as valid UTF-8: what the join consumes and the event log stores.
func (e *Event) Convert(clock *WallClock) sched.Event {
	return sched.Event{
		KTime: e.Time, Time: clock.WallNs(e.Time), Latency: e.Latency, Kind: e.Kind,
		CPU: e.CPU, QueuedCPU: e.QueuedCPU, Pid: e.Pid, Tid: e.Tid,
		Comm:    sched.ValidCommString(e.Comm),
		PrevPid: e.PrevPid, PrevTid: e.PrevTid,
		PrevComm: sched.ValidCommString(e.PrevComm),
		OffCPU:   e.OffCPU,
		VThread:  e.VThread,
		Name:     e.javaName(),
		NameCut:  e.Kind.HasName() && uint64(len(e.Name)) != e.Latency,
	}
}

// javaName decodes a thread-start or thread-name record's name from
// HotSpot's modified UTF-8.
func (e *Event) javaName() string {
	if !e.Kind.HasName() {
		return ""
	}
	return string(jvm.DecodeModifiedUTF8([]byte(e.Name)))
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
	offVThread   = 88
	eventSize    = 96
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
	e.Kind = sched.Kind(b[offKind])
	copy(e.Comm[:], b[offComm:offComm+16])
	copy(e.PrevComm[:], b[offPrevComm:offPrevComm+16])
	e.OffCPU = le.Uint64(b[offOffCPU:])
	e.VThread = le.Uint64(b[offVThread:])
	e.Name = ""
	if e.Kind.HasName() {
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
