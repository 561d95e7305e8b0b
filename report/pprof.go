package report

import (
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/pprof/profile"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/record"
)

// stackObs is what one dump showed of one thread.
type stackObs struct {
	t     int64 // middle of the dump's window, wall ns
	name  string
	state string
	stack int // index into Stacks.stacks
}

// Stacks answers "what was thread tid doing around time t" from thread
// dumps: the Java stack of the dump nearest in time that saw it under the
// same name.
type Stacks struct {
	byTid  map[uint32][]stackObs
	stacks [][]string // distinct stacks, leaf first
	index  map[string]int
}

// NewStacks indexes the threads of dumps by host TID.
func NewStacks(dumps []correlate.TimedDump) *Stacks {
	s := &Stacks{byTid: map[uint32][]stackObs{}, index: map[string]int{}}
	for i := range dumps {
		d := &dumps[i]
		m := d.TidMap()
		mid := d.Start + (d.End-d.Start)/2
		for k := range d.Dump.Threads {
			th := &d.Dump.Threads[k]
			tid, ok := m.Host(th.Tid)
			if !ok {
				continue
			}
			// A mounted virtual thread's frames run on top of the
			// carrier's.
			frames := append(append([]string{}, th.VirtualStack...), th.Stack...)
			s.byTid[tid] = append(s.byTid[tid], stackObs{t: mid, name: th.Name, state: th.State, stack: s.intern(frames)})
		}
	}
	for _, l := range s.byTid {
		sort.Slice(l, func(i, j int) bool { return l[i].t < l[j].t })
	}
	return s
}

func (s *Stacks) intern(frames []string) int {
	key := strings.Join(frames, "\n")
	if i, ok := s.index[key]; ok {
		return i
	}
	s.stacks = append(s.stacks, frames)
	s.index[key] = len(s.stacks) - 1
	return len(s.stacks) - 1
}

// At returns the stack (leaf first) and state of thread tid named name in
// the dump nearest to t, and that dump's time; ok is false when no dump
// saw it under that name.
func (s *Stacks) At(tid uint32, t int64, name string) (stack int, state string, dumpAt int64, ok bool) {
	l := s.byTid[tid]
	i := sort.Search(len(l), func(i int) bool { return l[i].t >= t })
	best := -1
	var bestD int64
	for _, k := range []int{i - 1, i} {
		// The nearest on each side under the same name: a reused TID or
		// a rename is another thread for this purpose.
		step := 1
		if k < i {
			step = -1
		}
		for ; k >= 0 && k < len(l); k += step {
			if l[k].name == name {
				d := l[k].t - t
				if d < 0 {
					d = -d
				}
				if best < 0 || d < bestD {
					best, bestD = k, d
				}
				break
			}
		}
	}
	if best < 0 {
		return 0, "", 0, false
	}
	return l[best].stack, l[best].state, l[best].t, true
}

// Profiler builds a pprof profile of run-queue waits: per thread, kind
// and Java stack, how many waits and how long.
type Profiler struct {
	stacks      *Stacks
	pools       []PoolRule
	samples     map[sampleKey]*[2]int64
	first, last int64
}

type sampleKey struct {
	thread, pool, kind, state string
	stack                     int    // -1: no dump saw the thread
	dump                      string // the leaf pseudo-frame naming the dump and its distance
}

// dumpFrame names the dump a stack comes from and how far from the wait
// it was, bucketed so that the profile keeps few distinct frames. It is
// the leaf, so that -top and flame graphs do not show the dump's frames
// (often Thread.sleep or a park) as where the thread waited.
func dumpFrame(dumpAt, wait int64) string {
	d := time.Duration(dumpAt - wait)
	side := "after"
	if d < 0 {
		d, side = -d, "before"
	}
	var dist string
	switch {
	case d < time.Second:
		dist = "within 1 s of"
	case d < 10*time.Second:
		dist = "1-10 s " + side
	case d < time.Minute:
		dist = "10-60 s " + side
	case d < 10*time.Minute:
		dist = "1-10 min " + side
	default:
		dist = "over 10 min " + side
	}
	return "(stack from the thread dump at " + time.Unix(0, dumpAt).UTC().Format("15:04:05") + " UTC, " + dist + " the wait: not where it waited)"
}

// NewProfiler returns a profiler using stacks (nil: no stacks).
func NewProfiler(stacks *Stacks, pools []PoolRule) *Profiler {
	if stacks == nil {
		stacks = NewStacks(nil)
	}
	return &Profiler{stacks: stacks, pools: pools, samples: map[sampleKey]*[2]int64{}}
}

// Add takes one record.
func (p *Profiler) Add(r *record.Record) {
	k := sampleKey{thread: ThreadLabel(r), kind: r.Kind, stack: -1}
	k.pool = k.thread
	if r.JavaThread != "" {
		k.pool = Pool(r.JavaThread, p.pools)
		if st, state, at, ok := p.stacks.At(r.Tid, r.Time, r.JavaThread); ok {
			k.stack, k.state, k.dump = st, state, dumpFrame(at, r.Time)
		}
	}
	v := p.samples[k]
	if v == nil {
		v = &[2]int64{}
		p.samples[k] = v
	}
	v[0]++
	v[1] += int64(r.LatencyNs)
	if p.first == 0 || r.Time < p.first {
		p.first = r.Time
	}
	p.last = max(p.last, r.Time)
}

// parseFrame splits a frame into function, file and line. Text dumps put
// the module inside the parentheses ("java.lang.Thread.run(java.base@17.0.15/Thread.java:840)"),
// JSON dumps before the class ("java.base/java.lang.Thread.sleep0(Native
// Method)", "app//Foo.bar(Foo.java:3)"); a hidden class keeps its
// "/0x..." suffix ("Named$$Lambda$1/0x00007fd81c000a08.run").
func parseFrame(f string) (fn, file string, line int64) {
	fn, rest, _ := strings.Cut(f, "(")
	if i := strings.Index(fn, "//"); i >= 0 {
		fn = fn[i+2:]
	} else if i := strings.IndexByte(fn, '/'); i >= 0 && !strings.HasPrefix(fn[i+1:], "0x") {
		fn = fn[i+1:]
	}
	rest = strings.TrimSuffix(rest, ")")
	if i := strings.LastIndexByte(rest, '/'); i >= 0 {
		rest = rest[i+1:]
	}
	file, num, ok := strings.Cut(rest, ":")
	if ok {
		line, _ = strconv.ParseInt(num, 10, 64)
	}
	if file == "Native Method" || file == "Unknown Source" {
		file = ""
	}
	return fn, file, line
}

// Write encodes the profile (gzipped protobuf, as go tool pprof reads it).
func (p *Profiler) Write(w io.Writer) error {
	prof := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "waits", Unit: "count"}, {Type: "runq_delay", Unit: "nanoseconds"}},
		PeriodType: &profile.ValueType{Type: "runq_delay", Unit: "nanoseconds"},
		Period:     1,
		Comments: []string{
			"jschedlat: time Java threads spent runnable in the CPU run queue",
			"stack: the thread's Java stack in the thread dump nearest in time to each wait, NOT where it waited: the leaf pseudo-frame names that dump's time and its distance from the wait; the roots are pseudo-frames for the pool and thread",
			"label state: the thread's Java state in that dump",
		},
		DefaultSampleType: "runq_delay",
		TimeNanos:         p.first,
		DurationNanos:     p.last - p.first,
	}
	funcs := map[string]*profile.Function{}
	locs := map[string]*profile.Location{}
	loc := func(name, file string, line int64) *profile.Location {
		key := name + "\x00" + file + "\x00" + strconv.FormatInt(line, 10)
		if l, ok := locs[key]; ok {
			return l
		}
		fk := name + "\x00" + file
		f := funcs[fk]
		if f == nil {
			f = &profile.Function{ID: uint64(len(prof.Function) + 1), Name: name, SystemName: name, Filename: file}
			funcs[fk] = f
			prof.Function = append(prof.Function, f)
		}
		l := &profile.Location{ID: uint64(len(prof.Location) + 1), Line: []profile.Line{{Function: f, Line: line}}}
		locs[key] = l
		prof.Location = append(prof.Location, l)
		return l
	}
	keys := make([]sampleKey, 0, len(p.samples))
	for k := range p.samples {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.thread != b.thread {
			return a.thread < b.thread
		}
		if a.kind != b.kind {
			return a.kind < b.kind
		}
		if a.stack != b.stack {
			return a.stack < b.stack
		}
		return a.dump < b.dump
	})
	for _, k := range keys {
		var ls []*profile.Location
		if k.stack >= 0 {
			ls = append(ls, loc(k.dump, "", 0))
			for _, f := range p.stacks.stacks[k.stack] {
				ls = append(ls, loc(parseFrame(f)))
			}
		} else {
			ls = append(ls, loc("(no thread dump saw this thread)", "", 0))
		}
		ls = append(ls, loc("thread: "+k.thread, "", 0), loc("pool: "+k.pool, "", 0))
		labels := map[string][]string{"thread": {k.thread}, "pool": {k.pool}, "kind": {k.kind}}
		if k.state != "" {
			labels["state"] = []string{k.state}
		}
		v := p.samples[k]
		prof.Sample = append(prof.Sample, &profile.Sample{Location: ls, Value: []int64{v[0], v[1]}, Label: labels})
	}
	if err := prof.CheckValid(); err != nil {
		return err
	}
	return prof.Write(w)
}
