package bpf

import (
	"encoding/binary"
	"strings"
	"testing"
	"unsafe"
)

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		KindWakeup: "wakeup", KindWakeupNew: "wakeup_new", KindPreempt: "preempt",
		KindYield: "yield", KindExit: "exit", KindVMOpBegin: "vmop_begin", KindVMOpEnd: "vmop_end", KindThreadStart: "thread_start", KindThreadName: "thread_name", 0: "kind(0)", 12: "kind(12)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestParseKinds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want KindMask
		err  bool
	}{
		{in: "all", want: KindsAll},
		{in: "wakeup", want: MaskOf(KindWakeup, KindWakeupNew)},
		{in: "wakeup_new", want: MaskOf(KindWakeupNew)},
		{in: "preempt", want: MaskOf(KindPreempt)},
		{in: "wakeup,preempt,yield", want: KindsAll},
		{in: " Preempt , yield ", want: MaskOf(KindPreempt, KindYield)},
		{in: "yield,", want: MaskOf(KindYield)},
		{in: "", err: true},
		{in: ",", err: true},
		{in: "exit", err: true},
		{in: "wakeup,sleep", err: true},
	} {
		got, err := ParseKinds(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("ParseKinds(%q) = %v, want error", tc.in, got)
			} else if !strings.Contains(err.Error(), ValidKindNames) {
				t.Errorf("ParseKinds(%q) error %q does not list the valid names", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseKinds(%q) = %#x, %v; want %#x", tc.in, uint8(got), err, uint8(tc.want))
		}
	}
}

func TestKindMask(t *testing.T) {
	var zero KindMask
	for k := KindWakeup; k <= KindYield; k++ {
		if !zero.Has(k) || !KindsAll.Has(k) {
			t.Errorf("zero mask and KindsAll must select %v", k)
		}
	}
	m := MaskOf(KindPreempt)
	if m.Has(KindWakeup) || !m.Has(KindPreempt) {
		t.Errorf("MaskOf(preempt) = %#x selects the wrong kinds", uint8(m))
	}
	if got := MaskOf(KindWakeup, KindYield).String(); got != "wakeup,yield" {
		t.Errorf("String() = %q", got)
	}
	if got := zero.String(); got != "all" {
		t.Errorf("zero String() = %q", got)
	}
}

func TestCommString(t *testing.T) {
	var c [16]byte
	copy(c[:], "C2 CompilerThre")
	if got := CommString(c); got != "C2 CompilerThre" {
		t.Errorf("got %q", got)
	}
	copy(c[:], "java\x00junk")
	if got := CommString(c); got != "java" {
		t.Errorf("got %q", got)
	}
	for i := range c {
		c[i] = 'x'
	}
	if got := CommString(c); got != strings.Repeat("x", 16) {
		t.Errorf("unterminated: got %q", got)
	}
}

// TestEventLayout ties the hand-written decoder to the C struct, through the
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
	b[offKind] = byte(KindPreempt)
	copy(b[offComm:], "GC Thread#0")
	copy(b[offPrevComm:], "swapper/1")
	le.PutUint64(b[offOffCPU:], 9999)
	return b
}

func TestDecodeEvent(t *testing.T) {
	var e Event
	if err := decodeEvent(sampleRecord(), &e); err != nil {
		t.Fatal(err)
	}
	want := Event{Time: 123456789012, Latency: 4242, Pid: 100, Tid: 101, PrevPid: 200, PrevTid: 201,
		CPU: 1, QueuedCPU: 0, Kind: KindPreempt, OffCPU: 9999}
	copy(want.Comm[:], "GC Thread#0")
	copy(want.PrevComm[:], "swapper/1")
	if e != want {
		t.Errorf("decoded %+v\nwant    %+v", e, want)
	}
	if err := decodeEvent(make([]byte, eventSize-1), &e); err == nil {
		t.Error("short record decoded without error")
	}
}

func FuzzParseKinds(f *testing.F) {
	for _, s := range []string{"all", "wakeup,preempt", "wakeup_new", "", "x,,y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseKinds(s)
		if err == nil && (m == 0 || m&^KindsAll != 0) {
			t.Errorf("ParseKinds(%q) = %#x without error", s, uint8(m))
		}
	})
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
