package correlate

import (
	"testing"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// BenchmarkLiveBatches feeds Live events as the kernel side sends them:
// per-CPU batches, one CPU's batch behind the other's in time, emitting
// after each drain's worth. Compare CPU time (perf stat -e task-clock, or
// -cpuprofile), not ns/op, on a shared host.
func BenchmarkLiveBatches(b *testing.B) {
	l := NewLive(&Joiner{Pid: 1, Namer: NewNamer(0)}, writerFunc(func(r *record.Record) error { return nil }))
	ev := sched.Event{Pid: 1, Kind: sched.KindWakeup}
	const per = 65 // events per CPU batch (50 ms at 1300/s)
	t := int64(1e18)
	b.ReportAllocs()
	n := 0
	for n < b.N {
		for cpu := 0; cpu < 2; cpu++ {
			for i := 0; i < per; i++ {
				ev.Time = t + int64(i)*770_000 + int64(cpu)*300_000
				ev.Tid = uint32(100 + i%20)
				l.Add(&ev)
				n++
			}
		}
		t += per * 770_000
		if n%(4*per) == 0 {
			l.Emit(t)
		}
	}
}
