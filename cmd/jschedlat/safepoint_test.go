package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/record"
)

// TestAttachNoSafepoints: with the defaults, attach names a JVM's threads
// without ever stopping it. HotSpot's own safepoint counter
// (sun.rt.safepoints) must not move across a run, on a JVM that makes no
// safepoints of its own (no periodic ones, no allocation); a run that may
// take thread dumps (--dumps only) on the same JVM must move it, so the
// meter is shown to see what a dump costs.
func TestAttachNoSafepoints(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	// ZGC colours its references (JDK 17: one generation, 25:
	// generational): read through them too, still without a safepoint.
	// Its warmup collection (pauses: safepoints) comes once the heap is
	// 10% used, which a 64 MB heap reaches late in start-up on a loaded
	// host: with 1 GB the idle JVM never collects.
	gcs := []struct {
		name  string
		flags []string
	}{{"default", nil}, {"ZGC", []string{"-XX:+UseZGC", "-Xmx1g"}}}
	for _, j := range jdks(t) {
		for _, gc := range gcs {
			t.Run(j.name+"/"+gc.name, func(t *testing.T) { attachNoSafepoints(t, bin, j, gc.flags) })
		}
	}
}

func attachNoSafepoints(t *testing.T, bin string, j jdk, gcFlags []string) {
	classes := compileJava(t, j, "ManyThreads.java")
	args := append(append([]string{"-Xms64m", "-Xmx64m"}, gcFlags...), "-XX:+UnlockDiagnosticVMOptions", "-XX:GuaranteedSafepointInterval=0", "-cp", classes,
		"ManyThreads", "--threads", "100", "--busy", "4", "--spin-us", "500")
	jc := exec.Command(j.java, args...)
	stdout, err := jc.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := jc.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = jc.Process.Kill(); _ = jc.Wait() })
	sc := bufio.NewScanner(stdout)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready") {
		t.Fatalf("ManyThreads did not start: %q %v", sc.Text(), sc.Err())
	}
	pid := jc.Process.Pid
	var meter *jvm.SafepointMeter
	testenv.WaitFor(t, 60*time.Second, "the JVM's safepoint counters", func() bool {
		meter, err = jvm.OpenSafepointMeter(pid)
		return err == nil
	})
	defer meter.Close()
	count := func() int64 {
		s, err := meter.Read()
		if err != nil {
			t.Fatal(err)
		}
		return s.Count
	}
	out := filepath.Join(t.TempDir(), "r.csv")
	run := func(extra ...string) string {
		err, stderr := runAttachFor(t, bin, append([]string{strconv.Itoa(pid), "--min-latency", "0", "--duration", "2s", "-o", out}, extra...), nil)
		if err != nil {
			t.Fatalf("attach %v: %v\n%s", extra, err, stderr)
		}
		return stderr
	}
	// A JVM that safepointed on its own meanwhile (JIT, class
	// loading as it settles) says nothing about us: the run is
	// repeated then, three times at most.
	var quiet bool
	var stderr string
	for round := 0; round < 3 && !quiet; round++ {
		// The JVM settles first: its start-up safepoints (ZGC's warmup
		// collection comes once the heap is 10% used, late on a loaded
		// host) must not fall into the run.
		testenv.WaitFor(t, 60*time.Second, "a second without a safepoint of the JVM's own", func() bool {
			a := count()
			time.Sleep(time.Second)
			return count() == a
		})
		c0 := count()
		stderr = run()
		c1 := count()
		// A control window of the run's length right after,
		// untraced: did the JVM safepoint on its own?
		time.Sleep(2 * time.Second)
		c2 := count()
		t.Logf("round %d: %d safepoints during the run, %d in the control after it", round, c1-c0, c2-c1)
		if c1 != c0 && c2 == c1 {
			t.Fatalf("attach with the defaults made %d safepoints\n%s", c1-c0, stderr)
		}
		quiet = c1 == c0
	}
	if !quiet {
		t.Fatal("the JVM kept making safepoints of its own: nothing shown")
	}
	if !strings.Contains(stderr, "reads of the thread names from the JVM's memory") || !strings.Contains(stderr, "no thread dump taken") {
		t.Errorf("the summary does not say names came from memory with no dump:\n%s", stderr)
	}
	named, total := 0, 0
	want := regexp.MustCompile(`^(busy-worker|sleeping-poller|parked-pool-thread)-\d+$`)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = record.ReadRecords(f, func(r *record.Record) error {
		if r.Pid != uint32(pid) || !strings.HasPrefix(r.Comm, "busy-") && !strings.HasPrefix(r.Comm, "sleeping-") && !strings.HasPrefix(r.Comm, "parked-") {
			return nil
		}
		total++
		if want.MatchString(r.JavaThread) && strings.HasPrefix(r.JavaThread, r.Comm) {
			named++
		} else if r.JavaThread != "" {
			t.Errorf("tid %d (%s) named %q", r.Tid, r.Comm, r.JavaThread)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if total < 50 || named < total {
		t.Errorf("%d of %d records of the workload's threads named", named, total)
	}
	// The positive control: dumps stop the JVM, and the meter sees it.
	c0 := count()
	run("--dumps", "only", "--dump-budget", "100%")
	if c1 := count(); c1 == c0 {
		t.Errorf("a run with thread dumps made no safepoint: the meter shows nothing")
	}
}
