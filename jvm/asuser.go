package jvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// NewSourceAsUser is NewSource for a jschedlat that may not be root: when
// it is neither root nor the JVM's effective user but holds CAP_SETUID and
// CAP_SETGID, every request runs in the helper started as the JVM's
// effective uid and gid (the listener accepts no one else, and jcmd would
// be refused the same way). The helper needs nothing more: as the JVM's
// user it reaches the JVM's /tmp through /proc/PID/root, creates the
// trigger file and sends SIGQUIT. Safepoint counters are read when this
// process can (CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH for another user's
// JVM); without them dumps are not metered. In every other case it returns
// NewSource(pid, timeout).
//
// A JVM running as root is never attached to this way: a helper started as
// uid 0 would be root with every capability.
func NewSourceAsUser(pid int, timeout time.Duration) (Source, error) {
	cred := setIDCred(pid)
	if cred == nil {
		return NewSource(pid, timeout)
	}
	a, err := NewAttachSource(pid, timeout)
	if err != nil {
		return nil, err
	}
	a.AsUser = cred
	meter, err := OpenSafepointMeter(pid)
	if err != nil {
		return a, nil
	}
	return &Metered{Source: a, Meter: meter}, nil
}

// setIDCred returns the JVM's effective uid and gid when this process is
// not root, runs as another effective uid than the JVM, which is not root
// either, and holds CAP_SETUID and CAP_SETGID; else nil.
func setIDCred(pid int) *syscall.Credential {
	euid := os.Geteuid()
	if euid == 0 {
		return nil // NewSource does it (targetCred)
	}
	if caps, ok := EffectiveCaps(); !ok || !caps.Has(CapSetuid, CapSetgid) {
		return nil
	}
	uid, gid, _, err := ProcessCreds(pid)
	if err != nil || uid == 0 || uid == euid {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// JDK 8's attach listener accepts only peers with its own effective uid and
// gid, and only a trigger file its own user owns: root is refused. A root
// jschedlat then runs the attach request in a copy of itself started as the
// JVM's user (a few ms, against a JVM start-up for jcmd; and a JRE 8 has no
// jcmd at all). The copy is this same executable: package init sees
// asUserEnv, does the one request and exits, before main or any test runs.
//
// Later JDKs accept root besides their own user, and nobody else: a
// jschedlat that is not root and not the JVM's user takes every dump that
// way too, which needs CAP_SETUID and CAP_SETGID (see NewSourceAsUser).
const asUserEnv = "JSCHEDLAT_ATTACH_AS_USER"

func init() {
	if os.Getenv(asUserEnv) == "1" {
		os.Exit(runAsUserHelper(os.Args[1:]))
	}
}

// helperID is not sent to the JVM: the helper answers with the effective
// uid and gid it runs as (for diagnostics and tests).
const helperID = "jschedlat-id"

// Exit codes of the helper besides 0 (the output follows on stdout).
const (
	helperFailed  = 1 // stderr says why
	helperRefused = 3 // stdout: code line, then the JVM's message
)

// runAsUserHelper performs the request in f: pid, protocol, timeout in ms,
// command and arguments.
func runAsUserHelper(f []string) int {
	if len(f) < 4 {
		fmt.Fprintln(os.Stderr, "attach helper: malformed request")
		return helperFailed
	}
	pid, err1 := strconv.Atoi(f[0])
	proto, err2 := strconv.Atoi(f[1])
	ms, err3 := strconv.Atoi(f[2])
	if err := errors.Join(err1, err2, err3); err != nil {
		fmt.Fprintln(os.Stderr, "attach helper:", err)
		return helperFailed
	}
	if f[3] == helperID {
		fmt.Printf("%d %d", os.Geteuid(), os.Getegid())
		return 0
	}
	s := &AttachSource{Pid: pid, Timeout: time.Duration(ms) * time.Millisecond, proto: proto}
	// Asked to stop (the run ends, or jschedlat died): end the request and
	// remove the trigger file it created.
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctx, cancel := context.WithTimeout(sigCtx, s.Timeout)
	defer cancel()
	out, err := s.execute(ctx, f[3], f[4:]...)
	var refused *RefusedError
	switch {
	case errors.As(err, &refused):
		fmt.Printf("%d\n%s", refused.Code, refused.Message)
		return helperRefused
	case err != nil:
		fmt.Fprintln(os.Stderr, err)
		return helperFailed
	}
	if _, err := os.Stdout.Write(out); err != nil {
		return helperFailed
	}
	return 0
}

// executeAsUser runs one request through a helper with cred's uid and gid.
func (s *AttachSource) executeAsUser(ctx context.Context, cred *syscall.Credential, cmd string, args ...string) ([]byte, error) {
	timeout := s.Timeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	req := append([]string{strconv.Itoa(s.Pid), strconv.Itoa(max(s.proto, 1)),
		strconv.FormatInt(timeout.Milliseconds(), 10), cmd}, args...)
	// /proc/self/exe is reached without walking the executable's
	// directories, which the JVM's user may not be allowed into.
	c := exec.CommandContext(ctx, "/proc/self/exe", req...)
	c.Env = []string{asUserEnv + "=1"}
	c.Dir = "/"
	// Stopped with SIGTERM, not killed, so that it removes the trigger
	// file it created (a helper left alone ends at its own timeout).
	c.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	c.Cancel = func() error { return c.Process.Signal(syscall.SIGTERM) }
	c.WaitDelay = 2 * time.Second
	var stdout, stderr bytes.Buffer
	c.Stdout, c.Stderr = &stdout, &stderr
	err := c.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return stdout.Bytes(), nil
	case errors.As(err, &exit) && exit.ExitCode() == helperRefused:
		code, msg, _ := strings.Cut(stdout.String(), "\n")
		n, _ := strconv.Atoi(code)
		return nil, &RefusedError{Cmd: cmd, Code: n, Message: msg}
	case errors.As(err, &exit) && exit.ExitCode() == helperFailed:
		return nil, fmt.Errorf("as uid %d: %s", cred.Uid, strings.TrimSpace(stderr.String()))
	}
	return nil, fmt.Errorf("attach helper as uid %d: %w", cred.Uid, err)
}
