package correlate

import (
	"math/rand"
	"strconv"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/sched"
)

// entries counts what the join keeps per thread: every element of the
// Namer's per-TID histories and tables, and Live's own per-TID tables.
func (l *Live) entries() int {
	n := l.j.Namer
	c := len(n.latest) + len(n.pending) + len(n.vtNames) + len(n.ops) + len(l.asked) + len(l.deferred)
	for _, o := range n.obs {
		c += 1 + len(o)
	}
	for _, m := range n.marks {
		c += 1 + len(m)
	}
	for _, m := range n.mounts {
		c += 1 + len(m)
	}
	return c
}

// churn drives a Live the way attach does for a JVM that starts 50 threads
// a second with never-repeating names (TIDs wrap around pid_max after a
// day), has a few threads renaming themselves all the time, a stable
// pool, a virtual-thread carrier, and is dumped every 30 s. It returns the
// join's entries after each simulated minute.
func churn(t *testing.T, minutes int) []int {
	t.Helper()
	const (
		pid     = 100
		perSec  = 50
		pidMax  = 1 << 22 // the default on 64-bit hosts with systemd
		firstID = 1000
	)
	out := &memWriter{}
	j := &Joiner{Pid: pid, Namer: NewNamer(0)}
	l := NewLive(j, out)
	l.Probed = true
	l.NeedDump = func(uint32, string, int64) bool { return true }
	start := 1000 * sec
	now := start
	next := uint32(firstID)
	seq := 0
	renames := 0
	var sizes []int
	ev := func(t int64, k sched.Kind, tid uint32, comm string) *sched.Event {
		return &sched.Event{Time: t, Kind: k, Pid: pid, Tid: tid, Comm: comm, Latency: 1000, PrevPid: pid, PrevTid: 50, PrevComm: "pool-worker-0"}
	}
	stable := []uint32{50, 51, 52, 53} // pool workers; 53 carries virtual threads
	for i, tid := range stable {
		name := "pool-worker-" + strconv.Itoa(i)
		l.Add(&sched.Event{Time: now, Kind: sched.KindThreadStart, Pid: pid, Tid: tid, Name: name})
	}
	renamers := []uint32{60, 61}
	for s := 0; s < minutes*60; s++ {
		for k := 0; k < perSec; k++ {
			tt := now + int64(k)*sec/perSec
			tid := next
			next++
			if next >= pidMax {
				next = firstID
			}
			name := "req-" + strconv.Itoa(seq)
			seq++
			// Created by another thread: its kernel name until HotSpot
			// names it is the creator's.
			l.Add(ev(tt, sched.KindBirth, tid, "churner"))
			l.Add(ev(tt+500, sched.KindWakeupNew, tid, "churner"))
			l.Add(&sched.Event{Time: tt + 1000, Kind: sched.KindThreadStart, Pid: pid, Tid: tid, Name: name})
			l.Add(ev(tt+2000, sched.KindRename, tid, KernelComm(name)))
			l.Add(ev(tt+3000, sched.KindWakeupNew, tid, KernelComm(name)))
			l.Add(ev(tt+int64(5*time.Millisecond), sched.KindWakeup, tid, KernelComm(name)))
			l.Add(ev(tt+int64(20*time.Millisecond), sched.KindExit, tid, KernelComm(name)))
		}
		for i, tid := range stable {
			l.Add(ev(now+int64(i)*1000, sched.KindWakeup, tid, "pool-worker-"+strconv.Itoa(i)))
		}
		// Self-renames, 10 a second each, with a new number every time.
		for k := 0; k < 10; k++ {
			for _, tid := range renamers {
				renames++
				name := "renamer-" + strconv.Itoa(int(tid)) + "-" + strconv.Itoa(renames)
				tt := now + int64(k)*sec/10 + int64(tid)
				l.Add(&sched.Event{Time: tt, Kind: sched.KindThreadName, Pid: pid, Tid: tid, Name: name})
				l.Add(ev(tt+1, sched.KindRename, tid, KernelComm(name)))
				l.Add(ev(tt+2, sched.KindWakeup, tid, KernelComm(name)))
			}
		}
		if s%30 == 0 {
			// A periodic dump, printed at a safepoint.
			l.Add(&sched.Event{Time: now + 100, Kind: sched.KindVMOpBegin, Pid: pid, Tid: 2, Comm: printOp})
			l.Add(&sched.Event{Time: now + 200, Kind: sched.KindVMOpEnd, Pid: pid, Tid: 2, Comm: printOp})
			d := jvm.Dump{}
			for i, tid := range stable {
				th := jvm.Thread{Tid: int(tid), JavaID: int64(10 + i), Name: "pool-worker-" + strconv.Itoa(i), Carrying: -1}
				if tid == 53 {
					th.Carrying = int64(1_000_000 + s)
					d.Threads = append(d.Threads, jvm.Thread{JavaID: int64(1_000_000 + s), Name: "vt-" + strconv.Itoa(s), Virtual: true, Carrying: -1})
				}
				d.Threads = append(d.Threads, th)
			}
			for _, tid := range renamers {
				d.Threads = append(d.Threads, jvm.Thread{Tid: int(tid), JavaID: int64(tid), Name: "renamer-" + strconv.Itoa(int(tid)) + "-" + strconv.Itoa(renames), Carrying: -1})
			}
			l.AddDump(&TimedDump{Start: now, End: now + 300, Dump: d})
		}
		now += sec
		if err := l.Emit(now); err != nil {
			t.Fatal(err)
		}
		if (s+1)%60 == 0 {
			sizes = append(sizes, l.entries())
		}
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
	return sizes
}

// TestLiveStateBounded: with thread churn, renames and TID reuse, what the
// join keeps stops growing once history is older than any record still to
// be written can need (attach runs for days).
func TestLiveStateBounded(t *testing.T) {
	minutes := 20
	if testing.Short() {
		minutes = 8
	}
	sizes := churn(t, minutes)
	t.Logf("entries after each minute: %v", sizes)
	// Compare the middle of the run with its end. (TIDs do not wrap here:
	// state kept per TID until its next use would grow for a day.)
	mid, last := sizes[len(sizes)/2-1], sizes[len(sizes)-1]
	if last > mid+mid/10 {
		t.Errorf("the join's state grows: %d entries after %d min, %d after %d min", mid, len(sizes)/2, last, len(sizes))
	}
	// 50 threads/s: the state should not hold much more than a few
	// minutes' worth of them (each thread leaves ~6 entries).
	if max := 50 * 60 * 3 * 6; last > max {
		t.Errorf("%d entries after %d min: more than %d", last, len(sizes), max)
	}
}

// TestPruneKeepsAnswers: a Namer pruned as Live prunes it answers every
// question about times after the prune point as one that kept everything,
// on random histories of a few TIDs that are born, named, renamed by
// themselves and by others, end and come back, with dumps at random and a
// carrier of virtual threads.
func TestPruneKeepsAnswers(t *testing.T) {
	for seed := int64(1); seed <= 20; seed++ {
		comparePruned(t, seed)
	}
}

func comparePruned(t *testing.T, seed int64) {
	rng := rand.New(rand.NewSource(seed))
	rq := rand.New(rand.NewSource(-seed)) // the Known cache's checks: rng's sequence stays
	const (
		tids = 6
		step = 100 * int64(time.Millisecond)
		lag  = 3 * sec
	)
	a, b := NewNamer(0), NewNamer(0) // a is pruned
	hold := int64(a.Horizon + DeliverySlack)
	type change struct {
		t    int64
		comm string
	}
	type thread struct {
		alive      bool
		born       int64
		name, comm string
		comms      []change
	}
	ths := make([]thread, tids+1)
	both := func(f func(n *Namer)) { f(a); f(b) }
	commAt := func(th *thread, q int64) string {
		c := "java"
		for _, ch := range th.comms {
			if ch.t > q {
				break
			}
			c = ch.comm
		}
		return c
	}
	names := []string{"worker-with-a-long-name-1", "worker-with-a-long-name-2", "short", "req-", "pool-1-thread-"}
	newName := func() string { return names[rng.Intn(len(names))] + strconv.Itoa(rng.Intn(4)) }
	// Threads that predate the trace: no birth, no naming seen.
	for tid := 1; tid <= tids; tid++ {
		name := newName()
		ths[tid] = thread{alive: true, name: name, comm: KernelComm(name), comms: []change{{0, KernelComm(name)}}}
	}
	type pendingDump struct {
		start, end int64
		d          jvm.Dump
	}
	var dumps []pendingDump
	nextDump := 2 * sec
	vt := int64(5000)
	foreign := 0
	lastPrune := int64(0)
	for now := int64(sec); now < 900*sec; now += step {
		for tid := uint32(1); tid <= tids; tid++ {
			th := &ths[tid]
			r := rng.Float64()
			if tid == 1 {
				// Predates the trace, lives on, renamed by others only
				// (like a thread tagged with each request it serves),
				// once the first dump has seen it (see Prune).
				r = 1
				if now > 3*sec {
					r = 0.04
				}
			}
			switch {
			case !th.alive && r < 0.03:
				th.alive, th.born, th.name = true, now, newName()
				both(func(n *Namer) { n.AddBirth(tid, now) })
				th.comms = append(th.comms, change{now, "java"})
				if rng.Intn(2) == 0 {
					e := &sched.Event{Time: now + 1, Kind: sched.KindThreadStart, Tid: tid, Name: th.name}
					both(func(n *Namer) { n.AddThreadStart(e) })
				}
				if rng.Intn(20) != 0 {
					th.comm = KernelComm(th.name)
					both(func(n *Namer) { n.AddRename(tid, now+2, th.comm) })
					th.comms = append(th.comms, change{now + 2, th.comm})
				}
			case th.alive && r < 0.01:
				th.alive = false
				both(func(n *Namer) { n.AddExit(tid, now) })
			case th.alive && r < 0.03:
				th.name = newName()
				th.comm = KernelComm(th.name)
				if rng.Intn(2) == 0 {
					e := &sched.Event{Time: now, Kind: sched.KindThreadName, Tid: tid, Name: th.name}
					both(func(n *Namer) { n.AddThreadName(e) })
				}
				both(func(n *Namer) { n.AddRename(tid, now+1, th.comm) })
				th.comms = append(th.comms, change{now + 1, th.comm})
			case th.alive && r < 0.05:
				// Renamed by another thread: comm stays. Often to a name
				// never seen before (a request id), more than maxOldComms.
				foreign++
				th.name = newName()
				if rng.Intn(2) == 0 {
					th.name = "victim-" + strconv.Itoa(foreign)
				}
			}
		}
		if now >= nextDump {
			end := now + 1 + rng.Int63n(500*int64(time.Millisecond))
			d := jvm.Dump{}
			for tid := 1; tid <= tids; tid++ {
				if ths[tid].alive {
					th := jvm.Thread{Tid: tid, JavaID: int64(tid), Name: ths[tid].name, Carrying: -1}
					if tid == 1 && rng.Intn(2) == 0 {
						vt++
						th.Carrying = vt
						d.Threads = append(d.Threads, jvm.Thread{JavaID: vt, Name: "vt-" + strconv.Itoa(int(vt)), Virtual: true, Carrying: -1})
					}
					d.Threads = append(d.Threads, th)
				}
			}
			if rng.Intn(2) == 0 {
				op1 := &sched.Event{Time: now + (end-now)/4, Kind: sched.KindVMOpBegin, Comm: printOp}
				op2 := &sched.Event{Time: now + (end-now)/2, Kind: sched.KindVMOpEnd, Comm: printOp}
				both(func(n *Namer) { n.AddVMOp(op1); n.AddVMOp(op2) })
			}
			dumps = append(dumps, pendingDump{now, end, d})
			nextDump = now + sec + rng.Int63n(6*sec)
		}
		for len(dumps) > 0 && dumps[0].end <= now {
			pd := dumps[0]
			dumps = dumps[1:]
			both(func(n *Namer) { n.AddDump(pd.start, pd.end, &pd.d, nil) })
		}
		if now-lastPrune >= 10*sec {
			a.Prune(now - hold - lag)
			lastPrune = now
		}
		q := now - hold
		for tid := uint32(1); tid <= tids; tid++ {
			th := &ths[tid]
			// The kernel name at q: events carry no other.
			comm := commAt(th, q)
			na, sa := a.Name(tid, q, comm)
			nb, sb := b.Name(tid, q, comm)
			if na != nb || sa != sb {
				t.Fatalf("seed %d: Name(%d, %d, %q): pruned %q %s, whole %q %s", seed, tid, q, comm, na, sa, nb, sb)
			}
			// A wait of a running thread: off the CPU since its birth at most.
			from := max(q-rng.Int63n(20*sec), th.born+1)
			if !th.alive || from >= q {
				continue
			}
			if va, vb := a.Virtual(tid, from, q), b.Virtual(tid, from, q); va != vb {
				t.Fatalf("seed %d: Virtual(%d, %d, %d): pruned %q, whole %q", seed, tid, from, q, va, vb)
			}
			// (Live asks only about threads that run, or ended within the
			// horizon: a TID that ended long ago is forgotten.)
			if ka, kb := a.Known(tid, th.comm, now), b.Known(tid, th.comm, now); ka != kb {
				t.Fatalf("seed %d: Known(%d, %q, %d): pruned %v, whole %v", seed, tid, th.comm, now, ka, kb)
			}
			// Known's cached answers are what it computes afresh, also a
			// little back in time (events come out of order by up to
			// DeliverySlack) and for the comm of another time.
			for _, n := range []*Namer{a, b} {
				at := now - rq.Int63n(int64(DeliverySlack))
				comm := commAt(th, now-rq.Int63n(3*sec))
				for _, c := range []string{th.comm, comm} {
					for _, q := range []int64{now, at} {
						if got, want := n.Known(tid, c, q), n.known2(tid, n.marks[tid], c, q); got != want {
							t.Fatalf("seed %d: Known(%d, %q, %d) = %v, computed afresh %v", seed, tid, c, q, got, want)
						}
					}
				}
			}
		}
	}
	if la, lb := len(a.ops), len(b.ops); la >= lb && lb > 20 {
		t.Errorf("seed %d: VM operations not pruned: %d, whole %d", seed, la, lb)
	}
}
