// Command storm generates a context-switch storm for jschedlat's ingest and
// BPF-cost benchmarks: N pairs of OS threads ping-pong a 1-byte message
// through two pipes for a fixed time. Every message wakes the peer thread,
// so every round trip costs at least two context switches.
//
//	storm [-pairs N] [-duration D] [-pin] [-rate N] [-interval D]
//
// Without -rate the pairs run flat out (about 1.5M context switches/s with
// 4 pinned pairs on a 2-vCPU VM). -rate N paces the pairs to N round trips
// per second in total (each pair sends its share in bursts every 1 ms).
//
// It prints round trips per second and the system's context switches per
// second over the same time (from /proc/stat ctxt), one summary line:
//
//	storm: pairs=4 pin=true duration_s=10.001 round_trips=... round_trips_per_s=... ctxt_per_s=...
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jschedlat/jschedlat/bench/internal/procstat"
)

// counter is padded to its own cache line: the pairs must not share one.
type counter struct {
	n atomic.Uint64
	_ [56]byte
}

func main() {
	pairs := flag.Int("pairs", 4, "number of ping-pong thread pairs")
	duration := flag.Duration("duration", 10*time.Second, "how long to run")
	pin := flag.Bool("pin", true, "pin both threads of pair i to CPU i mod ncpu (no cross-CPU wakeups)")
	rate := flag.Float64("rate", 0, "total round trips per second to pace to (0 = as fast as possible)")
	interval := flag.Duration("interval", 0, "also print a progress line this often (0 = only the summary)")
	flag.Parse()
	if *pairs < 1 || *duration <= 0 || *rate < 0 {
		fmt.Fprintln(os.Stderr, "storm: -pairs must be >= 1, -duration > 0, -rate >= 0")
		os.Exit(2)
	}
	// Every thread sits in blocking read(2) most of the time while holding
	// its locked M; give the runtime a P for each so that returning from a
	// syscall never has to wait for one (that would add futex switches).
	if want := 2**pairs + 2; runtime.GOMAXPROCS(0) < want {
		runtime.GOMAXPROCS(want)
	}
	ncpu := runtime.NumCPU()

	counts := make([]counter, *pairs)
	var stop atomic.Bool
	perPair := *rate / float64(*pairs) // round trips per second per pair; 0 = unpaced
	var begin atomic.Int64             // UnixNano when pacing starts
	var wg sync.WaitGroup
	ready := make(chan error, 2**pairs)
	for i := 0; i < *pairs; i++ {
		var ab, ba [2]int // a->b and b->a pipes: [0] read end, [1] write end
		if err := unix.Pipe2(ab[:], unix.O_CLOEXEC); err != nil {
			fatal("pipe: %v", err)
		}
		if err := unix.Pipe2(ba[:], unix.O_CLOEXEC); err != nil {
			fatal("pipe: %v", err)
		}
		cpu := -1
		if *pin {
			cpu = i % ncpu
		}
		wg.Add(2)
		go func(c *counter) { // A: sends, waits for the echo, counts
			defer wg.Done()
			ready <- lockAndPin(cpu)
			buf := []byte{1}
			var n uint64
			for !stop.Load() {
				if perPair > 0 {
					// Owed round trips since the start; sleep to the next
					// millisecond when ahead.
					b := begin.Load()
					if b == 0 { // main has not started the clock yet
						time.Sleep(time.Millisecond)
						continue
					}
					due := uint64(perPair * float64(time.Now().UnixNano()-b) / 1e9)
					if n >= due {
						time.Sleep(time.Millisecond - time.Duration(time.Now().UnixNano()%1e6))
						continue
					}
				}
				if _, err := unix.Write(ab[1], buf); err != nil {
					fatal("write: %v", err)
				}
				if _, err := unix.Read(ba[0], buf); err != nil {
					fatal("read: %v", err)
				}
				n++
				if n&255 == 0 {
					c.n.Store(n)
				}
			}
			c.n.Store(n)
			unix.Close(ab[1]) // B reads EOF and ends
			unix.Close(ba[0])
		}(&counts[i])
		go func() { // B: echoes
			defer wg.Done()
			ready <- lockAndPin(cpu)
			buf := []byte{0}
			for {
				n, err := unix.Read(ab[0], buf)
				if err != nil {
					fatal("read: %v", err)
				}
				if n == 0 {
					break
				}
				if _, err := unix.Write(ba[1], buf); err != nil {
					fatal("write: %v", err)
				}
			}
			unix.Close(ab[0])
			unix.Close(ba[1])
		}()
	}
	for i := 0; i < 2**pairs; i++ {
		if err := <-ready; err != nil {
			fatal("%v", err)
		}
	}

	sum := func() uint64 {
		var s uint64
		for i := range counts {
			s += counts[i].n.Load()
		}
		return s
	}
	start := time.Now()
	begin.Store(start.UnixNano())
	n0, c0 := sum(), ctxt()
	deadline := start.Add(*duration)
	if *interval > 0 {
		lastT, lastN, lastC := start, n0, c0
		for t := time.Now(); t.Before(deadline); t = time.Now() {
			d := min(*interval, time.Until(deadline))
			time.Sleep(d)
			now, n, c := time.Now(), sum(), ctxt()
			s := now.Sub(lastT).Seconds()
			fmt.Printf("storm: t=%.1fs round_trips_per_s=%.0f ctxt_per_s=%.0f\n",
				now.Sub(start).Seconds(), float64(n-lastN)/s, float64(c-lastC)/s)
			lastT, lastN, lastC = now, n, c
		}
	} else {
		time.Sleep(*duration)
	}
	stop.Store(true)
	elapsed := time.Since(start)
	c1 := ctxt()
	wg.Wait()
	total := sum() - n0
	s := elapsed.Seconds()
	fmt.Printf("storm: pairs=%d pin=%t rate=%.0f cpus=%d duration_s=%.3f round_trips=%d round_trips_per_s=%.0f ctxt_per_s=%.0f\n",
		*pairs, *pin, *rate, ncpu, s, total, float64(total)/s, float64(c1-c0)/s)
}

// lockAndPin dedicates the calling goroutine's OS thread and, for cpu >= 0,
// pins that thread to the CPU.
func lockAndPin(cpu int) error {
	runtime.LockOSThread()
	if cpu < 0 {
		return nil
	}
	var set unix.CPUSet
	set.Set(cpu)
	if err := unix.SchedSetaffinity(0, &set); err != nil {
		return fmt.Errorf("pin to cpu %d: %w", cpu, err)
	}
	return nil
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
	fmt.Fprintf(os.Stderr, "storm: "+format+"\n", a...)
	os.Exit(1)
}
