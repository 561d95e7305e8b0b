package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/correlate"
)

type replayOpts struct {
	events   string
	dumps    []string
	dumpTime []string
	output   string
	format   string
	tz       string
}

func newReplayCmd() *cobra.Command {
	o := &replayOpts{}
	c := &cobra.Command{
		Use:   "replay --events FILE --dumps PATH... [-o FILE]",
		Short: "Annotate recorded events offline with thread names from dumps",
		Long: `Joins events recorded by 'attach --save-events' with thread dumps: the
directory written by 'attach --save-dumps' (exact capture times), or jstack /
jcmd Thread.print files, application logs with kill -3 dumps and OpenJ9
javacores (times from their timestamp lines, read in --tz). Replaying a run's --save-events with its
--save-dumps gives the same rows as that run's live output.

Dump files may be gzipped, UTF-16 (Windows PowerShell) or journalctl,
Kubernetes (CRI) or docker json-file logs. A damaged dump gives its complete
threads; a file in a directory that cannot be read is skipped; both with a
warning naming the file and line. A dump without a timestamp line is placed
at the time --dump-time gives for its file, else at the file's modification
time (said in a warning). A dump whose jcmd first line names another process
than the events' is not used.`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.dumps = append(o.dumps, args...)
			return runReplay(cmd.Context(), o)
		},
	}
	f := c.Flags()
	f.StringVar(&o.events, "events", "", "events file written by attach --save-events (required)")
	f.StringArrayVar(&o.dumps, "dumps", nil, "thread dumps: a --save-dumps directory, a dump file or log, or a directory of them (repeatable; extra arguments are dumps too)")
	f.StringVarP(&o.output, "output", "o", "-", "write records to FILE (- = stdout)")
	f.StringVar(&o.format, "format", "csv", "record format: csv, jsonl")
	f.StringVar(&o.tz, "tz", "Local", "time zone of the timestamp lines in plain dump files (e.g. UTC, Europe/Zurich)")
	f.StringArrayVar(&o.dumpTime, "dump-time", nil, "FILE=TIME: when the dump in FILE was taken, for a dump without a timestamp line (TIME: RFC 3339, or \"2006-01-02 15:04:05\" in --tz; repeatable)")
	_ = c.MarkFlagRequired("events")
	return c
}

func runReplay(ctx context.Context, o *replayOpts) (err error) {
	if err := validFormat(o.format); err != nil {
		return err
	}
	loc, err := time.LoadLocation(o.tz)
	if err != nil {
		return fmt.Errorf("--tz: %w", err)
	}
	at, err := parseDumpTimes(o.dumpTime, loc)
	if err != nil {
		return err
	}
	f, err := os.Open(o.events)
	if err != nil {
		return fmt.Errorf("--events: %w", err)
	}
	defer f.Close()

	// First pass: thread births, renames and exits, which split a TID's
	// history into spans with one name each.
	namer := correlate.NewNamer(0)
	hdr, err := correlate.ReadEventLogKinds(ctx, f, bpf.Kind.Wait, func(e *correlate.Event) error {
		namer.AddEvent(e)
		return ctx.Err()
	})
	if err != nil {
		return fmt.Errorf("%s: %w", o.events, err)
	}
	dumps, warns, err := correlate.LoadDumpsWith(o.dumps, correlate.LoadOptions{Loc: loc, At: at})
	if err != nil {
		return err
	}
	for _, w := range warns {
		slog.Warn(w)
	}
	used := 0
	for i := range dumps {
		d := &dumps[i]
		if d.Pid != 0 && hdr.Pid != 0 && d.Pid != int(hdr.Pid) {
			// Also a dump taken inside the JVM's container (jcmd 1):
			// its TIDs are of that namespace, not the host's.
			slog.Warn("dump is of another process (or seen from inside a container, with TIDs that are not the host's): skipped",
				"dump", d.Origin, "dump_pid", d.Pid, "events_pid", hdr.Pid)
			continue
		}
		namer.AddDump(d.Start, d.End, &d.Dump, d.TidMap())
		used++
	}
	switch {
	case len(o.dumps) == 0:
		// Still useful: every wait is there, with the kernel's names.
		slog.Warn("no --dumps given: java_thread comes only from the HotSpot probe records in the event log",
			"threads_named_at_start", namer.ThreadStarts())
	case used == 0 && hdr.Pid != 0:
		slog.Warn("no usable thread dumps: java_thread comes only from the HotSpot probe records in the event log",
			"threads_named_at_start", namer.ThreadStarts())
	}

	// As openRecords, with a large buffer before the file: encoding/csv's
	// 4 KiB writes cost more than the rows here.
	out, err := createOut(o.output)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(out, 1<<20)
	rw, err := correlate.NewWriter(bw, o.format)
	if err != nil {
		out.Close()
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if _, err := f.Seek(0, 0); err != nil {
		return err
	}
	// Rows are formatted and written on another CPU than the join.
	w := correlate.NewBackgroundWriter(flushBoth{rw, bw})
	j := &correlate.Joiner{Pid: hdr.Pid, Namer: namer}
	if hdr.Pid != 0 && hdr.Cgroup != "" {
		// As the live run saw it when the log began.
		j.Cgroup = func(pid uint32) (string, string) {
			if pid == hdr.Pid {
				return hdr.Cgroup, hdr.Container
			}
			return "", ""
		}
	}
	var rec correlate.Record
	var n uint64
	last := int64(math.MinInt64) // the latest event: a dump after it names nothing
	write := func(e *correlate.Event) error {
		j.Annotate(e, &rec)
		n++
		last = max(last, e.Time)
		if n%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return w.Write(&rec)
	}
	// Events were saved as they arrived (each CPU's batch at a time); rows
	// come in the order the live run wrote them: in time order when it
	// named a JVM's threads, as they arrived otherwise.
	reorder := correlate.NewReorder()
	notWait := func(k bpf.Kind) bool { return !k.Wait() }
	_, err = correlate.ReadEventLogKinds(ctx, f, notWait, func(e *correlate.Event) error {
		if !j.Sorted() {
			return write(e)
		}
		return reorder.Push(e, write)
	})
	if err == nil {
		err = reorder.Drain(write)
	}
	ferr := w.Close()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		return fmt.Errorf("%s: %w (records before it were written)", o.events, err)
	}
	if ferr != nil {
		return ferr
	}
	if n > 0 {
		for i := range dumps {
			// A dump names threads from its time on: one placed after
			// every event (a local time read in the wrong --tz, a file
			// time of a later copy) names none.
			if d := &dumps[i]; d.Start > last && (d.Pid == 0 || hdr.Pid == 0 || d.Pid == int(hdr.Pid)) {
				slog.Warn("dump placed after the last event names no thread (a timestamp in another zone than --tz? a file time of a later copy?)",
					"dump", d.Origin, "dump_time", correlate.FormatTime(d.Start), "last_event", correlate.FormatTime(last), "tz", o.tz)
			}
		}
	}
	fmt.Fprintf(os.Stderr, "jschedlat: %d records written from %d dumps\n", n, used)
	return nil
}

// parseDumpTimes reads --dump-time FILE=TIME values.
func parseDumpTimes(vals []string, loc *time.Location) (map[string]time.Time, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	at := map[string]time.Time{}
	for _, v := range vals {
		i := strings.LastIndexByte(v, '=')
		if i <= 0 || i == len(v)-1 {
			return nil, fmt.Errorf("--dump-time %q: want FILE=TIME", v)
		}
		file, ts := v[:i], v[i+1:]
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			var err2 error
			if t, err2 = time.ParseInLocation(time.DateTime, ts, loc); err2 != nil {
				return nil, fmt.Errorf("--dump-time %q: time is neither RFC 3339 nor \"2006-01-02 15:04:05\": %w", v, err)
			}
		}
		at[file] = t
	}
	return at, nil
}

// flushBoth flushes a record writer and the buffer it writes to.
type flushBoth struct {
	correlate.Writer
	bw *bufio.Writer
}

func (f flushBoth) Flush() error {
	if err := f.Writer.Flush(); err != nil {
		return err
	}
	return f.bw.Flush()
}
