package correlate

import "container/heap"

// Reorder puts events back in time order (ties keep their arrival order)
// with bounded memory: it holds an event until one Window newer has
// arrived. Replay uses it so that its rows come in the order Live writes
// them; events arrive out of order by less than DeliverySlack.
type Reorder struct {
	Window int64 // ns
	h      reorderHeap
	seq    uint64
	newest int64
}

// NewReorder returns a Reorder with a window of DeliverySlack.
func NewReorder() *Reorder { return &Reorder{Window: int64(DeliverySlack)} }

// Push adds e (copied) and passes out every event that can no longer be
// overtaken.
func (r *Reorder) Push(e *Event, out func(*Event) error) error {
	heap.Push(&r.h, reorderItem{ev: *e, seq: r.seq})
	r.seq++
	if e.Time > r.newest {
		r.newest = e.Time
	}
	for len(r.h) > 0 && r.h[0].ev.Time+r.Window <= r.newest {
		it := heap.Pop(&r.h).(reorderItem)
		if err := out(&it.ev); err != nil {
			return err
		}
	}
	return nil
}

// Drain passes out everything still held, in order.
func (r *Reorder) Drain(out func(*Event) error) error {
	for len(r.h) > 0 {
		it := heap.Pop(&r.h).(reorderItem)
		if err := out(&it.ev); err != nil {
			return err
		}
	}
	return nil
}

type reorderItem struct {
	ev  Event
	seq uint64
}

type reorderHeap []reorderItem

func (h reorderHeap) Len() int { return len(h) }
func (h reorderHeap) Less(i, j int) bool {
	if h[i].ev.Time != h[j].ev.Time {
		return h[i].ev.Time < h[j].ev.Time
	}
	return h[i].seq < h[j].seq
}
func (h reorderHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *reorderHeap) Push(x any)   { *h = append(*h, x.(reorderItem)) }
func (h *reorderHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	*h = old[:len(old)-1]
	return it
}
