package session

import (
	"fmt"
	"io"
	"time"

	"github.com/jschedlat/jschedlat/bpf"
)

// Stats is what a session saw; WriteSummary prints it.
type Stats struct {
	Traced    time.Duration
	Events    uint64 // waits read
	Lifecycle uint64 // thread births, renames and exits read
	Written   uint64 // records in the files
	Unnamed   uint64 // of them without a Java name
	Dropped   uint64 // records dropped on a full disk
	// The kernel's counters, read after the last drain.
	Counters    bpf.Counters
	CountersErr error
	// Threads named as they started (HotSpot's thread__start probe), and
	// self-renames read in full as threads set them.
	ThreadStarts, SelfNamed int

	What     string // what --jvm matches; "" with one PID or All
	Named    bool   // processes were named (not All)
	JVMs     int    // processes traced
	LeftOut  int    // of them, without lines (JVMs keeps the last ones)
	PerJVM   []string
	Exited   bool // the one PID exited
	Orphaned uint64
}

func (s *Session) fillStats(st *Stats) {
	st.Events = s.waits
	s.events.Store(s.waits)
	st.Lifecycle = s.lifecycle
	st.Unnamed = s.unnamed
	st.ThreadStarts, st.SelfNamed = s.threadStarts, s.selfNamed
	st.Named = !s.cfg.All
	if s.cfg.follow() {
		st.What = s.cfg.What
	}
	st.JVMs = s.nEnded
	st.LeftOut = s.nEnded - len(s.ended)
	for _, tg := range s.ended {
		st.PerJVM = append(st.PerJVM, tg.summary)
	}
	st.Exited = s.exited
	st.Orphaned = s.orphans
}

// WriteSummary prints the summary of a run: one line of totals with the
// kernel's counts, what the HotSpot probes named, the waits the kernel
// did not report, each process's lines, and warnings.
func (st *Stats) WriteSummary(w io.Writer) {
	fmt.Fprintf(w, "jschedlat: traced=%.2fs: ", st.Traced.Seconds())
	if st.What != "" {
		fmt.Fprintf(w, "%d JVMs matching %s, ", st.JVMs, st.What)
	}
	fmt.Fprintf(w, "%d events, %d records written", st.Events, st.Written)
	if st.Named {
		fmt.Fprintf(w, " (%d of them without a Java name)", st.Unnamed)
	}
	fmt.Fprintf(w, ", %d thread births/renames/exits", st.Lifecycle)
	kc := &st.Counters
	if st.CountersErr != nil {
		fmt.Fprintf(w, ", lost events unknown (%v)", st.CountersErr)
	} else {
		fmt.Fprintf(w, ", %d lost", kc.Lost)
	}
	if kc.Collisions > 0 {
		// Rare: two threads with TIDs equal modulo the slot count queued
		// at once. The displaced wait is still measured, from the
		// scheduler's own stamp, but reported as a wakeup.
		fmt.Fprintf(w, ", %d wait starts shared a slot (measured from the kernel's stamp, kind may read wakeup)", kc.Collisions)
	}
	fmt.Fprintln(w)
	if st.ThreadStarts > 0 {
		fmt.Fprintf(w, "jschedlat: %d new threads named as they started (HotSpot's thread__start probe), without a thread dump\n", st.ThreadStarts)
	}
	if st.SelfNamed > 0 {
		fmt.Fprintf(w, "jschedlat: %d names threads gave themselves read in full as they set them (os::set_native_thread_name), without a thread dump\n", st.SelfNamed)
	}
	if kc.Recovered > 0 || kc.Missed > 0 {
		// Seen on kernels that skip some sched_switch tracepoints.
		fmt.Fprintf(w, "jschedlat: the kernel did not report %d switch-ins: %d of those waits recovered from the scheduler's stamps (their prev_comm is empty), %d missing (%d ns of run-queue time)\n",
			kc.Recovered+kc.Missed, kc.Recovered, kc.Missed, kc.MissedNs)
	}
	if st.LeftOut > 0 {
		fmt.Fprintf(w, "jschedlat: (the first %d JVMs' lines are left out)\n", st.LeftOut)
	}
	for _, s := range st.PerJVM {
		io.WriteString(w, s)
	}
	if st.Dropped > 0 {
		fmt.Fprintf(w, "jschedlat: WARNING: %d records dropped while the output's disk was full\n", st.Dropped)
	}
	if kc.Lost > 0 {
		fmt.Fprintf(w, "jschedlat: WARNING: events were lost (per CPU: %v): raise --ring-size or --min-latency\n", kc.LostPerCPU)
	}
}
