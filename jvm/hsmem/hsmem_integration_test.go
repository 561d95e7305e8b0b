package hsmem

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/jvm"
	"golang.org/x/sys/unix"
)

func mkfifo(p string) error { return unix.Mkfifo(p, 0o600) }

var small = []string{"-Xmx64m", "-Xss256k"}

func TestNamesMatchSelfReport(t *testing.T) {
	for _, j := range jdks(t) {
		configs := map[string][]string{
			"default":                nil,
			"-UseCompressedOops":     {"-XX:-UseCompressedOops"},
			"DisableAttachMechanism": {"-XX:+DisableAttachMechanism"},
			"G1":                     {"-XX:+UseG1GC"},
			// 64 MB of heap lies below 4 GB: a narrow oop is the address.
			// Placed at 64 GB, narrow oops have a base and a shift.
			"HeapBaseMinAddress=64g":      {"-XX:HeapBaseMinAddress=64g"},
			"-UseCompressedClassPointers": {"-XX:-UseCompressedClassPointers"},
		}
		if j.major >= 25 {
			configs["+UseCompactObjectHeaders"] = []string{"-XX:+UseCompactObjectHeaders"}
		}
		for name, flags := range movingConfigs(j.major) {
			configs[name] = flags
		}
		for name, flags := range configs {
			t.Run(j.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				p := startProbe(t, j.java, append(append([]string{}, small...), flags...), "--threads", "24")
				vm := openVM(t, p.pid)
				s, err := vm.Threads()
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("JDK %d flags %+v, narrow oops base %#x shift %d, narrow klass base %#x shift %d",
					vm.Major, vm.Flags, vm.lay.oopBase, vm.lay.oopShift, vm.lay.klassBase, vm.lay.klassShift)
				checkAgainstSelf(t, s, p.selfReported())
			})
		}
	}
}

func Test2000Threads(t *testing.T) {
	for _, j := range jdks(t) {
		t.Run(j.name, func(t *testing.T) {
			p := startProbe(t, j.java, small, "--threads", "2000")
			vm := openVM(t, p.pid)
			start := time.Now()
			s, err := vm.Threads()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("one scan of %d threads: %v", len(s.Threads), time.Since(start))
			checkAgainstSelf(t, s, p.selfReported())
		})
	}
}

// TestChurn reads the list while threads start, rename themselves and
// exit, under frequent young collections (Serial), and under ZGC moving
// objects while it colours references: a name may be missing only if
// reported unvalidated, never wrong.
func TestChurn(t *testing.T) {
	for _, j := range jdks(t) {
		gcs := map[string][]string{"serial": {"-Xmx32m", "-Xmn2m", "-Xss256k", "-XX:+UseSerialGC"}}
		for name, flags := range movingConfigs(j.major) {
			gcs[name] = append([]string{"-Xmx64m", "-Xss256k"}, flags...)
		}
		for gc, flags := range gcs {
			t.Run(j.name+"/"+gc, func(t *testing.T) { churn(t, j, gc, flags) })
		}
	}
}

func churn(t *testing.T, j jdk, gc string, flags []string) {
	args := []string{"--threads", "20", "--churn", "2"}
	moving := gc != "serial"
	if moving {
		args = append(args, "--garbage")
	}
	p := startProbe(t, j.java, flags, args...)
	vm := openVM(t, p.pid)
	if moving {
		testenv.WaitFor(t, 60*time.Second, "the garbage thread's first count", func() bool { return p.collections() > 0 || len(p.lines()) > 0 })
	}
	gcStart := p.collections()
	type seen struct {
		seq int64
		tid int
	}
	var born []seen // "c<seq>" names, checked once the thread reported its TID
	var scans, wrong, checked, churnSeen, unvalidated, retries, gone int
	why := map[string]int{}
	// 300 scans, and with a moving collector as many more as it takes for three
	// collections to run during them.
	deadline := time.Now().Add(60 * time.Second)
	for scans = 0; scans < 300 || moving && p.collections()-gcStart < 3 && time.Now().Before(deadline); scans++ {
		s, err := vm.Threads()
		if err != nil {
			t.Fatal(err)
		}
		unvalidated += len(s.Unvalidated)
		for _, u := range s.Unvalidated {
			why[reasonKind(u.Reason)]++
		}
		retries += s.Retries
		gone += s.Gone
		for _, th := range s.Threads {
			n := th.Name
			switch {
			case strings.HasPrefix(n, "c") && isDigits(n[1:]):
				seq, _ := strconv.ParseInt(n[1:], 10, 64)
				born = append(born, seen{seq, th.NSTID})
			case strings.HasPrefix(n, "churn-") || strings.HasPrefix(n, "チャーン-"):
				f := strings.Split(n, "-")
				churnSeen++
				checked++
				if len(f) != 3 || f[1] != strconv.Itoa(th.NSTID) {
					wrong++
					t.Errorf("TID %d read with name %q", th.NSTID, n)
				}
			}
		}
	}
	for _, b := range born {
		var tid int
		testenv.WaitFor(t, 10*time.Second, "churn thread "+strconv.FormatInt(b.seq, 10)+" to report", func() bool {
			p.mu.Lock()
			defer p.mu.Unlock()
			var ok bool
			tid, ok = p.seq[b.seq]
			return ok
		})
		checked++
		if tid != b.tid {
			wrong++
			t.Errorf("c%d read on TID %d; it runs on %d", b.seq, b.tid, tid)
		}
	}
	t.Logf("%d scans: %d churn names checked (%d renamed, %d as born), %d wrong, %d unvalidated, %d retries, %d exiting",
		scans, checked, churnSeen, len(born), wrong, unvalidated, retries, gone)
	t.Logf("unvalidated, by reason: %v", why)
	if checked == 0 {
		t.Fatal("no churn thread was ever read: the test did not test anything")
	}
	if moving {
		t.Logf("%d collections during the scans (%s, references: %v)", p.collections()-gcStart, gc, vm.lay.zgc)
		if p.collections()-gcStart < 3 {
			t.Fatalf("%d collections during the scans, want 3: the test did not test %s moving objects", p.collections()-gcStart, gc)
		}
	}
	// The fixed threads must still all be right.
	s, err := vm.Threads()
	if err != nil {
		t.Fatal(err)
	}
	self := p.selfReported()
	for _, th := range s.Threads {
		if want, ok := self[th.TID]; ok && th.Name != want {
			t.Errorf("TID %d: %q, self-reported %q", th.TID, th.Name, want)
		}
	}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// TestNoSafepoints requires HotSpot's own safepoint counter not to move
// across back-to-back scans of an idle JVM (no periodic safepoints, a heap
// that does not fill). Other causes of safepoints cannot be ruled out: a
// round that saw one is repeated, up to three rounds.
func TestNoSafepoints(t *testing.T) {
	for _, j := range jdks(t) {
		t.Run(j.name, func(t *testing.T) {
			p := startProbe(t, j.java, append(append([]string{}, small...),
				"-XX:+UnlockDiagnosticVMOptions", "-XX:GuaranteedSafepointInterval=0"), "--threads", "100")
			vm := openVM(t, p.pid)
			meter, err := jvm.OpenSafepointMeter(p.pid)
			if err != nil {
				t.Fatal(err)
			}
			defer meter.Close()
			const scans = 50
			for round := 1; ; round++ {
				before, err := meter.Read()
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < scans; i++ {
					if _, err := vm.Threads(); err != nil {
						t.Fatal(err)
					}
				}
				after, err := meter.Read()
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("round %d: sun.rt.safepoints %d before %d scans, %d after", round, before.Count, scans, after.Count)
				if after.Count == before.Count {
					return
				}
				if round == 3 {
					t.Fatalf("the safepoint counter moved in every round of %d scans", scans)
				}
			}
		})
	}
}

// TestVirtualThreads: each carrier's mounted virtual thread, as the
// virtual thread reports itself (its id and /proc/thread-self, which is
// its carrier's TID).
func TestVirtualThreads(t *testing.T) {
	for _, j := range jdks(t) {
		if j.major < 21 {
			continue
		}
		gcs := map[string][]string{"default": nil}
		for name, flags := range movingConfigs(j.major) {
			gcs[name] = flags
		}
		for gc, flags := range gcs {
			t.Run(j.name+"/"+gc, func(t *testing.T) { virtualThreads(t, j, flags) })
		}
	}
}

func virtualThreads(t *testing.T, j jdk, gcFlags []string) {
	{
		fifo := tempFIFO(t)
		p := startProbe(t, j.java, append(append([]string{}, small...), gcFlags...), "--threads", "4", "--spin-vt", "--pinned-vt", fifo)
		// Let the pinned one's open() return: it then blocks in read().
		w, err := os.OpenFile(fifo, os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		vm := openVM(t, p.pid)
		if vm.BPF().VThread == 0 {
			t.Fatal("no JavaThread::_vthread on a JDK 21+")
		}
		p.mu.Lock()
		want := map[int]int64{}
		for k, v := range p.vt {
			want[k] = v
		}
		p.mu.Unlock()
		if len(want) != 2 {
			t.Fatalf("%d virtual threads reported, want 2", len(want))
		}
		s, err := vm.Threads()
		if err != nil {
			t.Fatal(err)
		}
		checkAgainstSelf(t, s, p.selfReported())
		found := 0
		for _, th := range s.Threads {
			id, ok := want[th.TID]
			if !ok {
				continue
			}
			found++
			if th.Mounted == nil || th.Mounted.JavaID != id {
				t.Errorf("carrier %d (%q): mounted %+v, the virtual thread says it is #%d", th.TID, th.Name, th.Mounted, id)
				continue
			}
			mid, mounted, err := vm.Mounted(th.JavaThread)
			if err != nil || !mounted || mid != id {
				t.Errorf("Mounted(carrier %d) = %d, %v, %v; want %d", th.TID, mid, mounted, err, id)
			}
			t.Logf("carrier %d %q carries #%d %q", th.TID, th.Name, th.Mounted.JavaID, th.Mounted.Name)
		}
		if found != len(want) {
			t.Errorf("%d of %d carriers found in the scan", found, len(want))
		}
		for _, th := range s.Threads {
			if _, ok := want[th.TID]; !ok && th.Mounted != nil {
				t.Errorf("thread %d %q reported carrying #%d", th.TID, th.Name, th.Mounted.JavaID)
			}
		}
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(os.Getpid()); !errors.Is(err, ErrNotHotSpot) {
		t.Errorf("Open(a Go test) = %v, want ErrNotHotSpot", err)
	}
	if _, err := Open(1 << 30); err == nil {
		t.Error("Open(no such pid) succeeded")
	}
}

// reasonKind drops the numbers from a reason, to count reasons.
func reasonKind(r string) string {
	if i := strings.IndexAny(r, "0123456789\""); i >= 0 {
		return r[:i]
	}
	return r
}

// movingConfigs are the concurrent compacting collectors of a JDK, which
// move objects while the program (and the reader) runs: ZGC (coloured
// references: one generation with a multi-mapped heap, or generational)
// and Shenandoah.
func movingConfigs(major int) map[string][]string {
	c := map[string][]string{}
	if major >= 11 {
		c["Shenandoah"] = []string{"-XX:+UseShenandoahGC"}
	}
	switch {
	case major >= 24:
		c["ZGC-generational"] = []string{"-XX:+UseZGC"}
	case major >= 21:
		c["ZGC"] = []string{"-XX:+UseZGC", "-XX:-ZGenerational"}
		c["ZGC-generational"] = []string{"-XX:+UseZGC", "-XX:+ZGenerational"}
	case major >= 15:
		c["ZGC"] = []string{"-XX:+UseZGC"}
	case major >= 11:
		c["ZGC"] = []string{"-XX:+UnlockExperimentalVMOptions", "-XX:+UseZGC"}
	}
	return c
}
