package main

import (
	crand "crypto/rand"
	"encoding/hex"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/record"
)

// followJVM is a workload JVM started for a follow test, with its truth
// file (every thread's TID and names as it saw them).
type followJVM struct {
	cmd   *exec.Cmd
	truth string
	done  chan struct{}
}

func startFollowJVM(t *testing.T, java, classes, marker, dir string, seconds int) *followJVM {
	t.Helper()
	truth := filepath.Join(dir, fmt.Sprintf("truth-%d.txt", rand.Int()))
	cmd := exec.Command(java, "-Xmx128m", "-Djschedlat.test="+marker, "-cp", classes, "Workload",
		"--seconds", strconv.Itoa(seconds), "--truth", truth, "--short-every-ms", "300", "--short-life-ms", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	j := &followJVM{cmd: cmd, truth: truth, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(j.done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-j.done })
	return j
}

// TestAttachFollow: --jvm PATTERN waits for a matching JVM, traces it,
// survives its SIGKILL, traces the next ones (two at once, one of them
// the restart), never traces a JVM that does not match, names every JVM's
// threads from its own identity, and writes one file in time order.
func TestAttachFollow(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	j := jdks(t)[0]
	classes := compileWorkload(t, j)
	dir := keepDir(t, "follow")
	marker := fmt.Sprintf("follow-%d", rand.Int63())
	out := filepath.Join(dir, "out.csv")

	tr := exec.Command(bin, "attach", "--jvm", `-Djschedlat\.test=`+marker+`(\s|$)`, "--min-latency", "0", "--dump-budget", "100%", "-o", out)
	stderr := &testenv.Output{}
	tr.Stderr = stderr
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	trDone := make(chan error, 1)
	go func() { trDone <- tr.Wait() }()
	t.Cleanup(func() { _ = tr.Process.Kill() })

	// Each step waits for the tool to say it reached the state (start-up
	// takes seconds on a loaded host); the sleeps left are windows in
	// which the traced JVMs run and wait.
	stderr.WaitFor(t, 90*time.Second, "waiting for a JVM") // nothing to follow yet
	a := startFollowJVM(t, j.java, classes, marker, dir, 60)
	other := startFollowJVM(t, j.java, classes, marker+"-not", dir, 60)
	stderr.WaitFor(t, 90*time.Second, fmt.Sprintf(`msg="tracing JVM" pid=%d `, a.cmd.Process.Pid))
	testenv.WaitFor(t, 90*time.Second, "the JVM not to follow to run its workers", func() bool { return jvmReady(other.cmd.Process.Pid) })
	time.Sleep(3 * time.Second)
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	stderr.WaitFor(t, 90*time.Second, fmt.Sprintf(`msg="JVM exited" pid=%d `, a.cmd.Process.Pid))
	b := startFollowJVM(t, j.java, classes, marker, dir, 60)
	c := startFollowJVM(t, j.java, classes, marker, dir, 60)
	// Traced as soon as seen (maybe before their VM is up), probed just
	// after: the window below begins once both run their workers.
	for _, fj := range []*followJVM{b, c} {
		pid := fj.cmd.Process.Pid
		stderr.WaitFor(t, 90*time.Second, fmt.Sprintf(`msg="tracing JVM" pid=%d `, pid))
		stderr.WaitFor(t, 90*time.Second, fmt.Sprintf(`msg="HotSpot probes" pid=%d `, pid))
		testenv.WaitFor(t, 90*time.Second, "a followed JVM to run its workers", func() bool { return jvmReady(pid) })
	}
	time.Sleep(4 * time.Second)
	_ = tr.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-trDone:
		if err != nil {
			t.Fatalf("attach --jvm: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("attach --jvm did not stop on SIGTERM\n%s", stderr.String())
	}
	log := stderr.String()
	t.Logf("attach --jvm said:\n%s", log)
	for _, want := range []string{"waiting for a JVM", "JVM exited", fmt.Sprintf("JVM %d ", a.cmd.Process.Pid)} {
		if !strings.Contains(log, want) {
			t.Errorf("its log has no %q", want)
		}
	}
	testenv.ChildrenGone(t)

	followed := map[int]*followJVM{a.cmd.Process.Pid: a, b.cmd.Process.Pid: b, c.cmd.Process.Pid: c}
	type tally struct{ records, named, wrong int }
	per := map[int]*tally{}
	truths := map[int]map[uint32][]*truthThread{}
	for pid, fj := range followed {
		per[pid] = &tally{}
		truths[pid] = readTruth(t, fj.truth)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n int
	var last int64
	var wrongs []string
	err = record.ReadRecords(f, func(r *record.Record) error {
		n++
		if r.Time < last {
			t.Errorf("record %d out of time order", n)
		}
		last = r.Time
		tl := per[int(r.Pid)]
		if tl == nil {
			return fmt.Errorf("record of pid %d, not a followed JVM (the one not matching is %d)", r.Pid, other.cmd.Process.Pid)
		}
		tl.records++
		names, tt := nameAt(truths[int(r.Pid)], r.Tid, r.Time)
		if tt == nil || r.JavaThread == "" {
			return nil // a JVM-internal thread (GC, compiler): not in the truth
		}
		if nameIn(r.JavaThread, names) {
			tl.named++
		} else {
			tl.wrong++
			if len(wrongs) < 5 {
				wrongs = append(wrongs, fmt.Sprintf("pid %d tid %d: %q, truth %q", r.Pid, r.Tid, r.JavaThread, names))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if w := recordsWritten(t, log); w != n {
		t.Errorf("summary says %d records, the file holds %d", w, n)
	}
	for pid, tl := range per {
		t.Logf("JVM %d: %d records, %d named as the thread named itself, %d named wrong", pid, tl.records, tl.named, tl.wrong)
		if tl.records < 100 || tl.named < 50 {
			t.Errorf("JVM %d: too few records (%d) or named ones (%d)", pid, tl.records, tl.named)
		}
		if tl.wrong > 0 {
			t.Errorf("JVM %d: %d records named wrong, e.g. %v", pid, tl.wrong, wrongs)
		}
	}
}

// TestAttachAllJVMs: --all-jvms traces every JVM, each record's pid says
// which, and each is named from its own dumps.
func TestAttachAllJVMs(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	j := jdks(t)[0]
	classes := compileWorkload(t, j)
	dir := t.TempDir()
	x := startFollowJVM(t, j.java, classes, "x", dir, 60)
	y := startFollowJVM(t, j.java, classes, "y", dir, 60)
	// y runs in a cgroup named as a container runtime names them.
	ctID, ctCgroup := containerCgroup(t, y.cmd.Process.Pid)
	xCgroup, cerr := jvm.CgroupOf(x.cmd.Process.Pid)
	if cerr != nil {
		t.Fatal(cerr)
	}
	testenv.WaitFor(t, 90*time.Second, "both JVMs to run their workers", func() bool {
		return jvmReady(x.cmd.Process.Pid) && jvmReady(y.cmd.Process.Pid)
	})
	out := filepath.Join(dir, "out.csv")
	err, log := runAttachFor(t, bin, []string{"--all-jvms", "--duration", "8s", "--min-latency", "0", "-o", out}, nil)
	if err != nil {
		t.Fatalf("attach --all-jvms: %v\n%s", err, log)
	}
	testenv.ChildrenGone(t)
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	named := map[uint32]int{}
	truths := map[uint32]map[uint32][]*truthThread{
		uint32(x.cmd.Process.Pid): readTruth(t, x.truth),
		uint32(y.cmd.Process.Pid): readTruth(t, y.truth),
	}
	cgroupOK := map[uint32]int{}
	err = record.ReadRecords(f, func(r *record.Record) error {
		tr := truths[r.Pid]
		if tr == nil {
			return nil // another JVM on this machine
		}
		wantCg, wantCt := xCgroup, ""
		if r.Pid == uint32(y.cmd.Process.Pid) {
			wantCg, wantCt = ctCgroup, ctID
		}
		if r.Cgroup == wantCg && r.Container == wantCt {
			cgroupOK[r.Pid]++
		} else if cgroupOK[r.Pid] >= 0 {
			t.Errorf("pid %d: cgroup %q container %q, want %q %q", r.Pid, r.Cgroup, r.Container, wantCg, wantCt)
			cgroupOK[r.Pid] = -1 << 40 // once
		}
		if names, tt := nameAt(tr, r.Tid, r.Time); tt != nil && r.JavaThread != "" {
			if !nameIn(r.JavaThread, names) {
				t.Errorf("pid %d tid %d named %q, truth %q", r.Pid, r.Tid, r.JavaThread, names)
			}
			named[r.Pid]++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for pid := range truths {
		if named[pid] < 50 {
			t.Errorf("JVM %d: %d named records", pid, named[pid])
		}
		if cgroupOK[pid] < 50 {
			t.Errorf("JVM %d: %d records with its cgroup", pid, cgroupOK[pid])
		}
	}
	t.Logf("named records per JVM: %v, with the right cgroup: %v\n%s", named, cgroupOK, log)
}

// containerCgroup moves process pid into a new cgroup whose name holds a
// 64-hex-digit ID, as container runtimes name theirs (unified hierarchy
// when the host uses it, else v1 cpu), and returns the ID and the
// cgroup's path as /proc/PID/cgroup shows it.
func containerCgroup(t *testing.T, pid int) (id, path string) {
	t.Helper()
	b := make([]byte, 32)
	crand.Read(b)
	id = hex.EncodeToString(b)
	name := "cri-containerd-" + id + ".scope"
	root := "/sys/fs/cgroup"
	if cur, _ := jvm.CgroupOf(os.Getpid()); cur != "" {
		if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err != nil {
			root = "/sys/fs/cgroup/cpu" // v1 or hybrid
		}
	}
	dir := filepath.Join(root, name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("SKIPPED: cannot create a cgroup under %s: %v", root, err)
	}
	t.Cleanup(func() {
		_ = os.WriteFile(filepath.Join(root, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644)
		for i := 0; i < 50 && os.Remove(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond) // the JVM must leave it first
		}
	})
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0o644); err != nil {
		t.Fatalf("moving pid %d into %s: %v", pid, dir, err)
	}
	path, err := jvm.CgroupOf(pid)
	if err != nil || !strings.HasSuffix(path, name) {
		t.Fatalf("pid %d: cgroup %q after the move (%v)", pid, path, err)
	}
	return id, path
}
