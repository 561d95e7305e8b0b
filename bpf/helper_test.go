package bpf

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The test binary re-executes itself as the traced workload, so the tests
// need no other program. helperEnv selects the workload.
const helperEnv = "JSCHEDLAT_BPF_TEST_HELPER"

func TestMain(m *testing.M) {
	switch mode := os.Getenv(helperEnv); mode {
	case "":
		os.Exit(m.Run())
	case "contention":
		contention()
	case "contention-1cpu":
		pinAll(0)
		contention()
	case "threads":
		shortThreads()
	case "pingpong":
		pingPong()
	case "new":
		// Report what New says to an unprivileged user.
		_, err := New(Config{Pid: 1})
		fmt.Println(err)
	default:
		fmt.Fprintf(os.Stderr, "unknown helper mode %q\n", mode)
		os.Exit(2)
	}
	os.Exit(0)
}

func spin(d time.Duration) {
	for end := time.Now().Add(d); time.Now().Before(end); {
	}
}

var spinSink int

// spinIters burns CPU without a preemption point of the Go scheduler
// (nosplit: no stack check), so that with async preemption off the Go
// runtime never moves a worker's goroutine and its own threads stay idle.
//
//go:nosplit
func spinIters(n int) {
	x := 0
	for i := 0; i < n; i++ {
		x += i ^ x
	}
	spinSink = x
}

// itersPerMs calibrates spinIters.
func itersPerMs() int {
	const n = 50_000_000
	t0 := time.Now()
	spinIters(n)
	return int(float64(n) / (float64(time.Since(t0)) / float64(time.Millisecond)))
}

// exitOnEOF ends the helper when the test closes its stdin or dies.
func exitOnEOF() {
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
}

// pinAll binds every thread of this process to cpu; threads created later
// inherit it from their creator.
func pinAll(cpu int) {
	var set unix.CPUSet
	set.Set(cpu)
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		panic(err)
	}
	for _, t := range tasks {
		tid, _ := strconv.Atoi(t.Name())
		if err := unix.SchedSetaffinity(tid, &set); err != nil {
			panic(err)
		}
	}
}

// contention runs six threads on a 2-CPU machine so that they queue for
// CPUs in every way: pure spinners (preempted), spin-then-sleep threads
// (woken) and a spinner that calls sched_yield (yield). The loops use raw
// syscalls and no Go preemption points (the test runs this helper with
// GODEBUG=asyncpreemptoff=1): otherwise Go's scheduler hands preempted
// goroutines between threads and its own threads add noisy waits.
func contention() {
	exitOnEOF()
	// Locked goroutines each need a P to run; without enough Ps they would
	// wait in Go's scheduler instead of the kernel's run queue.
	runtime.GOMAXPROCS(16)
	perMs := itersPerMs()
	sleeper := func(spinMs int, sleep time.Duration) func() {
		return func() {
			ts := &unix.Timespec{Nsec: int64(sleep)}
			for {
				spinIters(spinMs * perMs)
				unix.RawSyscall(unix.SYS_NANOSLEEP, uintptr(unsafe.Pointer(ts)), 0, 0)
			}
		}
	}
	workers := []func(){
		func() { spinIters(math.MaxInt) },
		func() { spinIters(math.MaxInt) },
		func() { spinIters(math.MaxInt) },
		sleeper(2, time.Millisecond),
		sleeper(1, 200*time.Microsecond),
		func() {
			for {
				spinIters(perMs / 5)
				unix.RawSyscall(unix.SYS_SCHED_YIELD, 0, 0, 0)
			}
		},
	}
	var started sync.WaitGroup
	for _, w := range workers {
		started.Add(1)
		go func() {
			runtime.LockOSThread() // one stable OS thread per worker
			started.Done()
			w()
		}()
	}
	started.Wait()
	fmt.Println("ready")
	select {}
}

// shortThreads creates threads that end: a goroutine that exits while
// locked to its thread takes the thread with it. It prints each such TID.
func shortThreads() {
	// Wait until the tracer is attached (the test sends a line).
	fmt.Println("ready")
	bufio.NewReader(os.Stdin).ReadString('\n')
	exitOnEOF()
	pid := os.Getpid()
	for i := 0; i < 20; i++ {
		tids := make(chan int)
		go func() {
			runtime.LockOSThread()
			spin(time.Millisecond)
			tids <- unix.Gettid()
		}()
		// The main thread cannot exit; Go parks it instead.
		if tid := <-tids; tid != pid {
			fmt.Printf("tid %d\n", tid)
		}
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println("done")
	select {}
}

// pingPong is a context-switch storm: pairs of threads bounce a byte
// through blocking pipes, so every hop is a wakeup and a switch.
func pingPong() {
	exitOnEOF()
	runtime.GOMAXPROCS(32)
	pairs := 4
	if n, err := strconv.Atoi(os.Getenv("PINGPONG_PAIRS")); err == nil {
		pairs = n
	}
	for i := 0; i < pairs; i++ {
		var ab, ba [2]int
		if err := unix.Pipe(ab[:]); err != nil {
			panic(err)
		}
		if err := unix.Pipe(ba[:]); err != nil {
			panic(err)
		}
		bounce := func(in, out int, first bool) {
			runtime.LockOSThread()
			b := []byte{0}
			if first {
				unix.Write(out, b)
			}
			for {
				unix.Read(in, b)
				unix.Write(out, b)
			}
		}
		go bounce(ba[0], ab[1], true)
		go bounce(ab[0], ba[1], false)
	}
	fmt.Println("ready")
	select {}
}

// helper is a running workload process.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func (h *helper) pid() uint32 { return uint32(h.cmd.Process.Pid) }

// startHelper starts the test binary in the given mode and waits for its
// first output line (ready). It is killed at cleanup.
func startHelper(t *testing.T, mode string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	// Async preemption would make Go move the contention workers between
	// threads (see contention).
	cmd.Env = append(os.Environ(), helperEnv+"="+mode, "GODEBUG=asyncpreemptoff=1")
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		h.stdin.Close()
		h.cmd.Process.Kill()
		h.cmd.Wait()
	})
	return h
}

// send writes a line to the helper's stdin.
func (h *helper) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(h.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// line returns the helper's next output line.
func (h *helper) line(t *testing.T) string {
	t.Helper()
	if !h.out.Scan() {
		t.Fatalf("helper ended early: %v", h.out.Err())
	}
	return strings.TrimSpace(h.out.Text())
}

// setSysctl sets a /proc/sys value and restores the old one at cleanup.
func setSysctl(t testing.TB, name, value string) {
	t.Helper()
	path := "/proc/sys/" + strings.ReplaceAll(name, ".", "/")
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Fatalf("setting %s=%s: %v", name, value, err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Errorf("restoring %s: %v", name, err)
		}
	})
}
