package bpf

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/sched"
)

// TestHotSpotProbes attaches to a real JVM's USDT probes. New threads are
// reported with the names they gave themselves (hotspot:thread__start).
// Printing its threads (SIGQUIT runs the same VM operation as a thread
// dump) reports the operation's begin and end (hotspot:vmops__begin/end)
// with its name, from a thread of that JVM, in order. Waits carry how long
// the thread was off the CPU, never less than the wait itself.
func TestHotSpotProbes(t *testing.T) {
	testenv.RequireRoot(t)
	truthPath := filepath.Join(t.TempDir(), "truth.txt")
	// Its two self-renaming threads rename themselves half-way (10 s):
	// after the tracer attached even on a loaded host.
	cmd := startWorkload(t, "--seconds", "20", "--truth", truthPath, "--short-every-ms", "100", "--short-life-ms", "50")
	pid := cmd.Process.Pid
	// JVM start-up: SIGQUIT must find its handler, the workload run.
	testenv.WaitFor(t, 120*time.Second, "the JVM to catch SIGQUIT and start its threads", func() bool {
		b, _ := os.ReadFile(truthPath)
		return sigQuitCaught(pid) && strings.Contains(string(b), "start ")
	})
	lib, err := jvm.LibJVM(pid)
	if err != nil {
		t.Fatal(err)
	}
	probes, err := FindHotSpotProbes(lib)
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, Config{Pid: uint32(pid), HotSpot: probes})
	tracedWall := time.Now().UnixNano()
	if err := r.tr.HotSpotErr(); err != nil || !r.tr.VMOps() || !r.tr.ThreadStarts() || !r.tr.ThreadNames() {
		t.Fatalf("probes not attached: %v", err)
	}
	// New threads name themselves: births need not wake the reader.
	if !r.tr.QuietBirths() {
		t.Error("thread starts are probed, yet births still wake the reader")
	}
	time.Sleep(200 * time.Millisecond)
	const dumps = 3
	for i := 0; i < dumps; i++ {
		if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Wait for the states the checks below need: both self-renames and
	// threads started while traced, as the workload's own lines say.
	testenv.WaitFor(t, 120*time.Second, "both self-renames and 10 thread starts while traced", func() bool {
		b, _ := os.ReadFile(truthPath)
		renames, starts := 0, 0
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.SplitN(line, " ", 3)
			if len(f) < 3 {
				continue
			}
			switch at, _ := strconv.ParseInt(f[1], 10, 64); f[0] {
			case "rename":
				renames++
			case "start":
				if at > tracedWall {
					starts++
				}
			}
		}
		return renames == 2 && starts >= 10
	})
	stopAt, stopWall := MonotonicNow(), time.Now().UnixNano()
	events := r.stop(t)

	starts := map[uint32]string{}
	selfNames := map[uint32][]string{}
	births := map[uint32]uint64{}
	for i := range events {
		switch e := &events[i]; e.Kind {
		case sched.KindThreadStart:
			starts[e.Tid] = e.Name
		case sched.KindThreadName:
			selfNames[e.Tid] = append(selfNames[e.Tid], e.Name)
		case sched.KindBirth:
			births[e.Tid] = e.Time
		}
	}
	// Every thread the workload started while traced was reported,
	// under the name it gave itself (ground truth: its own line).
	truth, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	named, renamed := 0, 0
	for _, line := range strings.Split(string(truth), "\n") {
		if r := strings.SplitN(line, " ", 5); len(r) == 5 && r[0] == "rename" {
			// The full new name, as the thread set it.
			tid, _ := strconv.Atoi(r[3])
			if !slices.Contains(selfNames[uint32(tid)], r[4]) {
				t.Errorf("thread %d renamed itself %q: reported %q", tid, r[4], selfNames[uint32(tid)])
			}
			renamed++
			continue
		}
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 || f[0] != "start" {
			continue
		}
		tid, _ := strconv.Atoi(f[2])
		said, _ := strconv.ParseInt(f[1], 10, 64)
		// Born while traced, and started before the tracer stopped: the
		// thread writes its line after HotSpot fires thread__start, so
		// a line written before stopWall proves the probe fired in time.
		// (A thread cloned just before the stop may wait in the run
		// queue and start only after it.)
		if at, born := births[uint32(tid)]; !born || at > stopAt || said >= stopWall {
			continue
		}
		if got, ok := starts[uint32(tid)]; !ok {
			t.Errorf("thread %d %q: no thread start reported (born %d ns before the stop, said %d ns before)", tid, f[3], stopAt-births[uint32(tid)], stopWall-said)
		} else if got != f[3] {
			t.Errorf("thread %d: started as %q, says it is %q", tid, got, f[3])
		} else {
			named++
		}
	}
	if named < 10 {
		t.Errorf("only %d threads checked by their start", named)
	}
	if renamed != 2 {
		t.Errorf("%d self-renames in the ground truth, want 2: the tracer stopped too early", renamed)
	}
	var open *Event
	prints, waits, withOff := 0, 0, 0
	for i := range events {
		e := &events[i]
		switch {
		case e.Kind.VMOp():
			if e.Pid != uint32(pid) {
				t.Errorf("VM operation event of pid %d: %+v", e.Pid, e)
			}
			if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(int(e.Tid)))); err != nil {
				t.Errorf("VM operation event from tid %d, not a thread of the JVM", e.Tid)
			}
			name := sched.CommString(e.Comm)
			if e.Kind == sched.KindVMOpBegin {
				if open != nil {
					t.Errorf("%s began while %s had not ended", name, sched.CommString(open.Comm))
				}
				open = e
				continue
			}
			if open == nil || sched.CommString(open.Comm) != name || e.Time < open.Time {
				t.Errorf("end of %s without its begin", name)
			} else if name == "PrintThreads" {
				prints++
			}
			open = nil
		case e.Kind.Wait():
			waits++
			if e.OffCPU != 0 {
				withOff++
				if e.OffCPU < e.Latency {
					t.Errorf("off the CPU %d ns, less than its wait %d ns: %+v", e.OffCPU, e.Latency, e)
				}
			}
		}
	}
	if prints != dumps {
		t.Errorf("%d PrintThreads operations seen, want %d", prints, dumps)
	}
	// Only waits begun before attaching, or after a switch-out the
	// kernel did not report, lack it.
	if waits == 0 || float64(withOff) < 0.9*float64(waits) {
		t.Errorf("%d of %d waits know how long their thread was off the CPU", withOff, waits)
	}
	t.Logf("%d PrintThreads operations; %d of %d waits with off-CPU time; %d threads named at start", prints, withOff, waits, named)
	if strings.TrimSpace(lib) == "" {
		t.Error("empty libjvm path")
	}
}

// sigQuitCaught says whether process pid catches SIGQUIT (HotSpot installs
// its handler during start-up; before, SIGQUIT would kill it).
func sigQuitCaught(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigCgt:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && m&(1<<(syscall.SIGQUIT-1)) != 0
		}
	}
	return false
}
