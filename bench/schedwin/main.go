// Command schedwin measures, over a fixed window, a process's total
// run-queue wait as the kernel accounts it (the run_delay field of
// /proc/PID/task/*/schedstat, summed over its threads) and the system's
// context switches (/proc/stat ctxt).
//
//	schedwin -pid PID [-window D] [-sample D]
//
// Threads are sampled every -sample: a thread that exits inside the window
// keeps what it accumulated up to its last sample (so at most one sample
// interval of its wait is missed), and a thread born inside the window
// counts from zero. One output line:
//
//	schedwin: pid=123 window_s=10.000 threads=14 born=12 exited=11 run_delay_ns=... run_time_ns=... switch_ins=... ctxt=... ctxt_per_s=... start_unix_ns=... end_unix_ns=...
//
// start_unix_ns and end_unix_ns are the wall clock at the two ends of the
// window, so that other counts (a workload's completed requests) can be
// taken over exactly the same window.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jschedlat/jschedlat/bench/internal/procstat"
)

type stat struct{ runTime, runDelay, switches uint64 }

func main() {
	pid := flag.Int("pid", 0, "process to measure")
	window := flag.Duration("window", 10*time.Second, "length of the window")
	sample := flag.Duration("sample", 50*time.Millisecond, "how often the threads are sampled")
	flag.Parse()
	if *pid <= 0 || *window <= 0 || *sample <= 0 {
		fmt.Fprintln(os.Stderr, "usage: schedwin -pid PID [-window D] [-sample D]")
		os.Exit(2)
	}

	base, err := read(*pid)
	if err != nil {
		fatal("%v", err)
	}
	t0 := time.Now()
	c0 := ctxt()
	last := make(map[int]stat, len(base))
	for tid, s := range base {
		last[tid] = s
	}
	born := 0
	end := t0.Add(*window)
	var cur map[int]stat
	for {
		d := min(*sample, time.Until(end))
		if d > 0 {
			time.Sleep(d)
		}
		final := !time.Now().Before(end)
		var t1 time.Time
		var c1 uint64
		cur, err = read(*pid)
		if final {
			t1, c1 = time.Now(), ctxt()
		}
		if err != nil {
			fatal("%v", err)
		}
		for tid, s := range cur {
			b, ok := base[tid]
			if !ok || s.runDelay < b.runDelay || s.runTime < b.runTime {
				// New thread (or a reused TID): it counts from zero.
				if ok {
					fmt.Fprintf(os.Stderr, "schedwin: tid %d reused inside the window\n", tid)
				}
				base[tid] = stat{}
				born++
			}
			last[tid] = s
		}
		if final {
			var sum stat
			exited := 0
			for tid, l := range last {
				b := base[tid]
				sum.runTime += l.runTime - b.runTime
				sum.runDelay += l.runDelay - b.runDelay
				sum.switches += l.switches - b.switches
				if _, ok := cur[tid]; !ok {
					exited++
				}
			}
			secs := t1.Sub(t0).Seconds()
			fmt.Printf("schedwin: pid=%d window_s=%.3f threads=%d born=%d exited=%d run_delay_ns=%d run_time_ns=%d switch_ins=%d ctxt=%d ctxt_per_s=%.0f start_unix_ns=%d end_unix_ns=%d\n",
				*pid, secs, len(last), born, exited, sum.runDelay, sum.runTime, sum.switches, c1-c0, float64(c1-c0)/secs, t0.UnixNano(), t1.UnixNano())
			return
		}
	}
}

// read returns schedstat of every thread of pid, by TID.
func read(pid int) (map[int]stat, error) {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "task")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("process %d: %w", pid, err)
	}
	out := make(map[int]stat, len(ents))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name(), "schedstat"))
		if err != nil {
			continue // exited meanwhile
		}
		f := strings.Fields(string(b))
		if len(f) < 3 {
			return nil, fmt.Errorf("%s/%s/schedstat: %q", dir, e.Name(), b)
		}
		var s stat
		var e1, e2, e3 error
		s.runTime, e1 = strconv.ParseUint(f[0], 10, 64)
		s.runDelay, e2 = strconv.ParseUint(f[1], 10, 64)
		s.switches, e3 = strconv.ParseUint(f[2], 10, 64)
		if e1 != nil || e2 != nil || e3 != nil {
			return nil, fmt.Errorf("%s/%s/schedstat: %q", dir, e.Name(), b)
		}
		out[tid] = s
	}
	return out, nil
}

// ctxt is the system's context switches since boot.
func ctxt() uint64 {
	n, err := procstat.Ctxt()
	if err != nil {
		fatal("%v", err)
	}
	return n
}

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "schedwin: "+format+"\n", a...)
	os.Exit(1)
}
