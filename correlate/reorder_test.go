package correlate

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand"
	"slices"
	"sort"
	"testing"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// Replay's Reorder and Live must put the same arrival sequence in the same
// order: time order, ties in arrival order.
func TestReorderMatchesLiveOrder(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var in []sched.Event
	for i := 0; i < 5000; i++ {
		// Two "CPUs" whose batches arrive up to 50 ms late, with ties.
		base := int64(i) * 1_000_000
		lag := int64(rng.Intn(50)) * 1_000_000
		in = append(in, sched.Event{Time: base - lag, Tid: uint32(i)})
	}
	want := append([]sched.Event(nil), in...)
	sort.SliceStable(want, func(i, j int) bool { return want[i].Time < want[j].Time })

	var got []sched.Event
	r := NewReorder()
	out := func(e *sched.Event) error { got = append(got, *e); return nil }
	for i := range in {
		if err := r.Push(&in[i], out); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Drain(out); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 || len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].Tid != want[i].Tid {
			t.Fatalf("reorder: event %d is tid %d, want %d", i, got[i].Tid, want[i].Tid)
		}
	}

	checkLiveOrder(t, "random lag", in, want, 0)
	checkLiveOrder(t, "random lag, emitting", in, want, 97)

	// Per-CPU batches as the kernel side sends them: each CPU's events in
	// order, a batch of one CPU behind the other's, with ties across CPUs.
	in = in[:0]
	for b := 0; b < 40; b++ {
		for cpu := 0; cpu < 2; cpu++ {
			for i := 0; i < 60; i++ {
				tm := int64(b*60+i)*1_000_000 + int64(cpu*rng.Intn(2))*1_000_000
				in = append(in, sched.Event{Time: tm, Tid: uint32(len(in)), CPU: uint32(cpu)})
			}
		}
	}
	want = append(want[:0], in...)
	sort.SliceStable(want, func(i, j int) bool { return want[i].Time < want[j].Time })
	checkLiveOrder(t, "batches", in, want, 0)
	checkLiveOrder(t, "batches, emitting", in, want, 45)
}

// checkLiveOrder feeds in to a Live, emitting every emitEvery events (0:
// only Flush at the end) at the newest time seen, and wants want's order.
func checkLiveOrder(t *testing.T, name string, in, want []sched.Event, emitEvery int) {
	t.Helper()
	var rows []uint32
	l := NewLive(&Joiner{Pid: 1, Namer: NewNamer(0)}, writerFunc(func(r *record.Record) error { rows = append(rows, r.Tid); return nil }))
	var newest int64
	for i := range in {
		l.Add(&in[i])
		newest = max(newest, in[i].Time)
		if emitEvery > 0 && i%emitEvery == 0 {
			if err := l.Emit(newest); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(want) {
		t.Fatalf("%s: %d rows, want %d", name, len(rows), len(want))
	}
	for i := range want {
		if rows[i] != want[i].Tid {
			t.Fatalf("%s: row %d is tid %d, want %d", name, i, rows[i], want[i].Tid)
		}
	}
}

type writerFunc func(*record.Record) error

func (f writerFunc) Write(r *record.Record) error { return f(r) }
func (f writerFunc) Flush() error                 { return nil }

// refReorder is Reorder as it was: one container/heap of every event held.
type refReorder struct {
	window int64
	h      refHeap
	seq    uint64
	newest int64
}

type refItem struct {
	ev  sched.Event
	seq uint64
}

type refHeap []refItem

func (h refHeap) Len() int { return len(h) }
func (h refHeap) Less(i, j int) bool {
	if h[i].ev.Time != h[j].ev.Time {
		return h[i].ev.Time < h[j].ev.Time
	}
	return h[i].seq < h[j].seq
}
func (h refHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *refHeap) Push(x any)   { *h = append(*h, x.(refItem)) }
func (h *refHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}

func (r *refReorder) push(e *sched.Event, out func(*sched.Event) error) error {
	heap.Push(&r.h, refItem{ev: *e, seq: r.seq})
	r.seq++
	if e.Time > r.newest {
		r.newest = e.Time
	}
	for len(r.h) > 0 && r.h[0].ev.Time+r.window <= r.newest {
		it := heap.Pop(&r.h).(refItem)
		if err := out(&it.ev); err != nil {
			return err
		}
	}
	return nil
}

func (r *refReorder) drain(out func(*sched.Event) error) error {
	for len(r.h) > 0 {
		it := heap.Pop(&r.h).(refItem)
		if err := out(&it.ev); err != nil {
			return err
		}
	}
	return nil
}

// Per-CPU queues give exactly the order of one heap of all events, for
// any arrival: in order per CPU or not, ties, events later than the
// window, CPU numbers large and small, and an error from out.
func TestReorderMatchesHeap(t *testing.T) {
	for seed := int64(1); seed <= 300; seed++ {
		rng := rand.New(rand.NewSource(seed))
		cpus := 1 + rng.Intn(12)
		if seed%7 == 0 {
			cpus = 1 // long queues
		}
		disorder := rng.Float64() * 0.2
		late := int64(rng.Intn(3)) * int64(DeliverySlack) / 2
		var in []sched.Event
		clock := int64(1e18)
		last := map[uint32]int64{}
		n := 200 + rng.Intn(3000)
		if seed%10 == 0 || seed%7 == 0 {
			n = 8000
		}
		for i := 0; i < n; i++ {
			cpu := uint32(rng.Intn(cpus))
			if rng.Intn(50) == 0 || seed%10 == 0 && rng.Intn(2) == 0 {
				cpu = uint32(1000 + rng.Intn(1<<30)) // damaged or huge
			}
			clock += int64(rng.Intn(200_000))
			t := clock - int64(rng.Intn(int(DeliverySlack)/2)) // a batch's lag
			if prev, ok := last[cpu]; ok && t < prev && rng.Float64() > disorder {
				t = prev + int64(rng.Intn(3)) // in order per CPU, often tied
			}
			if rng.Intn(100) == 0 {
				t -= late + int64(rng.Intn(int(DeliverySlack))) // later than the window
			}
			last[cpu] = t
			in = append(in, sched.Event{Time: t, CPU: cpu, Tid: uint32(i)})
		}
		failAt := -1
		if rng.Intn(4) == 0 {
			failAt = rng.Intn(len(in))
		}
		run := func(push func(*sched.Event, func(*sched.Event) error) error, drain func(func(*sched.Event) error) error) ([]uint32, error) {
			var got []uint32
			out := func(e *sched.Event) error {
				if len(got) == failAt {
					return errors.New("full")
				}
				got = append(got, e.Tid)
				return nil
			}
			for i := range in {
				if err := push(&in[i], out); err != nil {
					return got, err
				}
			}
			return got, drain(out)
		}
		ref := &refReorder{window: int64(DeliverySlack)}
		want, werr := run(ref.push, ref.drain)
		r := NewReorder()
		got, err := run(r.Push, r.Drain)
		if fmt.Sprint(err) != fmt.Sprint(werr) || !slices.Equal(got, want) {
			t.Fatalf("seed %d: %d events out (%v), want %d (%v)", seed, len(got), err, len(want), werr)
		}
		if werr == nil && r.Len() != 0 {
			t.Fatalf("seed %d: %d events held after Drain", seed, r.Len())
		}
	}
}

// The held events move to a larger array while some are written and the
// latest arrivals are out of order: the order survives the move.
func TestLiveOrderAcrossGrowth(t *testing.T) {
	var rows []uint32
	l := NewLive(&Joiner{Pid: 1, Namer: NewNamer(0)}, writerFunc(func(r *record.Record) error { rows = append(rows, r.Tid); return nil }))
	var in []sched.Event
	for i := 0; i < 1000; i++ {
		in = append(in, sched.Event{Time: int64(i) * 1_000_000, Tid: uint32(len(in))})
	}
	for i := range in {
		l.Add(&in[i])
	}
	// Writes those 1,000: fewer than Emit's compaction waits for.
	if err := l.Emit(in[len(in)-1].Time + l.hold); err != nil {
		t.Fatal(err)
	}
	if l.head != 1000 || cap(l.pending) != 4096 {
		t.Fatalf("setup: head %d, cap %d; want 1000 written of 4096", l.head, cap(l.pending))
	}
	// Per-CPU batches of 50, one CPU's behind the other's, past the
	// array's end.
	first := len(in)
	for b := 0; b < 40; b++ {
		for cpu := 0; cpu < 2; cpu++ {
			for i := 0; i < 50; i++ {
				tm := int64(1000+b*50+i)*1_000_000 + int64(cpu)*500_000
				in = append(in, sched.Event{Time: tm, Tid: uint32(len(in)), CPU: uint32(cpu)})
			}
		}
	}
	for i := first; i < len(in); i++ {
		l.Add(&in[i])
	}
	if cap(l.pending) == 4096 {
		t.Fatalf("the array did not grow (cap %d, %d held)", cap(l.pending), len(l.pending)-l.head)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	want := append([]sched.Event(nil), in...)
	sort.SliceStable(want, func(i, j int) bool { return want[i].Time < want[j].Time })
	if len(rows) != len(want) {
		t.Fatalf("%d rows, want %d", len(rows), len(want))
	}
	for i := range want {
		if rows[i] != want[i].Tid {
			t.Fatalf("row %d is tid %d, want %d", i, rows[i], want[i].Tid)
		}
	}
}
