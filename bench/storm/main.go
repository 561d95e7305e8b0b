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

	s := &storm{
		counts:  make([]counter, *pairs),
		perPair: *rate / float64(*pairs),
		ready:   make(chan error, 2**pairs),
	}
	for i := 0; i < *pairs; i++ {
		cpu := -1
		if *pin {
			cpu = i % ncpu
		}
		s.startPair(&s.counts[i], cpu)
	}
	for i := 0; i < 2**pairs; i++ {
		if err := <-s.ready; err != nil {
			fatal("%v", err)
		}
	}
	elapsed, total, switches := s.run(*duration, *interval)
	sec := elapsed.Seconds()
	fmt.Printf("storm: pairs=%d pin=%t rate=%.0f cpus=%d duration_s=%.3f round_trips=%d round_trips_per_s=%.0f ctxt_per_s=%.0f\n",
		*pairs, *pin, *rate, ncpu, sec, total, float64(total)/sec, float64(switches)/sec)
}

// storm is the state the pairs share with main.
type storm struct {
	counts  []counter
	stop    atomic.Bool
	perPair float64      // round trips per second per pair; 0 = unpaced
	begin   atomic.Int64 // UnixNano when pacing starts
	wg      sync.WaitGroup
	ready   chan error // one per thread once it is locked (and pinned)
}

// startPair starts a pair's two threads on a->b and b->a pipes.
func (s *storm) startPair(c *counter, cpu int) {
	var ab, ba [2]int // a->b and b->a pipes: [0] read end, [1] write end
	if err := unix.Pipe2(ab[:], unix.O_CLOEXEC); err != nil {
		fatal("pipe: %v", err)
	}
	if err := unix.Pipe2(ba[:], unix.O_CLOEXEC); err != nil {
		fatal("pipe: %v", err)
	}
	s.wg.Add(2)
	go s.send(c, cpu, ab, ba)
	go s.echo(cpu, ab, ba)
}

// send is thread A: it sends, waits for the echo and counts.
func (s *storm) send(c *counter, cpu int, ab, ba [2]int) {
	defer s.wg.Done()
	s.ready <- lockAndPin(cpu)
	buf := []byte{1}
	var n uint64
	for !s.stop.Load() {
		if s.perPair > 0 && s.ahead(n) {
			continue
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
}

// ahead reports whether a paced pair that made n round trips is ahead of
// the round trips owed since the start; it then sleeps to the next
// millisecond.
func (s *storm) ahead(n uint64) bool {
	b := s.begin.Load()
	if b == 0 { // main has not started the clock yet
		time.Sleep(time.Millisecond)
		return true
	}
	due := uint64(s.perPair * float64(time.Now().UnixNano()-b) / 1e9)
	if n >= due {
		time.Sleep(time.Millisecond - time.Duration(time.Now().UnixNano()%1e6))
		return true
	}
	return false
}

// echo is thread B: it echoes each byte until A closes its pipe.
func (s *storm) echo(cpu int, ab, ba [2]int) {
	defer s.wg.Done()
	s.ready <- lockAndPin(cpu)
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
}

func (s *storm) sum() uint64 {
	var t uint64
	for i := range s.counts {
		t += s.counts[i].n.Load()
	}
	return t
}

// run starts the clock, lets the pairs run for d (printing progress every
// interval if > 0), stops them and returns the time taken, the round trips
// and the system's context switches in it.
func (s *storm) run(d, interval time.Duration) (time.Duration, uint64, uint64) {
	start := time.Now()
	s.begin.Store(start.UnixNano())
	n0, c0 := s.sum(), ctxt()
	if interval > 0 {
		s.progress(start, start.Add(d), interval, n0, c0)
	} else {
		time.Sleep(d)
	}
	s.stop.Store(true)
	elapsed := time.Since(start)
	c1 := ctxt()
	s.wg.Wait()
	return elapsed, s.sum() - n0, c1 - c0
}

// progress prints the rates of each interval until deadline.
func (s *storm) progress(start, deadline time.Time, interval time.Duration, n0, c0 uint64) {
	lastT, lastN, lastC := start, n0, c0
	for t := time.Now(); t.Before(deadline); t = time.Now() {
		d := min(interval, time.Until(deadline))
		time.Sleep(d)
		now, n, c := time.Now(), s.sum(), ctxt()
		sec := now.Sub(lastT).Seconds()
		fmt.Printf("storm: t=%.1fs round_trips_per_s=%.0f ctxt_per_s=%.0f\n",
			now.Sub(start).Seconds(), float64(n-lastN)/sec, float64(c-lastC)/sec)
		lastT, lastN, lastC = now, n, c
	}
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
