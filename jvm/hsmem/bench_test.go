package hsmem

import (
	"strconv"
	"testing"
	"time"
)

// BenchmarkThreads: one scan of a JVM with 200 and 2,000 parked threads,
// on each JDK present; reports memory-read syscalls per scan. The first
// scan (kernel names read for every thread) is reported apart.
func BenchmarkThreads(b *testing.B) {
	for _, n := range []int{200, 2000} {
		for _, j := range jdks(b) {
			b.Run(j.name+"/"+strconv.Itoa(n), func(b *testing.B) {
				p := startProbe(b, j.java, small, "--threads", strconv.Itoa(n))
				vm := openVM(b, p.pid)
				start := time.Now()
				s, err := vm.Threads()
				if err != nil {
					b.Fatal(err)
				}
				first := time.Since(start)
				if len(s.Threads) < n {
					b.Fatalf("%d threads read of %d", len(s.Threads), n)
				}
				syscalls := 0
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					s, err := vm.Threads()
					if err != nil {
						b.Fatal(err)
					}
					syscalls += s.Syscalls
				}
				b.ReportMetric(float64(syscalls)/float64(b.N), "syscalls/op")
				b.ReportMetric(float64(first.Microseconds())/1000, "first-scan-ms")
			})
		}
	}
}
