// Package testenv holds what the tests of every package share: the tiers
// (unit tests run anywhere in seconds; root and JVM end-to-end tests are
// marked and skipped under -short), waiting for a state instead of
// sleeping, and checking that the BPF objects a traced process held are
// gone (by ID: other jschedlat runs on the host hold objects of the same
// names).
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// RequireRoot marks a root end-to-end test (it loads BPF programs, reads
// other processes' state, or traces a JVM): skipped under -short, and
// skipped with a loud message when not root.
func RequireRoot(t testing.TB) {
	t.Helper()
	RequireIntegration(t)
	if os.Geteuid() != 0 {
		t.Skip("SKIPPED: NOT ROOT. This end-to-end test loads BPF programs or traces a JVM; run `make test` (or go test without -short) as root, as CI does.")
	}
}

// RequireIntegration marks an end-to-end test that needs no root but runs
// a JVM or takes seconds: skipped under -short.
func RequireIntegration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped under -short")
	}
}

// RequireJava skips when no java and javac are on PATH (the test runs a
// JVM); CI installs them.
func RequireJava(t testing.TB) {
	t.Helper()
	RequireIntegration(t)
	for _, c := range []string{"java", "javac"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("SKIPPED: no %s on PATH; this test runs a JVM", c)
		}
	}
}

// WaitFor polls cond until it holds, failing the test after timeout. The
// timeout is a bound for a stuck run, not a measurement: make it generous
// (start-up on a loaded host takes seconds).
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if !Eventually(timeout, cond) {
		t.Fatalf("timed out after %v waiting for %s", timeout, what)
	}
}

// Eventually polls cond until it holds or timeout passes and says which.
func Eventually(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for wait := time.Millisecond; ; {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
		if wait < 50*time.Millisecond {
			wait *= 2
		}
	}
}

// Output is an io.Writer safe for a child process's output to be written
// to while the test reads it (a bytes.Buffer is not).
type Output struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.Write(p)
}

// String returns everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// Contains says whether s was written.
func (o *Output) Contains(s string) bool { return strings.Contains(o.String(), s) }

// WaitFor waits until s has been written (e.g. the tool's "tracing" log
// line), failing the test after timeout with the output so far.
func (o *Output) WaitFor(t testing.TB, timeout time.Duration, s string) {
	t.Helper()
	if !Eventually(timeout, func() bool { return o.Contains(s) }) {
		t.Fatalf("timed out after %v waiting for %q in the output:\n%s", timeout, s, o.String())
	}
}

// BPFHeld is the set of BPF programs, maps and links that one process
// held, by ID: after it exited exactly those must be gone, whatever other
// processes on the host hold.
type BPFHeld struct {
	mu    sync.Mutex
	progs map[ebpf.ProgramID]bool
	maps  map[ebpf.MapID]bool
	links map[link.ID]bool
	stop  chan struct{}
	done  chan struct{}
}

// WatchBPF records, until Gone is called, every BPF object process pid
// holds a descriptor of (from /proc/PID/fdinfo, polled): the process may
// load more as it goes (follow mode) and must not be missed if it loads
// them late on a busy host.
func WatchBPF(pid int) *BPFHeld {
	return watch(func() []int { return []int{pid} })
}

func watch(pids func() []int) *BPFHeld {
	h := &BPFHeld{
		progs: map[ebpf.ProgramID]bool{},
		maps:  map[ebpf.MapID]bool{},
		links: map[link.ID]bool{},
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	// The first scan before returning: what the process holds now is
	// recorded even if it exits right after (a caller about to stop it).
	for _, pid := range pids() {
		h.scan(pid)
	}
	go func() {
		defer close(h.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			for _, pid := range pids() {
				h.scan(pid)
			}
			select {
			case <-h.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return h
}

// children are the processes this test process started (every thread's
// children: a Go program forks from any of them).
func children() []int {
	var pids []int
	files, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", os.Getpid()))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		for _, w := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(w); err == nil {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

var (
	childrenOnce sync.Once
	childrenHeld *BPFHeld
)

// WatchChildrenBPF starts (once per test binary) recording every BPF
// object that any process this test process started holds; call it before
// starting them. ChildrenGone then checks the recorded ones are unloaded.
func WatchChildrenBPF() {
	childrenOnce.Do(func() {
		childrenHeld = watch(children)
	})
}

// ChildrenGone checks, once the processes this test started have exited,
// that they held BPF programs and maps and that every one of them is
// unloaded (objects of other jschedlat runs on the host do not count),
// then forgets them for the next check.
func ChildrenGone(t testing.TB) {
	t.Helper()
	if childrenHeld == nil {
		t.Fatal("testenv.WatchChildrenBPF was not called before the traced processes started")
	}
	h := childrenHeld
	h.check(t)
	h.mu.Lock()
	h.progs = map[ebpf.ProgramID]bool{}
	h.maps = map[ebpf.MapID]bool{}
	h.links = map[link.ID]bool{}
	h.mu.Unlock()
}

func (h *BPFHeld) scan(pid int) {
	infos, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fdinfo/*", pid))
	for _, p := range infos {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		var prog, mp, lnk uint64
		for _, l := range strings.Split(string(b), "\n") {
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				continue
			}
			id, err := strconv.ParseUint(strings.TrimSpace(v), 10, 32)
			if err != nil {
				continue
			}
			switch k {
			case "prog_id":
				prog = id
			case "map_id":
				mp = id
			case "link_id":
				lnk = id
			}
		}
		h.mu.Lock()
		switch {
		case lnk != 0: // a link's fdinfo names its program too
			h.links[link.ID(lnk)] = true
		case prog != 0:
			h.progs[ebpf.ProgramID(prog)] = true
		case mp != 0:
			h.maps[ebpf.MapID(mp)] = true
		}
		h.mu.Unlock()
	}
}

// Counts says how many programs, maps and links were seen.
func (h *BPFHeld) Counts() (progs, maps, links int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.progs), len(h.maps), len(h.links)
}

// Left lists the recorded objects still loaded.
func (h *BPFHeld) Left() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var left []string
	for id := range h.progs {
		if p, err := ebpf.NewProgramFromID(id); err == nil {
			p.Close()
			left = append(left, fmt.Sprintf("program %d", id))
		}
	}
	for id := range h.maps {
		if m, err := ebpf.NewMapFromID(id); err == nil {
			m.Close()
			left = append(left, fmt.Sprintf("map %d", id))
		}
	}
	for id := range h.links {
		if l, err := link.NewFromID(id); err == nil {
			l.Close()
			left = append(left, fmt.Sprintf("link %d", id))
		}
	}
	return left
}

// Gone stops watching (call it once the process exited) and checks that
// it held programs and maps and that all of them are unloaded. The kernel
// frees them after an RCU grace period once the last descriptor closes,
// later on a loaded host: wait for that, up to 10 s.
func (h *BPFHeld) Gone(t testing.TB) {
	t.Helper()
	select {
	case <-h.stop:
	default:
		close(h.stop)
	}
	<-h.done
	h.check(t)
}

func (h *BPFHeld) check(t testing.TB) {
	t.Helper()
	if p, m, _ := h.Counts(); p == 0 || m == 0 {
		t.Errorf("the traced process was never seen holding a BPF program and map (%d programs, %d maps)", p, m)
		return
	}
	var left []string
	if !Eventually(10*time.Second, func() bool { left = h.Left(); return len(left) == 0 }) {
		t.Errorf("BPF objects the run held still loaded 10 s after it exited: %v", left)
	}
}
