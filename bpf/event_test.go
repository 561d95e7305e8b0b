package bpf

import (
	"encoding/binary"
	"os"
	"regexp"
	"strconv"
	"testing"
	"unsafe"

	"github.com/jschedlat/jschedlat/sched"
)

// type bpf2go generated from the object's BTF.
func TestEventLayout(t *testing.T) {
	var e runqlatEvent
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"ts", unsafe.Offsetof(e.Ts), offTs},
		{"latency", unsafe.Offsetof(e.Latency), offLatency},
		{"pid", unsafe.Offsetof(e.Pid), offPid},
		{"tid", unsafe.Offsetof(e.Tid), offTid},
		{"prev_pid", unsafe.Offsetof(e.PrevPid), offPrevPid},
		{"prev_tid", unsafe.Offsetof(e.PrevTid), offPrevTid},
		{"cpu", unsafe.Offsetof(e.Cpu), offCPU},
		{"queued_cpu", unsafe.Offsetof(e.QueuedCpu), offQueuedCPU},
		{"kind", unsafe.Offsetof(e.Kind), offKind},
		{"comm", unsafe.Offsetof(e.Comm), offComm},
		{"prev_comm", unsafe.Offsetof(e.PrevComm), offPrevComm},
		{"off_cpu", unsafe.Offsetof(e.OffCpu), offOffCPU},
		{"vthread", unsafe.Offsetof(e.Vthread), offVThread},
		{"sizeof", unsafe.Sizeof(e), eventSize},
	} {
		if c.got != c.want {
			t.Errorf("struct event %s at %d, decoder expects %d", c.name, c.got, c.want)
		}
	}
}

func sampleRecord() []byte {
	b := make([]byte, eventSize)
	le := binary.LittleEndian
	le.PutUint64(b[offTs:], 123456789012)
	le.PutUint64(b[offLatency:], 4242)
	le.PutUint32(b[offPid:], 100)
	le.PutUint32(b[offTid:], 101)
	le.PutUint32(b[offPrevPid:], 200)
	le.PutUint32(b[offPrevTid:], 201)
	le.PutUint32(b[offCPU:], 1)
	le.PutUint32(b[offQueuedCPU:], 0)
	b[offKind] = byte(sched.KindPreempt)
	copy(b[offComm:], "GC Thread#0")
	copy(b[offPrevComm:], "swapper/1")
	le.PutUint64(b[offOffCPU:], 9999)
	le.PutUint64(b[offVThread:], 77)
	return b
}

func TestDecodeEvent(t *testing.T) {
	var e Event
	if err := decodeEvent(sampleRecord(), &e); err != nil {
		t.Fatal(err)
	}
	want := Event{Time: 123456789012, Latency: 4242, Pid: 100, Tid: 101, PrevPid: 200, PrevTid: 201,
		CPU: 1, QueuedCPU: 0, Kind: sched.KindPreempt, OffCPU: 9999, VThread: 77}
	copy(want.Comm[:], "GC Thread#0")
	copy(want.PrevComm[:], "swapper/1")
	if e != want {
		t.Errorf("decoded %+v\nwant    %+v", e, want)
	}
	if err := decodeEvent(make([]byte, eventSize-1), &e); err == nil {
		t.Error("short record decoded without error")
	}
}

func BenchmarkDecode(b *testing.B) {
	rec := sampleRecord()
	var e Event
	b.SetBytes(eventSize)
	b.ReportAllocs()
	for b.Loop() {
		if err := decodeEvent(rec, &e); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConvert: comms become valid UTF-8, a probe's name is decoded from
// modified UTF-8 and said to be cut when shorter than HotSpot's length.
func TestConvert(t *testing.T) {
	clock := NewWallClock()
	var e Event
	if err := decodeEvent(sampleRecord(), &e); err != nil {
		t.Fatal(err)
	}
	copy(e.Comm[:], "ab\xe2\x82") // a comm cut inside "€"
	got := e.Convert(clock)
	want := sched.Event{KTime: 123456789012, Time: clock.WallNs(123456789012), Latency: 4242,
		Kind: sched.KindPreempt, CPU: 1, Pid: 100, Tid: 101, PrevPid: 200, PrevTid: 201,
		Comm: "ab\uFFFDhread#0", PrevComm: "swapper/1", OffCPU: 9999, VThread: 77}
	if got != want {
		t.Errorf("converted %+v\nwant      %+v", got, want)
	}
	// "é" in modified UTF-8 is plain UTF-8; NUL is 0xC0 0x80.
	e.Kind, e.Name, e.Latency = sched.KindThreadStart, "caf\xc3\xa9\xc0\x80x", 8
	if got := e.Convert(clock); got.Name != "café\x00x" || got.NameCut {
		t.Errorf("thread start: name %q cut %v, want %q not cut", got.Name, got.NameCut, "café\x00x")
	}
	e.Latency = 300
	if got := e.Convert(clock); !got.NameCut {
		t.Error("a name shorter than HotSpot's length is not said to be cut")
	}
	e.Kind = sched.KindWakeup
	if got := e.Convert(clock); got.Name != "" || got.NameCut {
		t.Errorf("a wait carries name %q cut %v", got.Name, got.NameCut)
	}
}

// TestDeliverSample: a ring-buffer record is a batch of events or one
// thread-name record; anything else is an error, not a misread.
func TestDeliverSample(t *testing.T) {
	var ev Event
	var got []Event
	fn := func(e *Event) { got = append(got, *e) }
	batch := append(sampleRecord(), sampleRecord()...)
	binary.LittleEndian.PutUint32(batch[eventSize+offTid:], 102)
	if err := deliverSample(batch, &ev, fn); err != nil || len(got) != 2 || got[0].Tid != 101 || got[1].Tid != 102 {
		t.Fatalf("batch of two: %v, %+v", err, got)
	}
	got = nil
	named := append(sampleRecord(), make([]byte, nameSize)...)
	named[offKind] = byte(sched.KindThreadStart)
	binary.LittleEndian.PutUint32(named[offPrevPid:], 6) // bytes read
	copy(named[eventSize:], "worker-1")
	if err := deliverSample(named, &ev, fn); err != nil || len(got) != 1 || got[0].Name != "worker" || got[0].PrevPid != 0 {
		t.Fatalf("thread start: %v, %+v", err, got)
	}
	if err := deliverSample(batch[:eventSize+1], &ev, fn); err == nil {
		t.Error("a record of 89 bytes was delivered")
	}
}

// TestKindsMatchC: the kinds of package sched are the values of enum kind
// in runqlat.bpf.c, read from the source.
func TestKindsMatchC(t *testing.T) {
	src, err := os.ReadFile("runqlat.bpf.c")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]sched.Kind{
		"KIND_WAKEUP": sched.KindWakeup, "KIND_WAKEUP_NEW": sched.KindWakeupNew, "KIND_PREEMPT": sched.KindPreempt,
		"KIND_YIELD": sched.KindYield, "KIND_EXIT": sched.KindExit, "KIND_BIRTH": sched.KindBirth,
		"KIND_RENAME": sched.KindRename, "KIND_VMOP_BEGIN": sched.KindVMOpBegin, "KIND_VMOP_END": sched.KindVMOpEnd,
		"KIND_THREAD_START": sched.KindThreadStart, "KIND_THREAD_NAME": sched.KindThreadName,
	}
	got := map[string]int{}
	for _, m := range regexp.MustCompile(`(?m)^\s*(KIND_\w+)\s*=\s*(\d+)`).FindAllSubmatch(src, -1) {
		v, _ := strconv.Atoi(string(m[2]))
		got[string(m[1])] = v
	}
	for name, k := range want {
		if v, ok := got[name]; !ok || v != int(k) {
			t.Errorf("%s: C has %d (found %v), sched has %d", name, v, ok, k)
		}
	}
	if len(got) != len(want)+1 { // and KIND_SILENT, never sent
		t.Errorf("C enum kind has %d values, sched knows %d: %v", len(got), len(want), got)
	}
}
