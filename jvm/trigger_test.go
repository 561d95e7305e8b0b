package jvm

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
)

// startSilent starts a process that ignores SIGQUIT and never opens an
// attach socket (a JVM that does not answer), in a working directory of
// its own.
func startSilent(t *testing.T) (*exec.Cmd, string, chan struct{}) {
	t.Helper()
	cwd := t.TempDir()
	cmd := exec.Command("sh", "-c", `trap "" QUIT; exec sleep 600`)
	cmd.Dir = cwd
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-done })
	// sleep has replaced sh once the executable is sleep's: only then is
	// SIGQUIT ignored for sure.
	waitState(t, "sleep to run", func() bool {
		exe, _ := os.Readlink(procPath(cmd.Process.Pid, "exe"))
		return filepath.Base(exe) == "sleep"
	})
	return cmd, cwd, done
}

func waitState(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Every way out of starting the attach listener removes the trigger file
// it created in the JVM's working directory: the deadline, a
// cancellation, the JVM exiting (its /proc/PID/cwd then leads nowhere),
// and an exit that does not wait for the request (RemoveTriggers).
func TestTriggerRemovedOnEveryWayOut(t *testing.T) {
	for _, way := range []string{"deadline", "cancel", "jvm-exits", "exit-now"} {
		t.Run(way, func(t *testing.T) {
			cmd, cwd, done := startSilent(t)
			pid := cmd.Process.Pid
			s := &AttachSource{Pid: pid, Timeout: time.Minute}
			sock, triggers, err := s.paths()
			if err != nil {
				t.Fatal(err)
			}
			trigger := filepath.Join(cwd, ".attach_pid"+strconv.Itoa(pid))
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			if way == "deadline" {
				ctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
				defer cancel()
			}
			errc := make(chan error, 1)
			go func() { errc <- s.signalListener(ctx, sock, triggers) }()
			waitState(t, "the trigger file", func() bool { _, err := os.Stat(trigger); return err == nil })
			switch way {
			case "cancel":
				cancel()
			case "jvm-exits":
				_ = cmd.Process.Kill()
				<-done // reaped: /proc/PID is gone
			case "exit-now":
				RemoveTriggers()
				if _, err := os.Stat(trigger); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("RemoveTriggers left %s: %v", trigger, err)
				}
				cancel()
			}
			err = <-errc
			if err == nil {
				t.Fatal("no error without an attach socket")
			}
			if _, serr := os.Stat(trigger); !errors.Is(serr, fs.ErrNotExist) {
				t.Errorf("%s: the trigger file stays after %q: %v", way, err, serr)
			}
			t.Logf("%s: %v", way, err)
		})
	}
}

// Another attach's trigger file (it existed before) is not ours to remove.
func TestTriggerOfOthersStays(t *testing.T) {
	cmd, cwd, _ := startSilent(t)
	pid := cmd.Process.Pid
	trigger := filepath.Join(cwd, ".attach_pid"+strconv.Itoa(pid))
	if err := os.WriteFile(trigger, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &AttachSource{Pid: pid, Timeout: time.Minute}
	sock, triggers, err := s.paths()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := s.signalListener(ctx, sock, triggers); err == nil {
		t.Fatal("no error without an attach socket")
	}
	if _, err := os.Stat(trigger); err != nil {
		t.Errorf("someone else's trigger file was removed: %v", err)
	}
}

// The attach helper run as the JVM's user (root attaching to another
// user's JVM) is stopped with SIGTERM when the request is cancelled, and
// removes the trigger file it created. The JVM is stopped (SIGSTOP), so
// its listener never comes.
func TestTriggerRemovedByCancelledHelper(t *testing.T) {
	testenv.RequireRoot(t) // the helper runs as another user
	java, err := exec.LookPath("java")
	if err != nil {
		t.Skip("SKIPPED: java not on PATH")
	}
	dir, err := os.MkdirTemp("", "trigger-probe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("javac", "--release", "17", "-encoding", "UTF-8", "-d", dir, "testdata/java/TidProbe.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	const nobody = 65534
	p := startProbeAs(t, &syscall.Credential{Uid: nobody, Gid: nobody}, java, dir)
	if err := syscall.Kill(p.pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// Killed, not continued: it would print a dump for the pending SIGQUIT.
	t.Cleanup(func() { _ = syscall.Kill(p.pid, syscall.SIGKILL) })
	s := &AttachSource{Pid: p.pid, Timeout: time.Minute, AsUser: targetCred(p.pid)}
	sock, triggers, err := s.paths()
	if err != nil {
		t.Fatal(err)
	}
	if isSocket(sock) {
		t.Skipf("SKIPPED: the JVM's attach listener already runs (%s)", sock)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	errc := make(chan error, 1)
	go func() { _, err := s.Execute(ctx, "threaddump"); errc <- err }()
	var made string
	waitState(t, "the helper's trigger file", func() bool {
		for _, tr := range triggers {
			if _, err := os.Stat(tr); err == nil {
				made = tr
				return true
			}
		}
		return false
	})
	cancel()
	err = <-errc
	if err == nil {
		t.Fatal("a thread dump from a stopped JVM")
	}
	if _, serr := os.Stat(made); !errors.Is(serr, fs.ErrNotExist) {
		t.Errorf("the trigger file %s stays after the request was cancelled (%v): %v", made, err, serr)
	}
	t.Logf("cancelled: %v", err)
}
