package bpf

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
	_ "unsafe" // go:linkname: the runtime's vDSO clock reads
)

// The runtime reads CLOCK_MONOTONIC (nanotime) and CLOCK_REALTIME then
// CLOCK_MONOTONIC (time.now) through the vDSO, tens of ns each; a real
// clock_gettime syscall (golang.org/x/sys/unix) takes ~0.5-1 µs in a VM,
// which widened the offset bracket to over ±1 µs. On Linux both are the
// raw clocks (nanotime is CLOCK_MONOTONIC, not process-relative).

//go:linkname nanotime runtime.nanotime
func nanotime() int64

//go:linkname timeNow time.now
func timeNow() (sec int64, nsec int32, mono int64)

// WallClock converts kernel CLOCK_MONOTONIC timestamps (bpf_ktime_get_ns) to
// UTC wall-clock time.
//
// NTP slews CLOCK_MONOTONIC and CLOCK_REALTIME alike, so their difference
// only changes when the wall clock is stepped (settimeofday, clock_settime,
// adjtimex offset steps, leap seconds). The converter samples that
// difference periodically and keeps a history, so an event is converted
// with the offset that was in force at its own time, not at the time it is
// read. An event that falls between a step and the next sample is off by at
// most that step; Resample often enough (the tracer does every 100 ms) to
// keep that window short.
type WallClock struct {
	mu      sync.Mutex                    // serialises Add
	samples atomic.Pointer[[]ClockSample] // ordered by Mono; never changed once stored
}

// ClockSample is one measurement of REALTIME - MONOTONIC.
type ClockSample struct {
	Mono   int64 // CLOCK_MONOTONIC ns at the middle of the measurement
	Offset int64 // CLOCK_REALTIME - CLOCK_MONOTONIC, ns
	Err    int64 // half-width of the tightest bracket, ns: the offset is exact to ±Err
}

// maxSamples bounds the history: only samples older than the events still
// in flight matter, and events are read within milliseconds.
const maxSamples = 64

// NewWallClock takes a first sample.
func NewWallClock() *WallClock {
	w := &WallClock{}
	w.Resample()
	return w
}

// MeasureOffset reads MONOTONIC, REALTIME, MONOTONIC back to back many times
// and keeps the tightest bracket: the REALTIME read happened between the two
// MONOTONIC reads, so the offset is known to half the bracket width.
func MeasureOffset(tries int) ClockSample {
	best := ClockSample{Err: 1 << 62}
	for i := 0; i < tries; i++ {
		a := nanotime()
		sec, nsec, b := timeNow() // REALTIME, then MONOTONIC
		if half := (b - a) / 2; half < best.Err {
			mid := a + (b-a)/2
			best = ClockSample{Mono: mid, Offset: sec*1e9 + int64(nsec) - mid, Err: half}
		}
	}
	return best
}

// Resample measures the offset again and records it.
func (w *WallClock) Resample() ClockSample {
	s := MeasureOffset(64)
	w.Add(s)
	return s
}

// Add records a sample (exposed so that recorded runs can be replayed).
func (w *WallClock) Add(s ClockSample) {
	w.mu.Lock()
	defer w.mu.Unlock()
	// A new slice each time: WallNs, called for every event, reads the
	// stored one without a lock.
	var old []ClockSample
	if p := w.samples.Load(); p != nil {
		old = *p
	}
	ss := append(append(make([]ClockSample, 0, len(old)+1), old...), s)
	if n := len(ss); n > 1 && ss[n-2].Mono > s.Mono {
		sort.Slice(ss, func(i, j int) bool { return ss[i].Mono < ss[j].Mono })
	}
	ss = ss[max(0, len(ss)-maxSamples):]
	w.samples.Store(&ss)
}

// Last returns the newest sample.
func (w *WallClock) Last() ClockSample {
	s := *w.samples.Load()
	return s[len(s)-1]
}

// WallNs converts a CLOCK_MONOTONIC timestamp to Unix ns using the latest
// sample taken at or before it (the first sample for older timestamps).
func (w *WallClock) WallNs(mono uint64) int64 {
	m := int64(mono)
	s := *w.samples.Load()
	// Events are nearly always newer than all but the last sample or two.
	i := len(s) - 1
	for i > 0 && s[i].Mono > m {
		i--
	}
	return m + s[i].Offset
}

// Wall converts a CLOCK_MONOTONIC timestamp to UTC time.
func (w *WallClock) Wall(mono uint64) time.Time {
	return time.Unix(0, w.WallNs(mono)).UTC()
}

// MonotonicNow returns CLOCK_MONOTONIC now, in the kernel's timebase.
func MonotonicNow() uint64 {
	return uint64(nanotime())
}
