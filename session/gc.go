package session

import (
	"os"
	"runtime/debug"
)

// freeStartupMemory gives the start-up's garbage back to the kernel in one
// go once tracing runs, and lets the heap grow further between collections
// from then on.
//
// Why the FreeOSMemory: start-up allocates ~20 MB that is garbage seconds
// later (the kernel's BTF for CO-RE, the first reads of the JVM), while
// tracing needs ~3 MB. Left to Go's background scavenger, the pages went
// back 64 KiB per madvise(2), each a TLB shootdown across CPUs: measured
// with perf on a 2-CPU VM, 39% of the tracer's CPU in its first 10 s of
// tracing. One FreeOSMemory is a collection of the small live heap and a
// few madvise calls. (Holding the collector off during start-up saved no
// start-up CPU: fresh pages fault in instead, median 221 against 212 ms.)
//
// Why GOGC 400 after it: the heap of tracing is a few MB and stops growing
// once the join's hold and the row buffer reach their size (in the first
// ~6 s). At the default 100 the collector ran twice in that time, 13 to 31
// ms of CPU each on a 2-CPU VM (GODEBUG=gctrace=1); at 400, never after
// start-up in 25 s. Tracer CPU 3 to 13 s after start-up, 3 alternated
// rounds on a busy JVM at --min-latency 0: 2.03-2.47 ms/s against
// 2.25-2.94. The cost is a heap goal ~4x the live heap: some MB. A GOGC
// set by the user wins.
func freeStartupMemory() {
	debug.FreeOSMemory()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
}
