package correlate

import (
	"math/rand"
	"sort"
	"testing"
)

// Replay's Reorder and Live must put the same arrival sequence in the same
// order: time order, ties in arrival order.
func TestReorderMatchesLiveOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var in []Event
	for i := 0; i < 5000; i++ {
		// Two "CPUs" whose batches arrive up to 50 ms late, with ties.
		base := int64(i) * 1_000_000
		lag := int64(rng.Intn(50)) * 1_000_000
		in = append(in, Event{Time: base - lag, Tid: uint32(i)})
	}
	want := append([]Event(nil), in...)
	sort.SliceStable(want, func(i, j int) bool { return want[i].Time < want[j].Time })

	var got []Event
	r := NewReorder()
	out := func(e *Event) error { got = append(got, *e); return nil }
	for i := range in {
		if err := r.Push(&in[i], out); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Drain(out); err != nil {
		t.Fatal(err)
	}
	if len(r.h) != 0 || len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Tid != want[i].Tid {
			t.Fatalf("reorder: event %d is tid %d, want %d", i, got[i].Tid, want[i].Tid)
		}
	}

	var rows []uint32
	l := NewLive(&Joiner{Pid: 1, Namer: NewNamer(0)}, writerFunc(func(r *Record) error { rows = append(rows, r.Tid); return nil }))
	for i := range in {
		l.Add(&in[i])
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		if rows[i] != want[i].Tid {
			t.Fatalf("live: row %d is tid %d, want %d", i, rows[i], want[i].Tid)
		}
	}
}

type writerFunc func(*Record) error

func (f writerFunc) Write(r *Record) error { return f(r) }
func (f writerFunc) Flush() error          { return nil }
