package main

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
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
	for _, path := range files {
		if err := readInto(rp, prof, path, o.strict); err != nil {
			return err
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

func readInto(rp *report.Report, prof *report.Profiler, path string, strict bool) error {
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
	n := uint64(0)
	err = correlate.ReadRecordsLenient(f, func(r *correlate.Record) error {
		rp.Add(r)
		if prof != nil {
			prof.Add(r)
		}
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
	if n == 0 && bad == 0 {
		slog.Warn("no records", "file", path)
	}
	return nil
}
