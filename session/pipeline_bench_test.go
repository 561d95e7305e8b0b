package session

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/eventlog"
	"github.com/jschedlat/jschedlat/internal/eventgen/jvmrun"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
	"github.com/jschedlat/jschedlat/sink"
)

// BenchmarkPipelinePerEvent is the user-space cost of one event of a live
// session, whole (all) and stage by stage, over a synthetic run of one JVM
// (internal/eventgen/jvmrun: ~200 threads in pools named by periodic dumps
// and HotSpot's probes; wakeups, preemptions, yields and first runs;
// births, exits, self-renames and VM operations) at the rate of a busy JVM
// on a 2-CPU host:
//
//	go test -run '^$' -bench PipelinePerEvent -benchmem ./session/
//
// One op is one event, from the decoded bpf.Event to its row in the record
// file; ns/op is ns/event, wall time. user-ns/event and sys-ns/event are
// the process's CPU time per event, in user space and in the kernel (the
// file's writes): on a host with other work they are the cost, where the
// wall time also counts waiting for a CPU. The decoding of the ring-buffer record into the
// bpf.Event (bpf's decodeEvent, not exported) is BenchmarkDecode in package
// bpf. The stages:
//   - convert: bpf.Event.Convert (wall clock, comms as strings);
//   - join: Session.add, Live (held, checked against the Namer, ordered),
//     then at each drain Joiner.Annotate, into a writer that drops rows;
//   - encode: the record writer (CSV or JSON lines) into a buffer;
//   - write: sink.File, encoding included, flushed at each drain into a
//     file;
//   - all: everything the reader's goroutine does per event and per drain
//     (but the clock's resampling and the scan for JVMs), into a file;
//   - asleep: all, asleep for asleepBetween before each drain as the
//     tool's reader is between drains (all runs them back to back, with
//     hot caches: a lower bound).
//
// The stages that hold or write (join, write, all, asleep) are timed in
// the steady state, after 10 s of the run untimed (see time).
func BenchmarkPipelinePerEvent(b *testing.B) {
	r := loadBenchRun(b)
	b.Run("convert", func(b *testing.B) {
		clock := r.clock()
		b.ReportAllocs()
		start := readCPU(b)
		var ev sched.Event
		for i := range b.N {
			ev = r.events[i%len(r.events)].Convert(clock)
		}
		benchSinkEvent = ev
		reportPerEvent(b, start)
	})
	b.Run("join", func(b *testing.B) {
		newBenchPipeline(r, benchSink{Writer: discardRecords{}}).time(b, nil)
	})
	for _, format := range record.Formats {
		b.Run("encode/"+format, func(b *testing.B) {
			w, err := record.NewContinuingWriter(io.Discard, format)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			start := readCPU(b)
			for i := range b.N {
				if err := w.Write(&r.recs[i%len(r.recs)]); err != nil {
					b.Fatal(err)
				}
			}
			if err := w.Flush(); err != nil {
				b.Fatal(err)
			}
			reportPerEvent(b, start)
		})
	}
	for _, format := range record.Formats {
		b.Run("write/"+format, func(b *testing.B) {
			f := openBenchFile(b, format)
			perDrain := int(benchRate * drainEvery / int64(time.Second))
			write := func(from, n int) {
				for i := from; i < from+n; i++ {
					if err := f.Write(&r.recs[i%len(r.recs)]); err != nil {
						b.Fatal(err)
					}
					if i%perDrain == perDrain-1 {
						if err := f.Flush(); err != nil {
							b.Fatal(err)
						}
						if err := f.Maintain(); err != nil {
							b.Fatal(err)
						}
					}
				}
			}
			b.ReportAllocs()
			write(0, warmupEvents) // the steady state, as the pipeline's (time)
			b.ResetTimer()
			start := readCPU(b)
			write(warmupEvents, b.N)
			reportPerEvent(b, start)
			b.StopTimer()
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
		})
	}
	for _, variant := range []string{"all", "asleep"} {
		for _, format := range record.Formats {
			b.Run(variant+"/"+format, func(b *testing.B) {
				f := openBenchFile(b, format)
				p := newBenchPipeline(r, f)
				if variant == "asleep" {
					p.asleep = asleepBetween
				}
				p.time(b, f)
			})
		}
	}
}

// asleepBetween is how long the asleep variant sleeps before each drain,
// as the tool's reader does between its drains: on this VM each event
// then costs about twice its CPU back to back (caches and TLB cold,
// the wakeup itself), which is what the tool spends live.
const asleepBetween = 100 * time.Millisecond

var (
	benchSinkEvent sched.Event
	benchReason    string
)

// cpuTime is the process's CPU time so far, in user space and in the
// kernel (the writes of the record file): unlike ns/op it does not count
// the time the benchmark waited for a CPU on a busy host, and it counts the
// garbage collector's work on other threads.
type cpuTime struct{ user, sys int64 }

func readCPU(b *testing.B) cpuTime {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return cpuTime{ru.Utime.Nano(), ru.Stime.Nano()}
}

// reportPerEvent adds ns/event (wall, as ns/op), user-ns/event and
// sys-ns/event (CPU time since start).
func reportPerEvent(b *testing.B, start cpuTime) {
	end := readCPU(b)
	n := float64(b.N)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/n, "ns/event")
	b.ReportMetric(float64(end.user-start.user)/n, "user-ns/event")
	b.ReportMetric(float64(end.sys-start.sys)/n, "sys-ns/event")
}

func openBenchFile(b *testing.B, format string) *sink.File {
	b.Helper()
	f, err := sink.Open(filepath.Join(b.TempDir(), "records."+format), format, sink.Options{})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

const (
	benchWaits = 200_000
	benchRate  = 5_000 // waits per second of trace time
	benchCPUs  = 2
)

// drainEvery is how often the reader empties the ring in the steady state
// of a JVM whose threads name themselves, as the synthetic one's do.
var drainEvery = int64(SteadyDrainInterval)

// benchRun is the synthetic run as Tracer.Run hands it over: decoded
// events in arrival order, on the kernel's clock, and the dumps the
// refresher adds.
type benchRun struct {
	events []bpf.Event
	offset int64 // wall minus kernel clock
	dumps  []correlate.TimedDump
	span   int64 // wall ns a pass over the run takes, and a second
	pid    int
	recs   []record.Record // the rows of one pass (encode, write)
}

func (r *benchRun) clock() *bpf.WallClock {
	c := &bpf.WallClock{}
	c.Add(bpf.ClockSample{Offset: r.offset})
	return c
}

var (
	benchOnce sync.Once
	benchData benchRun
	benchErr  error
)

func loadBenchRun(b *testing.B) *benchRun {
	b.Helper()
	benchOnce.Do(func() { benchData, benchErr = makeBenchRun() })
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	return &benchData
}

func makeBenchRun() (benchRun, error) {
	var r benchRun
	dir, err := os.MkdirTemp("", "jschedlat-bench-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	c := jvmrun.DefaultConfig()
	c.Waits, c.Rate, c.CPUs = benchWaits, benchRate, benchCPUs
	// Our own PID stands in for the JVM: the cgroup lookup and the
	// liveness check after each drain read a real process.
	r.pid = os.Getpid()
	c.Pid = uint32(r.pid)
	var log bytes.Buffer
	dumpDir := filepath.Join(dir, "dumps")
	if _, err := jvmrun.Generate(c, &log, dumpDir); err != nil {
		return r, err
	}
	var first, last int64
	if _, err := eventlog.Read(&log, func(e *sched.Event) error {
		if len(r.events) == 0 {
			first, r.offset = e.Time, e.Time-int64(e.KTime)
		}
		last = max(last, e.Time)
		be := bpf.Event{Time: e.KTime, Latency: e.Latency, Pid: e.Pid, Tid: e.Tid, PrevPid: e.PrevPid, PrevTid: e.PrevTid,
			CPU: e.CPU, QueuedCPU: e.QueuedCPU, Kind: e.Kind, OffCPU: e.OffCPU, Name: e.Name}
		copy(be.Comm[:], e.Comm)
		copy(be.PrevComm[:], e.PrevComm)
		r.events = append(r.events, be)
		return nil
	}); err != nil {
		return r, err
	}
	r.span = last - first + int64(time.Second)
	if r.dumps, _, err = correlate.LoadDumpsWith([]string{dumpDir}, correlate.LoadOptions{Loc: time.UTC}); err != nil {
		return r, err
	}
	var coll collector
	p := newBenchPipeline(&r, benchSink{Writer: &coll})
	p.feed(len(r.events))
	if err := p.finish(); err != nil {
		return r, err
	}
	r.recs = coll.recs
	// Every wait becomes a row, nearly all named: else the benchmark
	// would measure a join that does not happen.
	named := 0
	for i := range r.recs {
		if r.recs[i].JavaThread != "" {
			named++
		}
	}
	if len(r.recs) != benchWaits || named < benchWaits*9/10 {
		return r, fmt.Errorf("the run gave %d rows (%d named), want %d, nearly all named", len(r.recs), named, benchWaits)
	}
	return r, nil
}

// benchPipeline is a session tracing one JVM, fed as Session.Run feeds it:
// each event converted and added (RunOptions.Event), and at each drain what
// the join has ready written (RunOptions.AfterDrain). The dumps of the run
// are added as they end, as the refresher adds them.
type benchPipeline struct {
	s      *Session
	tg     *target
	clock  *bpf.WallClock
	r      *benchRun
	events []bpf.Event // a copy: each pass moves its times on by r.span
	dumps  []correlate.TimedDump
	ev     sched.Event
	next   int // event
	nextD  int // dump
	lapped bool
	drain  int64         // wall ns of the next drain
	asleep time.Duration // slept before each drain
}

func newBenchPipeline(r *benchRun, sk Sink) *benchPipeline {
	// Our own process is no JVM: newTarget says so and takes no dumps.
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.DiscardHandler))
	defer slog.SetDefault(prev)
	s := &Session{cfg: Config{Pid: r.pid, Sink: sk, DumpInterval: time.Minute, Budget: DefaultBudget}}
	s.targetSet.init()
	s.cancel = func() {}
	// As start does for the one PID.
	s.single = s.newTarget(r.pid, "bench", &bpf.HotSpotStatus{ThreadStarts: true}, nil)
	s.targets[uint32(r.pid)] = s.single
	// An unknown thread asks for a dump, with the reason newTarget's
	// NeedDump gives (no refresher runs: the run's dumps come in feed).
	s.single.live.NeedDump = func(tid uint32, comm string, t int64) bool {
		benchReason = "thread " + strconv.Itoa(int(tid)) + " (" + comm + ") unknown"
		return true
	}
	p := &benchPipeline{s: s, tg: s.single, clock: r.clock(), r: r,
		events: append([]bpf.Event(nil), r.events...), dumps: append([]correlate.TimedDump(nil), r.dumps...)}
	p.drain = int64(r.events[0].Time) + r.offset + drainEvery
	return p
}

// time runs b.N events through the pipeline and reports their cost in the
// steady state, then writes what is held and closes the file f (if any).
//
// Why the warm-up: a new pipeline grows its buffers to their size first
// (the join's hold, the sink's rows of a drain: 13 MB allocated, each
// page a fault), once in a run that lasts hours, but in every run of the
// benchmark: over 300,000 events that added 45 B and tens of ns per event
// that a running tracer does not spend. Start-up is measured on its own
// (bench-startup). The final flush is not timed either: the rows it
// writes are the hold's, as many as the warm-up left held and written in
// the timed part.
func (p *benchPipeline) time(b *testing.B, f *sink.File) {
	b.ReportAllocs()
	asleep := p.asleep
	p.asleep = 0
	p.feed(warmupEvents)
	p.asleep = asleep
	b.ResetTimer()
	start := readCPU(b)
	p.feed(b.N)
	reportPerEvent(b, start)
	b.StopTimer()
	if err := p.finish(); err != nil {
		b.Fatal(err)
	}
	if f != nil {
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
	}
}

// warmupEvents is 10 s of the run: the join's hold (2.4 s) and a drain's
// rows fill several times over.
const warmupEvents = 10 * benchRate

// feed hands n events to the session, starting the run over when it ends.
func (p *benchPipeline) feed(n int) {
	for range n {
		if p.next == len(p.events) {
			p.next, p.nextD, p.lapped = 0, 0, true
			for i := range p.dumps {
				p.dumps[i].Start += p.r.span
				p.dumps[i].End += p.r.span
			}
		}
		e := &p.events[p.next]
		p.next++
		if p.lapped {
			e.Time += uint64(p.r.span)
		}
		wall := int64(e.Time) + p.r.offset
		for p.nextD < len(p.dumps) && p.dumps[p.nextD].End <= wall {
			p.tg.live.AddDump(&p.dumps[p.nextD])
			p.nextD++
		}
		if wall >= p.drain {
			p.afterDrain(wall)
			for p.drain <= wall {
				p.drain += drainEvery
			}
		}
		// RunOptions.Event of Session.Run.
		p.ev = e.Convert(p.clock)
		p.s.add(&p.ev)
	}
}

// afterDrain is RunOptions.AfterDrain of Session.Run, but the clock's
// resampling (the run's clock is fixed) and the scan for JVMs (one PID).
func (p *benchPipeline) afterDrain(now int64) {
	if p.asleep > 0 {
		time.Sleep(p.asleep)
	}
	if err := p.s.emit(time.Unix(0, now)); err != nil {
		panic(err)
	}
	if err := p.s.cfg.Sink.Maintain(); err != nil {
		panic(err)
	}
}

// finish writes what is held, as Session.shutdown does.
func (p *benchPipeline) finish() error {
	p.tg.stop()
	<-p.tg.done
	if err := p.tg.live.Flush(); err != nil {
		return err
	}
	return p.s.cfg.Sink.FlushAll()
}

// benchSink is a Sink around a record.Writer that is not a file.
type benchSink struct{ record.Writer }

func (benchSink) Start() error      { return nil }
func (benchSink) Maintain() error   { return nil }
func (benchSink) FlushAll() error   { return nil }
func (benchSink) Shared() bool      { return false }
func (benchSink) Committed() uint64 { return 0 }
func (benchSink) Dropped() uint64   { return 0 }

type discardRecords struct{}

func (discardRecords) Write(*record.Record) error { return nil }
func (discardRecords) Flush() error               { return nil }
