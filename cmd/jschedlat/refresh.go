package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/jvm"
)

// Thread dumps are rate-limited: each one stops the JVM at a safepoint, and
// through jcmd costs a JVM start-up of CPU. The gap after a dump is
// gapFactor times what it took (so dumps take at most ~1/(1+gapFactor) of
// the time even when new threads keep appearing), and never below
// minDumpGap: a direct attach of ~10-40 ms allows a new dump every
// ~100-200 ms, fast enough to name threads that live a few hundred ms.
const (
	minDumpGap = 100 * time.Millisecond
	gapFactor  = 5
)

// refresher takes thread dumps when the join needs them (an unknown or
// renamed thread) and periodically, at most one at a time.
type refresher struct {
	src      jvm.Source
	live     *correlate.Live
	store    *correlate.DumpStore
	interval time.Duration
	wake     chan struct{}
	otherNS  bool // the JVM prints TIDs of its own PID namespace

	mu       sync.Mutex
	reason   string // why the next dump is wanted ("" = none pending)
	inflight int64  // wall ns when the dump under way began (0 = none)
	taken    int
	failed   int
	total    time.Duration
	max      time.Duration
	lastErr  error
}

func newRefresher(pid int, src jvm.Source, live *correlate.Live, store *correlate.DumpStore, interval time.Duration) *refresher {
	r := &refresher{src: src, live: live, store: store, interval: interval, wake: make(chan struct{}, 1)}
	r.otherNS = jvm.InOwnPIDNamespace(pid)
	return r
}

// hostTids maps the JVM's own TIDs to host TIDs, read right after a dump:
// a thread that ended meanwhile is left out, so it stays unnamed rather
// than misnamed.
func hostTids(pid int) map[int]uint32 {
	m, err := jvm.HostTids(pid)
	if err != nil {
		slog.Warn("reading the JVM's namespace TIDs failed: its threads stay unnamed", "err", err)
		return map[int]uint32{}
	}
	return m
}

// request asks for a dump soon because of an event at wall time t (ns);
// requests made while one is pending are merged into it. A dump that began
// after t sees what the event saw: no new one is asked for then, and
// request returns false. It never blocks.
func (r *refresher) request(reason string, t int64) bool {
	r.mu.Lock()
	if r.inflight > t {
		r.mu.Unlock()
		return false
	}
	if r.reason == "" {
		r.reason = reason
	}
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
	return true
}

// run takes a first dump at once, then dumps on request and every
// interval, until ctx is done. A dump in flight when ctx ends is finished
// (bounded by the source's timeout) so that it can still name threads.
func (r *refresher) run(ctx context.Context) {
	r.request("start", 0)
	var last time.Time
	gap := minDumpGap
	var timer <-chan time.Time
	if r.interval > 0 {
		t := time.NewTicker(r.interval)
		defer t.Stop()
		timer = t.C
	}
	for {
		select {
		case <-ctx.Done():
			r.final()
			return
		case <-r.wake:
		case <-timer:
			r.mu.Lock()
			if r.reason == "" {
				r.reason = "periodic"
			}
			r.mu.Unlock()
		}
		if wait := time.Until(last.Add(gap)); wait > 0 {
			select {
			case <-ctx.Done():
				r.final()
				return
			case <-time.After(wait):
			}
		}
		r.mu.Lock()
		reason := r.reason
		r.reason = ""
		r.mu.Unlock()
		if reason == "" {
			continue
		}
		d := r.capture(reason)
		last = time.Now()
		gap = max(minDumpGap, gapFactor*d)
	}
}

// final takes the dump still wanted when the run ends: threads seen in the
// last moments would stay unnamed otherwise.
func (r *refresher) final() {
	r.mu.Lock()
	reason := r.reason
	r.reason = ""
	r.mu.Unlock()
	if reason != "" && reason != "periodic" {
		r.capture(reason + ", at exit")
	}
}

// capture takes one dump and returns how long it took.
func (r *refresher) capture(reason string) time.Duration {
	// Not bound to the run's context: a dump cut short at shutdown would
	// lose the names it was taken for. The source's timeout bounds it.
	began := time.Now()
	r.mu.Lock()
	r.inflight = began.UnixNano()
	r.mu.Unlock()
	c, err := r.src.Capture(context.Background())
	if err != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.inflight = 0
		r.failed++
		if r.lastErr == nil || r.lastErr.Error() != err.Error() {
			slog.Warn("thread dump failed", "reason", reason, "err", err)
		}
		r.lastErr = err
		// A failing JVM is not retried faster than a working one.
		return max(time.Since(began), time.Second)
	}
	d := c.End.Sub(c.Start)
	td := &correlate.TimedDump{Start: c.Start.UnixNano(), End: c.End.UnixNano(), Dump: c.Dump, Pid: c.Pid}
	if r.otherNS {
		td.HostTids = hostTids(c.Pid)
	}
	// Outside r.mu: Live calls request with its own lock held. The dump
	// counts as in flight until the join has it, so that no event asks
	// for another one meanwhile.
	r.live.AddDump(td)
	var saveErr error
	if r.store != nil {
		_, saveErr = r.store.Save(c, reason, td.HostTids)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.inflight = 0
	r.taken++
	r.total += d
	if d > r.max {
		r.max = d
	}
	if saveErr != nil {
		r.failed++
		slog.Warn("saving thread dump failed", "err", saveErr)
	}
	return d
}

func (r *refresher) summary(w io.Writer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(w, "jschedlat: %d thread dumps via %s, %s wall in total (max %s)", r.taken, r.src.Name(),
		r.total.Round(time.Millisecond), r.max.Round(time.Millisecond))
	if r.failed > 0 {
		fmt.Fprintf(w, ", %d failed (last: %v)", r.failed, r.lastErr)
	}
	fmt.Fprintln(w)
}
