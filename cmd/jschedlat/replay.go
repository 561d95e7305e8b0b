package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/correlate"
)

type replayOpts struct {
	events string
	dumps  []string
	output string
	format string
	tz     string
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
--save-dumps gives the same rows as that run's live output.`,
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
	dumps, warns, err := correlate.LoadDumps(o.dumps, loc)
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
			slog.Warn("dump is of another process: skipped", "dump", d.Origin, "dump_pid", d.Pid, "events_pid", hdr.Pid)
			continue
		}
		namer.AddDump(d.Start, d.End, &d.Dump, d.TidMap())
		used++
	}
	if used == 0 && hdr.Pid != 0 {
		slog.Warn("no usable thread dumps: java_thread stays empty")
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
	write := func(e *correlate.Event) error {
		j.Annotate(e, &rec)
		n++
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
	fmt.Fprintf(os.Stderr, "jschedlat: %d records written from %d dumps\n", n, used)
	return nil
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
