package main

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/report"
)

type reportOpts struct {
	format   string
	top      int
	pools    []string
	interval time.Duration
	strict   bool
	output   string
	pprof    string
	dumps    []string
	tz       string
	appLog   string
	appOut   string
	appCols  report.AppColumns
	appUnit  string
	slo      time.Duration
	runqMin  time.Duration
	trace    string
	html     string
	match    string
}

func newReportCmd() *cobra.Command {
	o := &reportOpts{}
	c := &cobra.Command{
		Use:   "report FILE...",
		Short: "Per thread, pool, CPU and time: how long threads waited for a CPU, and who had it",
		Long: `Reads annotated records (CSV or JSON lines, as attach and replay write them;
several files, read one after the other in bounded memory) and prints, per
Java thread and per thread pool (thread names with their last number folded:
http-nio-8080-exec-12 -> http-nio-8080-exec-*; --pool overrides), the number
of waits, their total, p50/p90/p99/p99.9 and max, by kind; the tasks that had
the CPU when the waits ended (GC and compiler threads by their Java name); per
CPU; the share of waits that ended on another CPU than they were queued on;
and latency over time. Malformed rows are reported with file and line and
skipped (--strict: the first one is an error).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReport(o, args)
		},
	}
	f := c.Flags()
	f.StringVar(&o.format, "format", "text", "output: text, json")
	f.IntVar(&o.top, "top", 20, "rows per table for threads, pools and previous tasks (0 = all)")
	f.StringArrayVar(&o.pools, "pool", nil, "pool rule REGEXP=>TEMPLATE, tried in order before the default (e.g. '^(worker)-\\d+-(.*)$=>$1-*-$2'); repeatable")
	f.DurationVar(&o.interval, "interval", time.Second, "width of the latency-over-time lines")
	f.BoolVar(&o.strict, "strict", false, "stop at the first malformed row instead of skipping it")
	f.StringVarP(&o.output, "output", "o", "-", "write the report to FILE (- = stdout)")
	f.StringVar(&o.pprof, "pprof", "", "also write a pprof profile of the waits to FILE (samples waits/count and runq_delay/nanoseconds; stacks from --dumps)")
	f.StringArrayVar(&o.dumps, "dumps", nil, "thread dumps for the profile's Java stacks: a --save-dumps directory, dump files or logs (repeatable)")
	f.StringVar(&o.tz, "tz", "Local", "time zone of the timestamp lines in plain dump files")
	f.StringVar(&o.appLog, "app-log", "", "application request log to join (CSV with a header, or JSON lines): per request a thread name and two of start, end, duration")
	f.StringVar(&o.appOut, "app-out", "", "write the requests annotated with their run-queue wait to FILE (CSV; default: APP-LOG's name + .runq.csv in the current directory)")
	f.StringVar(&o.appCols.Thread, "app-thread", report.DefaultAppColumns.Thread, "app log: column of the Java thread name")
	f.StringVar(&o.appCols.Start, "app-start", report.DefaultAppColumns.Start, "app log: column of the request's start (RFC 3339, access-log time with zone, or epoch s/ms/µs/ns)")
	f.StringVar(&o.appCols.End, "app-end", report.DefaultAppColumns.End, "app log: column of the request's end")
	f.StringVar(&o.appCols.Duration, "app-duration", report.DefaultAppColumns.Duration, "app log: column of the request's duration (a number in --app-duration-unit, or a Go duration)")
	f.StringVar(&o.appUnit, "app-duration-unit", "ms", "app log: unit of plain-number durations: ns, us, ms, s")
	f.StringVar(&o.appCols.ID, "app-id", report.DefaultAppColumns.ID, "app log: column of the request id")
	f.StringVar(&o.trace, "trace", "", "also write Chrome trace-event JSON to FILE (Perfetto UI, chrome://tracing): a track per thread with its waits, and the requests of --app-log")
	f.StringVar(&o.match, "match", "", "only the waits of threads whose Java name (or [kernel name] when it has none) matches REGEXP, e.g. '^http-nio-' (who took the CPU from those threads)")
	f.StringVar(&o.html, "html", "", "also write a self-contained HTML page to FILE: timeline per pool and thread, histograms, the tables, and the requests of --app-log on the same time axis")
	f.DurationVar(&o.slo, "slo", 0, "latency objective: count the requests slower than this and how many of them waited in the run queue")
	f.DurationVar(&o.runqMin, "runq-threshold", time.Millisecond, "run-queue wait from which a slow request counts as having waited")
	return c
}

// maxRowWarnings bounds the malformed rows reported one by one per file.
const maxRowWarnings = 10

func runReport(o *reportOpts, files []string) error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("unknown --format %q (valid: text, json)", o.format)
	}
	if o.interval <= 0 {
		return fmt.Errorf("--interval %s: must be positive", o.interval)
	}
	var rules []report.PoolRule
	for _, p := range o.pools {
		r, err := report.ParsePoolRule(p)
		if err != nil {
			return fmt.Errorf("--pool: %w", err)
		}
		rules = append(rules, r)
	}
	var match *regexp.Regexp
	if o.match != "" {
		var err error
		if match, err = regexp.Compile(o.match); err != nil {
			return fmt.Errorf("--match: %v", err)
		}
	}
	rp := report.New(report.Config{Pools: rules, Interval: o.interval})
	var prof *report.Profiler
	if o.pprof != "" {
		loc, err := time.LoadLocation(o.tz)
		if err != nil {
			return fmt.Errorf("--tz: %w", err)
		}
		dumps, warns, err := correlate.LoadDumps(o.dumps, loc)
		if err != nil {
			return err
		}
		for _, w := range warns {
			slog.Warn(w)
		}
		if len(dumps) == 0 {
			slog.Warn("no thread dumps: the profile has threads but no Java stacks (give --dumps)")
		}
		prof = report.NewProfiler(report.NewStacks(dumps), rules)
	} else if len(o.dumps) > 0 {
		return errors.New("--dumps is for --pprof: give --pprof FILE too")
	}
	var join *report.Join
	var reqs []report.Request
	if o.appLog != "" {
		var err error
		if reqs, err = readAppLog(o); err != nil {
			return err
		}
		join = report.NewJoin(reqs)
	}
	var tr *report.TraceWriter
	var traceFile *os.File
	var pid uint32
	if o.trace != "" {
		var err error
		if traceFile, err = os.Create(o.trace); err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer traceFile.Close()
		tr = report.NewTraceWriter(traceFile)
	}
	var tl *report.Timeline
	var htmlFile *os.File
	if o.html != "" {
		// Created now, so a bad path fails before the records are read.
		var err error
		if htmlFile, err = os.Create(o.html); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
		defer htmlFile.Close()
		tl = report.NewTimeline(1000)
	}
	sink := func(r *correlate.Record) {
		if tl != nil {
			tl.Add(r)
		}
		if tr != nil {
			tr.Add(r)
			if pid == 0 {
				pid = r.Pid
			}
		}
	}
	for _, path := range files {
		if err := readInto(rp, prof, join, sink, match, path, o.strict); err != nil {
			return err
		}
	}
	if tr != nil {
		if join != nil {
			tr.Requests(pid, reqs)
		}
		err := tr.Close()
		if err == nil {
			err = traceFile.Close()
		}
		if err != nil {
			return fmt.Errorf("--trace %s: %w", o.trace, err)
		}
	}
	if prof != nil {
		if err := writeProfile(prof, o.pprof); err != nil {
			return err
		}
	}
	out, err := createOut(o.output)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out.f, 64<<10)
	s := rp.Summary()
	if join != nil {
		s.Requests = report.SummarizeRequests(reqs, join, o.slo, o.runqMin, 10)
		if s.Requests.MatchedThreads == 0 {
			slog.Warn("no thread name of the app log appears in the records: check --app-thread, and that the records have Java names", "app_log", o.appLog, "threads", s.Requests.Threads)
		}
		if err := writeRequests(o, reqs); err != nil {
			return err
		}
	}
	if tl != nil {
		if err := writeHTML(o, htmlFile, s, tl, reqs, files); err != nil {
			return err
		}
	}
	if o.format == "json" {
		err = s.WriteJSON(w)
	} else {
		err = s.WriteText(w, o.top)
	}
	if err == nil {
		err = w.Flush()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing the report to %s: %w", out.name, err)
	}
	return nil
}

func writeHTML(o *reportOpts, f *os.File, s *report.Summary, tl *report.Timeline, reqs []report.Request, files []string) error {
	bw := bufio.NewWriterSize(f, 256<<10)
	err := report.WriteHTML(bw, report.HTMLInput{Summary: s, Timeline: tl, Requests: reqs, SLO: o.slo, Files: files, Top: htmlTop(o.top)})
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--html %s: %w", o.html, err)
	}
	return nil
}

func writeProfile(p *report.Profiler, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	if err := p.Write(f); err != nil {
		f.Close()
		return fmt.Errorf("--pprof %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--pprof %s: %w", path, err)
	}
	return nil
}

var durationUnits = map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond, "s": time.Second}

func readAppLog(o *reportOpts) ([]report.Request, error) {
	unit, ok := durationUnits[o.appUnit]
	if !ok {
		return nil, fmt.Errorf("--app-duration-unit %q: one of ns, us, ms, s", o.appUnit)
	}
	o.appCols.DurationUnit = unit
	f, err := os.Open(o.appLog)
	if err != nil {
		return nil, fmt.Errorf("--app-log: %w", err)
	}
	defer f.Close()
	var bad int
	reqs, err := report.ReadAppLog(f, o.appCols, func(e *correlate.RowError) error {
		if o.strict {
			return e
		}
		bad++
		if bad <= maxRowWarnings {
			slog.Warn("app log row skipped", "file", o.appLog, "line", e.Line, "err", e.Err)
		}
		return nil
	})
	if err != nil {
		var re *correlate.RowError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%s:%d: %v", o.appLog, re.Line, re.Err)
		}
		return nil, fmt.Errorf("%s: %w", o.appLog, err)
	}
	if bad > maxRowWarnings {
		slog.Warn("more app log rows skipped", "file", o.appLog, "rows", bad-maxRowWarnings)
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%s: no usable request (columns %s, %s/%s/%s)", o.appLog, o.appCols.Thread, o.appCols.Start, o.appCols.End, o.appCols.Duration)
	}
	return reqs, nil
}

func writeRequests(o *reportOpts, reqs []report.Request) error {
	path := o.appOut
	if path == "" {
		path = filepath.Base(o.appLog) + ".runq.csv"
		slog.Info("requests with their run-queue wait written", "file", path)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--app-out: %w", err)
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	err = report.WriteRequests(bw, reqs)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("--app-out %s: %w", path, err)
	}
	return nil
}

func readInto(rp *report.Report, prof *report.Profiler, join *report.Join, sink func(*correlate.Record), match *regexp.Regexp, path string, strict bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var bad uint64
	onBad := func(e *correlate.RowError) error {
		if strict {
			return e
		}
		bad++
		if bad <= maxRowWarnings {
			slog.Warn("malformed row skipped", "file", path, "line", e.Line, "err", e.Err)
		}
		return nil
	}
	n, read := uint64(0), uint64(0)
	err = correlate.ReadRecordsLenient(f, func(r *correlate.Record) error {
		read++
		if match != nil && !match.MatchString(report.ThreadLabel(r)) {
			return nil
		}
		rp.Add(r)
		if prof != nil {
			prof.Add(r)
		}
		if join != nil {
			join.Add(r)
		}
		sink(r)
		n++
		return nil
	}, onBad)
	if err != nil {
		var re *correlate.RowError
		if errors.As(err, &re) {
			return fmt.Errorf("%s:%d: %v", path, re.Line, re.Err)
		}
		return fmt.Errorf("%s: %w", path, err)
	}
	if bad > maxRowWarnings {
		slog.Warn("more malformed rows skipped", "file", path, "rows", bad-maxRowWarnings)
	}
	if read > 0 && n == 0 {
		slog.Warn("no thread matches --match", "file", path, "records", read, "match", match.String())
	}
	if read == 0 && bad == 0 {
		slog.Warn("no records", "file", path)
	}
	return nil
}

// htmlTop is the rows per table of the HTML page: --top, at least 50 (the
// page's tables sort and scroll), all for 0.
func htmlTop(top int) int {
	if top == 0 {
		return math.MaxInt
	}
	return max(top, 50)
}
