package main

// Least privilege: attach run by setpriv as an unprivileged uid holding
// exactly the capabilities docs/privileges.md lists, as ambient
// capabilities, against a real JVM running as another unprivileged user.
// Each capability a feature needs is then taken away in turn.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
)

const (
	privJVMUID   = 65534 // nobody: the JVM's user
	privOtherUID = 65533 // a user that is neither the JVM's nor root
)

// requireSetpriv skips unless the test can switch users and hand out
// capabilities: root, and setpriv (util-linux) on PATH.
func requireSetpriv(t *testing.T) string {
	t.Helper()
	testenv.RequireRoot(t)
	p, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("SKIPPED: NO setpriv ON PATH. The least-privilege tests run jschedlat as another uid with chosen capabilities through setpriv: apt-get install util-linux.")
	}
	return p
}

// shareDir lets every user into dir, a t.TempDir(), and its parent; with
// writable, every user may also create files in it.
func shareDir(t *testing.T, dir string, writable bool) {
	t.Helper()
	mode := os.FileMode(0o755)
	if writable {
		mode = 0o777
	}
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, mode); err != nil {
		t.Fatal(err)
	}
}

// sharedBinary builds jschedlat where any user may run it.
func sharedBinary(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	shareDir(t, dir, false)
	bin := filepath.Join(dir, "jschedlat")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// asUser is a command running name as uid and gid uid, without
// supplementary groups, with exactly caps (as setpriv spells them: "bpf")
// as its inheritable and ambient, hence permitted and effective,
// capabilities.
func asUser(ctx context.Context, setpriv string, uid int, caps []string, name string, args ...string) *exec.Cmd {
	set := "-all"
	for _, c := range caps {
		set += ",+" + c
	}
	id := strconv.Itoa(uid)
	full := append([]string{"--reuid=" + id, "--regid=" + id, "--clear-groups",
		"--inh-caps=" + set, "--ambient-caps=" + set, "--", name}, args...)
	return exec.CommandContext(ctx, setpriv, full...)
}

// startJVMAs starts the demo workload as uid, with a home of its own, and
// stops it at the end of the test.
func startJVMAs(t *testing.T, setpriv string, uid, seconds int) int {
	t.Helper()
	j := jdks(t)[0]
	classes := compileWorkload(t, j)
	shareDir(t, classes, false)
	home := t.TempDir()
	shareDir(t, home, true)
	cmd := asUser(context.Background(), setpriv, uid, nil, j.java, "-cp", classes, "Workload", "--seconds", strconv.Itoa(seconds))
	cmd.Env = append(os.Environ(), "HOME="+home)
	cmd.Dir = home
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	// Until it catches SIGQUIT, attaching would kill it.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
		if err != nil {
			t.Fatalf("the JVM as uid %d did not start: %v", uid, err)
		}
		if caughtQuit(st) && bytes.Contains(st, []byte("Uid:\t"+strconv.Itoa(uid))) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the JVM as uid %d does not catch SIGQUIT after 10 s", uid)
		}
	}
	time.Sleep(500 * time.Millisecond) // its worker threads start
	return cmd.Process.Pid
}

func caughtQuit(status []byte) bool {
	for _, l := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(l, "SigCgt:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && m&(1<<(3-1)) != 0
		}
	}
	return false
}

type privRun struct {
	code   int
	stderr string
	out    string // the record file
}

// attachAs traces pid as uid with exactly caps, for 2 s once tracing has
// begun (loading takes seconds on a loaded host), then stops it with
// SIGTERM.
func attachAs(t *testing.T, setpriv, bin, outDir string, uid, pid int, caps []string, extra ...string) privRun {
	t.Helper()
	out := filepath.Join(outDir, fmt.Sprintf("uid%d-%s.csv", uid, strings.Join(caps, "-")))
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
	defer cancel()
	args := append([]string{"attach", strconv.Itoa(pid), "--duration", "30s", "--min-latency", "0",
		"--dump-budget", "100%", "-o", out}, extra...)
	cmd := asUser(ctx, setpriv, uid, caps, bin, args...)
	began := make(chan struct{})
	stderr := &tracingWatch{began: began}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-began:
		time.Sleep(2 * time.Second)
		_ = cmd.Process.Signal(syscall.SIGTERM) // setpriv has become jschedlat
		err = <-done
	}
	r := privRun{stderr: stderr.String(), out: out}
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("attach as uid %d with %v did not end in 50 s\n%s", uid, caps, r.stderr)
	case errors.As(err, &exit):
		r.code = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return r
}

// tracingWatch keeps attach's stderr and closes began at its "tracing" line.
type tracingWatch struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	began chan struct{}
}

func (w *tracingWatch) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if w.began != nil && strings.Contains(w.buf.String(), "msg=tracing ") {
		close(w.began)
		w.began = nil
	}
	return len(p), nil
}

func (w *tracingWatch) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// namedByDumps counts the records whose Java name came from a thread dump.
func namedByDumps(t *testing.T, r privRun) (records, named int) {
	return namedBy(t, r, "dump")
}

// namedBy counts the records whose Java name came from source.
func namedBy(t *testing.T, r privRun, source string) (records, named int) {
	t.Helper()
	rows, err := readCSVFile(r.out)
	if err != nil {
		t.Fatalf("%v\n%s", err, r.stderr)
	}
	for _, row := range rows {
		if row["java_thread"] != "" && row["name_source"] == source {
			named++
		}
	}
	return len(rows), named
}

// TestPrivilegesLeast: with the documented capabilities jschedlat traces
// and names; without one it needs, it fails (tracing) or goes on without
// the feature (probes, dumps), in one line that names what is missing.
func TestPrivilegesLeast(t *testing.T) {
	setpriv := requireSetpriv(t)
	bin := sharedBinary(t)
	pid := startJVMAs(t, setpriv, privJVMUID, 60)
	outDir := t.TempDir()
	shareDir(t, outDir, true)
	tracing := []string{"bpf", "perfmon"}

	t.Run("tracing, same user", func(t *testing.T) {
		// CAP_BPF and CAP_PERFMON: records, named from the JVM's memory
		// (its own user needs nothing for that).
		r := attachAs(t, setpriv, bin, outDir, privJVMUID, pid, tracing)
		if r.code != 0 {
			t.Fatalf("attach as uid %d with CAP_BPF and CAP_PERFMON: exit %d\n%s", privJVMUID, r.code, r.stderr)
		}
		records, named := namedBy(t, r, "memory")
		if n := recordsWritten(t, r.stderr); n == 0 || n != records {
			t.Fatalf("summary says %d records written, the file holds %d\n%s", n, records, r.stderr)
		}
		if named == 0 {
			t.Errorf("none of %d records named from the JVM's memory\n%s", records, r.stderr)
		}
		// Without CAP_SYS_ADMIN the HotSpot probes cannot be attached.
		if !strings.Contains(r.stderr, "thread_starts=false") {
			t.Errorf("HotSpot probes in use without CAP_SYS_ADMIN?\n%s", r.stderr)
		}
		if !strings.Contains(r.stderr, privilegeWarning("HotSpot probes", "CAP_SYS_ADMIN")) {
			t.Errorf("no warning naming CAP_SYS_ADMIN for the probes\n%s", r.stderr)
		}
		t.Logf("%d records, %d named from memory", records, named)
	})

	for _, missing := range tracing {
		t.Run("tracing without CAP_"+strings.ToUpper(missing), func(t *testing.T) {
			var caps []string
			for _, c := range tracing {
				if c != missing {
					caps = append(caps, c)
				}
			}
			r := attachAs(t, setpriv, bin, outDir, privJVMUID, pid, caps)
			msg := strings.TrimSpace(r.stderr)
			want := "(missing: CAP_" + strings.ToUpper(missing) + ")"
			if r.code == 0 || strings.Contains(msg, "\n") || !strings.Contains(msg, want) {
				t.Fatalf("exit %d, stderr %q: want a non-zero exit and one line with %q", r.code, msg, want)
			}
			if _, err := os.Stat(r.out); err == nil {
				t.Errorf("%s created although attach could not trace", r.out)
			}
		})
	}

	t.Run("probes", func(t *testing.T) {
		// CAP_SYS_ADMIN makes HotSpot's uprobes work for the JVM's user.
		r := attachAs(t, setpriv, bin, outDir, privJVMUID, pid, []string{"bpf", "perfmon", "sys_admin"})
		if r.code != 0 || !strings.Contains(r.stderr, "thread_starts=true") || !strings.Contains(r.stderr, "vm_operations=true") {
			t.Fatalf("attach with CAP_SYS_ADMIN: exit %d, want 0 and the probes in use\n%s", r.code, r.stderr)
		}
	})

	t.Run("dumps, other user", func(t *testing.T) {
		full := []string{"bpf", "perfmon", "setuid", "setgid"}
		r := attachAs(t, setpriv, bin, outDir, privOtherUID, pid, full)
		if r.code != 0 {
			t.Fatalf("attach as uid %d with %v: exit %d\n%s", privOtherUID, full, r.code, r.stderr)
		}
		records, named := namedByDumps(t, r)
		if named == 0 {
			t.Fatalf("uid %d with CAP_SETUID and CAP_SETGID: none of %d records of uid %d's JVM named by a dump\n%s", privOtherUID, records, privJVMUID, r.stderr)
		}
		t.Logf("%d records, %d named by dumps taken as uid %d", records, named, privJVMUID)
		for missing, other := range map[string]string{"setuid": "setgid", "setgid": "setuid"} {
			caps := []string{"bpf", "perfmon", other}
			r := attachAs(t, setpriv, bin, outDir, privOtherUID, pid, caps)
			if r.code != 0 {
				t.Errorf("without CAP_%s: exit %d, want 0 (dumps are optional)\n%s", strings.ToUpper(missing), r.code, r.stderr)
				continue
			}
			if _, named := namedByDumps(t, r); named != 0 {
				t.Errorf("without CAP_%s: %d records named by dumps", strings.ToUpper(missing), named)
			}
			want := privilegeWarning("thread dumps", "CAP_"+strings.ToUpper(missing))
			if !strings.Contains(r.stderr, want) {
				t.Errorf("without CAP_%s: no warning %q\n%s", strings.ToUpper(missing), want, r.stderr)
			}
		}
	})
}

// privCheckEnv makes TestPrivilegeReport print what the checks of
// privileges.go say about the JVM of the pid it holds, for
// TestPrivilegeChecks, which runs this test binary with chosen
// capabilities.
const privCheckEnv = "JSCHEDLAT_PRIVCHECK_PID"

func TestPrivilegeReport(t *testing.T) {
	v := os.Getenv(privCheckEnv)
	if v == "" {
		t.Skip("run by TestPrivilegeChecks")
	}
	pid, _ := strconv.Atoi(v)
	tr := ""
	if err := checkPrivileges(); err != nil {
		tr = err.Error()
	}
	fmt.Printf("\ntracing=%s|probes=%s|dumps=%s\n", tr, missingForProbes(pid), missingForDumps(pid))
}

// TestPrivilegeChecks runs the checks of privileges.go under real
// capability sets and users.
func TestPrivilegeChecks(t *testing.T) {
	setpriv := requireSetpriv(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	shareDir(t, dir, false)
	test := filepath.Join(dir, "jschedlat.test")
	if b, err := os.ReadFile(self); err != nil || os.WriteFile(test, b, 0o755) != nil {
		t.Fatalf("copying the test binary: %v", err)
	}
	// The checks read a process's user; a process of uid privJVMUID stands
	// for a JVM of that user, this test (root) for a root JVM.
	sleeper := asUser(context.Background(), setpriv, privJVMUID, nil, "sleep", "30")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sleeper.Process.Kill(); _ = sleeper.Wait() }()
	time.Sleep(100 * time.Millisecond)
	jvmPid, rootPid := sleeper.Process.Pid, os.Getpid()

	const tracingErr = "tracing needs CAP_BPF and CAP_PERFMON (missing: %s): run as root or grant them (see docs/privileges.md)"
	for _, c := range []struct {
		uid, pid               int
		caps                   []string
		tracing, probes, dumps string
	}{
		{privJVMUID, jvmPid, []string{"bpf", "perfmon"}, "", "CAP_SYS_ADMIN", ""},
		{privJVMUID, jvmPid, []string{"bpf", "perfmon", "sys_admin"}, "", "", ""},
		{privJVMUID, jvmPid, []string{"sys_admin"}, "", "", ""},
		{privJVMUID, jvmPid, []string{"perfmon"}, fmt.Sprintf(tracingErr, "CAP_BPF"), "CAP_SYS_ADMIN", ""},
		{privJVMUID, jvmPid, []string{"bpf"}, fmt.Sprintf(tracingErr, "CAP_PERFMON"), "CAP_SYS_ADMIN", ""},
		{privJVMUID, jvmPid, nil, fmt.Sprintf(tracingErr, "CAP_BPF and CAP_PERFMON"), "CAP_SYS_ADMIN", ""},
		{privOtherUID, jvmPid, []string{"bpf", "perfmon"}, "", "CAP_SYS_ADMIN and CAP_SYS_PTRACE", "CAP_SETUID and CAP_SETGID"},
		{privOtherUID, jvmPid, []string{"bpf", "perfmon", "sys_admin", "setuid"}, "", "CAP_SYS_PTRACE", "CAP_SETGID"},
		{privOtherUID, jvmPid, []string{"bpf", "perfmon", "sys_admin", "sys_ptrace", "setuid", "setgid"}, "", "", ""},
		{privOtherUID, rootPid, []string{"bpf", "perfmon", "sys_admin", "sys_ptrace", "setuid", "setgid"}, "", "", "root"},
	} {
		cmd := asUser(context.Background(), setpriv, c.uid, c.caps, test, "-test.run=^TestPrivilegeReport$", "-test.count=1")
		cmd.Env = append(os.Environ(), privCheckEnv+"="+strconv.Itoa(c.pid))
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("uid %d %v: %v\n%s", c.uid, c.caps, err, out)
		}
		want := fmt.Sprintf("tracing=%s|probes=%s|dumps=%s", c.tracing, c.probes, c.dumps)
		if !bytes.Contains(out, []byte("\n"+want+"\n")) {
			t.Errorf("uid %d with %v, process of uid %d:\n got %s\nwant %s", c.uid, c.caps, map[bool]int{true: 0, false: privJVMUID}[c.pid == rootPid], out, want)
		}
	}
	// Root has every capability: nothing is missing.
	if err := checkPrivileges(); err != nil {
		t.Errorf("root: %v", err)
	}
	if m := missingForProbes(jvmPid) + missingForDumps(jvmPid); m != "" {
		t.Errorf("root: %q missing", m)
	}
}
