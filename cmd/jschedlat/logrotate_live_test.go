package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
)

// TestAttachLogrotateFree: logrotate's two modes as a shell script would
// run them, about every half second, with nothing held off: renames with
// SIGHUP, and copytruncate by path as two processes (cp, then truncate -s
// 0), racing a small --rotate-size. attach waits while another program
// is at its file until that one has cut it (or left it alone for 2 s), so
// no row lands between the copy and the cut and no rename comes between
// them: every record is in exactly one file, each file complete.
func TestAttachLogrotateFree(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	jvm := startDemoJVM(t, 900)
	dir := keepDir(t, "logrotate-free")
	out := filepath.Join(dir, "records.csv")
	p := startAttach(t, bin, strconv.Itoa(jvm.Process.Pid), "--min-latency", "0",
		"-o", out, "--rotate-size", "24KiB", "--rotate-compress", "--rotate-keep", "0")
	counts := map[string]int{}
	for n := 1; countRotated(dir) < 6 || counts["create"] < 8 || counts["copytruncate"] < 8; n++ {
		select {
		case <-p.done:
			t.Fatalf("attach ended: %v\n%s", p.err, p.output())
		case <-time.After(500 * time.Millisecond):
		}
		if n%2 == 0 {
			counts["create"]++
			if b, err := exec.Command("mv", out, filepath.Join(dir, "logrotated-"+strconv.Itoa(n)+".csv")).CombinedOutput(); err != nil {
				if _, serr := os.Stat(out); serr != nil || strings.Contains(string(b), "No such file") {
					// The tool's own rotation has it renamed, not yet
					// created again (missingok), or not when mv looked.
					counts["create"]--
					continue
				}
				t.Fatalf("mv: %v %s", err, b)
			}
			_ = p.cmd.Process.Signal(syscall.SIGHUP)
		} else {
			if b, err := exec.Command("cp", out, filepath.Join(dir, "copied-"+strconv.Itoa(n)+".csv")).CombinedOutput(); err != nil {
				if _, serr := os.Stat(out); serr != nil || strings.Contains(string(b), "No such file") {
					// Not there again yet after a rename (logrotate's
					// missingok), or not when cp looked.
					continue
				}
				if strings.Contains(string(b), "replaced while being copied") {
					// The tool's own size rotation renamed it mid-copy:
					// logrotate fails that run too and copies next time.
					continue
				}
				t.Fatalf("cp: %v %s", err, b)
			}
			counts["copytruncate"]++
			if b, err := exec.Command("truncate", "-s", "0", out).CombinedOutput(); err != nil {
				t.Fatalf("truncate: %v %s", err, b)
			}
		}
		if n > 600 {
			t.Fatalf("not enough after %d logrotate actions: %v, %d size rotations", n, counts, countRotated(dir))
		}
	}
	held := testenv.WatchBPF(p.cmd.Process.Pid)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	err, stderr := p.wait(t)
	if err != nil {
		t.Fatalf("attach: %v\n%s", err, stderr)
	}
	checkLiveFiles(t, dir, stderr, &logrotate{counts: counts})
	held.Gone(t)
}
