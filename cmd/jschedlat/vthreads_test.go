package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/record"
)

// truthLine is one line of VWorkload's ground truth.
type truthLine struct {
	t    int64 // wall ns
	vt   int64 // virtual thread id
	mark int   // 0 just mounted, 1 between chunks, 2 may unmount next
}

// TestVirtualThreadsRealJVM traces a JDK 25 JVM whose virtual threads keep
// switching carriers under CPU contention, and checks every virtual_thread
// written against what the virtual threads said about themselves: the last
// line a carrier's virtual thread wrote before a wait began, unless that
// line announced a possible unmount. None may be wrong, and 99% of the
// waits whose virtual thread is known must carry it.
func TestVirtualThreadsRealJVM(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	home := "/usr/lib/jvm/temurin-25-jdk-amd64/bin/"
	if _, err := os.Stat(home + "java"); err != nil {
		t.Skipf("SKIPPED: virtual threads need JDK 21+; none at %s", home)
	}
	dir := keepDir(t, "vthreads")
	classes := t.TempDir()
	if out, err := exec.Command(home+"javac", "-d", classes, "../../testdata/java/VWorkload.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	truthPath := filepath.Join(dir, "truth.txt")
	jvmCmd := exec.Command(home+"java", "-cp", classes, "VWorkload", "--seconds", "11", "--truth", truthPath)
	jvmCmd.Stderr = os.Stderr
	stdout, err := jvmCmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := jvmCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = jvmCmd.Process.Kill(); _ = jvmCmd.Wait() }()
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ready\n" {
		t.Fatalf("workload: %q, %v", line, err)
	}
	pid := jvmCmd.Process.Pid

	out := filepath.Join(dir, "out.csv")
	events := filepath.Join(dir, "events.jsonl")
	dumps := filepath.Join(dir, "dumps")
	// The defaults: carriers found by memory reads, the mounted virtual
	// thread read by the kernel side at each switch-out; no dump.
	tr := exec.Command(bin, "attach", strconv.Itoa(pid), "--min-latency", "0", "--duration", "8s",
		"-o", out, "--save-events", events, "--save-dumps", dumps)
	var stderr bytes.Buffer
	tr.Stderr = &stderr
	if err := tr.Run(); err != nil {
		t.Fatalf("attach: %v\n%s", err, stderr.String())
	}
	t.Logf("attach stderr:\n%s", stderr.String())
	if strings.Contains(stderr.String(), "VM operation probes") {
		t.Errorf("the VM operation probes were not used")
	}
	if err := jvmCmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}

	truth := map[uint32][]truthLine{} // by carrier TID, in time order
	b, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) != 4 {
			t.Fatalf("truth line %q", line)
		}
		ts, _ := strconv.ParseInt(f[0], 10, 64)
		vt, _ := strconv.ParseInt(f[1], 10, 64)
		tid, _ := strconv.ParseUint(f[2], 10, 32)
		mark, _ := strconv.Atoi(f[3])
		truth[uint32(tid)] = append(truth[uint32(tid)], truthLine{ts, vt, mark})
	}
	for _, l := range truth {
		sort.Slice(l, func(i, k int) bool { return l[i].t < l[k].t })
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var named, right, unknown, carrierWaits, provable int
	err = record.ReadRecords(f, func(r *record.Record) error {
		lines := truth[r.Tid]
		begin := r.Time - int64(r.LatencyNs)
		i := sort.Search(len(lines), func(i int) bool { return lines[i].t >= begin })
		var want int64 = -1
		if i > 0 && lines[i-1].mark != 2 {
			want = lines[i-1].vt // still mounted when the wait began
		}
		if strings.HasPrefix(r.JavaThread, "ForkJoinPool-1-worker-") {
			carrierWaits++
			if want >= 0 {
				provable++
			}
		}
		if r.VirtualThread == "" {
			return nil
		}
		named++
		if !strings.HasPrefix(r.JavaThread, "ForkJoinPool-1-worker-") {
			t.Errorf("%s: virtual_thread %q on %q, not a carrier", r.TimeText, r.VirtualThread, r.JavaThread)
		}
		switch {
		case want < 0:
			unknown++
		case r.VirtualThread == correlate.VirtualName(want, ""):
			right++
		default:
			t.Errorf("%s tid %d: virtual_thread %q, but #%d was mounted", r.TimeText, r.Tid, r.VirtualThread, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d carrier waits (%d with a virtual thread known mounted); %d named: %d right, %d not checkable, %d wrong",
		carrierWaits, provable, named, right, unknown, named-right-unknown)
	if right < 100 || float64(right) < 0.99*float64(provable) {
		t.Errorf("%d of %d carrier waits with a known virtual thread named right: want >= 99%% (and 100)", right, provable)
	}

	// Replay decides the same from the saved events and dumps.
	checkReplay(t, bin, dir, events, dumps, out)
}
