package correlate

import (
	"bufio"
	"context"
	"io"

	"github.com/jschedlat/jschedlat/eventlog"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// The vocabulary and the file formats moved to packages sched, record and
// eventlog; these names stay while their callers move.

// Deprecated: transition, removed when callers moved.
type (
	Event            = sched.Event
	Record           = record.Record
	Writer           = record.Writer
	RowError         = record.RowError
	BackgroundWriter = record.BackgroundWriter
	EventLogHeader   = eventlog.Header
	EventLogWriter   = eventlog.Writer
)

// Deprecated: transition, removed when callers moved.
const (
	SourceDump        = record.SourceDump
	SourceDumpRenamed = record.SourceDumpRenamed
	SourceComm        = record.SourceComm
	SourceHotSpot     = record.SourceHotSpot
	TimeLayout        = record.TimeLayout
)

// Deprecated: transition, removed when callers moved.
var (
	Formats = record.Formats
	Columns = record.Columns
)

// Deprecated: transition, removed when callers moved.
func FormatTime(ns int64) string { return record.FormatTime(ns) }

// Deprecated: transition, removed when callers moved.
func NewWriter(w io.Writer, format string) (Writer, error) { return record.NewWriter(w, format) }

// Deprecated: transition, removed when callers moved.
func NewContinuingWriter(w io.Writer, format string) (Writer, error) {
	return record.NewContinuingWriter(w, format)
}

// Deprecated: transition, removed when callers moved.
func NewBackgroundWriter(w Writer) *BackgroundWriter { return record.NewBackgroundWriter(w) }

// Deprecated: transition, removed when callers moved.
func ReadRecords(r io.Reader, fn func(*Record) error) error { return record.ReadRecords(r, fn) }

// Deprecated: transition, removed when callers moved.
func ReadRecordsLenient(r io.Reader, fn func(*Record) error, bad func(*RowError) error) error {
	return record.ReadRecordsLenient(r, fn, bad)
}

// Deprecated: transition, removed when callers moved.
func Gunzip(br *bufio.Reader) (*bufio.Reader, error) { return record.Gunzip(br) }

// Deprecated: transition, removed when callers moved.
func NewEventLogWriter(w io.Writer, h EventLogHeader) (*EventLogWriter, error) {
	return eventlog.NewWriter(w, h)
}

// Deprecated: transition, removed when callers moved.
func ReadEventLog(r io.Reader, fn func(*Event) error) (EventLogHeader, error) {
	return eventlog.Read(r, fn)
}

// Deprecated: transition, removed when callers moved.
func ReadEventLogKinds(ctx context.Context, r io.Reader, skip func(sched.Kind) bool, fn func(*Event) error) (EventLogHeader, error) {
	return eventlog.ReadKinds(ctx, r, skip, fn)
}
