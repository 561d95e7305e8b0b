package main

// Running for long: rotation, reopening on SIGHUP, and how attach ends.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/record"
)

// startDemoJVM starts the demo workload for the given seconds and stops it
// at the end of the test. It returns once the JVM can be attached to (it
// catches SIGQUIT) and its workers run.
func startDemoJVM(t *testing.T, seconds int) *exec.Cmd {
	t.Helper()
	j := jdks(t)[0]
	classes := compileWorkload(t, j)
	cmd := exec.Command(j.java, "-cp", classes, "Workload", "--seconds", strconv.Itoa(seconds))
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	waitFor(t, "the demo JVM to run its workers", 120*time.Second, func() bool {
		select {
		case <-done:
			t.Fatalf("the demo JVM exited at once: %v", cmd.ProcessState)
		default:
		}
		return jvmReady(cmd.Process.Pid)
	})
	return cmd
}

// jvmReady: HotSpot catches SIGQUIT (it can be attached to) and the
// workload's first worker thread runs.
func jvmReady(pid int) bool {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	caught := false
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "SigCgt:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			caught = err == nil && m&(1<<(uint(syscall.SIGQUIT)-1)) != 0
		}
	}
	if !caught {
		return false
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/comm", pid))
	for _, c := range tasks {
		if b, err := os.ReadFile(c); err == nil && strings.HasPrefix(string(b), "order-matcher") {
			return true
		}
	}
	return false
}

// waitFor polls cond until it holds; limit only keeps a broken run from
// hanging (a loaded host is slow, and that is not what is tested).
func waitFor(t *testing.T, what string, limit time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting %s for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var writtenRe = regexp.MustCompile(`(\d+) records written`)

// recordsWritten reads the count from attach's summary.
func recordsWritten(t *testing.T, stderr string) int {
	t.Helper()
	m := writtenRe.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no record count in attach's summary:\n%s", stderr)
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

var tracedRe = regexp.MustCompile(`(?m)^jschedlat: traced=([0-9.]+)s: `)

// tracedSeconds reads how long attach's summary says it traced.
func tracedSeconds(t *testing.T, stderr string) float64 {
	t.Helper()
	m := tracedRe.FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no traced=N.NNs in attach's summary:\n%s", stderr)
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v
}

// attachProc is a running attach whose stderr is followed.
type attachProc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex
	stderr  bytes.Buffer
	tracing chan struct{} // closed when it says it traces
	done    chan struct{} // closed when it has exited
	err     error         // its exit, once done
}

// startAttach starts attach with args and returns once it traces.
func startAttach(t *testing.T, bin string, args ...string) *attachProc {
	t.Helper()
	p := &attachProc{cmd: exec.Command(bin, append([]string{"attach"}, args...)...), tracing: make(chan struct{}), done: make(chan struct{})}
	pipe, err := p.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		said := false
		for sc.Scan() {
			l := sc.Text()
			p.mu.Lock()
			p.stderr.WriteString(l + "\n")
			p.mu.Unlock()
			if !said && (strings.Contains(l, "msg=tracing") || strings.Contains(l, `msg="following JVMs"`)) {
				said = true
				close(p.tracing)
			}
		}
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { _ = p.cmd.Process.Kill(); <-p.done })
	select {
	case <-p.tracing:
	case <-p.done:
		t.Fatalf("attach ended before it traced: %v\n%s", p.err, p.output())
	case <-time.After(3 * time.Minute):
		t.Fatalf("attach did not start tracing:\n%s", p.output())
	}
	return p
}

func (p *attachProc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// wait waits for attach to exit and returns its exit error and stderr.
func (p *attachProc) wait(t *testing.T) (error, string) {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(3 * time.Minute):
		t.Fatalf("attach did not end:\n%s", p.output())
	}
	return p.err, p.output()
}

// whileStopped runs f with attach stopped (SIGSTOP, every thread seen
// stopped), then lets it go on: f happens between two of its system calls,
// wherever its code is.
func (p *attachProc) whileStopped(t *testing.T, f func()) {
	t.Helper()
	pid := p.cmd.Process.Pid
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT)
	waitFor(t, "attach to stop", time.Minute, func() bool {
		stats, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
		for _, st := range stats {
			b, err := os.ReadFile(st)
			if err != nil {
				continue // the thread ended
			}
			i := bytes.LastIndexByte(b, ')')
			if i < 0 || i+2 >= len(b) || (b[i+2] != 'T' && b[i+2] != 't') {
				return false
			}
		}
		return len(stats) > 0
	})
	f()
}

// countRotated counts the size-rotated files in dir.
func countRotated(dir string) int {
	m, _ := filepath.Glob(filepath.Join(dir, "records-*.csv*"))
	return len(m)
}

// TestAttachRotateAndReopen: a live run that rotates its record file by
// size (compressed) while, like logrotate in create mode, something else
// renames the file and sends SIGHUP. Every record written must be in
// exactly one file: the files' records add up to the summary's count,
// and no wait appears twice; every file is complete.
func TestAttachRotateAndReopen(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 600)
	dir := keepDir(t, "rotate")
	out := filepath.Join(dir, "records.csv")
	p := startAttach(t, bin, strconv.Itoa(jvm.Process.Pid), "--min-latency", "0",
		"-o", out, "--rotate-size", "64KiB", "--rotate-compress", "--rotate-keep", "0")
	lr := newLogrotate(out, 1)
	hup := func() { _ = p.cmd.Process.Signal(syscall.SIGHUP) }
	// Until enough happened: renames (each with its SIGHUP) between size
	// rotations.
	for countRotated(dir) < 3 || lr.counts["create"] < 4 {
		select {
		case <-p.done:
			t.Fatalf("attach ended: %v\n%s", p.err, p.output())
		case <-time.After(700 * time.Millisecond):
		}
		lr.create(hup)
		if lr.counts["create"] > 400 {
			t.Fatalf("no size rotation after %d renames", lr.counts["create"])
		}
	}
	held := testenv.WatchBPF(p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	err, stderr := p.wait(t)
	if err != nil {
		t.Fatalf("attach: %v\n%s", err, stderr)
	}
	checkLiveFiles(t, dir, stderr, lr)
	held.Gone(t)
}

// checkLiveFiles checks a live run's output directory against its summary:
// every record in exactly one file (by thread and kernel time), every file
// complete, no rotated file empty.
func checkLiveFiles(t *testing.T, dir, stderr string, lr *logrotate) {
	t.Helper()
	written := recordsWritten(t, stderr)
	files := readRecordDir(t, dir, "csv")
	gz, rotatedN := 0, 0
	for name, f := range files {
		if strings.HasPrefix(name, "records-") {
			rotatedN++
			if strings.HasSuffix(name, ".gz") {
				gz++
			}
			if len(f.keys) == 0 {
				t.Errorf("rotated file %s holds no record (%d bytes)", name, f.size)
			}
		}
	}
	checkOnce(t, files, uint64(written))
	t.Logf("%d records written, in %d files: %d rotated by size (%d compressed); logrotate: %v", written, len(files), rotatedN, gz, lr.counts)
	if written < 2000 || rotatedN < 2 {
		t.Errorf("too little happened to test: %d records, %d size rotations", written, rotatedN)
	}
}

// TestAttachLogrotate: an operator's logrotate in both modes about every
// half second (create: rename, new file, SIGHUP; copytruncate: copy and
// cut, with or without SIGHUP), racing a small --rotate-size. The run
// ends with exit 0, and every record is in exactly one file, each file
// complete with its header. JSCHEDLAT_LOGROTATE_RUNS repeats it.
func TestAttachLogrotate(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 900)
	runs, _ := strconv.Atoi(os.Getenv("JSCHEDLAT_LOGROTATE_RUNS"))
	for run := 1; run <= max(runs, 1); run++ {
		t.Run(strconv.Itoa(run), func(t *testing.T) {
			dir := keepDir(t, "logrotate-"+strconv.Itoa(run))
			out := filepath.Join(dir, "records.csv")
			p := startAttach(t, bin, strconv.Itoa(jvm.Process.Pid), "--min-latency", "0",
				"-o", out, "--rotate-size", "24KiB", "--rotate-compress", "--rotate-keep", "0")
			lr := newLogrotate(out, uint64(run))
			hup := func() { _ = p.cmd.Process.Signal(syscall.SIGHUP) }
			stopped := func(f func()) { p.whileStopped(t, f) }
			for countRotated(dir) < 6 || lr.counts["create"] < 8 || lr.counts["copytruncate"] < 8 {
				select {
				case <-p.done:
					t.Fatalf("attach ended: %v\n%s", p.err, p.output())
				case <-time.After(500 * time.Millisecond):
				}
				lr.one(stopped, hup)
				if lr.n > 600 {
					t.Fatalf("not enough after %d logrotate actions: %v, %d size rotations", lr.n, lr.counts, countRotated(dir))
				}
			}
			held := testenv.WatchBPF(p.cmd.Process.Pid)
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			err, stderr := p.wait(t)
			if err != nil {
				t.Fatalf("attach: %v\n%s", err, stderr)
			}
			checkLiveFiles(t, dir, stderr, lr)
			held.Gone(t)
		})
	}
}

// smallDisk mounts a tmpfs of size bytes for the test and fills all but
// free bytes of it with a file it returns.
func smallDisk(t *testing.T, size, free int) (dir, filler string) {
	t.Helper()
	dir = t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+strconv.Itoa(size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount tmpfs: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	filler = filepath.Join(dir, "filler")
	if err := os.WriteFile(filler, make([]byte, size-free), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, filler
}

// countRecords reads a record file whole: a half row at its end is an
// error.
func countRecords(t *testing.T, path string) (n int, last int64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := record.ReadRecords(f, func(r *record.Record) error { n++; last = max(last, r.Time); return nil }); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return n, last
}

// TestAttachDiskFull: the output's disk fills up. By default attach stops
// with a one-line error and a non-zero exit, the file ending with its last
// complete record; with --on-disk-full wait it drops records (counted)
// and writes again once there is room. Either way the file holds exactly
// the records the summary reports, and nothing stays loaded.
func TestAttachDiskFull(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 40)
	pid := strconv.Itoa(jvm.Process.Pid)

	t.Run("exit", func(t *testing.T) {
		dir, _ := smallDisk(t, 1<<20, 96<<10)
		out := filepath.Join(dir, "records.csv")
		cmd := exec.Command(bin, "attach", pid, "--min-latency", "0", "--duration", "30s", "-o", out)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 1 {
			t.Fatalf("attach on a full disk: %v, want exit code 1\n%s", err, stderr.String())
		}
		lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
		last := lines[len(lines)-1]
		if !strings.HasPrefix(last, "jschedlat: writing "+out) || !strings.Contains(last, "no space left on device") {
			t.Errorf("last line of stderr: %q, want the write error", last)
		}
		n, _ := countRecords(t, out)
		if w := recordsWritten(t, last); n != w || n != recordsWritten(t, stderr.String()) || n == 0 {
			t.Errorf("the file holds %d records; the error says %d, the summary %d", n, w, recordsWritten(t, stderr.String()))
		}
		t.Logf("%d records, then: %s", n, last)
		testenv.ChildrenGone(t)
	})

	t.Run("wait", func(t *testing.T) {
		// Room for the rest of the run once the filler is gone: the
		// records written then must reach past the moment room was made.
		dir, filler := smallDisk(t, 32<<20, 96<<10)
		out := filepath.Join(dir, "records.csv")
		cmd := exec.Command(bin, "attach", pid, "--min-latency", "0", "--duration", "10s", "-o", out, "--on-disk-full", "wait")
		stderr := &testenv.Output{}
		cmd.Stderr = stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		stderr.WaitFor(t, 120*time.Second, "the output's disk is full")
		time.Sleep(time.Second) // records dropped while it is
		freed := time.Now()
		if err := os.Remove(filler); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("attach --on-disk-full wait: %v\n%s", err, stderr.String())
		}
		n, last := countRecords(t, out)
		if w := recordsWritten(t, stderr.String()); n != w {
			t.Errorf("the file holds %d records, the summary says %d", n, w)
		}
		m := regexp.MustCompile(`(\d+) records dropped while the output's disk was full`).FindStringSubmatch(stderr.String())
		if m == nil || m[1] == "0" {
			t.Errorf("no dropped records reported:\n%s", stderr.String())
		}
		if !strings.Contains(stderr.String(), "the output is written again") || time.Unix(0, last).Before(freed) {
			t.Errorf("writing did not resume after room was made (last record %s, room at %s):\n%s",
				time.Unix(0, last).UTC().Format(time.RFC3339Nano), freed.UTC().Format(time.RFC3339Nano), stderr.String())
		}
		t.Logf("%d records in the file, %s dropped", n, m[1])
		testenv.ChildrenGone(t)
	})
}

// waitTracing waits until a run started by runAttachFor says it traces
// (start-up takes seconds on a loaded host).
func waitTracing(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	cmd.Stderr.(*testenv.Output).WaitFor(t, 120*time.Second, "msg=tracing")
}

// waitRecorded waits until the record file at path holds a record (the
// run traces and writes), past its header line.
func waitRecorded(t *testing.T, path string) {
	t.Helper()
	// By its size: opening the file looks like a copier (logrotate's
	// copytruncate) to the sink's watch, which then holds its writes for
	// up to 10 s (sink.File.busy). The sink writes whole rows, so a file
	// longer than its CSV header holds a record.
	header := int64(len(strings.Join(record.Columns, ",")) + 1)
	testenv.WaitFor(t, 120*time.Second, "a record in "+path, func() bool {
		fi, err := os.Stat(path)
		return err == nil && fi.Size() > header
	})
}

// runAttachFor starts attach with args, lets do run while it traces, and
// returns its exit error and stderr.
func runAttachFor(t *testing.T, bin string, args []string, do func(cmd *exec.Cmd)) (error, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"attach"}, args...)...)
	stderr := &testenv.Output{} // read by waitTracing while attach runs
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if do != nil {
		do(cmd)
	}
	select {
	case err := <-done:
		return err, stderr.String()
	case <-time.After(90 * time.Second):
		t.Fatalf("attach did not end\n%s", stderr.String())
	}
	return nil, ""
}

// TestAttachFaults: how attach ends or carries on when things go wrong
// around it. After each, every record it reports is in its file (none
// cut), and none of its BPF programs stays loaded.
func TestAttachFaults(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)

	t.Run("sigterm", func(t *testing.T) {
		jvm := startDemoJVM(t, 30)
		out := filepath.Join(t.TempDir(), "r.csv")
		err, stderr := runAttachFor(t, bin, []string{strconv.Itoa(jvm.Process.Pid), "--min-latency", "0", "-o", out}, func(cmd *exec.Cmd) {
			waitTracing(t, cmd)
			waitRecorded(t, out)
			time.Sleep(2 * time.Second) // waits to record
			_ = cmd.Process.Signal(syscall.SIGTERM)
		})
		if err != nil {
			t.Fatalf("attach after SIGTERM: %v, want exit 0\n%s", err, stderr)
		}
		n, _ := countRecords(t, out)
		if w := recordsWritten(t, stderr); n != w || n == 0 {
			t.Errorf("the file holds %d records, the summary says %d", n, w)
		}
		testenv.ChildrenGone(t)
	})

	t.Run("jvm-sigkill", func(t *testing.T) {
		jvm := startDemoJVM(t, 30)
		out := filepath.Join(t.TempDir(), "r.csv")
		err, stderr := runAttachFor(t, bin, []string{strconv.Itoa(jvm.Process.Pid), "--min-latency", "0", "-o", out}, func(cmd *exec.Cmd) {
			waitTracing(t, cmd)
			waitRecorded(t, out)
			time.Sleep(2 * time.Second) // waits to record
			_ = jvm.Process.Kill()
		})
		if err != nil {
			t.Fatalf("attach after the JVM was killed: %v\n%s", err, stderr)
		}
		if !strings.Contains(stderr, "exited during the run") {
			t.Errorf("the summary does not say the JVM went away:\n%s", stderr)
		}
		n, _ := countRecords(t, out)
		if w := recordsWritten(t, stderr); n != w || n == 0 {
			t.Errorf("the file holds %d records, the summary says %d", n, w)
		}
		testenv.ChildrenGone(t)
	})

	// The JVM is stopped (SIGSTOP) while dumps are due: they time out,
	// tracing goes on, and once it runs again its new threads get names.
	t.Run("jvm-sigstop", func(t *testing.T) {
		j := jdks(t)[0]
		classes := compileWorkload(t, j)
		dir := keepDir(t, "sigstop")
		truth := filepath.Join(dir, "truth.txt")
		jcmd := exec.Command(j.java, "-cp", classes, "Workload", "--seconds", "40", "--truth", truth, "--short-every-ms", "200")
		if err := jcmd.Start(); err != nil {
			t.Fatal(err)
		}
		jdone := make(chan struct{})
		go func() { _ = jcmd.Wait(); close(jdone) }()
		t.Cleanup(func() { _ = jcmd.Process.Signal(syscall.SIGCONT); _ = jcmd.Process.Kill(); <-jdone })
		testenv.WaitFor(t, 120*time.Second, "the workload JVM to run its workers", func() bool { return jvmReady(jcmd.Process.Pid) })
		out := filepath.Join(dir, "r.csv")
		var stopped, resumed time.Time
		// Dumps alone: a stopped JVM does not answer them (its memory
		// is still read: see TestAttachRealJVM for names from memory).
		err, stderr := runAttachFor(t, bin, []string{strconv.Itoa(jcmd.Process.Pid), "--min-latency", "0", "--duration", "16s", "-o", out,
			"--dumps", "only", "--dump-interval", "1s", "--dump-timeout", "1500ms", "--dump-budget", "100%", "--hotspot-probes=false"}, func(cmd *exec.Cmd) {
			waitTracing(t, cmd)
			time.Sleep(2 * time.Second) // records before the stop
			stopped = time.Now()
			_ = jcmd.Process.Signal(syscall.SIGSTOP)
			time.Sleep(4 * time.Second)
			resumed = time.Now()
			_ = jcmd.Process.Signal(syscall.SIGCONT)
		})
		if err != nil {
			t.Fatalf("attach: %v\n%s", err, stderr)
		}
		if !strings.Contains(stderr, "thread dump failed") {
			t.Errorf("no dump timed out while the JVM was stopped:\n%s", stderr)
		}
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		var before, after, afterNamed, during int
		err = record.ReadRecords(f, func(r *record.Record) error {
			if r.Pid != uint32(jcmd.Process.Pid) || r.Tid == r.Pid {
				return nil
			}
			at := time.Unix(0, r.Time)
			switch {
			case at.Before(stopped):
				before++
			case at.Before(resumed.Add(3 * time.Second)):
				// Stopped, then the first seconds after: the dumps back
				// off (1 s, 2 s) while they fail.
				during++
			case strings.HasPrefix(r.Comm, "payment-callbac"):
				// Short-lived threads (200 ms apart): one that ends
				// before a dump sees it cannot be named by dumps alone.
			default:
				// The workers need a dump that works again.
				after++
				if r.JavaThread != "" {
					afterNamed++
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("records of the JVM's threads: %d before the stop, %d while stopped and in the 3 s after, %d later (%d named)", before, during, after, afterNamed)
		if before == 0 || after < 500 {
			t.Errorf("tracing did not go on across the stop: %d records before, %d after", before, after)
		}
		if float64(afterNamed) < 0.99*float64(after) {
			t.Errorf("after the JVM ran again only %d of %d records have a Java name", afterNamed, after)
		}
		testenv.ChildrenGone(t)
	})

	// A burst that overflows a small ring: the loss is counted and said,
	// and tracing goes on.
	t.Run("ring-overflow", func(t *testing.T) {
		storm := filepath.Join(t.TempDir(), "storm")
		if out, err := exec.Command("go", "build", "-o", storm, "../../bench/storm").CombinedOutput(); err != nil {
			t.Fatalf("build storm: %v\n%s", err, out)
		}
		out := filepath.Join(t.TempDir(), "r.csv")
		var burstEnd time.Time
		err, stderr := runAttachFor(t, bin, []string{"--all", "--min-latency", "0", "--ring-size", "4096", "--duration", "8s", "-o", out}, func(cmd *exec.Cmd) {
			waitTracing(t, cmd)
			if o, err := exec.Command(storm, "-duration", "2s").CombinedOutput(); err != nil {
				t.Errorf("storm: %v\n%s", err, o)
			}
			burstEnd = time.Now()
		})
		if err != nil {
			t.Fatalf("attach: %v\n%s", err, stderr)
		}
		m := regexp.MustCompile(`(\d+) lost`).FindStringSubmatch(stderr)
		if m == nil || m[1] == "0" || !strings.Contains(stderr, "WARNING: events were lost") {
			t.Errorf("no loss reported after a burst into a 4 KiB ring:\n%s", stderr)
		}
		n, last := countRecords(t, out)
		if w := recordsWritten(t, stderr); n != w {
			t.Errorf("the file holds %d records, the summary says %d", n, w)
		}
		if time.Unix(0, last).Before(burstEnd.Add(2 * time.Second)) {
			t.Errorf("no records after the burst (last at %s, burst ended %s)", time.Unix(0, last).UTC(), burstEnd.UTC())
		}
		t.Logf("%s lost, %d records", m[1], n)
		testenv.ChildrenGone(t)
	})
}

// TestAttachStopsPromptly: SIGTERM while a thread dump hangs (the JVM is
// stopped) ends the run within the shutdown grace, not after
// --dump-timeout, with every record written.
func TestAttachStopsPromptly(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 30)
	defer func() { _ = jvm.Process.Signal(syscall.SIGCONT) }()
	out := filepath.Join(t.TempDir(), "r.csv")
	var sent time.Time
	err, stderr := runAttachFor(t, bin, []string{strconv.Itoa(jvm.Process.Pid), "--min-latency", "0", "-o", out,
		"--dump-interval", "1s", "--dump-timeout", "30s", "--dump-budget", "100%", "--hotspot-probes=false"}, func(cmd *exec.Cmd) {
		waitTracing(t, cmd)
		time.Sleep(2 * time.Second) // records before the stop
		_ = jvm.Process.Signal(syscall.SIGSTOP)
		time.Sleep(3 * time.Second) // a periodic dump is now hanging
		sent = time.Now()
		_ = cmd.Process.Signal(syscall.SIGTERM)
	})
	took := time.Since(sent)
	if err != nil {
		t.Fatalf("attach: %v\n%s", err, stderr)
	}
	t.Logf("exited %s after SIGTERM:\n%s", took.Round(time.Millisecond), stderr)
	if took > 8*time.Second {
		t.Errorf("attach took %s to exit after SIGTERM with a dump hanging (--dump-timeout 30s)", took)
	}
	n, _ := countRecords(t, out)
	if w := recordsWritten(t, stderr); n != w || n == 0 {
		t.Errorf("the file holds %d records, the summary says %d", n, w)
	}
	testenv.ChildrenGone(t)
}

// TestSIGHUPAnyTime: SIGHUP from the first instant of the process to its
// last (start-up, tracing, shutdown after SIGTERM) never kills it: attach
// ends with exit 0, every record in its files, no temporary file left;
// other subcommands ignore it.
func TestSIGHUPAnyTime(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 600)
	dir := t.TempDir()
	out := filepath.Join(dir, "records.csv")
	cmd := exec.Command(bin, "attach", strconv.Itoa(jvm.Process.Pid), "--min-latency", "0", "-o", out,
		"--rotate-size", "16KiB", "--rotate-compress", "--rotate-keep", "0")
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	hups := 0
	var stderr bytes.Buffer
	lines := make(chan string)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(pipe)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// A SIGHUP every millisecond, from the moment main runs (the record
	// file is open: the Go runtime's own start-up, before any package of
	// the program, cannot catch a signal) until the process has exited;
	// SIGTERM once it has rotated files.
	waitFor(t, "attach to open its record file", time.Minute, func() bool {
		fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", cmd.Process.Pid))
		for _, fd := range fds {
			if l, _ := os.Readlink(fd); l == out {
				return true
			}
		}
		return false
	})
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	termed := false
	var held *testenv.BPFHeld
	// Two rotations of 16 KiB take a second or two; a run that makes none
	// in minutes is stuck (its records stop, or a load never ends).
	stuck := time.After(3 * time.Minute)
	for open := true; open; {
		select {
		case l, ok := <-lines:
			if !ok {
				open = false
				break
			}
			stderr.WriteString(l + "\n")
		case <-tick.C:
			if cmd.Process.Signal(syscall.SIGHUP) == nil {
				hups++
			}
			if !termed && countRotated(dir) >= 2 {
				termed = true
				held = testenv.WatchBPF(cmd.Process.Pid)
				_ = cmd.Process.Signal(syscall.SIGTERM)
			}
		case <-stuck:
			if !termed {
				_ = cmd.Process.Signal(syscall.SIGQUIT) // Go prints every goroutine's stack
				for l := range lines {
					stderr.WriteString(l + "\n")
				}
				_ = cmd.Wait()
				t.Fatalf("attach under SIGHUPs rotated %d files in 3 minutes (%d SIGHUPs sent):\n%s", countRotated(dir), hups, stderr.String())
			}
		}
	}
	werr := cmd.Wait()
	t.Logf("%d SIGHUPs sent", hups)
	if werr != nil {
		t.Fatalf("attach under SIGHUPs: %v\n%s", werr, stderr.String())
	}
	checkOnce(t, readRecordDir(t, dir, "csv"), uint64(recordsWritten(t, stderr.String())))
	held.Gone(t)

	// report reads the files while SIGHUPs come: from when it has one open
	// until it exits.
	all, _ := filepath.Glob(filepath.Join(dir, "records*"))
	sent := 0
	for try := 0; try < 20 && sent == 0; try++ {
		rep := exec.Command(bin, append([]string{"report"}, all...)...)
		if err := rep.Start(); err != nil {
			t.Fatal(err)
		}
		repDone := make(chan error, 1)
		go func() { repDone <- rep.Wait() }()
		reading := false
		for done := false; !done; {
			select {
			case err := <-repDone:
				if err != nil {
					t.Fatalf("report under SIGHUPs (%d sent): %v", sent, err)
				}
				done = true
			case <-tick.C:
				if !reading {
					fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", rep.Process.Pid))
					for _, fd := range fds {
						if l, _ := os.Readlink(fd); strings.HasPrefix(l, filepath.Join(dir, "records")) {
							reading = true
						}
					}
				}
				if reading && rep.Process.Signal(syscall.SIGHUP) == nil {
					sent++
				}
			}
		}
	}
	t.Logf("report: %d SIGHUPs sent while it read", sent)
	if sent == 0 {
		t.Error("report was never seen reading: no SIGHUP sent to it")
	}
}

// TestAttachChecksOutputsFirst: a run that cannot write one of its outputs
// (--save-events, --save-dumps) fails before it truncates any: an existing
// record file stays as it was, and no new file is left behind.
func TestAttachChecksOutputsFirst(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "records.csv")
	before := "an earlier run's records\n"
	// Root writes anywhere a directory allows: a regular file in the path
	// makes the directory unusable.
	notDir := filepath.Join(dir, "plain-file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, flag, value string }{
		{"save-events", "--save-events", filepath.Join(notDir, "events.log")},
		{"save-dumps", "--save-dumps", filepath.Join(notDir, "dumps")},
	} {
		for _, fresh := range []bool{false, true} {
			o := out
			if fresh {
				o = filepath.Join(dir, "fresh-"+c.name+".csv")
			} else if err := os.WriteFile(out, []byte(before), 0o644); err != nil {
				t.Fatal(err)
			}
			res, err := exec.Command(bin, "attach", "--all", "--duration", "1s", "-o", o, c.flag, c.value).CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("%s into a path under a file: %v, want exit 1\n%s", c.name, err, res)
			}
			if fresh {
				if _, err := os.Stat(o); !errors.Is(err, os.ErrNotExist) {
					t.Errorf("%s: the run created %s and left it: %v", c.name, o, err)
				}
				continue
			}
			if b, err := os.ReadFile(out); err != nil || string(b) != before {
				t.Errorf("%s: the existing record file now holds %q (%v)\n%s", c.name, b, err, res)
			}
			t.Logf("%s: %s", c.name, strings.TrimSpace(string(res)))
		}
	}
}

// TestAttachDurationIsTracingTime: --duration counts from the moment
// tracing starts, in the single-PID and the follow paths: the summary says
// traced=<duration>, and the records cover that long (the JVM waits all
// the time).
func TestAttachDurationIsTracingTime(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 600)
	const d = 4 * time.Second
	for _, c := range []struct {
		name string
		args []string
	}{
		{"pid", []string{strconv.Itoa(jvm.Process.Pid)}},
		{"follow", []string{"--jvm", "^Workload|[ /]Workload( |$)"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "r.csv")
			err, stderr := runAttachFor(t, bin, append(c.args, "--min-latency", "0", "--duration", d.String(), "-o", out), nil)
			if err != nil {
				t.Fatalf("attach: %v\n%s", err, stderr)
			}
			traced := tracedSeconds(t, stderr)
			var first, last int64
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = record.ReadRecords(f, func(r *record.Record) error {
				if r.Pid != uint32(jvm.Process.Pid) {
					return nil
				}
				// A record's time is the end of its wait; it began
				// latency before.
				start := r.Time - int64(r.LatencyNs)
				if first == 0 || start < first {
					first = start
				}
				last = max(last, r.Time)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			span := time.Duration(last - first)
			t.Logf("traced=%.2fs; the JVM's records span %s", traced, span)
			// The timer cannot fire early; late only by a scheduling delay.
			if traced < d.Seconds() || traced > d.Seconds()+1 {
				t.Errorf("summary says traced=%.2fs for --duration %s", traced, d)
			}
			// Waits end all the time in this JVM: the records' span falls
			// short of the traced time only by the gaps at both ends.
			if span < d-500*time.Millisecond {
				t.Errorf("the records span %s of --duration %s", span, d)
			}
		})
	}
}
