// Command pingpong measures what a tracer's kernel side adds to a context
// switch: two OS threads pinned to one CPU pass a byte back and forth
// through two pipes N times, and the CPU time the two threads were charged
// for it is printed per round trip. That is the run time of
// /proc/self/task/TID/schedstat, where the kernel charges the tracepoint
// handlers and BPF programs that run on their switches and wakeups. Run it
// untraced and under a tracer, alternately: the difference per round trip
// is what the tracer's kernel side costs for the events of one round trip
// (two switches and two wakeups, and the events they bring).
//
//	pingpong [-n N] [-warmup N] [-cpu C] [-fifo P] [-bpf-pid PID]
//
// The counts are taken while both threads are blocked, just before the
// first measured round trip and just after the last. With -fifo P (the
// default, 1) the two threads run SCHED_FIFO at priority P: on a busy host
// no other task runs between them and a wakeup never preempts, so every
// round trip is exactly two switches and two wakeups; -fifo 0 leaves them
// SCHED_OTHER. -bpf-pid also reads the kernel's statistics (run_time_ns,
// run_cnt; kernel.bpf_stats_enabled=1) of every BPF program that process
// holds, at the same two points (they count the whole host's calls). One
// line:
//
//	pingpong: n=5000 cpu=1 fifo=1 tids=123,124 wall_ns=... cpu_ns=... cpu_ns_per_rt=... switch_ins=... nonvoluntary=... ctxt=... bpf_calls=... bpf_run_ns=... bpf_progs=name:calls:run_ns,...
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/jschedlat/jschedlat/bench/internal/procstat"
)

func main() {
	n := flag.Int("n", 5000, "round trips measured")
	warmup := flag.Int("warmup", 500, "round trips before the measured ones")
	cpu := flag.Int("cpu", runtime.NumCPU()-1, "CPU both threads are pinned to")
	fifo := flag.Int("fifo", 1, "SCHED_FIFO priority of the two threads (1..99; 0 = SCHED_OTHER)")
	bpfPid := flag.Int("bpf-pid", 0, "also count the BPF programs this process holds (0 = none)")
	flag.Parse()
	if *n < 1 || *warmup < 0 || *cpu < 0 || *cpu >= runtime.NumCPU() || *fifo < 0 || *fifo > 99 {
		fmt.Fprintln(os.Stderr, "usage: pingpong [-n N>0] [-warmup N] [-cpu 0..ncpu-1] [-fifo 0..99] [-bpf-pid PID]")
		os.Exit(2)
	}
	// Both threads and main block in read(2) holding their M: a P each, so
	// that returning from a syscall never waits for one.
	runtime.GOMAXPROCS(max(runtime.GOMAXPROCS(0), 5))

	var progs []prog
	if *bpfPid != 0 {
		var err error
		if progs, err = heldPrograms(*bpfPid); err != nil {
			fatal("%v", err)
		}
		if len(progs) == 0 {
			fatal("process %d holds no BPF program", *bpfPid)
		}
	}

	ab, ba, start, done := pipe(), pipe(), pipe(), pipe()
	tids := make(chan int, 2)
	go func() { // A: waits for the start, makes the round trips, reports
		tids <- setup(*cpu, *fifo)
		buf := []byte{1}
		for _, count := range []int{*warmup, *n} {
			read1(start[0], buf)
			for i := 0; i < count; i++ {
				write1(ab[1], buf)
				read1(ba[0], buf)
			}
			write1(done[1], buf)
		}
		read1(start[0], buf) // blocked here while main counts
		unix.Close(ab[1])
	}()
	go func() { // B: echoes until A closes its pipe
		tids <- setup(*cpu, *fifo)
		buf := []byte{0}
		for {
			if m, err := unix.Read(ab[0], buf); err != nil {
				fatal("read: %v", err)
			} else if m == 0 {
				return
			}
			write1(ba[1], buf)
		}
	}()
	ta, tb := <-tids, <-tids
	buf := []byte{0}
	write1(start[1], buf) // the warm-up
	read1(done[0], buf)
	waitBlocked(ta, tb)

	s0, b0, c0, t0 := threadStats(ta, tb), bpfStats(progs), ctxt(), time.Now()
	write1(start[1], buf)
	read1(done[0], buf)
	waitBlocked(ta, tb)
	s1, b1, c1, wall := threadStats(ta, tb), bpfStats(progs), ctxt(), time.Since(t0)
	write1(start[1], buf) // A ends, then B

	cpuNs := s1.runNs - s0.runNs
	fmt.Printf("pingpong: n=%d cpu=%d fifo=%d tids=%d,%d wall_ns=%d cpu_ns=%d cpu_ns_per_rt=%.1f switch_ins=%d nonvoluntary=%d ctxt=%d",
		*n, *cpu, *fifo, ta, tb, wall.Nanoseconds(), cpuNs, float64(cpuNs)/float64(*n),
		s1.switches-s0.switches, s1.nonvol-s0.nonvol, c1-c0)
	if progs != nil {
		var calls, ns uint64
		var each []string
		for i, p := range progs {
			dc, dn := b1[i].calls-b0[i].calls, b1[i].ns-b0[i].ns
			calls += dc
			ns += dn
			each = append(each, fmt.Sprintf("%s:%d:%d", p.name, dc, dn))
		}
		fmt.Printf(" bpf_calls=%d bpf_run_ns=%d bpf_progs=%s", calls, ns, strings.Join(each, ","))
	}
	fmt.Println()
}

// setup locks the goroutine to its thread, pins it to cpu, makes it
// SCHED_FIFO at priority fifo (if > 0) and returns its TID.
func setup(cpu, fifo int) int {
	runtime.LockOSThread()
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		fatal("pin to cpu %d: %v", cpu, err)
	}
	tid := unix.Gettid()
	if fifo > 0 {
		if err := unix.SchedSetAttr(0, &unix.SchedAttr{Policy: unix.SCHED_FIFO, Priority: uint32(fifo)}, 0); err != nil {
			fatal("SCHED_FIFO %d: %v", fifo, err)
		}
	}
	return tid
}

type threads struct{ runNs, switches, nonvol uint64 }

// threadStats sums schedstat (run time, switch-ins) and the nonvoluntary
// context switches of the given threads of this process.
func threadStats(tids ...int) threads {
	var t threads
	for _, tid := range tids {
		dir := filepath.Join("/proc/self/task", strconv.Itoa(tid))
		b, err := os.ReadFile(filepath.Join(dir, "schedstat"))
		if err != nil {
			fatal("%v", err)
		}
		f := strings.Fields(string(b))
		if len(f) < 3 {
			fatal("%s/schedstat: %q", dir, b)
		}
		t.runNs += parse(f[0])
		t.switches += parse(f[2])
		st, err := os.ReadFile(filepath.Join(dir, "status"))
		if err != nil {
			fatal("%v", err)
		}
		for _, l := range strings.Split(string(st), "\n") {
			if v, ok := strings.CutPrefix(l, "nonvoluntary_ctxt_switches:"); ok {
				t.nonvol += parse(strings.TrimSpace(v))
			}
		}
	}
	return t
}

// waitBlocked returns once both threads sleep (state S), so that their run
// time is final: A reports before it blocks again.
func waitBlocked(tids ...int) {
	for _, tid := range tids {
		for i := 0; ; i++ {
			b, err := os.ReadFile(fmt.Sprintf("/proc/self/task/%d/stat", tid))
			if err != nil {
				fatal("%v", err)
			}
			// The state follows the command's closing parenthesis.
			s := string(b)
			if j := strings.LastIndexByte(s, ')'); j > 0 && j+2 < len(s) && s[j+2] == 'S' {
				break
			}
			if i > 100000 {
				fatal("thread %d never blocked", tid)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
}

type prog struct {
	name string
	p    *ebpf.Program
}

type counts struct{ calls, ns uint64 }

func bpfStats(progs []prog) []counts {
	out := make([]counts, len(progs))
	for i, p := range progs {
		st, err := p.p.Stats()
		if err != nil {
			fatal("stats of %s: %v", p.name, err)
		}
		out[i] = counts{st.RunCount, uint64(st.Runtime)}
	}
	return out
}

// heldPrograms opens the BPF programs process pid holds (program and link
// file descriptors both show "prog_id:" in their fdinfo), by name.
func heldPrograms(pid int) ([]prog, error) {
	ids, err := procstat.HeldProgramIDs(pid)
	if err != nil {
		return nil, err
	}
	var out []prog
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(ebpf.ProgramID(id))
		if errors.Is(err, os.ErrNotExist) {
			continue // unloaded meanwhile
		} else if err != nil {
			return nil, fmt.Errorf("program %d: %w", id, err)
		}
		name := fmt.Sprint(id)
		if info, err := p.Info(); err == nil && info.Name != "" {
			name = info.Name
		}
		out = append(out, prog{name, p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func pipe() [2]int {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		fatal("pipe: %v", err)
	}
	return p
}

func read1(fd int, buf []byte) {
	if m, err := unix.Read(fd, buf); err != nil || m != 1 {
		fatal("read: %d, %v", m, err)
	}
}

func write1(fd int, buf []byte) {
	if _, err := unix.Write(fd, buf); err != nil {
		fatal("write: %v", err)
	}
}

func parse(s string) uint64 {
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		fatal("%q: %v", s, err)
	}
	return v
}

// ctxt is the system's context switches since boot.
func ctxt() uint64 {
	v, err := procstat.Ctxt()
	if err != nil {
		fatal("%v", err)
	}
	return v
}

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "pingpong: "+format+"\n", a...)
	os.Exit(1)
}
