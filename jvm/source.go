package jvm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Capture is one live dump request against a JVM.
// MemoryVM is the VM text of a dump that was read from the JVM's memory
// (package hsmem) rather than printed by the JVM: no thread dump was
// taken, the JVM was not stopped.
const MemoryVM = "read from HotSpot memory by jschedlat (no safepoint)"

type Capture struct {
	Pid        int
	Start, End time.Time // wall clock around the request: before sending, after the output was read
	Source     string    // "jcmd", "jstack"
	Raw        []byte    // the dump text exactly as received
	Dump       Dump
	// What the dump cost the application, from the JVM's own counters
	// (see Metered): time spent at safepoints between Start and End and
	// their number. Safepoints the JVM took for other reasons (a GC)
	// inside that window count too. StopKnown is false when the JVM
	// publishes no counters (-XX:-UsePerfData).
	Stopped    time.Duration
	Safepoints int64
	StopKnown  bool
}

// Source takes thread dumps of a live JVM.
type Source interface {
	Capture(ctx context.Context) (*Capture, error)
	Name() string
}

var _ Source = (*ToolSource)(nil)

// DefaultToolTimeout bounds one jcmd/jstack run when ToolSource.Timeout is 0.
const DefaultToolTimeout = 10 * time.Second

// ToolSource takes dumps by running `jcmd PID Thread.print`, or `jstack PID`
// where no jcmd exists. It prefers the tools of the target JVM's own java
// home, then PATH. It never asks for locked synchronizers (-l): that walks the
// whole heap inside the safepoint.
type ToolSource struct {
	Pid     int
	Timeout time.Duration // per run; 0 means DefaultToolTimeout

	tools []tool // candidates, best first; found lazily when empty
}

type tool struct {
	path string
	kind string // "jcmd" or "jstack"
}

// NewToolSource returns a ToolSource for pid; it fails when neither jcmd nor
// jstack can be found.
func NewToolSource(pid int, timeout time.Duration) (*ToolSource, error) {
	s := &ToolSource{Pid: pid, Timeout: timeout}
	s.tools = findTools(pid)
	if len(s.tools) == 0 {
		return nil, fmt.Errorf("no jcmd or jstack for pid %d: none in the JVM's java home nor on PATH", pid)
	}
	return s, nil
}

// Name returns the kind of tool that will be tried first: "jcmd" or "jstack".
func (s *ToolSource) Name() string {
	if len(s.tools) == 0 {
		s.tools = findTools(s.Pid)
	}
	if len(s.tools) == 0 {
		return "jcmd"
	}
	return s.tools[0].kind
}

// Tool returns the path of the tool that will be tried first ("" if none).
func (s *ToolSource) Tool() string {
	if len(s.tools) == 0 {
		s.tools = findTools(s.Pid)
	}
	if len(s.tools) == 0 {
		return ""
	}
	return s.tools[0].path
}

// findTools lists jcmd/jstack candidates: the target's own java home first,
// since a same-version client always speaks the JVM's attach dialect, then PATH.
func findTools(pid int) []tool {
	var dirs []string
	if exe, err := os.Readlink(procPath(pid, "exe")); err == nil {
		exe = strings.TrimSuffix(exe, " (deleted)")
		bin := filepath.Dir(exe)
		homes := []string{bin}
		// JDK 8: the JVM runs $JAVA_HOME/jre/bin/java, the tools are in $JAVA_HOME/bin.
		if filepath.Base(filepath.Dir(bin)) == "jre" {
			homes = append(homes, filepath.Join(filepath.Dir(filepath.Dir(bin)), "bin"))
		}
		root := procPath(pid, "root")
		same := sameFile(root, "/")
		for _, h := range homes {
			if same {
				dirs = append(dirs, h)
			} else {
				// Another mount namespace (a container): its java home is
				// reachable through /proc/PID/root.
				dirs = append(dirs, filepath.Join(root, h))
			}
		}
	}
	var out []tool
	seen := map[string]bool{}
	add := func(path, kind string) {
		if seen[path] {
			return
		}
		if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return
		}
		seen[path] = true
		out = append(out, tool{path: path, kind: kind})
	}
	for _, kind := range []string{"jcmd", "jstack"} {
		for _, d := range dirs {
			add(filepath.Join(d, kind), kind)
		}
	}
	for _, kind := range []string{"jcmd", "jstack"} {
		if p, err := exec.LookPath(kind); err == nil {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			add(p, kind)
		}
	}
	return out
}

// Capture runs the tool once and parses its output. Errors are one line and
// name the cause: tool missing, timeout, JVM refused, target exited.
func (s *ToolSource) Capture(ctx context.Context) (*Capture, error) {
	if len(s.tools) == 0 {
		s.tools = findTools(s.Pid)
		if len(s.tools) == 0 {
			return nil, fmt.Errorf("thread dump of pid %d: no jcmd or jstack found (java home of the JVM, PATH)", s.Pid)
		}
	}
	if err := checkAttachable(s.Pid); err != nil {
		return nil, err
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultToolTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	var startErrs []error
	for _, t := range s.tools {
		c, started, err := s.run(ctx, t, timeout)
		if started {
			return c, err
		}
		startErrs = append(startErrs, err)
	}
	return nil, fmt.Errorf("thread dump of pid %d: no tool could be started: %w", s.Pid, errors.Join(startErrs...))
}

// run executes one tool; started is false when it could not even be started
// (a container's jcmd built for another libc, say), so the next one is tried.
func (s *ToolSource) run(ctx context.Context, t tool, timeout time.Duration) (c *Capture, started bool, err error) {
	args := []string{strconv.Itoa(s.Pid)}
	if t.kind == "jcmd" {
		args = append(args, "Thread.print")
	}
	cmd := exec.CommandContext(ctx, t.path, args...)
	cmd.Env = toolEnv()
	cmd.Dir = "/"
	cmd.WaitDelay = time.Second
	if cred := targetCred(s.Pid); cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr

	what := fmt.Sprintf("%s %s", t.kind, strings.Join(args, " "))
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("%s: starting %s: %w", what, t.path, err)
	}
	werr := cmd.Wait()
	end := time.Now()

	switch {
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		if !Alive(s.Pid) {
			return nil, true, fmt.Errorf("%s: target JVM exited", what)
		}
		return nil, true, fmt.Errorf("%s: timed out after %s", what, timeout)
	case ctx.Err() != nil:
		return nil, true, fmt.Errorf("%s: %w", what, ctx.Err())
	}
	out := stdout.Bytes()
	dumps, perr := ParseDumps(bytes.NewReader(out), time.Local)
	if werr != nil || len(dumps) == 0 {
		if !Alive(s.Pid) {
			return nil, true, fmt.Errorf("%s: target JVM exited", what)
		}
		if werr != nil {
			return nil, true, fmt.Errorf("%s: JVM refused: %s (%w)", what, toolMessage(stdout.Bytes(), stderr.Bytes(), s.Pid), werr)
		}
		if perr != nil {
			return nil, true, fmt.Errorf("%s: unusable output: %w", what, firstError(perr))
		}
		return nil, true, fmt.Errorf("%s: JVM refused: %s", what, toolMessage(stdout.Bytes(), stderr.Bytes(), s.Pid))
	}
	return &Capture{
		Pid:    s.Pid,
		Start:  start,
		End:    end,
		Source: t.kind,
		Raw:    out,
		Dump:   dumps[0],
	}, true, nil
}

// toolEnv is the environment minus the variables that inject options into
// every JVM: an agent or -Xmx meant for applications has no business in the
// short-lived client JVM.
func toolEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch {
		case strings.HasPrefix(kv, "JAVA_TOOL_OPTIONS="),
			strings.HasPrefix(kv, "_JAVA_OPTIONS="),
			strings.HasPrefix(kv, "JDK_JAVA_OPTIONS="):
			continue
		}
		env = append(env, kv)
	}
	return env
}

// targetCred returns the JVM's uid/gid when we are root and it is not: the
// attach listener of older JDKs (8) accepts only peers with its own uid, and
// the JDK tools are meant to run as the JVM's user.
func targetCred(pid int) *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	st, err := readStatus(pid)
	if err != nil {
		return nil
	}
	uid, ok1 := statusField(st, "Uid:", 1) // effective
	gid, ok2 := statusField(st, "Gid:", 1)
	if !ok1 || !ok2 || uid == 0 {
		return nil
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

// toolMessage digs the reason out of a failed jcmd/jstack run: the message
// of the first exception, else the last line that is not the "PID:" echo.
func toolMessage(stdout, stderr []byte, pid int) string {
	all := string(stderr) + "\n" + string(stdout)
	echo := strconv.Itoa(pid) + ":"
	var last string
	for _, l := range strings.Split(all, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l == echo || strings.HasPrefix(l, "at ") || strings.HasPrefix(l, "Picked up ") {
			continue
		}
		if i := strings.Index(l, "Exception: "); i >= 0 {
			return clip([]byte(l[i+len("Exception: "):]), 200)
		}
		last = strings.TrimSpace(strings.TrimPrefix(l, echo))
	}
	if last == "" {
		return "no output"
	}
	return clip([]byte(last), 200)
}

func firstError(err error) error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		if es := j.Unwrap(); len(es) > 0 {
			return es[0]
		}
	}
	return err
}

// checkAttachable refuses targets that attaching would harm or cannot help:
// a dead pid, a process that is not a HotSpot JVM, and a JVM that does not
// catch SIGQUIT (started with -Xrs, or still starting up), which the attach
// handshake's SIGQUIT would kill. The signal is only sent while the attach
// socket does not exist yet, so an existing socket makes the check moot.
func checkAttachable(pid int) error {
	ok, err := IsJVM(pid)
	if err != nil {
		return fmt.Errorf("thread dump of pid %d: %w", pid, err)
	}
	if !ok {
		return fmt.Errorf("thread dump of pid %d: not a HotSpot JVM (no libjvm.so mapped)", pid)
	}
	st, err := readStatus(pid)
	if err != nil {
		return fmt.Errorf("thread dump of pid %d: %w", pid, err)
	}
	nspid := pid
	if v, ok := statusLastField(st, "NSpid:"); ok {
		nspid = v
	}
	sock := filepath.Join(procPath(pid, "root"), "tmp", ".java_pid"+strconv.Itoa(nspid))
	if fi, err := os.Stat(sock); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		return nil
	}
	caught, ok := sigCaught(st, syscall.SIGQUIT)
	if ok && !caught {
		return fmt.Errorf("thread dump of pid %d: JVM does not catch SIGQUIT (-Xrs or still starting), attaching would kill it", pid)
	}
	return nil
}

// IsJVM reports whether pid looks like a HotSpot JVM: it maps libjvm.so, or
// (when its maps cannot be read) its executable is named java. It fails when
// the pid does not exist.
func IsJVM(pid int) (bool, error) {
	if pid <= 0 {
		return false, fmt.Errorf("pid %d: invalid", pid)
	}
	if !Alive(pid) {
		return false, fmt.Errorf("pid %d: no such process", pid)
	}
	f, err := os.Open(procPath(pid, "maps"))
	if err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			if bytes.HasSuffix(sc.Bytes(), []byte("/libjvm.so")) {
				return true, nil
			}
		}
		if sc.Err() == nil {
			return false, nil
		}
	}
	exe, eerr := os.Readlink(procPath(pid, "exe"))
	if eerr != nil {
		if !Alive(pid) {
			return false, fmt.Errorf("pid %d: no such process", pid)
		}
		if err == nil {
			err = eerr
		}
		return false, fmt.Errorf("pid %d: cannot inspect: %w", pid, err)
	}
	return filepath.Base(strings.TrimSuffix(exe, " (deleted)")) == "java", nil
}

// Comms returns /proc/PID/task/*/comm as tid -> comm (the kernel's name of
// the thread, at most 15 bytes, without the trailing newline). Threads that
// exit while it reads are left out.
func Comms(pid int) (map[int]string, error) {
	dir := procPath(pid, "task")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("threads of pid %d: %w", pid, err)
	}
	out := make(map[int]string, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "comm"))
		if err != nil {
			if gone(err) {
				continue
			}
			return nil, fmt.Errorf("comm of thread %d of pid %d: %w", tid, pid, err)
		}
		out[tid] = string(bytes.TrimSuffix(b, []byte("\n")))
	}
	return out, nil
}

// NSTids maps each host TID of pid to the TID the JVM itself sees and prints
// (the last NSpid field): they differ when the JVM runs in its own PID
// namespace, as in a container. Threads that exit while it reads are left out.
func NSTids(pid int) (map[int]int, error) {
	dir := procPath(pid, "task")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("threads of pid %d: %w", pid, err)
	}
	out := make(map[int]int, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "status"))
		if err != nil {
			if gone(err) {
				continue
			}
			return nil, fmt.Errorf("status of thread %d of pid %d: %w", tid, pid, err)
		}
		ns, ok := statusLastField(b, "NSpid:")
		if !ok {
			ns = tid // kernels before 4.1 have no NSpid: no namespaces to undo
		}
		out[tid] = ns
	}
	return out, nil
}

func procPath(pid int, name string) string {
	if name == "" {
		return "/proc/" + strconv.Itoa(pid)
	}
	return "/proc/" + strconv.Itoa(pid) + "/" + name
}

func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ESRCH)
}

// Alive is false for a pid that is gone, dead or a zombie: a zombie has
// exited and only waits for its parent to reap it.
func Alive(pid int) bool {
	b, err := os.ReadFile(procPath(pid, "stat"))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')') // the comm before it may hold anything
	return i < 0 || i+2 >= len(b) || (b[i+2] != 'Z' && b[i+2] != 'X')
}

// InOwnPIDNamespace tells whether pid runs in a PID namespace below ours
// (a container): its NSpid line then lists more than one id, and the JVM
// prints TIDs that differ from the host's.
func InOwnPIDNamespace(pid int) bool {
	st, err := readStatus(pid)
	return err == nil && len(statusLine(st, "NSpid:")) > 1
}

// HostTids maps the TIDs the JVM prints (its own namespace's) to host TIDs:
// the inverse of NSTids.
func HostTids(pid int) (map[int]uint32, error) {
	m, err := NSTids(pid)
	if err != nil {
		return nil, err
	}
	out := make(map[int]uint32, len(m))
	for host, ns := range m {
		out[ns] = uint32(host)
	}
	return out, nil
}

func sameFile(a, b string) bool {
	fa, err := os.Stat(a)
	if err != nil {
		return true // cannot tell; assume the common case of no container
	}
	fb, err := os.Stat(b)
	if err != nil {
		return true
	}
	return os.SameFile(fa, fb)
}

func readStatus(pid int) ([]byte, error) {
	b, err := os.ReadFile(procPath(pid, "status"))
	if err != nil {
		if gone(err) {
			return nil, fmt.Errorf("pid %d: no such process", pid)
		}
		return nil, fmt.Errorf("pid %d: %w", pid, err)
	}
	return b, nil
}

// statusLine returns the fields after key in a /proc status file.
func statusLine(st []byte, key string) []string {
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, key) {
			return strings.Fields(l[len(key):])
		}
	}
	return nil
}

func statusField(st []byte, key string, i int) (int, bool) {
	f := statusLine(st, key)
	if i >= len(f) {
		return 0, false
	}
	v, err := strconv.Atoi(f[i])
	return v, err == nil
}

func statusLastField(st []byte, key string) (int, bool) {
	f := statusLine(st, key)
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.Atoi(f[len(f)-1])
	return v, err == nil
}

// sigCaught reads the SigCgt mask of a status file; ok is false when absent.
func sigCaught(st []byte, sig syscall.Signal) (caught, ok bool) {
	f := statusLine(st, "SigCgt:")
	if len(f) != 1 {
		return false, false
	}
	mask, err := strconv.ParseUint(f[0], 16, 64)
	if err != nil {
		return false, false
	}
	return mask&(1<<(uint(sig)-1)) != 0, true
}
