package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/report"
	"github.com/jschedlat/jschedlat/runmeta"
	"github.com/jschedlat/jschedlat/sink"
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
	app      report.AppLogOptions
	traced   []string
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
skipped (--strict: the first one is an error).

With --app-log, each request gets its thread's run-queue wait inside its
window, and only the requests that lie wholly inside the span the records
cover are judged; the others are counted as partly traced or not traced.
That span is the runs' own, from FILE.runs.jsonl that attach writes beside
-o FILE (rotated files included); without it, give --traced FROM,TO, else
it is guessed from the first and last record (with a warning).`,
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
	f.StringVar(&o.appLog, "app-log", "", "application request log to join: CSV with a header, JSON lines, or lines read by --app-pattern/--app-regex; per request a thread name and two of start, end, duration")
	f.StringVar(&o.appOut, "app-out", "", "write the requests annotated with their run-queue wait to FILE (CSV, a traced column says yes/partly/no; default: APP-LOG's name + .runq.csv in the current directory)")
	f.StringVar(&o.app.Cols.Thread, "app-thread", "", "app log: column of the Java thread name (default \"thread\")")
	f.StringVar(&o.app.Cols.Start, "app-start", "", "app log: column of the request's start (RFC 3339, access-log time, yyyy-MM-dd HH:mm:ss.SSS with --app-tz, or epoch s/ms/µs/ns); default \"start\" when unambiguous")
	f.StringVar(&o.app.Cols.End, "app-end", "", "app log: column of the request's end; default \"end\" when unambiguous")
	f.StringVar(&o.app.Cols.Duration, "app-duration", "", "app log: column of the request's duration (a number in --app-duration-unit, or a Go duration); default \"duration_ms\" when unambiguous")
	f.StringVar(&o.app.Unit, "app-duration-unit", "", "app log: unit of plain-number durations: ns, us, ms, s (default ms; required with %D in --app-pattern)")
	f.StringVar(&o.app.Cols.ID, "app-id", "", "app log: column of the request id (default \"id\")")
	f.StringVar(&o.app.TZ, "app-tz", "", "app log: zone of times written without one (e.g. UTC, Europe/Berlin, Local): logback's and log4j's yyyy-MM-dd HH:mm:ss.SSS")
	f.StringVar(&o.app.Pattern, "app-pattern", "", "app log: an access log of this Tomcat AccessLogValve / Jetty CustomRequestLog pattern, e.g. '%h %l %u %t \"%r\" %s %b %D %I' (%I: thread name)")
	f.StringVar(&o.app.TimeIs, "app-time-is", "start", "app log: what a pattern's %t without begin:/end: is: start (Tomcat, Jetty: when the request was received) or end")
	f.StringVar(&o.app.Regex, "app-regex", "", "app log: lines read by this regular expression with named groups thread, and two of start, end, duration; id optional")
	f.StringArrayVar(&o.traced, "traced", nil, "the span the records cover, FROM,TO in RFC 3339 (repeatable), instead of the run metadata FILE.runs.jsonl that attach writes beside -o FILE")
	f.StringVar(&o.trace, "trace", "", "also write Chrome trace-event JSON to FILE (Perfetto UI, chrome://tracing): a track per thread with its waits, and the requests of --app-log")
	f.StringVar(&o.match, "match", "", "only the waits of threads whose Java name (or [kernel name] when it has none) matches REGEXP, e.g. '^http-nio-' (who took the CPU from those threads)")
	f.StringVar(&o.html, "html", "", "also write a self-contained HTML page to FILE: timeline per pool and thread, histograms, the tables, and the requests of --app-log on the same time axis")
	f.DurationVar(&o.slo, "slo", 0, "latency objective: count the traced requests slower than this and how many of them waited in the run queue (needs --app-log)")
	f.DurationVar(&o.runqMin, "runq-threshold", time.Millisecond, "run-queue wait from which a slow request counts as having waited")
	return c
}

func runReport(o *reportOpts, files []string) error {
	if err := checkReport(o); err != nil {
		return err
	}
	in := report.Input{Files: files, Strict: o.strict, RunqMin: o.runqMin}
	rules, err := reportInput(o, &in)
	if err != nil {
		return err
	}
	rp := report.New(report.Config{Pools: rules, Interval: o.interval})
	if err := reportProfile(o, &in, rules); err != nil {
		return err
	}
	if o.appLog != "" {
		if in.Requests, err = report.ReadAppLogFile(o.appLog, o.app, o.strict); err != nil {
			return err
		}
	}
	var traceFile, htmlFile *os.File
	if o.trace != "" {
		if traceFile, err = os.Create(o.trace); err != nil {
			return fmt.Errorf("--trace: %w", err)
		}
		defer traceFile.Close()
		in.Trace = report.NewTraceWriter(traceFile)
	}
	if o.html != "" {
		// Created now, so a bad path fails before the records are read.
		if htmlFile, err = os.Create(o.html); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
		defer htmlFile.Close()
		in.Timeline = report.NewTimeline(1000)
	}
	res, err := rp.ReadFiles(in)
	if err != nil {
		return err
	}
	if in.Trace != nil {
		if err := closeWith("--trace", o.trace, traceFile, in.Trace.Close()); err != nil {
			return err
		}
	}
	if in.Profile != nil {
		if err := writeProfile(in.Profile, o.pprof); err != nil {
			return err
		}
	}
	return writeReport(o, rp, &in, res, htmlFile)
}

// checkReport checks the options that need nothing read.
func checkReport(o *reportOpts) error {
	if o.format != "text" && o.format != "json" {
		return fmt.Errorf("unknown --format %q (valid: text, json)", o.format)
	}
	if o.interval <= 0 {
		return fmt.Errorf("--interval %s: must be positive", o.interval)
	}
	if o.appLog == "" {
		for name, set := range map[string]bool{"--slo": o.slo != 0, "--app-out": o.appOut != "", "--traced": len(o.traced) > 0, "--app-pattern": o.app.Pattern != "", "--app-regex": o.app.Regex != ""} {
			if set {
				return fmt.Errorf("%s judges the requests of an application log: give --app-log FILE too", name)
			}
		}
	}
	return nil
}

// reportInput reads --traced, --pool and --match.
func reportInput(o *reportOpts, in *report.Input) (rules []report.PoolRule, err error) {
	if in.Traced, err = runmeta.ParseIntervals(o.traced); err != nil {
		return nil, fmt.Errorf("--traced %w", err)
	}
	for _, p := range o.pools {
		r, err := report.ParsePoolRule(p)
		if err != nil {
			return nil, fmt.Errorf("--pool: %w", err)
		}
		rules = append(rules, r)
	}
	if o.match != "" {
		if in.Match, err = regexp.Compile(o.match); err != nil {
			return nil, fmt.Errorf("--match: %v", err)
		}
	}
	return rules, nil
}

// reportProfile sets up --pprof with the stacks of --dumps.
func reportProfile(o *reportOpts, in *report.Input, rules []report.PoolRule) error {
	if o.pprof == "" {
		if len(o.dumps) > 0 {
			return errors.New("--dumps is for --pprof: give --pprof FILE too")
		}
		return nil
	}
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
	in.Profile = report.NewProfiler(report.NewStacks(dumps), rules)
	return nil
}

// writeReport writes the requests (--app-out), the HTML page and the
// report itself.
func writeReport(o *reportOpts, rp *report.Report, in *report.Input, res report.Result, htmlFile *os.File) error {
	out, err := sink.CreatePlain(o.output)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(out, 64<<10)
	s := rp.Summary()
	if res.Join != nil {
		s.Requests = report.SummarizeRequests(in.Requests, res.Join, o.slo, o.runqMin, 10)
		s.Requests.Span, s.Requests.SpanSource, s.Requests.MinLatency = res.Cover.Span, res.Cover.Source, res.Cover.MinLatency
		if s.Requests.MatchedThreads == 0 {
			slog.Warn("no thread name of the app log appears in the records: check --app-thread, and that the records have Java names", "app_log", o.appLog, "threads", s.Requests.Threads)
		}
		if err := writeRequests(o, in.Requests); err != nil {
			out.Close()
			return err
		}
	}
	if in.Timeline != nil {
		err := writeBuffered("--html", o.html, htmlFile, func(w io.Writer) error {
			return report.WriteHTML(w, report.HTMLInput{Summary: s, Timeline: in.Timeline, Requests: in.Requests, SLO: o.slo, Files: in.Files, Top: htmlTop(o.top)})
		})
		if err != nil {
			out.Close()
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
		return fmt.Errorf("writing the report: %w", err)
	}
	return nil
}

// writeBuffered writes f through a buffer and closes it; an error names
// the flag and the path.
func writeBuffered(flag, path string, f *os.File, write func(io.Writer) error) error {
	bw := bufio.NewWriterSize(f, 256<<10)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	return closeWith(flag, path, f, err)
}

// closeWith closes f after err (the write's), returning the first of them
// with the flag and the path.
func closeWith(flag, path string, f *os.File, err error) error {
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%s %s: %w", flag, path, err)
	}
	return nil
}

func writeProfile(p *report.Profiler, path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--pprof: %w", err)
	}
	return closeWith("--pprof", path, f, p.Write(f))
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
	return writeBuffered("--app-out", path, f, func(w io.Writer) error { return report.WriteRequests(w, reqs) })
}

// htmlTop is the rows per table of the HTML page: --top, at least 50 (the
// page's tables sort and scroll), all for 0.
func htmlTop(top int) int {
	if top == 0 {
		return math.MaxInt
	}
	return max(top, 50)
}
