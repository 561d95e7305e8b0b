package correlate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"

	"github.com/jschedlat/jschedlat/eventlog"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// ReplayConfig says what Replay joins and where its rows go.
type ReplayConfig struct {
	// Events is an events file (attach --save-events), read twice;
	// EventsName names it in errors.
	Events     io.ReadSeeker
	EventsName string
	// Dumps are the thread dumps' paths, as LoadDumpsWith takes them,
	// placed in time by Load.
	Dumps []string
	Load  LoadOptions
	// Format is the records' format (record.Formats).
	Format string
	// Create opens where the rows go. It is called once the events'
	// lifecycle and the dumps were read, so that bad input leaves an
	// existing output as it was.
	Create func() (io.Writer, error)
}

// ReplayStats says what Replay did.
type ReplayStats struct {
	Records uint64 // rows written
	Dumps   int    // dumps used (of the events' process)
}

// Replay joins a saved run offline: the same rows, in the same order, as the
// run wrote live when given its --save-dumps directory. Problems that leave
// the rest usable (a damaged dump, a dump of another process, one placed
// after the last event) are logged as warnings.
func Replay(ctx context.Context, c ReplayConfig) (ReplayStats, error) {
	var st ReplayStats
	// First pass: thread births, renames and exits, which split a TID's
	// history into spans with one name each.
	namer := NewNamer(0)
	hdr, err := eventlog.ReadKinds(ctx, c.Events, sched.Kind.Wait, func(e *sched.Event) error {
		namer.AddEvent(e)
		return ctx.Err()
	})
	if err != nil {
		return st, fmt.Errorf("%s: %w", c.EventsName, err)
	}
	dumps, err := replayDumps(c, hdr, namer, &st)
	if err != nil {
		return st, err
	}
	out, err := c.Create()
	if err != nil {
		return st, err
	}
	// A large buffer before the file: encoding/csv's 4 KiB writes cost
	// more than the rows here.
	bw := bufio.NewWriterSize(out, 1<<20)
	rw, err := record.NewWriter(bw, c.Format)
	if err != nil {
		return st, err
	}
	if _, err := c.Events.Seek(0, io.SeekStart); err != nil {
		return st, err
	}
	// Rows are formatted and written on another CPU than the join.
	w := record.NewBackgroundWriter(flushBoth{rw, bw})
	last, err := replayWaits(ctx, c.Events, hdr, namer, w, &st)
	ferr := w.Close()
	if err != nil {
		if errors.Is(err, context.Canceled) {
			err = errors.New("interrupted")
		}
		return st, fmt.Errorf("%s: %w (records before it were written)", c.EventsName, err)
	}
	if ferr != nil {
		return st, ferr
	}
	if st.Records > 0 {
		warnDumpsAfter(dumps, hdr.Pid, last, c.Load)
	}
	return st, nil
}

// replayDumps loads the dumps and gives the namer those of the events'
// process.
func replayDumps(c ReplayConfig, hdr eventlog.Header, namer *Namer, st *ReplayStats) ([]TimedDump, error) {
	dumps, warns, err := LoadDumpsWith(c.Dumps, c.Load)
	if err != nil {
		return nil, err
	}
	for _, w := range warns {
		slog.Warn(w)
	}
	for i := range dumps {
		d := &dumps[i]
		if !samePid(d, hdr.Pid) {
			// Also a dump taken inside the JVM's container (jcmd 1):
			// its TIDs are of that namespace, not the host's.
			slog.Warn("dump is of another process (or seen from inside a container, with TIDs that are not the host's): skipped",
				"dump", d.Origin, "dump_pid", d.Pid, "events_pid", hdr.Pid)
			continue
		}
		namer.AddDump(d.Start, d.End, &d.Dump, d.TidMap())
		st.Dumps++
	}
	switch {
	case len(c.Dumps) == 0:
		// Still useful: every wait is there, with the kernel's names.
		slog.Warn("no --dumps given: java_thread comes only from the HotSpot probe records in the event log",
			"threads_named_at_start", namer.ThreadStarts())
	case st.Dumps == 0 && hdr.Pid != 0:
		slog.Warn("no usable thread dumps: java_thread comes only from the HotSpot probe records in the event log",
			"threads_named_at_start", namer.ThreadStarts())
	}
	return dumps, nil
}

func samePid(d *TimedDump, pid uint32) bool {
	return d.Pid == 0 || pid == 0 || d.Pid == int(pid)
}

// replayWaits is the second pass: it joins every wait and writes its row.
// It returns the time of the latest event.
func replayWaits(ctx context.Context, events io.Reader, hdr eventlog.Header, namer *Namer, w record.Writer, st *ReplayStats) (int64, error) {
	j := &Joiner{Pid: hdr.Pid, Namer: namer}
	if hdr.Pid != 0 && hdr.Cgroup != "" {
		// As the live run saw it when the log began.
		j.Cgroup = func(pid uint32) (string, string) {
			if pid == hdr.Pid {
				return hdr.Cgroup, hdr.Container
			}
			return "", ""
		}
	}
	var rec record.Record
	last := int64(math.MinInt64)
	write := func(e *sched.Event) error {
		j.Annotate(e, &rec)
		st.Records++
		last = max(last, e.Time)
		if st.Records%65536 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return w.Write(&rec)
	}
	// Events were saved as they arrived (each CPU's batch at a time); rows
	// come in the order the live run wrote them: in time order when it
	// named a JVM's threads, as they arrived otherwise.
	reorder := NewReorder()
	notWait := func(k sched.Kind) bool { return !k.Wait() }
	_, err := eventlog.ReadKinds(ctx, events, notWait, func(e *sched.Event) error {
		if !j.Sorted() {
			return write(e)
		}
		return reorder.Push(e, write)
	})
	if err == nil {
		err = reorder.Drain(write)
	}
	return last, err
}

// warnDumpsAfter warns of dumps placed after every event: a dump names
// threads from its time on, so one there (a local time read in the wrong
// zone, a file time of a later copy) names none.
func warnDumpsAfter(dumps []TimedDump, pid uint32, last int64, o LoadOptions) {
	tz := "Local"
	if o.Loc != nil {
		tz = o.Loc.String()
	}
	for i := range dumps {
		if d := &dumps[i]; d.Start > last && samePid(d, pid) {
			slog.Warn("dump placed after the last event names no thread (a timestamp in another zone than --tz? a file time of a later copy?)",
				"dump", d.Origin, "dump_time", record.FormatTime(d.Start), "last_event", record.FormatTime(last), "tz", tz)
		}
	}
}

// flushBoth flushes a record writer and the buffer it writes to.
type flushBoth struct {
	record.Writer
	bw *bufio.Writer
}

func (f flushBoth) Flush() error {
	if err := f.Writer.Flush(); err != nil {
		return err
	}
	return f.bw.Flush()
}
