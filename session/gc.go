package session

import "runtime/debug"

// freeStartupMemory gives the start-up's garbage back to the kernel in one
// go once tracing runs.
//
// Why: start-up allocates ~20 MB that is garbage seconds later (the
// kernel's BTF for CO-RE, the first reads of the JVM), while tracing needs
// ~3 MB. Left to Go's background scavenger, the pages went back 64 KiB per
// madvise(2), each a TLB shootdown across CPUs: measured with perf on a
// 2-CPU VM, 39% of the tracer's CPU in its first 10 s of tracing. One
// FreeOSMemory is a collection of the small live heap and a few madvise
// calls. (Holding the collector off during start-up saved no start-up CPU:
// fresh pages fault in instead, median 221 against 212 ms.)
func freeStartupMemory() { debug.FreeOSMemory() }
