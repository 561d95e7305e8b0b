package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/report"
	"github.com/jschedlat/jschedlat/runmeta"
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
	appTZ    string
	appPat   string
	appRegex string
	appTime  string
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
	f.StringVar(&o.appCols.Thread, "app-thread", "", "app log: column of the Java thread name (default \"thread\")")
	f.StringVar(&o.appCols.Start, "app-start", "", "app log: column of the request's start (RFC 3339, access-log time, yyyy-MM-dd HH:mm:ss.SSS with --app-tz, or epoch s/ms/µs/ns); default \"start\" when unambiguous")
	f.StringVar(&o.appCols.End, "app-end", "", "app log: column of the request's end; default \"end\" when unambiguous")
	f.StringVar(&o.appCols.Duration, "app-duration", "", "app log: column of the request's duration (a number in --app-duration-unit, or a Go duration); default \"duration_ms\" when unambiguous")
	f.StringVar(&o.appUnit, "app-duration-unit", "", "app log: unit of plain-number durations: ns, us, ms, s (default ms; required with %D in --app-pattern)")
	f.StringVar(&o.appCols.ID, "app-id", "", "app log: column of the request id (default \"id\")")
	f.StringVar(&o.appTZ, "app-tz", "", "app log: zone of times written without one (e.g. UTC, Europe/Berlin, Local): logback's and log4j's yyyy-MM-dd HH:mm:ss.SSS")
	f.StringVar(&o.appPat, "app-pattern", "", "app log: an access log of this Tomcat AccessLogValve / Jetty CustomRequestLog pattern, e.g. '%h %l %u %t \"%r\" %s %b %D %I' (%I: thread name)")
	f.StringVar(&o.appTime, "app-time-is", "start", "app log: what a pattern's %t without begin:/end: is: start (Tomcat, Jetty: when the request was received) or end")
	f.StringVar(&o.appRegex, "app-regex", "", "app log: lines read by this regular expression with named groups thread, and two of start, end, duration; id optional")
	f.StringArrayVar(&o.traced, "traced", nil, "the span the records cover, FROM,TO in RFC 3339 (repeatable), instead of the run metadata FILE.runs.jsonl that attach writes beside -o FILE")
	f.StringVar(&o.trace, "trace", "", "also write Chrome trace-event JSON to FILE (Perfetto UI, chrome://tracing): a track per thread with its waits, and the requests of --app-log")
	f.StringVar(&o.match, "match", "", "only the waits of threads whose Java name (or [kernel name] when it has none) matches REGEXP, e.g. '^http-nio-' (who took the CPU from those threads)")
	f.StringVar(&o.html, "html", "", "also write a self-contained HTML page to FILE: timeline per pool and thread, histograms, the tables, and the requests of --app-log on the same time axis")
	f.DurationVar(&o.slo, "slo", 0, "latency objective: count the traced requests slower than this and how many of them waited in the run queue (needs --app-log)")
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
	if o.appLog == "" {
		for name, set := range map[string]bool{"--slo": o.slo != 0, "--app-out": o.appOut != "", "--traced": len(o.traced) > 0, "--app-pattern": o.appPat != "", "--app-regex": o.appRegex != ""} {
			if set {
				return fmt.Errorf("%s judges the requests of an application log: give --app-log FILE too", name)
			}
		}
	}
	traced, err := parseTraced(o.traced)
	if err != nil {
		return err
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
	sink := func(r *record.Record) {
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
	infos := make([]*runmeta.File, len(files))
	for i, path := range files {
		infos[i] = &runmeta.File{Path: path}
		if err := readInto(rp, prof, join, sink, match, infos[i], o.strict); err != nil {
			return err
		}
	}
	var cover coverage
	if join != nil {
		cover = coveredSpan(infos, traced)
		if cover.minLatency > o.runqMin {
			slog.Warn("the records hold only waits of at least --min-latency, which is above --runq-threshold: a request that waited less than that in one wait counts as not waiting; the number of slow requests that waited is a lower bound (use --runq-threshold "+cover.minLatency.String()+", or trace with a lower --min-latency)",
				"min_latency", cover.minLatency, "runq_threshold", o.runqMin)
		}
		report.Classify(reqs, cover.span)
		join.Finish()
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
		s.Requests.Span, s.Requests.SpanSource, s.Requests.MinLatency = cover.span, cover.source, cover.minLatency
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
	unit := time.Millisecond
	if o.appUnit != "" {
		var ok bool
		if unit, ok = durationUnits[o.appUnit]; !ok {
			return nil, fmt.Errorf("--app-duration-unit %q: one of ns, us, ms, s", o.appUnit)
		}
	}
	o.appCols.DurationUnit = unit
	if o.appTZ != "" {
		loc, err := time.LoadLocation(o.appTZ)
		if err != nil {
			return nil, fmt.Errorf("--app-tz: %w", err)
		}
		o.appCols.TZ = loc
	}
	var lines *report.LineFormat
	switch {
	case o.appPat != "" && o.appRegex != "":
		return nil, errors.New("--app-pattern and --app-regex exclude each other")
	case o.appPat != "":
		if o.appTime != "start" && o.appTime != "end" {
			return nil, fmt.Errorf("--app-time-is %q: start or end", o.appTime)
		}
		var given time.Duration
		if o.appUnit != "" {
			given = unit
		}
		var err error
		if lines, err = report.CompileAccessPattern(o.appPat, report.TimeIs(o.appTime), given, o.appCols.TZ); err != nil {
			return nil, err
		}
	case o.appRegex != "":
		var err error
		if lines, err = report.CompileAppRegex(o.appRegex, unit, o.appCols.TZ); err != nil {
			return nil, err
		}
	}
	if lines != nil && (o.appCols.Thread != "" || o.appCols.Start != "" || o.appCols.End != "" || o.appCols.Duration != "" || o.appCols.ID != "") {
		return nil, errors.New("--app-thread, --app-start, --app-end, --app-duration and --app-id name CSV/JSON columns: with --app-pattern or --app-regex the fields come from the pattern")
	}
	f, err := os.Open(o.appLog)
	if err != nil {
		return nil, fmt.Errorf("--app-log: %w", err)
	}
	defer f.Close()
	var bad int
	onBad := func(e *record.RowError) error {
		if o.strict {
			return e
		}
		bad++
		if bad <= maxRowWarnings {
			slog.Warn("app log row skipped", "file", o.appLog, "line", e.Line, "err", e.Err)
		}
		return nil
	}
	var reqs []report.Request
	if lines != nil {
		reqs, err = report.ReadAppLines(f, lines, onBad)
	} else {
		reqs, err = report.ReadAppLog(f, o.appCols, onBad)
	}
	if err != nil {
		var re *record.RowError
		if errors.As(err, &re) {
			return nil, fmt.Errorf("%s:%d: %v", o.appLog, re.Line, re.Err)
		}
		return nil, fmt.Errorf("%s: %w", o.appLog, err)
	}
	if bad > maxRowWarnings {
		slog.Warn("more app log rows skipped", "file", o.appLog, "rows", bad-maxRowWarnings)
	}
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%s: no usable request (%d rows skipped)", o.appLog, bad)
	}
	coarse := 0
	for i := range reqs {
		if reqs[i].Coarse > 0 {
			coarse++
		}
	}
	if coarse > 0 {
		slog.Warn("app log times are to the second only: such a request's run-queue wait is given as a range (the least and the most its window can hold); log milliseconds for exact waits (Tomcat: %{begin:msec}t, or %{yyyy-MM-dd HH:mm:ss.SSS}t)",
			"file", o.appLog, "requests", coarse, "of", len(reqs))
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

func readInto(rp *report.Report, prof *report.Profiler, join *report.Join, sink func(*record.Record), match *regexp.Regexp, info *runmeta.File, strict bool) error {
	path := info.Path
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br, err := record.Gunzip(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if head, _ := br.Peek(4096); isEventLog(head) {
		return fmt.Errorf("%s is an events file (--save-events), not records: name its threads with 'jschedlat replay --events %s --dumps DIR -o records.csv', then report the records", path, path)
	}
	var bad uint64
	onBad := func(e *record.RowError) error {
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
	err = record.ReadRecordsLenient(br, func(r *record.Record) error {
		read++
		if info.Records == 0 || r.Time < info.First {
			info.First = r.Time
		}
		info.Last = max(info.Last, r.Time)
		info.Records++
		if join != nil {
			// Every record: --match chooses the tables' threads, and a
			// request's wait must not read 0 because its thread is not
			// among them.
			join.Add(r)
		}
		if match != nil && !match.MatchString(report.ThreadLabel(r)) {
			return nil
		}
		rp.Add(r)
		if prof != nil {
			prof.Add(r)
		}
		sink(r)
		n++
		return nil
	}, onBad)
	if err != nil {
		var re *record.RowError
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

// parseTraced reads --traced FROM,TO values.
func parseTraced(vals []string) ([]runmeta.Interval, error) {
	var out []runmeta.Interval
	for _, v := range vals {
		a, b, ok := strings.Cut(v, ",")
		from, err1 := time.Parse(time.RFC3339Nano, strings.TrimSpace(a))
		to, err2 := time.Parse(time.RFC3339Nano, strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || to.Before(from) {
			return nil, fmt.Errorf("--traced %q: want FROM,TO in RFC 3339, FROM not after TO (e.g. 2026-11-26T00:08:00Z,2026-11-26T00:18:00Z)", v)
		}
		out = append(out, runmeta.Interval{From: from.UnixNano(), To: to.UnixNano()})
	}
	return runmeta.Merge(out), nil
}

// coverage is the span the records cover, where it came from, and the
// largest --min-latency of the runs (-1: not known).
type coverage struct {
	span       []runmeta.Interval
	source     report.SpanSource
	minLatency time.Duration
}

// coveredSpan works out the traced span of the record files: --traced
// when given; else, for the files whose run metadata (FILE.runs.jsonl
// beside the path attach wrote) is there, the runs' spans as the files
// given cover them; for the others, from their first to their last
// record, with a warning: a quiet stretch at either end (no wait above
// --min-latency) was traced too, but cannot be told from one that was not.
func coveredSpan(files []*runmeta.File, traced []runmeta.Interval) coverage {
	c := coverage{minLatency: -1}
	if len(traced) > 0 {
		c.span, c.source = traced, report.SpanFromFlag
		return c
	}
	byBase := map[string][]*runmeta.File{}
	var bases []string
	for _, f := range files {
		b, _, _, _ := runmeta.Base(f.Path)
		if byBase[b] == nil {
			bases = append(bases, b)
		}
		byBase[b] = append(byBase[b], f)
	}
	var span []runmeta.Interval
	var guessed []string
	var first, last int64
	var any bool
	for _, b := range bases {
		runs, warns, err := runmeta.Read(b + runmeta.Suffix)
		for _, w := range warns {
			slog.Warn(w)
		}
		if err != nil || len(runs) == 0 {
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				slog.Warn("run metadata unreadable", "file", b+runmeta.Suffix, "err", err)
			}
			for _, f := range byBase[b] {
				guessed = append(guessed, f.Path)
				if f.Records > 0 {
					if !any || f.First < first {
						first = f.First
					}
					last = max(last, f.Last)
					any = true
				}
			}
			continue
		}
		for _, r := range runs {
			c.minLatency = max(c.minLatency, time.Duration(r.MinLatencyNs))
			if !r.Stopped() {
				slog.Warn("a run has no stop line in its run metadata (killed, or still running): its span is taken to end at its last record", "file", b+runmeta.Suffix, "started", record.FormatTime(r.Start))
			}
		}
		var names []string
		if ents, err := os.ReadDir(dirOf(b)); err == nil {
			for _, e := range ents {
				names = append(names, e.Name())
			}
		}
		span = append(span, runmeta.Covered(b, runs, byBase[b], names)...)
	}
	c.source = report.SpanFromRuns
	if len(guessed) > 0 {
		if any {
			span = append(span, runmeta.Interval{From: first, To: last})
		}
		c.source = report.SpanFromRecords
		slog.Warn("NO RUN METADATA: the traced span is GUESSED as from the first to the last record; requests near its edges may be misjudged as traced or not. attach writes FILE.runs.jsonl beside -o FILE (not for stdout); else give the span with --traced FROM,TO (RFC 3339)",
			"files", strings.Join(guessed, " "), "from", record.FormatTime(first), "to", record.FormatTime(last))
	}
	c.span = runmeta.Merge(span)
	return c
}

func dirOf(path string) string {
	d := filepath.Dir(path)
	if d == "" {
		return "."
	}
	return d
}

// isEventLog tells whether a file's first bytes are the header line of an
// events file (--save-events).
func isEventLog(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	return bytes.HasPrefix(line, []byte("{")) && bytes.Contains(line, []byte(`"format":"jschedlat-events"`))
}
