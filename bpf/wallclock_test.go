package bpf

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestWallClockMatchesRealtime(t *testing.T) {
	w := NewWallClock()
	s := w.Last()
	if s.Err <= 0 || s.Err > int64(time.Microsecond) {
		t.Errorf("offset bracket ±%d ns: want within ±1 µs", s.Err)
	}
	t.Logf("offset bracket ±%d ns", s.Err)
	// A MONOTONIC reading converted must fall between REALTIME readings
	// taken around it (allowing for the bracket).
	for i := 0; i < 1000; i++ {
		before := time.Now().UnixNano()
		m := MonotonicNow()
		after := time.Now().UnixNano()
		got := w.WallNs(m)
		if got < before-s.Err || got > after+s.Err {
			t.Fatalf("WallNs(%d) = %d, outside [%d, %d] ± %d", m, got, before, after, s.Err)
		}
	}
}

// TestClocksAreTheKernels: the vDSO reads the converter uses are the
// kernel's CLOCK_MONOTONIC (bpf_ktime_get_ns's timebase) and CLOCK_REALTIME,
// checked against clock_gettime syscalls around them.
func TestClocksAreTheKernels(t *testing.T) {
	var a, b unix.Timespec
	for i := 0; i < 100; i++ {
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &a)
		m := MonotonicNow()
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &b)
		if int64(m) < a.Nano() || int64(m) > b.Nano() {
			t.Fatalf("MonotonicNow() = %d, outside the syscall reads [%d, %d]", m, a.Nano(), b.Nano())
		}
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &a)
		sec, nsec, _ := timeNow()
		_ = unix.ClockGettime(unix.CLOCK_REALTIME, &b)
		if r := sec*1e9 + int64(nsec); r < a.Nano() || r > b.Nano() {
			t.Fatalf("REALTIME read %d, outside the syscall reads [%d, %d]", r, a.Nano(), b.Nano())
		}
	}
}

func TestWallClockUsesOffsetInForceAtEventTime(t *testing.T) {
	w := &WallClock{}
	w.Add(ClockSample{Mono: 1000, Offset: 5_000_000})
	// The wall clock was stepped back by 1 ms before this sample.
	w.Add(ClockSample{Mono: 2000, Offset: 4_000_000})
	for _, c := range []struct {
		mono uint64
		want int64
	}{
		{500, 500 + 5_000_000}, // older than every sample: the first one
		{1500, 1500 + 5_000_000},
		{2000, 2000 + 4_000_000},
		{9000, 9000 + 4_000_000},
	} {
		if got := w.WallNs(c.mono); got != c.want {
			t.Errorf("WallNs(%d) = %d, want %d", c.mono, got, c.want)
		}
	}
	// Samples arriving out of order are kept sorted.
	w.Add(ClockSample{Mono: 1200, Offset: 7})
	if got := w.WallNs(1300); got != 1307 {
		t.Errorf("after an out-of-order sample: WallNs(1300) = %d, want 1307", got)
	}
}

func BenchmarkMeasureOffset(b *testing.B) {
	var worst int64
	for i := 0; i < b.N; i++ {
		if s := MeasureOffset(64); s.Err > worst {
			worst = s.Err
		}
	}
	b.ReportMetric(float64(worst), "worst-err-ns")
}
