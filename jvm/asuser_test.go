package jvm

import (
	"context"
	"fmt"
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

func TestCapSet(t *testing.T) {
	set, ok := parseCapEff([]byte("Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000000c000000000\nCapBnd:\t000001ffffffffff\n"))
	if !ok || !set.Has(CapBPF, CapPerfmon) || set.Has(CapSysAdmin) {
		t.Fatalf("CapEff 000000c000000000: %x, %v", set, ok)
	}
	if got := strings.Join(set.Missing(CapSysAdmin, CapBPF, CapSysPtrace), ","); got != "CAP_SYS_ADMIN,CAP_SYS_PTRACE" {
		t.Errorf("Missing = %s", got)
	}
	if _, ok := parseCapEff([]byte("Name:\tx\n")); ok {
		t.Error("no CapEff line read as a set")
	}
	if CapName(CapSetgid) != "CAP_SETGID" || CapName(63) != "capability 63" {
		t.Errorf("names: %s, %s", CapName(CapSetgid), CapName(63))
	}
	if self, ok := EffectiveCaps(); !ok || (os.Geteuid() == 0 && !self.Has(CapSysAdmin)) {
		t.Errorf("own capabilities: %x, %v", self, ok)
	}
}

// asUserCheckEnv has TestAsUserNotRoot's copy of this test binary, run as
// another user with chosen capabilities, dump the JVM of the pid it holds.
const asUserCheckEnv = "JSCHEDLAT_ASUSER_CHECK_PID"

// TestAsUserNotRoot: a process that is neither root nor the JVM's user,
// holding CAP_SETUID and CAP_SETGID (and CAP_PERFMON, as jschedlat does
// to trace, which also lets it read the JVM's /proc/PID/maps), takes
// dumps through the helper started as the JVM's user. Without CAP_SETUID
// it takes none.
func TestAsUserNotRoot(t *testing.T) {
	if v := os.Getenv(asUserCheckEnv); v != "" {
		pid, _ := strconv.Atoi(v)
		src, err := NewSourceAsUser(pid, 10*time.Second)
		if err != nil {
			fmt.Printf("\nRESULT error: %v\n", err)
			return
		}
		c, err := src.Capture(context.Background())
		if err != nil {
			fmt.Printf("\nRESULT error: %v\n", err)
			return
		}
		fmt.Printf("\nRESULT %d threads\n", len(c.Dump.Threads))
		return
	}
	testenv.RequireRoot(t) // the not-root attach-as-user path runs as another user
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("SKIPPED: no setpriv on PATH (util-linux): the not-root attach-as-user path did not run")
	}
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("SKIPPED: java not on PATH")
	}
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("SKIPPED: javac not on PATH")
	}
	// Classes, and a copy of this test binary, that other users can use.
	dir, err := os.MkdirTemp("", "jschedlat-asuser-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(javac, "--release", "17", "-encoding", "UTF-8", "-d", dir, "testdata/java/TidProbe.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	test := filepath.Join(dir, "jvm.test")
	if b, err := os.ReadFile(self); err != nil || os.WriteFile(test, b, 0o755) != nil {
		t.Fatalf("copying the test binary: %v", err)
	}
	const nobody, other = 65534, 65533
	p := startProbeAs(t, &syscall.Credential{Uid: nobody, Gid: nobody}, java, dir)
	run := func(caps string) string {
		cmd := exec.Command(setpriv, "--reuid="+strconv.Itoa(other), "--regid="+strconv.Itoa(other), "--clear-groups",
			"--inh-caps=-all"+caps, "--ambient-caps=-all"+caps, "--", test, "-test.run=^TestAsUserNotRoot$", "-test.count=1")
		cmd.Env = append(os.Environ(), asUserCheckEnv+"="+strconv.Itoa(p.pid))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		_, res, ok := strings.Cut(string(out), "\nRESULT ")
		if err != nil || !ok {
			t.Fatalf("uid %d with %q: %v\n%s", other, caps, err, out)
		}
		res, _, _ = strings.Cut(res, "\n")
		return res
	}
	if got, want := run(",+perfmon,+setuid,+setgid"), fmt.Sprintf("%d threads", 0); got == want || !strings.HasSuffix(got, " threads") {
		t.Errorf("uid %d with CAP_SETUID and CAP_SETGID: %s, want a dump of uid %d's JVM", other, got, nobody)
	} else {
		t.Logf("uid %d with CAP_PERFMON, CAP_SETUID and CAP_SETGID: %s in the dump of uid %d's JVM", other, got, nobody)
	}
	if got := run(",+perfmon,+setgid"); !strings.HasPrefix(got, "error: ") {
		t.Errorf("uid %d without CAP_SETUID: %s, want an error", other, got)
	} else {
		t.Logf("uid %d without CAP_SETUID: %s", other, got)
	}
}
