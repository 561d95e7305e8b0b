package jvm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"io"
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

const temurin25 = "/usr/lib/jvm/temurin-25-jdk-amd64"

// probe is a running TidProbe JVM.
type probe struct {
	pid  int
	tids map[string]int // Java name -> TID the thread read from /proc/thread-self
	vt   bool           // a spinning virtual thread was started
}

// compileProbe compiles testdata/java/TidProbe.java with the javac on PATH
// (release 17, so every JDK under test can run it).
func compileProbe(t *testing.T) string {
	t.Helper()
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("SKIPPED: javac not on PATH: the live JVM tests of ToolSource did not run")
	}
	dir := t.TempDir()
	out, err := exec.Command(javac, "--release", "17", "-encoding", "UTF-8", "-d", dir, "testdata/java/TidProbe.java").CombinedOutput()
	if err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	return dir
}

// startProbe runs TidProbe on the given java and waits for its report. The
// JVM exits when its stdin closes, and is killed at the end of the test.
func startProbe(t *testing.T, java, classes string, jvmArgs ...string) *probe {
	t.Helper()
	return startProbeAs(t, nil, java, classes, jvmArgs...)
}

// startProbeAs is startProbe with the JVM running under cred (nil: ours).
func startProbeAs(t *testing.T, cred *syscall.Credential, java, classes string, jvmArgs ...string) *probe {
	t.Helper()
	args := append(append([]string{}, jvmArgs...), "-cp", classes, "TidProbe")
	cmd := exec.Command(java, args...)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", java, err)
	}
	t.Cleanup(func() {
		// Closing stdin lets the JVM exit on its own, which removes its
		// /tmp/.java_pid socket; SIGKILL would leave it behind.
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	p := &probe{pid: cmd.Process.Pid, tids: map[string]int{}}
	lines := make(chan string)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("%s exited before READY", java)
			}
			switch {
			case l == "READY":
				go io.Copy(io.Discard, stdout)
				return p
			case l == "VT=true":
				p.vt = true
			case strings.HasPrefix(l, "VT="):
			default:
				i := strings.LastIndexByte(l, '=')
				name, err1 := hex.DecodeString(l[:max(i, 0)])
				tid, err2 := strconv.Atoi(l[i+1:])
				if i < 0 || err1 != nil || err2 != nil {
					t.Fatalf("bad probe line %q", l)
				}
				p.tids[string(name)] = tid
			}
		case <-timeout:
			t.Fatalf("%s: no READY within 60s", java)
		}
	}
}

// TestToolSourceLive takes a dump of real JVMs with jcmd and checks the names
// and TIDs against what the threads themselves found in /proc/thread-self.
func TestToolSourceLive(t *testing.T) {
	testenv.RequireIntegration(t) // starts JVMs
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("SKIPPED: java not on PATH: the live JVM tests of ToolSource did not run")
	}
	classes := compileProbe(t)
	jdks := []struct {
		name, java, home string
	}{
		{"PATH java", java, ""},
		{"Temurin 25", filepath.Join(temurin25, "bin", "java"), temurin25},
	}
	for _, jdk := range jdks {
		t.Run(jdk.name, func(t *testing.T) {
			if _, err := os.Stat(jdk.java); err != nil {
				t.Skipf("SKIPPED: %s not installed (%v)", jdk.java, err)
			}
			p := startProbe(t, jdk.java, classes)

			ok, err := IsJVM(p.pid)
			if err != nil || !ok {
				t.Fatalf("IsJVM(%d) = %v, %v", p.pid, ok, err)
			}
			src, err := NewToolSource(p.pid, 30*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if src.Name() != "jcmd" {
				t.Errorf("Name() = %q, want jcmd", src.Name())
			}
			// The JVM's own java home comes first.
			exe, _ := filepath.EvalSymlinks(jdk.java)
			if want := filepath.Join(filepath.Dir(exe), "jcmd"); src.Tool() != want {
				t.Errorf("Tool() = %q, want %q", src.Tool(), want)
			}
			c, err := src.Capture(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if c.Pid != p.pid || c.Source != "jcmd" || !c.Start.Before(c.End) || len(c.Raw) == 0 {
				t.Errorf("capture: pid %d source %q start %v end %v, %d bytes", c.Pid, c.Source, c.Start, c.End, len(c.Raw))
			}
			if !strings.HasPrefix(string(c.Raw), strconv.Itoa(p.pid)+":\n") {
				t.Errorf("raw output does not start with the jcmd echo: %q", c.Raw[:min(len(c.Raw), 40)])
			}
			if c.Dump.Time.IsZero() || c.Dump.Time.Before(c.Start.Add(-2*time.Second)) || c.Dump.Time.After(c.End.Add(time.Second)) {
				t.Errorf("dump time %v outside [%v, %v]", c.Dump.Time, c.Start, c.End)
			}
			t.Logf("%s: %d threads, %s round trip, VM %s", jdk.name, len(c.Dump.Threads), c.End.Sub(c.Start).Round(time.Millisecond), c.Dump.VM)

			comms, err := Comms(p.pid)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.tids) < 8 {
				t.Fatalf("probe reported only %d threads", len(p.tids))
			}
			for name, tid := range p.tids {
				th := byName(c.Dump, name)
				if th == nil {
					t.Errorf("thread %q not in the dump", name)
					continue
				}
				if th.Tid != tid {
					t.Errorf("thread %q: dump tid %d, /proc/thread-self says %d", name, th.Tid, tid)
				}
				want := comm15(name)
				if name == "main" {
					want = "java"
				}
				if comms[tid] != want {
					t.Errorf("thread %q: comm %q, want %q", name, comms[tid], want)
				}
			}
			if p.vt {
				carriers := 0
				for _, th := range c.Dump.Threads {
					if th.Carrying >= 0 {
						carriers++
						if th.Tid <= 0 || comms[th.Tid] == "" {
							t.Errorf("carrier %q: tid %d not a thread of the JVM", th.Name, th.Tid)
						}
					}
				}
				if carriers == 0 {
					t.Errorf("a virtual thread spins, but no carrier says Carrying")
				}
			}
		})
	}
}

// TestToolSourceAsJVMUser: when we are root and the JVM is not, jcmd runs
// as the JVM's user (JDK 8's attach listener accepts only its own uid).
func TestSourcesAsJVMUser(t *testing.T) {
	testenv.RequireRoot(t) // the jcmd-as-the-JVM's-user path runs as another user
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("SKIPPED: java not on PATH")
	}
	javac, err := exec.LookPath("javac")
	if err != nil {
		t.Skip("SKIPPED: javac not on PATH")
	}
	// Classes the other user can read (t.TempDir is root-only).
	dir, err := os.MkdirTemp("", "jschedlat-probe-")
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
	const nobody = 65534
	p := startProbeAs(t, &syscall.Credential{Uid: nobody, Gid: nobody}, java, dir)
	if c := targetCred(p.pid); c == nil || c.Uid != nobody || c.Gid != nobody {
		t.Fatalf("targetCred(%d) = %+v, want uid/gid %d", p.pid, c, nobody)
	}
	if out, err := (&AttachSource{Pid: p.pid, Timeout: 10 * time.Second}).executeAsUser(context.Background(), targetCred(p.pid), helperID); err != nil || string(out) != "65534 65534" {
		t.Fatalf("the attach helper runs as %q (%v), want uid and gid 65534", out, err)
	}
	// First the direct attach run as the JVM's user (what JDK 8 needs),
	// before any socket exists: the helper also creates the trigger file.
	as := &AttachSource{Pid: p.pid, Timeout: 10 * time.Second, AsUser: targetCred(p.pid)}
	ac, err := as.Capture(context.Background())
	if err != nil {
		t.Fatalf("attach as uid %d: %v", nobody, err)
	}
	src, err := NewToolSource(p.pid, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := src.Capture(context.Background())
	if err != nil {
		t.Fatalf("jcmd as uid %d: %v", nobody, err)
	}
	for name, tid := range p.tids {
		for how, d := range map[string]Dump{"jcmd": c.Dump, "attach": ac.Dump} {
			if th := byName(d, name); th == nil || th.Tid != tid {
				t.Errorf("%s as uid %d: thread %q (tid %d): dump has %+v", how, nobody, name, tid, th)
			}
		}
	}
	t.Logf("%d threads named through jcmd and through the attach helper, both run as uid %d", len(p.tids), nobody)
}

// TestToolSourceRefuses: targets that a dump request would harm or cannot
// serve are refused with a one-line error, and left alive.
func TestToolSourceRefuses(t *testing.T) {
	testenv.RequireIntegration(t) // starts JVMs
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("SKIPPED: java not on PATH: the live JVM tests of ToolSource did not run")
	}
	classes := compileProbe(t)

	check := func(t *testing.T, pid int, want string) {
		t.Helper()
		src, err := NewToolSource(pid, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Capture(context.Background())
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("Capture error %q, want one line containing %q", err, want)
		}
	}

	t.Run("not a JVM", func(t *testing.T) {
		sleep := exec.Command("sleep", "60")
		if err := sleep.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { sleep.Process.Kill(); sleep.Wait() }()
		check(t, sleep.Process.Pid, "not a HotSpot JVM")
		if err := sleep.Process.Signal(syscall.Signal(0)); err != nil {
			t.Errorf("sleep died: %v", err)
		}
	})
	t.Run("-Xrs", func(t *testing.T) {
		// -Xrs: the JVM leaves SIGQUIT to its default action (death), so
		// it opens its attach socket at start-up instead. Dumps work...
		p := startProbe(t, java, classes, "-Xrs")
		src, err := NewToolSource(p.pid, 30*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Capture(context.Background()); err != nil {
			t.Fatalf("-Xrs JVM with its attach socket: %v", err)
		}
		// ...but without the socket, the attach handshake's SIGQUIT would
		// kill it: refused.
		sock := filepath.Join(procPath(p.pid, "root"), "tmp", ".java_pid"+strconv.Itoa(p.pid))
		if err := os.Remove(sock); err != nil {
			t.Fatal(err)
		}
		check(t, p.pid, "does not catch SIGQUIT")
		if !Alive(p.pid) {
			t.Errorf("the -Xrs JVM died")
		}
	})
	t.Run("timeout", func(t *testing.T) {
		p := startProbe(t, java, classes)
		src, err := NewToolSource(p.pid, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		_, err = src.Capture(context.Background())
		if err == nil || !strings.Contains(err.Error(), "timed out") {
			t.Errorf("Capture error %v, want a timeout", err)
		}
		if !Alive(p.pid) {
			t.Errorf("the JVM died")
		}
	})
	t.Run("exited", func(t *testing.T) {
		p := startProbe(t, java, classes)
		src, err := NewToolSource(p.pid, 20*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		syscall.Kill(p.pid, syscall.SIGKILL)
		for i := 0; i < 100 && Alive(p.pid); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		_, err = src.Capture(context.Background())
		if err == nil || !strings.Contains(err.Error(), "no such process") {
			t.Errorf("Capture error %v, want no such process", err)
		}
	})
}

func TestIsJVM(t *testing.T) {
	if ok, err := IsJVM(os.Getpid()); ok || err != nil {
		t.Errorf("IsJVM(self) = %v, %v; want false, nil", ok, err)
	}
	if _, err := IsJVM(freePid(t)); err == nil || !strings.Contains(err.Error(), "no such process") {
		t.Errorf("IsJVM(free pid) error %v, want no such process", err)
	}
	if _, err := IsJVM(0); err == nil {
		t.Errorf("IsJVM(0): no error")
	}
}

// freePid returns a pid that no process has.
func freePid(t *testing.T) int {
	for pid := 4194000; pid > 1000; pid -= 997 {
		if _, err := os.Stat(procPath(pid, "")); err != nil {
			return pid
		}
	}
	t.Fatal("no free pid found")
	return 0
}

func TestComms(t *testing.T) {
	comms, err := Comms(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	exe, _ := os.Executable()
	if got, want := comms[os.Getpid()], comm15(filepath.Base(exe)); got != want {
		t.Errorf("comm of the main thread %q, want %q", got, want)
	}
	ents, _ := os.ReadDir("/proc/self/task")
	if len(comms) == 0 || len(comms) > len(ents)+8 {
		t.Errorf("%d comms for %d tasks", len(comms), len(ents))
	}
	if _, err := Comms(freePid(t)); err == nil {
		t.Errorf("Comms(free pid): no error")
	}
	ns, err := NSTids(os.Getpid())
	if err != nil || ns[os.Getpid()] == 0 {
		t.Errorf("NSTids(self) = %v, %v", ns, err)
	}
}

func TestSigCaught(t *testing.T) {
	st := []byte("Name:\tjava\nSigBlk:\t0000000000000000\nSigCgt:\t0000000101001cc8\nNSpid:\t15830\t1\n")
	if caught, ok := sigCaught(st, syscall.SIGQUIT); !ok || caught {
		t.Errorf("-Xrs mask: caught %v ok %v", caught, ok)
	}
	if caught, ok := sigCaught(bytes.Replace(st, []byte("1cc8"), []byte("1ccc"), 1), syscall.SIGQUIT); !ok || !caught {
		t.Errorf("normal mask: caught %v ok %v", caught, ok)
	}
	if ns, ok := statusLastField(st, "NSpid:"); !ok || ns != 1 {
		t.Errorf("NSpid last field %d %v", ns, ok)
	}
}

func TestToolMessage(t *testing.T) {
	tests := []struct{ stdout, stderr, want string }{
		{"3613:\n", "com.sun.tools.attach.AttachNotSupportedException: The VM does not support the attach mechanism\n\tat jdk.attach/x(Y.java:1)\n", "The VM does not support the attach mechanism"},
		{"3613: The VM does not support the attach mechanism\n", "", "The VM does not support the attach mechanism"},
		{"3613:\n", "", "no output"},
		{"", "Picked up JAVA_TOOL_OPTIONS: -Xmx1g\njava.io.IOException: No such process\n\tat x\n", "No such process"},
	}
	for _, tc := range tests {
		if got := toolMessage([]byte(tc.stdout), []byte(tc.stderr), 3613); got != tc.want {
			t.Errorf("toolMessage(%q, %q) = %q, want %q", tc.stdout, tc.stderr, got, tc.want)
		}
	}
}
