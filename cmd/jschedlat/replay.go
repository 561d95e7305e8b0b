package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/eventlog"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sink"
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
	if err := record.CheckFormat(o.format); err != nil {
		return err
	}
	loc, err := time.LoadLocation(o.tz)
	if err != nil {
		return fmt.Errorf("--tz: %w", err)
	}
	at, err := correlate.ParseDumpTimes(o.dumpTime, loc)
	if err != nil {
		return err
	}
	f, err := eventlog.Open(o.events)
	if err != nil {
		return fmt.Errorf("--events: %w", err)
	}
	defer f.Close()
	var out *sink.Plain
	defer func() {
		if out == nil {
			return
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	st, err := correlate.Replay(ctx, correlate.ReplayConfig{
		Events: f, EventsName: o.events,
		Dumps: o.dumps, Load: correlate.LoadOptions{Loc: loc, At: at},
		Format: o.format,
		Create: func() (io.Writer, error) {
			var err error
			out, err = sink.CreatePlain(o.output)
			if err != nil {
				return nil, err
			}
			return out, nil
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "jschedlat: %d records written from %d dumps\n", st.Records, st.Dumps)
	return nil
}
