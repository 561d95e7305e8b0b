package record

import (
	"math/rand"
	"testing"
)

// Rows of a few threads, as a JVM's come: the same TIDs (some sharing a
// slot of the CSV writer's runs), PIDs and strings over and over, each
// changing now and then to another string, one with the same address but
// another length, or one that needs quotes.
func TestWritersRepeatedThreads(t *testing.T) {
	rng := rand.New(rand.NewSource(9))
	base := "pool-1-thread-12,x\"q<b>&\xff\u2028"
	strs := []string{"", base, base[:8], base[:13], base[:16], base[:18], base[1:], "java", "http-nio-8080-exec-1",
		"needs,quotes-here", " lead", "naïve-thread-1", "/process_api/d5521333c83f2b3a", SourceDump, SourceComm}
	tids := []uint32{0, 1, 4243, 4244, 4243 + csvFragSlots, 4244 + 2*csvFragSlots, 70000}
	pids := []uint32{4242, 4242, 0, 1}
	pick := func(s *string) {
		if rng.Intn(8) == 0 {
			*s = strs[rng.Intn(len(strs))]
		}
	}
	var r Record
	var recs []Record
	for range 6000 {
		r.Time += rng.Int63n(1e8)
		r.KTime += uint64(rng.Int63n(1e8))
		r.LatencyNs = uint64(rng.Int63n(1e7))
		r.Kind = []string{"wakeup", "preempt", "yield", "odd,kind"}[rng.Intn(4)]
		r.Tid, r.PrevTid = tids[rng.Intn(len(tids))], tids[rng.Intn(len(tids))]
		if rng.Intn(10) == 0 {
			r.Pid, r.PrevPid = pids[rng.Intn(len(pids))], pids[rng.Intn(len(pids))]
		}
		for _, f := range []*string{&r.Comm, &r.JavaThread, &r.NameSource, &r.PrevComm, &r.PrevJavaThread,
			&r.VirtualThread, &r.Cgroup, &r.Container} {
			pick(f)
		}
		recs = append(recs, r)
	}
	for _, format := range []string{"csv", "jsonl"} {
		compareWriters(t, recs, format, false)
		compareWriters(t, recs, format, true)
	}
}
