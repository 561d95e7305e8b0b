package jvm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// AttachSource takes thread dumps over HotSpot's dynamic-attach socket, the
// way jstack does, without starting a JVM: a request costs milliseconds
// instead of a few hundred ms of CPU for a jcmd client, which both perturbs
// what is measured and is too slow to name threads that live under a
// second.
type AttachSource struct {
	Pid     int
	Timeout time.Duration // whole request, including starting the attach listener

	// AsUser runs every request as the JVM's effective uid and gid (see
	// asuser.go); needed for JDK 8 when we are root.
	AsUser *syscall.Credential

	// What the JVM speaks, learnt on the first request: protocol 1, or 2
	// (JDK 24+) and whether it takes the streaming option.
	proto     int
	streaming bool
}

// NewAttachSource checks that pid is a JVM that can be attached to.
func NewAttachSource(pid int, timeout time.Duration) (*AttachSource, error) {
	if timeout <= 0 {
		timeout = DefaultToolTimeout
	}
	if err := checkAttachable(pid); err != nil {
		return nil, err
	}
	return &AttachSource{Pid: pid, Timeout: timeout}, nil
}

// Name returns "attach".
func (s *AttachSource) Name() string { return "attach" }

// paths returns the JVM's attach socket and trigger file candidates, seen
// from the host: the JVM may live in other PID and mount namespaces.
func (s *AttachSource) paths() (sock string, triggers []string, err error) {
	st, err := readStatus(s.Pid)
	if err != nil {
		return "", nil, err
	}
	nspid := s.Pid
	if v, ok := statusLastField(st, "NSpid:"); ok {
		nspid = v
	}
	tmp := filepath.Join(procPath(s.Pid, "root"), "tmp")
	name := strconv.Itoa(nspid)
	sock = filepath.Join(tmp, ".java_pid"+name)
	// HotSpot looks for the trigger in its working directory, then in /tmp.
	triggers = []string{filepath.Join(procPath(s.Pid, "cwd"), ".attach_pid"+name), filepath.Join(tmp, ".attach_pid"+name)}
	return sock, triggers, nil
}

func isSocket(path string) bool {
	fi, err := os.Lstat(path) // a symlink planted in /tmp is not followed
	return err == nil && fi.Mode()&fs.ModeSocket != 0
}

// startListener creates the trigger file and sends SIGQUIT, then waits for
// the socket. Only a trigger this call created is removed afterwards.
func (s *AttachSource) startListener(ctx context.Context, sock string, triggers []string) error {
	if err := checkAttachable(s.Pid); err != nil {
		return err
	}
	return s.signalListener(ctx, sock, triggers)
}

// signalListener is startListener once the process is known to be a JVM.
// Every way out of it (the socket came, the JVM exited, the deadline, a
// cancellation) removes the trigger it created.
func (s *AttachSource) signalListener(ctx context.Context, sock string, triggers []string) error {
	for _, path := range triggers {
		t, err := createTrigger(path)
		if err == nil {
			defer t.remove()
			break
		}
		if errors.Is(err, fs.ErrExist) {
			// Someone else's attach is under way: its trigger works for
			// us too, and it is not ours to delete.
			break
		}
	}
	if err := syscall.Kill(s.Pid, syscall.SIGQUIT); err != nil {
		return fmt.Errorf("signalling pid %d: %w", s.Pid, err)
	}
	delay := 2 * time.Millisecond
	for !isSocket(sock) {
		select {
		case <-ctx.Done():
			return fmt.Errorf("JVM %d did not open its attach socket: %w", s.Pid, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
		if !Alive(s.Pid) {
			return fmt.Errorf("pid %d exited", s.Pid)
		}
	}
	return nil
}

// trigger is an attach trigger file this process created. It is removed
// through a descriptor of its directory, taken when it was created: its
// path goes through /proc/PID/cwd, which no longer leads anywhere once the
// JVM has exited, and the file would stay in the JVM's working directory.
type trigger struct {
	dir  int
	name string
}

// triggers are the trigger files that exist now, for RemoveTriggers.
var triggers struct {
	sync.Mutex
	live map[*trigger]bool
}

func createTrigger(path string) (*trigger, error) {
	dir, name := filepath.Split(path)
	triggers.Lock()
	defer triggers.Unlock()
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		unix.Close(dfd)
		return nil, &fs.PathError{Op: "create", Path: path, Err: err}
	}
	unix.Close(fd)
	t := &trigger{dir: dfd, name: name}
	if triggers.live == nil {
		triggers.live = map[*trigger]bool{}
	}
	triggers.live[t] = true
	return t, nil
}

func (t *trigger) remove() {
	triggers.Lock()
	defer triggers.Unlock()
	if triggers.live[t] {
		t.unlink()
		delete(triggers.live, t)
	}
}

func (t *trigger) unlink() {
	_ = unix.Unlinkat(t.dir, t.name, 0)
	unix.Close(t.dir)
}

// RemoveTriggers removes the attach trigger files this process created
// and still has: for an exit that does not wait for the requests under
// way (a second SIGINT).
func RemoveTriggers() {
	triggers.Lock()
	defer triggers.Unlock()
	for t := range triggers.live {
		t.unlink()
	}
	clear(triggers.live)
}

// Capture asks the JVM for a thread dump (without locked synchronizers).
func (s *AttachSource) Capture(ctx context.Context) (*Capture, error) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	if s.proto == 0 {
		if err := s.negotiate(ctx); err != nil {
			return nil, fmt.Errorf("thread dump of pid %d via attach: %w", s.Pid, err)
		}
	}
	// JDK 25 writes the dump to the socket while the JVM is stopped: a
	// reader that is slow to be scheduled lengthens the pause (142 ms
	// against 0.4 ms measured with one reading 512 bytes every 20 ms).
	// streaming=0 has the JVM print into memory and send after the
	// safepoint.
	cmd := "threaddump"
	if s.streaming {
		cmd += " streaming=0"
	}
	start := time.Now()
	raw, err := s.Execute(ctx, cmd)
	end := time.Now()
	if err != nil {
		return nil, fmt.Errorf("thread dump of pid %d via attach: %w", s.Pid, err)
	}
	c := &Capture{Pid: s.Pid, Start: start, End: end, Source: s.Name(), Raw: raw}
	dumps, perr := ParseDumps(bytes.NewReader(raw), time.Local)
	if len(dumps) == 0 {
		if perr == nil {
			perr = errors.New("no thread dump in the reply")
		}
		return nil, fmt.Errorf("thread dump of pid %d via attach: %w", s.Pid, perr)
	}
	c.Dump = dumps[0]
	return c, nil
}

// negotiate asks the JVM which attach protocol it speaks: JDK 24+ answer
// the v1 command "getversion options" with "2" and the options they take
// ("2 streaming"); older JVMs refuse the command and speak v1.
func (s *AttachSource) negotiate(ctx context.Context) error {
	s.proto = 1
	out, err := s.Execute(ctx, "getversion", "options")
	if err != nil {
		var refused *RefusedError
		if errors.As(err, &refused) {
			return nil
		}
		s.proto = 0
		return err
	}
	f := strings.Fields(string(out))
	if len(f) > 0 && f[0] == "2" {
		s.proto = 2
		s.streaming = slices.Contains(f[1:], "streaming")
	}
	return nil
}

// RefusedError is a JVM's non-zero answer to an attach command.
type RefusedError struct {
	Cmd     string
	Code    int
	Message string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("JVM refused %s (code %d): %s", e.Cmd, e.Code, e.Message)
}

// attachRequest encodes one command. Protocol 1: "1", the command and
// exactly three arguments, each NUL-terminated. Protocol 2: "2", the size
// of what follows (the command and its arguments, each with its NUL), then
// them.
func attachRequest(proto int, cmd string, args ...string) []byte {
	field := func(b []byte, s string) []byte { return append(append(b, s...), 0) }
	if proto == 2 {
		size := len(cmd) + 1
		for _, a := range args {
			size += len(a) + 1
		}
		req := field(field([]byte{}, "2"), strconv.Itoa(size))
		req = field(req, cmd)
		for _, a := range args {
			req = field(req, a)
		}
		return req
	}
	req := field(field([]byte{}, "1"), cmd)
	for i := 0; i < 3; i++ {
		a := ""
		if i < len(args) {
			a = args[i]
		}
		req = field(req, a)
	}
	return req
}

// Execute sends one attach command in the protocol the JVM speaks (1 until
// negotiated) and returns its output. The reply is a result code line,
// then the output until EOF.
func (s *AttachSource) Execute(ctx context.Context, cmd string, args ...string) ([]byte, error) {
	if s.AsUser != nil {
		return s.executeAsUser(ctx, s.AsUser, cmd, args...)
	}
	return s.execute(ctx, cmd, args...)
}

func (s *AttachSource) execute(ctx context.Context, cmd string, args ...string) ([]byte, error) {
	sock, triggers, err := s.paths()
	if err != nil {
		return nil, err
	}
	if !isSocket(sock) {
		if err := s.startListener(ctx, sock, triggers); err != nil {
			return nil, err
		}
	}
	if err := s.checkOwner(sock); err != nil {
		return nil, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", sock)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", sock, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	// Cancelled (the run ends): unblock the read now, not at the deadline.
	defer context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })()
	req := attachRequest(max(s.proto, 1), cmd, args...)
	if _, err := conn.Write(req); err != nil {
		return nil, fmt.Errorf("sending %s: %w", cmd, err)
	}
	// JDK 25 streams the dump while the JVM is stopped at a safepoint: read
	// it into memory as fast as it comes.
	var buf bytes.Buffer
	buf.Grow(256 << 10)
	if _, err := io.Copy(&buf, conn); err != nil {
		return nil, fmt.Errorf("reading reply to %s: %w", cmd, err)
	}
	reply := buf.Bytes()
	nl := bytes.IndexByte(reply, '\n')
	if nl < 0 {
		return nil, fmt.Errorf("malformed reply to %s (%d bytes)", cmd, len(reply))
	}
	code, err := strconv.Atoi(string(bytes.TrimSpace(reply[:nl])))
	if err != nil {
		return nil, fmt.Errorf("malformed reply to %s: %q", cmd, clip(reply[:nl], 40))
	}
	out := DecodeModifiedUTF8(reply[nl+1:])
	if code != 0 {
		return nil, &RefusedError{Cmd: cmd, Code: code, Message: clip(bytes.TrimSpace(out), 200)}
	}
	return out, nil
}

// checkOwner refuses a socket that the JVM's user did not create: /tmp is
// shared, and a socket planted there under the JVM's name would receive
// our requests and could answer with made-up thread names.
func (s *AttachSource) checkOwner(sock string) error {
	st, err := readStatus(s.Pid)
	if err != nil {
		return err
	}
	uid, ok := statusField(st, "Uid:", 1)
	fi, err := os.Lstat(sock)
	if err != nil || !ok {
		return fmt.Errorf("attach socket %s: %v", sock, err)
	}
	if sys, isStat := fi.Sys().(*syscall.Stat_t); isStat && int(sys.Uid) != uid {
		return fmt.Errorf("attach socket %s belongs to uid %d, not to the JVM's uid %d: not connecting", sock, sys.Uid, uid)
	}
	return nil
}

// DecodeModifiedUTF8 turns the JVM's modified UTF-8 into standard UTF-8:
// characters outside the BMP arrive as two 3-byte surrogates, and NUL as
// C0 80. Other bytes pass through unchanged. The input is returned as is
// when there is nothing to convert.
func DecodeModifiedUTF8(b []byte) []byte {
	i := 0
	for ; i < len(b); i++ {
		if b[i] == 0xED || b[i] == 0xC0 {
			break
		}
	}
	if i == len(b) {
		return b
	}
	out := make([]byte, 0, len(b))
	out = append(out, b[:i]...)
	for i < len(b) {
		c := b[i]
		if c == 0xC0 && i+1 < len(b) && b[i+1] == 0x80 {
			out = append(out, 0)
			i += 2
			continue
		}
		if hi, ok := surrogate(b[i:], 0xD800); ok {
			if lo, ok := surrogate(b[i+3:], 0xDC00); ok {
				r := 0x10000 + (hi-0xD800)<<10 + (lo - 0xDC00)
				out = utf8.AppendRune(out, rune(r))
				i += 6
				continue
			}
		}
		out = append(out, c)
		i++
	}
	return out
}

// surrogate decodes a 3-byte encoded UTF-16 surrogate in [base, base+0x400).
func surrogate(b []byte, base int) (int, bool) {
	if len(b) < 3 || b[0] != 0xED || b[1]&0xC0 != 0x80 || b[2]&0xC0 != 0x80 {
		return 0, false
	}
	v := int(b[0]&0x0F)<<12 | int(b[1]&0x3F)<<6 | int(b[2]&0x3F)
	if v < base || v >= base+0x400 {
		return 0, false
	}
	return v, true
}

// chainSource tries its sources in order until one gives a dump.
type chainSource []Source

// NewSource returns the best way to take dumps of pid: the direct attach
// (run as the JVM's user too when we are root and it is not: JDK 8 accepts
// nothing else, and is tried that way first), then jcmd/jstack where they
// exist.
func NewSource(pid int, timeout time.Duration) (Source, error) {
	a, aerr := NewAttachSource(pid, timeout)
	meter, merr := OpenSafepointMeter(pid)
	var chain chainSource
	if aerr == nil {
		chain = append(chain, a)
		if cred := targetCred(pid); cred != nil {
			u := &AttachSource{Pid: pid, Timeout: a.Timeout, AsUser: cred}
			if feature, ok := meter.Feature(); ok && feature < 9 {
				// A root request would also make JDK 8 print a dump
				// into its own stdout (SIGQUIT without a trigger it
				// accepts) and wait out the timeout.
				chain = chainSource{u, a}
			} else {
				chain = append(chain, u)
			}
		}
	}
	t, terr := NewToolSource(pid, timeout)
	if terr == nil {
		chain = append(chain, t)
	}
	var src Source = chain
	switch len(chain) {
	case 0:
		if merr == nil {
			meter.Close()
		}
		return nil, aerr
	case 1:
		src = chain[0]
	}
	if merr != nil {
		return src, nil
	}
	return &Metered{Source: src, Meter: meter}, nil
}

func (c chainSource) Name() string { return c[0].Name() }

func (c chainSource) Capture(ctx context.Context) (*Capture, error) {
	var errs []string
	for _, s := range c {
		d, err := s.Capture(ctx)
		if err == nil {
			return d, nil
		}
		errs = append(errs, err.Error())
	}
	return nil, fmt.Errorf("%s", strings.Join(errs, "; fallback: "))
}

// Metered measures what each capture of its Source cost the JVM: the time
// the JVM spent stopped at safepoints while the dump was taken (HotSpot
// takes one to three per dump: threads, JNI handles, deadlocks), read from
// the JVM's own counters before and after.
type Metered struct {
	Source
	Meter *SafepointMeter
}

// Capture takes a dump and fills its Stopped, Safepoints and StopKnown.
func (m *Metered) Capture(ctx context.Context) (*Capture, error) {
	before, berr := m.Meter.Read()
	c, err := m.Source.Capture(ctx)
	if err != nil || berr != nil {
		return c, err
	}
	if after, aerr := m.Meter.Read(); aerr == nil && after.Count >= before.Count {
		c.Stopped, c.Safepoints, c.StopKnown = after.Stopped-before.Stopped, after.Count-before.Count, true
	}
	return c, nil
}

// Close releases the counters file.
func (m *Metered) Close() error { return m.Meter.Close() }
