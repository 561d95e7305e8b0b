package session

import (
	"os"
	"runtime/debug"
	"sync"
)

// startupGC holds the garbage collector off while a session starts and
// gives the start-up's memory back to the kernel in one go once tracing
// runs.
//
// Why: start-up allocates ~20 MB that is garbage seconds later (the
// kernel's BTF for CO-RE, libjvm's symbols, the first reads of the JVM),
// while tracing needs ~3 MB. Collecting during start-up cost CPU when it
// matters most (a loaded host waits for tracing); afterwards Go's
// background scavenger returned the freed pages 64 KiB per madvise(2), each
// a TLB shootdown across CPUs: measured with perf on a 2-CPU VM, 39% of the
// tracer's CPU in its first 10 s of tracing. One FreeOSMemory is a single
// collection of the small live heap and a few madvise calls.
//
// A GOGC set by the user is left alone.
type startupGC struct {
	once    sync.Once
	percent int
	held    bool
}

func holdGC() *startupGC {
	g := &startupGC{}
	if os.Getenv("GOGC") == "" {
		g.percent, g.held = debug.SetGCPercent(-1), true
	}
	return g
}

// release turns the collector back on and frees the start-up's garbage;
// idempotent (Close calls it too, for a session that never ran).
func (g *startupGC) release() {
	if g == nil {
		return
	}
	g.once.Do(func() {
		if g.held {
			debug.SetGCPercent(g.percent)
			debug.FreeOSMemory()
		}
	})
}
