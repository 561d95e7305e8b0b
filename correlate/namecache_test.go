package correlate

import (
	"math/rand"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
)

// TestNameCacheAgrees checks Name's cache against the answer computed
// afresh, over random marks, dumps, prunes and queries of a few TIDs whose
// times move forward with jitter (as the join asks) and sometimes jump.
func TestNameCacheAgrees(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewSource(seed))
		n := NewNamer(2 * time.Second)
		names := []string{"pool-1-thread-1", "pool-1-thread-10", "alpha-worker", "beta", "java", "order-router-with-a-long-name"}
		comms := []string{"java", "pool-1-thread-1", "alpha-worker", "beta", "order-router-wi", "x"}
		const tids = 6
		now := 100 * sec
		for step := 0; step < 4000; step++ {
			now += rng.Int63n(sec / 5)
			tid := uint32(1000 + rng.Intn(tids))
			switch r := rng.Intn(100); {
			case r < 3:
				n.AddExit(tid, now-rng.Int63n(sec))
			case r < 6:
				n.AddBirth(tid, now-rng.Int63n(sec))
			case r < 9:
				n.AddRename(tid, now-rng.Int63n(sec), comms[rng.Intn(len(comms))])
			case r < 12:
				start := now - rng.Int63n(3*sec)
				var ths []jvm.Thread
				for k := 0; k < tids; k++ {
					if rng.Intn(2) == 0 {
						ths = append(ths, th(1000+k, int64(k+1), names[rng.Intn(len(names))]))
					}
				}
				n.AddDump(start, start+rng.Int63n(sec), dump(ths...), nil)
			case r < 13:
				n.Prune(now - 5*sec)
			default:
				q := now - rng.Int63n(4*sec)
				comm := comms[rng.Intn(len(comms))]
				for k := 0; k < 3; k++ {
					gotName, gotSrc := n.Name(tid, q, comm)
					wantName, wantSrc := n.name(tid, q, comm)
					if gotName != wantName || gotSrc != wantSrc {
						t.Fatalf("seed %d step %d: Name(%d, %d, %q) = %q, %s; afresh %q, %s", seed, step, tid, q, comm, gotName, gotSrc, wantName, wantSrc)
					}
					q += rng.Int63n(sec)
				}
			}
		}
	}
}
