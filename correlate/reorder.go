package correlate

import "github.com/jschedlat/jschedlat/sched"

// Reorder puts events back in time order (ties keep their arrival order)
// with bounded memory: it holds an event until one Window newer has
// arrived. Replay uses it so that its rows come in the order Live writes
// them; events arrive out of order by less than DeliverySlack.
//
// Each CPU's events arrive in time order (the kernel sends a CPU's batch
// at a time), so they are kept as one queue per CPU, merged by a small
// heap of the queues' heads: a few steps per event rather than a sift
// through every event held. An event older than its CPU's last goes to a
// heap of its own. Events are ordered by (time, arrival) in all of them,
// and the first of all comes out first: the order is the same whatever
// the arrival pattern.
type Reorder struct {
	Window int64 // ns
	slots  []sched.Event
	free   []int32
	cpus   []*reorderRun          // by CPU, for the usual small numbers
	other  map[uint32]*reorderRun // larger CPU numbers
	// otherMax is the size of other that has its empty queues dropped.
	otherMax int
	runs     []*reorderRun // heap of the non-empty queues by head
	h        []reorderKey  // heap of the events out of their CPU's order
	seq      uint64
	newest   int64
}

type reorderKey struct {
	time int64
	seq  uint64
	slot int32
}

// before orders by time, then arrival: seq is unique, so the order is
// total.
func (a *reorderKey) before(b *reorderKey) bool {
	return a.time < b.time || a.time == b.time && a.seq < b.seq
}

// reorderRun is a FIFO of one CPU's events, in order.
type reorderRun struct {
	q    []reorderKey
	head int
	last int64 // time of the newest event in q
	at   int   // index in Reorder.runs, -1 when empty
}

// NewReorder returns a Reorder with a window of DeliverySlack.
func NewReorder() *Reorder { return &Reorder{Window: int64(DeliverySlack)} }

// Push adds e (copied) and passes out every event that can no longer be
// overtaken.
func (r *Reorder) Push(e *sched.Event, out func(*sched.Event) error) error {
	var slot int32
	if n := len(r.free); n > 0 {
		slot = r.free[n-1]
		r.free = r.free[:n-1]
		r.slots[slot] = *e
	} else {
		slot = int32(len(r.slots))
		r.slots = append(r.slots, *e)
	}
	k := reorderKey{time: e.Time, seq: r.seq, slot: slot}
	r.seq++
	if run := r.run(e.CPU); run.at < 0 || e.Time >= run.last {
		run.last = e.Time
		run.q = append(run.q, k)
		if run.at < 0 {
			run.at = len(r.runs)
			r.runs = append(r.runs, run)
			r.runUp(run.at)
		}
	} else {
		r.h = append(r.h, k)
		r.up(len(r.h) - 1)
	}
	if e.Time > r.newest {
		r.newest = e.Time
	}
	for {
		first := r.first()
		if first == nil || first.time+r.Window > r.newest {
			return nil
		}
		if err := r.pop(out); err != nil {
			return err
		}
	}
}

// Drain passes out everything still held, in order.
func (r *Reorder) Drain(out func(*sched.Event) error) error {
	for r.first() != nil {
		if err := r.pop(out); err != nil {
			return err
		}
	}
	return nil
}

// Len returns how many events are held.
func (r *Reorder) Len() int { return len(r.slots) - len(r.free) }

func (r *Reorder) run(cpu uint32) *reorderRun {
	if cpu < 1024 {
		if int(cpu) >= len(r.cpus) {
			r.cpus = append(r.cpus, make([]*reorderRun, int(cpu)+1-len(r.cpus))...)
		}
		if r.cpus[cpu] == nil {
			r.cpus[cpu] = &reorderRun{at: -1}
		}
		return r.cpus[cpu]
	}
	if r.other == nil {
		r.other = map[uint32]*reorderRun{}
	}
	run := r.other[cpu]
	if run == nil {
		// Bounded by the events held: empty queues of large CPU
		// numbers (a damaged log) are let go, now and then.
		if len(r.other) >= r.otherMax {
			for c, x := range r.other {
				if x.at < 0 {
					delete(r.other, c)
				}
			}
			r.otherMax = max(1024, 2*len(r.other))
		}
		run = &reorderRun{at: -1}
		r.other[cpu] = run
	}
	return run
}

// first returns the key of the event that comes out next, nil if none.
func (r *Reorder) first() *reorderKey {
	var k *reorderKey
	if len(r.runs) > 0 {
		run := r.runs[0]
		k = &run.q[run.head]
	}
	if len(r.h) > 0 && (k == nil || r.h[0].before(k)) {
		k = &r.h[0]
	}
	return k
}

// pop passes out the first event; its slot is reused once out returns.
func (r *Reorder) pop(out func(*sched.Event) error) error {
	var slot int32
	if len(r.runs) > 0 && (len(r.h) == 0 || !r.h[0].before(&r.runs[0].q[r.runs[0].head])) {
		run := r.runs[0]
		slot = run.q[run.head].slot
		run.head++
		switch {
		case run.head == len(run.q):
			run.q, run.head = run.q[:0], 0
			run.at = -1
			n := len(r.runs) - 1
			r.runs[0] = r.runs[n]
			r.runs[n] = nil
			r.runs = r.runs[:n]
			if n > 0 {
				r.runs[0].at = 0
				r.runDown(0)
			}
		default:
			if run.head >= 1024 && run.head*2 >= len(run.q) {
				// Keep the queue's memory to what it holds.
				run.q = run.q[:copy(run.q, run.q[run.head:])]
				run.head = 0
			}
			r.runDown(0)
		}
	} else {
		slot = r.h[0].slot
		n := len(r.h) - 1
		r.h[0] = r.h[n]
		r.h = r.h[:n]
		if n > 1 {
			r.down(0)
		}
	}
	err := out(&r.slots[slot])
	r.free = append(r.free, slot)
	return err
}

func runBefore(a, b *reorderRun) bool { return a.q[a.head].before(&b.q[b.head]) }

func (r *Reorder) runUp(i int) {
	h := r.runs
	x := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !runBefore(x, h[p]) {
			break
		}
		h[i] = h[p]
		h[i].at = i
		i = p
	}
	h[i] = x
	x.at = i
}

func (r *Reorder) runDown(i int) {
	h := r.runs
	n := len(h)
	x := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && runBefore(h[c+1], h[c]) {
			c++
		}
		if !runBefore(h[c], x) {
			break
		}
		h[i] = h[c]
		h[i].at = i
		i = c
	}
	h[i] = x
	x.at = i
}

func (r *Reorder) up(i int) {
	h := r.h
	k := h[i]
	for i > 0 {
		p := (i - 1) / 2
		if !k.before(&h[p]) {
			break
		}
		h[i] = h[p]
		i = p
	}
	h[i] = k
}

func (r *Reorder) down(i int) {
	h := r.h
	n := len(h)
	k := h[i]
	for {
		c := 2*i + 1
		if c >= n {
			break
		}
		if c+1 < n && h[c+1].before(&h[c]) {
			c++
		}
		if !h[c].before(&k) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = k
}
