package eventlog

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jschedlat/jschedlat/sched"
)

func TestEventLogRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Pid: 100, Kinds: "all"})
	if err != nil {
		t.Fatal(err)
	}
	in := []sched.Event{
		{KTime: 1, Time: 2, Latency: 3, Kind: sched.KindPreempt, CPU: 1, QueuedCPU: 0, Pid: 100, Tid: 101, Comm: "quote\"\\\x01\n\t日本語スレ", PrevPid: 5, PrevTid: 6, PrevComm: "swapper/0"},
		{KTime: 7, Time: 8, Kind: sched.KindRename, Pid: 100, Tid: 101, Comm: "new-name"},
		{KTime: 9, Time: 10, Kind: sched.KindBirth, Pid: 100, Tid: 103, Comm: "java"},
		{KTime: 11, Time: 12, Kind: sched.KindExit, Pid: 100, Tid: 103, Comm: "x"},
	}
	for i := range in {
		if err := w.Write(&in[i]); err != nil {
			t.Fatal(err)
		}
	}
	_ = w.Flush()
	var out []sched.Event
	h, err := Read(&buf, func(e *sched.Event) error { out = append(out, *e); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if h.Pid != 100 || h.Format != "jschedlat-events" {
		t.Errorf("header %+v", h)
	}
	if len(out) != len(in) {
		t.Fatalf("%d events back, want %d", len(out), len(in))
	}
	for i := range in {
		if out[i] != in[i] {
			t.Errorf("event %d: got %+v, want %+v", i, out[i], in[i])
		}
	}
}

func TestEventLogTruncated(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Header{Pid: 1})
	e := sched.Event{KTime: 1, Time: 2, Kind: sched.KindWakeup, Tid: 3, Comm: "a"}
	_ = w.Write(&e)
	_ = w.Write(&e)
	_ = w.Flush()
	cut := buf.Bytes()[:buf.Len()-10] // a run killed mid-write
	n := 0
	_, err := Read(bytes.NewReader(cut), func(*sched.Event) error { n++; return nil })
	if n != 1 || err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("truncated file: %d events, err %v; want 1 event and an error naming line 3", n, err)
	}
}
