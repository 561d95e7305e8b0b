package bpf

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
)

// TestVMOpProbes attaches to a real JVM's hotspot:vmops__begin/end and
// has it print its threads (SIGQUIT runs the same VM operation as a thread
// dump): the operation's begin and end arrive with its name, from a thread
// of that JVM, in order. Waits carry how long the thread was off the CPU,
// never less than the wait itself.
func TestVMOpProbes(t *testing.T) {
	requireRoot(t)
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("SKIPPED: no javac on PATH; install a JDK (apt-get install openjdk-17-jdk-headless) to run it")
	}
	java := filepath.Join(filepath.Dir(javac), "java")
	dir := t.TempDir()
	if out, err := exec.Command(javac, "-d", dir, "../testdata/java/Workload.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	cmd := exec.Command(java, "-cp", dir, "Workload", "--seconds", "8")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	time.Sleep(1500 * time.Millisecond) // JVM start-up: SIGQUIT must find its handler
	pid := cmd.Process.Pid
	lib, err := jvm.LibJVM(pid)
	if err != nil {
		t.Fatal(err)
	}
	probes, err := FindVMOpProbes(lib)
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, Config{Pid: uint32(pid), VMOps: probes})
	if err := r.tr.VMOpsErr(); err != nil {
		t.Fatalf("probes not attached: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	const dumps = 3
	for i := 0; i < dumps; i++ {
		if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	events := r.stop(t)

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
			name := CommString(e.Comm)
			if e.Kind == KindVMOpBegin {
				if open != nil {
					t.Errorf("%s began while %s had not ended", name, CommString(open.Comm))
				}
				open = e
				continue
			}
			if open == nil || CommString(open.Comm) != name || e.Time < open.Time {
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
	t.Logf("%d PrintThreads operations; %d of %d waits with off-CPU time", prints, withOff, waits)
	if strings.TrimSpace(lib) == "" {
		t.Error("empty libjvm path")
	}
}
