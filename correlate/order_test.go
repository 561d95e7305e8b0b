package correlate

import (
	"math/rand"
	"sort"
	"testing"

	"github.com/jschedlat/jschedlat/sched"
)

// cpuMerge gives what a stable sort by time gives, a CPU's events out of
// order too (a recovered wait comes late), or declines (leaving the events
// as they were) when a CPU number is out of its range.
func TestCPUMergeIsStableSort(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	var m cpuMerge
	for round := 0; round < 3000; round++ {
		n := rng.Intn(300)
		cpus := 1 + rng.Intn(1+rng.Intn(40))
		disorder := rng.Intn(4) == 0
		last := map[uint32]int64{}
		s := make([]sched.Event, n)
		for i := range s {
			cpu := uint32(rng.Intn(cpus))
			if rng.Intn(50) == 0 {
				cpu = uint32(rng.Intn(2 * maxMergeCPU))
			}
			tm := last[cpu] + int64(rng.Intn(3))
			if disorder && rng.Intn(20) == 0 {
				tm -= int64(rng.Intn(5))
			}
			last[cpu] = tm
			s[i] = sched.Event{Time: tm, CPU: cpu, Tid: uint32(i)}
		}
		want := append([]sched.Event(nil), s...)
		sort.SliceStable(want, func(i, j int) bool { return want[i].Time < want[j].Time })
		in := append([]sched.Event(nil), s...)
		if !m.sort(s) {
			for i := range s {
				if s[i] != in[i] {
					t.Fatalf("round %d: declined but changed event %d", round, i)
				}
			}
			inRange := true
			for _, e := range in {
				if e.CPU >= maxMergeCPU {
					inRange = false
				}
			}
			if inRange {
				t.Fatalf("round %d: declined events of CPUs in range", round)
			}
			continue
		}
		for i := range s {
			if s[i].Tid != want[i].Tid {
				t.Fatalf("round %d: event %d is tid %d, want %d", round, i, s[i].Tid, want[i].Tid)
			}
		}
	}
}
