package main

// Running for long: rotation, reopening on SIGHUP, and how attach ends.

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
)

// startDemoJVM starts the demo workload for the given seconds and stops it
// at the end of the test.
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
	time.Sleep(time.Second)
	return cmd
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

// TestAttachRotateAndReopen: a live run that rotates its record file by
// size (compressed) while, like logrotate in create mode, something else
// renames the file and sends SIGHUP. Every record written must be in
// exactly one file: the files' records add up to the summary's count,
// and no wait appears twice.
func TestAttachRotateAndReopen(t *testing.T) {
	requireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 30)
	dir := keepDir(t, "rotate")
	out := filepath.Join(dir, "records.csv")
	cmd := exec.Command(bin, "attach", strconv.Itoa(jvm.Process.Pid), "--min-latency", "0", "--duration", "8s",
		"-o", out, "--rotate-size", "64KiB", "--rotate-compress", "--rotate-keep", "0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	hups := 0
	tick := time.NewTicker(700 * time.Millisecond)
	defer tick.Stop()
wait:
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("attach: %v\n%s", err, stderr.String())
			}
			break wait
		case <-tick.C:
			if _, err := os.Stat(out); err != nil {
				continue
			}
			hups++
			if err := os.Rename(out, filepath.Join(dir, "logrotated-"+strconv.Itoa(hups)+".csv")); err != nil {
				t.Fatal(err)
			}
			if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
				t.Fatal(err)
			}
		}
	}
	written := recordsWritten(t, stderr.String())
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	type wait struct {
		tid   uint32
		ktime uint64
	}
	seen := map[wait]string{}
	total, gz, logrotated := 0, 0, 0
	for _, e := range ents {
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		err = correlate.ReadRecords(f, func(r *correlate.Record) error {
			k := wait{r.Tid, r.KTime}
			if prev, dup := seen[k]; dup {
				t.Errorf("wait of tid %d at %d in %s and %s", r.Tid, r.KTime, prev, e.Name())
			}
			seen[k] = e.Name()
			n++
			return nil
		})
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		total += n
		switch {
		case filepath.Ext(e.Name()) == ".gz":
			gz++
		case len(e.Name()) > 11 && e.Name()[:11] == "logrotated-":
			logrotated++
		}
	}
	t.Logf("%d records written; %d in %d files (%d rotated and compressed, %d renamed before one of %d SIGHUPs)", written, total, len(ents), gz, logrotated, hups)
	if total != written {
		t.Errorf("the files hold %d records, attach wrote %d", total, written)
	}
	if gz < 2 || logrotated < 3 || written < 2000 {
		t.Errorf("too little happened to test: %d compressed rotations, %d logrotated files, %d records", gz, logrotated, written)
	}
	noneLoaded(t)
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
	if err := correlate.ReadRecords(f, func(r *correlate.Record) error { n++; last = max(last, r.Time); return nil }); err != nil {
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
	requireRoot(t)
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
		noneLoaded(t)
	})

	t.Run("wait", func(t *testing.T) {
		dir, filler := smallDisk(t, 1<<20, 96<<10)
		out := filepath.Join(dir, "records.csv")
		cmd := exec.Command(bin, "attach", pid, "--min-latency", "0", "--duration", "10s", "-o", out, "--on-disk-full", "wait")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Second)
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
		noneLoaded(t)
	})
}

// runAttachFor starts attach with args, lets do run while it traces, and
// returns its exit error and stderr.
func runAttachFor(t *testing.T, bin string, args []string, do func(cmd *exec.Cmd)) (error, string) {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"attach"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
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

// noneLoaded checks that none of our BPF programs, maps or links is loaded. The kernel
// frees a program after an RCU grace period once its last file descriptor
// is closed, so give it a moment.
func noneLoaded(t *testing.T) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(3 * time.Second); ; {
		left = append(append(ourPrograms(t), ourMaps()...), ourLinks()...)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(left) > 0 {
		t.Errorf("BPF programs, maps or links still loaded 3 s after attach exited: %v", left)
	}
}

// TestAttachFaults: how attach ends or carries on when things go wrong
// around it. After each, every record it reports is in its file (none
// cut), and none of its BPF programs stays loaded.
func TestAttachFaults(t *testing.T) {
	requireRoot(t)
	bin := binary(t)

	t.Run("sigterm", func(t *testing.T) {
		jvm := startDemoJVM(t, 30)
		out := filepath.Join(t.TempDir(), "r.csv")
		err, stderr := runAttachFor(t, bin, []string{strconv.Itoa(jvm.Process.Pid), "--min-latency", "0", "-o", out}, func(cmd *exec.Cmd) {
			time.Sleep(4 * time.Second)
			_ = cmd.Process.Signal(syscall.SIGTERM)
		})
		if err != nil {
			t.Fatalf("attach after SIGTERM: %v, want exit 0\n%s", err, stderr)
		}
		n, _ := countRecords(t, out)
		if w := recordsWritten(t, stderr); n != w || n == 0 {
			t.Errorf("the file holds %d records, the summary says %d", n, w)
		}
		noneLoaded(t)
	})

	t.Run("jvm-sigkill", func(t *testing.T) {
		jvm := startDemoJVM(t, 30)
		out := filepath.Join(t.TempDir(), "r.csv")
		err, stderr := runAttachFor(t, bin, []string{strconv.Itoa(jvm.Process.Pid), "--min-latency", "0", "-o", out}, func(*exec.Cmd) {
			time.Sleep(4 * time.Second)
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
		noneLoaded(t)
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
		time.Sleep(time.Second)
		out := filepath.Join(dir, "r.csv")
		var stopped, resumed time.Time
		err, stderr := runAttachFor(t, bin, []string{strconv.Itoa(jcmd.Process.Pid), "--min-latency", "0", "--duration", "16s", "-o", out,
			"--dump-interval", "1s", "--dump-timeout", "1500ms", "--dump-budget", "100%", "--hotspot-probes=false"}, func(*exec.Cmd) {
			time.Sleep(3 * time.Second)
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
		err = correlate.ReadRecords(f, func(r *correlate.Record) error {
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
			default:
				// Threads born after the stop need a dump that works.
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
		noneLoaded(t)
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
		err, stderr := runAttachFor(t, bin, []string{"--all", "--min-latency", "0", "--ring-size", "4096", "--duration", "8s", "-o", out}, func(*exec.Cmd) {
			time.Sleep(2 * time.Second)
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
		noneLoaded(t)
	})
}

// TestAttachStopsPromptly: SIGTERM while a thread dump hangs (the JVM is
// stopped) ends the run within the shutdown grace, not after
// --dump-timeout, with every record written.
func TestAttachStopsPromptly(t *testing.T) {
	requireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 30)
	defer func() { _ = jvm.Process.Signal(syscall.SIGCONT) }()
	out := filepath.Join(t.TempDir(), "r.csv")
	var sent time.Time
	err, stderr := runAttachFor(t, bin, []string{strconv.Itoa(jvm.Process.Pid), "--min-latency", "0", "-o", out,
		"--dump-interval", "1s", "--dump-timeout", "30s", "--dump-budget", "100%", "--hotspot-probes=false"}, func(cmd *exec.Cmd) {
		time.Sleep(3 * time.Second)
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
	noneLoaded(t)
}
