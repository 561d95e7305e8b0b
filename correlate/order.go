package correlate

import "github.com/jschedlat/jschedlat/sched"

// mergeRuns sorts s by Time, stably, and returns the scratch buffer for
// the next call. s is a few ascending runs (one per CPU whose batch came
// late), so merging the runs moves each event a few times where inserting
// each late event in place moved half a batch per event, and a general
// stable sort rotates blocks of 136-byte events.
func mergeRuns(s, scratch []sched.Event, runs []int) []sched.Event {
	runs = append(runs, 0)
	for i := 1; i < len(s); i++ {
		if s[i].Time < s[i-1].Time {
			runs = append(runs, i)
		}
	}
	runs = append(runs, len(s))
	// Bottom-up: merge neighbouring runs pairwise until one is left.
	for len(runs) > 2 {
		w := 1
		for i := 0; i+2 < len(runs); i += 2 {
			scratch = mergeTwo(s[runs[i]:runs[i+2]], runs[i+1]-runs[i], scratch)
			runs[w] = runs[i+2]
			w++
		}
		if len(runs)%2 == 0 { // an odd run out is carried over as it is
			runs[w] = runs[len(runs)-1]
			w++
		}
		runs = runs[:w]
	}
	return scratch
}

// mergeTwo merges s[:mid] and s[mid:], both in order, in place; ties keep
// the left one first.
func mergeTwo(s []sched.Event, mid int, scratch []sched.Event) []sched.Event {
	if mid == 0 || mid == len(s) || s[mid-1].Time <= s[mid].Time {
		return scratch
	}
	left := append(scratch[:0], s[:mid]...)
	i, j, w := 0, mid, 0
	for i < len(left) && j < len(s) {
		if s[j].Time < left[i].Time {
			s[w] = s[j]
			j++
		} else {
			s[w] = left[i]
			i++
		}
		w++
	}
	copy(s[w:], left[i:])
	clear(left) // no stale strings kept alive by the buffer
	return left[:0]
}

// cpuMerge sorts a span of held events by Time, stably: a merge of the
// CPUs' sequences (each CPU's events come in time order, as the kernel
// sends them), ties to the earlier arrival, with each event moved once at
// most. The descents of two CPUs interleaved in small batches made
// mergeRuns tens of runs a drain, each event moved about fourteen times.
// An event earlier than the one before it from its CPU (a wait recovered
// from the scheduler's stamps, sent on its own: ~2 a second on a busy
// JVM) begins another sequence of that CPU: any split of the span into
// sequences ascending in time and position merges into the stable order.
// Its buffers are kept between calls.
type cpuMerge struct {
	next []int32 // next position of the same CPU, -1 at its last
	// The events' times, by position, copied in the first pass: the
	// merge compares these and reads no event out of order (a cache
	// miss each, ~10 ns of the join's ~100 per event).
	time []int64
	last []int32 // last position seen per CPU, -1 none (by CPU number)
	heap []int32 // positions of the sequences' heads, earliest first
	perm []int32 // perm[i]: the position of the event that goes to i
}

// maxMergeCPU bounds the CPU numbers cpuMerge takes (others: mergeRuns).
const maxMergeCPU = 1 << 12

// sort sorts s, or returns false with s unchanged when a CPU number is out
// of range.
func (m *cpuMerge) sort(s []sched.Event) bool {
	if len(s) > 1<<31-1 {
		return false
	}
	m.next = m.next[:0]
	m.time = m.time[:0]
	m.heap = m.heap[:0]
	ok := true
	for i := range s {
		cpu := s[i].CPU
		if cpu >= maxMergeCPU {
			ok = false
			break
		}
		for int(cpu) >= len(m.last) {
			m.last = append(m.last, -1)
		}
		m.next = append(m.next, -1)
		m.time = append(m.time, s[i].Time)
		if p := m.last[cpu]; p < 0 || s[p].Time > s[i].Time {
			// The CPU's first, or earlier than its last: a sequence's head.
			m.heap = append(m.heap, int32(i))
		} else {
			m.next[p] = int32(i)
		}
		m.last[cpu] = int32(i)
	}
	// Ready for the next call.
	for _, p := range m.heap {
		m.last[s[p].CPU] = -1
	}
	if !ok {
		return false
	}
	h := m.heap
	for i := len(h)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	// The order as positions first (the merge moves no event), then each
	// event moved once, along the permutation's cycles.
	perm := m.perm[:0]
	for len(h) > 0 {
		p := h[0]
		perm = append(perm, p)
		if q := m.next[p]; q >= 0 {
			h[0] = q
		} else {
			h[0] = h[len(h)-1]
			h = h[:len(h)-1]
			m.heap = h
		}
		if len(h) > 1 {
			m.down(0)
		}
	}
	m.perm = perm
	for i := range perm {
		if int(perm[i]) == i {
			continue
		}
		e := s[i]
		j := i
		for {
			k := int(perm[j])
			perm[j] = int32(j)
			if k == i {
				s[j] = e
				break
			}
			s[j] = s[k]
			j = k
		}
	}
	return true
}

// down sifts heap[i] down, ordered by time, then position.
func (m *cpuMerge) down(i int) {
	h := m.heap
	x := h[i]
	for {
		c := 2*i + 1
		if c >= len(h) {
			break
		}
		if c+1 < len(h) && m.before(h[c+1], h[c]) {
			c++
		}
		if !m.before(h[c], x) {
			break
		}
		h[i] = h[c]
		i = c
	}
	h[i] = x
}

// before orders positions by their events' times, then by position.
func (m *cpuMerge) before(a, b int32) bool {
	return m.time[a] < m.time[b] || m.time[a] == m.time[b] && a < b
}
