package main

// Running for long: rotation, reopening on SIGHUP, and how attach ends.

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
	if left := ourPrograms(t); len(left) > 0 {
		t.Errorf("BPF programs still loaded after attach exited: %v", left)
	}
}
