package sched

// Event is a kernel record after clock conversion, before naming: what the
// join consumes, --save-events stores and replay reads back.
type Event struct {
	KTime     uint64 // CLOCK_MONOTONIC ns (kernel timestamp)
	Time      int64  // wall clock, Unix ns
	Latency   uint64 // ns
	Kind      Kind   // lifecycle kinds (exit, birth, rename) carry no latency
	CPU       uint32
	QueuedCPU uint32
	Pid, Tid  uint32
	Comm      string // valid UTF-8 (a comm cut inside a character ends in U+FFFD)
	PrevPid   uint32
	PrevTid   uint32
	PrevComm  string
	// OffCPU is how long the thread had been off the CPU at this
	// switch-in (ns; 0 = unknown).
	OffCPU uint64
	// VThread is the Java id of the virtual thread the thread (a carrier)
	// had mounted when it left the CPU, read by the kernel side; 0 = none
	// or unknown.
	VThread uint64
	// Name is a starting thread's Java name (KindThreadStart,
	// KindThreadName); NameCut tells that it was too long to be read
	// whole (unusable).
	Name    string
	NameCut bool
}
