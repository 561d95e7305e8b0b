// Package record is the output row (an annotated run-queue wait) and its
// file formats: CSV and JSON lines, written and read.
package record

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Name sources, as written in the name_source column.
const (
	// SourceDump: the name comes from a thread dump that saw this thread
	// (same TID, same life) and agrees with its kernel name at the event.
	SourceDump = "dump"
	// SourceMemory: the same, from a read of the JVM's own memory (no
	// thread dump, no safepoint).
	SourceMemory = "memory"
	// SourceDumpRenamed: a dump saw this thread, but under a name the
	// kernel name at the event does not show: the thread was renamed by
	// another thread (HotSpot only updates comm when a thread renames
	// itself). The name is the last one known at the event's time.
	SourceDumpRenamed = "dump-renamed"
	// SourceComm: no dump knew this thread at that time; java_thread is
	// empty and only the kernel's comm is known.
	SourceComm = "comm"
	// SourceHotSpot: the name comes from HotSpot itself as the thread
	// started or named itself (USDT hotspot:thread__start, or
	// os::set_native_thread_name), and agrees with its kernel name.
	SourceHotSpot = "hotspot"
)

// Record is one annotated run-queue wait: the output row.
type Record struct {
	Time           int64  `json:"-"`    // wall clock of the switch-in, Unix ns
	TimeText       string `json:"time"` // Time in RFC 3339 UTC with ns
	KTime          uint64 `json:"ktime_ns"`
	CPU            uint32 `json:"cpu"`
	QueuedCPU      uint32 `json:"queued_cpu"`
	Kind           string `json:"kind"`
	LatencyNs      uint64 `json:"latency_ns"`
	Pid            uint32 `json:"pid"`
	Tid            uint32 `json:"tid"`
	Comm           string `json:"comm"`
	JavaThread     string `json:"java_thread"`
	NameSource     string `json:"name_source"`
	PrevPid        uint32 `json:"prev_pid"`
	PrevTid        uint32 `json:"prev_tid"`
	PrevComm       string `json:"prev_comm"`
	PrevJavaThread string `json:"prev_java_thread"`
	// VirtualThread is the virtual thread the carrier had mounted during
	// this wait, as Java prints it ("VirtualThread[#31,name]", or
	// "VirtualThread[#31]" when its name is empty or unknown); empty when
	// not known exactly (see Namer.Virtual).
	VirtualThread string `json:"virtual_thread"`
	// Cgroup is the thread's cgroup (v2 path, or the v1 cpu hierarchy's)
	// when the record was written live; Container is the container ID
	// found in it (64 hex digits), empty outside a container.
	Cgroup    string `json:"cgroup"`
	Container string `json:"container"`
}

// Columns is the CSV header; tools outside the project rely on these names.
var Columns = []string{
	"time", "cpu", "queued_cpu", "kind", "latency_ns", "pid", "tid", "comm",
	"java_thread", "name_source", "prev_pid", "prev_tid", "prev_comm",
	"prev_java_thread", "ktime_ns", "virtual_thread", "cgroup", "container",
}

// optionalColumns may be missing from files written by older versions.
var optionalColumns = map[string]bool{"virtual_thread": true, "cgroup": true, "container": true}

// TimeLayout is RFC 3339 with a fixed nine-digit fraction, so that rows sort
// as text and every record shows its full precision.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// FormatTime renders Unix ns as RFC 3339 UTC with nanoseconds.
func FormatTime(ns int64) string {
	return time.Unix(0, ns).UTC().Format(TimeLayout)
}

// Writer writes records in one format.
type Writer interface {
	Write(*Record) error
	// Flush pushes buffered rows to the underlying file.
	Flush() error
}

// Formats lists the output formats.
var Formats = []string{"csv", "jsonl"}

// CheckFormat checks an output format (--format).
func CheckFormat(f string) error {
	if slices.Contains(Formats, f) {
		return nil
	}
	return fmt.Errorf("unknown --format %q (valid: %s)", f, strings.Join(Formats, ", "))
}

// NewWriter returns a writer for format "csv" or "jsonl".
func NewWriter(w io.Writer, format string) (Writer, error) {
	switch format {
	case "csv", "":
		c := newCSVWriter(w)
		b := c.buf[:0]
		for i, col := range Columns {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendCSVField(b, col)
		}
		c.buf = append(b, '\n')
		if err := putChunked(c.bw, c.buf); err != nil {
			return nil, err
		}
		return c, nil
	case "jsonl", "json":
		return &jsonWriter{bw: bufio.NewWriterSize(w, jsonBufSize)}, nil
	}
	return nil, fmt.Errorf("unknown format %q (valid: csv, jsonl)", format)
}

// jsonBufSize is the buffer of the JSON lines writer.
const jsonBufSize = 64 << 10

// NewContinuingWriter returns a writer that continues a file that already
// holds records of format: no CSV header.
func NewContinuingWriter(w io.Writer, format string) (Writer, error) {
	if format == "csv" || format == "" {
		return newCSVWriter(w), nil
	}
	return NewWriter(w, format)
}

// csvWriter writes what encoding/csv.Writer wrote, formatted by hand
// (recordenc.go).
type csvWriter struct {
	bw  *bufio.Writer
	buf []byte
	rowState
}

func newCSVWriter(w io.Writer) *csvWriter {
	if bw, ok := w.(*bufio.Writer); ok && bw.Size() >= csvBufSize {
		// Already buffered (replay): a second buffer would only copy.
		return &csvWriter{bw: bw}
	}
	return &csvWriter{bw: bufio.NewWriterSize(w, csvBufSize)}
}

func (c *csvWriter) Write(r *Record) error {
	c.buf = c.appendRow(c.buf[:0], r)
	return putChunked(c.bw, c.buf)
}

func (c *csvWriter) Flush() error { return c.bw.Flush() }

type jsonWriter struct {
	bw  *bufio.Writer
	buf []byte
	rowState
}

func (j *jsonWriter) Write(r *Record) error {
	// One write per record, as json.Encoder makes.
	j.buf = j.appendRecord(j.buf[:0], r)
	_, err := j.bw.Write(j.buf)
	return err
}

func (j *jsonWriter) Flush() error { return j.bw.Flush() }

// Encoder appends rows to a buffer of the caller's (a file written in
// batches, which would only copy what a Writer buffered), the same bytes a
// Writer writes (no CSV header). It also tells how far a Writer, given the
// same rows, would have passed them on to its file (its buffer filled):
// rotation by size has seen a file's rows in those steps.
type Encoder struct {
	json bool
	rowState
	held int // bytes a Writer would hold in its buffer now
}

// NewEncoder returns an encoder for format "csv" or "jsonl".
func NewEncoder(format string) (*Encoder, error) {
	switch format {
	case "csv", "":
		return &Encoder{}, nil
	case "jsonl", "json":
		return &Encoder{json: true}, nil
	}
	return nil, fmt.Errorf("unknown format %q (valid: csv, jsonl)", format)
}

// Append appends the row of r to b. passed is how many bytes a Writer
// would have passed on to its file while writing this row.
func (e *Encoder) Append(b []byte, r *Record) (_ []byte, passed int) {
	n := len(b)
	if e.json {
		b = appendJSONRecord(b, r, &e.rowState)
	} else {
		b = appendCSVRow(b, r, &e.rowState)
	}
	return b, e.pass(len(b) - n)
}

// Flush notes that a Writer would have passed on all it held (Writer.Flush).
func (e *Encoder) Flush() { e.held = 0 }

// pass is what the Writer's buffer passes on of a row of n bytes: the
// buffer filled and written whole (putChunked for CSV, bufio.Writer.Write
// for JSON lines, which writes a row straight through when its buffer is
// empty and the row larger than the buffer).
func (e *Encoder) pass(n int) int {
	size := csvBufSize
	if e.json {
		size = jsonBufSize
	}
	passed := 0
	for n > size-e.held {
		if e.json && e.held == 0 {
			return passed + n
		}
		passed += size
		n -= size - e.held
		e.held = 0
	}
	e.held += n
	return passed
}

// ReadRecords reads records written by a Writer (CSV with header, or JSON
// lines), calling fn for each. The first malformed row is an error.
func ReadRecords(r io.Reader, fn func(*Record) error) error {
	return ReadRecordsLenient(r, fn, nil)
}

// RowError is a malformed row: its line (1-based) and what is wrong.
type RowError struct {
	Line int
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// ReadRecordsLenient is ReadRecords that hands malformed rows to bad and
// goes on when it returns nil (nil bad: the row's error ends the read).
// An unreadable header, or a stream that is neither CSV nor JSON lines,
// always ends it.
func ReadRecordsLenient(r io.Reader, fn func(*Record) error, bad func(*RowError) error) error {
	if bad == nil {
		bad = func(e *RowError) error { return e }
	}
	br, err := Gunzip(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return err
	}
	first, err := br.Peek(1)
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	if first[0] == '{' {
		return readJSONRecords(br, fn, bad)
	}
	return readCSVRecords(br, fn, bad)
}

func readCSVRecords(br *bufio.Reader, fn func(*Record) error, bad func(*RowError) error) error {
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return fmt.Errorf("reading header: %w", err)
	}
	idx := map[string]int{}
	for i, h := range head {
		idx[h] = i
	}
	for _, c := range Columns {
		if _, ok := idx[c]; !ok && !optionalColumns[c] {
			return fmt.Errorf("header has no column %q: not a jschedlat records file", c)
		}
	}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if berr := bad(&RowError{Line: pe.StartLine, Err: pe.Err}); berr != nil {
					return berr
				}
				continue
			}
			return err
		}
		line, _ := cr.FieldPos(0) // only for a row read: it panics after a parse error
		var rec Record
		var ferr error
		if len(row) != len(head) {
			ferr = fmt.Errorf("%d fields, the header has %d", len(row), len(head))
		} else {
			rec, ferr = csvRecord(idx, row)
		}
		if ferr != nil {
			if berr := bad(&RowError{Line: line, Err: ferr}); berr != nil {
				return berr
			}
			continue
		}
		if err := fn(&rec); err != nil {
			return err
		}
	}
}

// csvRecord reads a row whose columns idx names.
func csvRecord(idx map[string]int, row []string) (Record, error) {
	var ferr error
	get := func(c string) string {
		if i, ok := idx[c]; ok {
			return row[i]
		}
		return ""
	}
	num := func(c string) uint64 {
		if ferr != nil {
			return 0
		}
		v, err := strconv.ParseUint(get(c), 10, 64)
		if err != nil {
			ferr = fmt.Errorf("column %s: %w", c, err)
		}
		return v
	}
	rec := Record{
		CPU: uint32(num("cpu")), QueuedCPU: uint32(num("queued_cpu")), Kind: get("kind"),
		LatencyNs: num("latency_ns"), Pid: uint32(num("pid")), Tid: uint32(num("tid")),
		Comm: get("comm"), JavaThread: get("java_thread"), NameSource: get("name_source"),
		PrevPid: uint32(num("prev_pid")), PrevTid: uint32(num("prev_tid")), PrevComm: get("prev_comm"),
		PrevJavaThread: get("prev_java_thread"), KTime: num("ktime_ns"),
		VirtualThread: get("virtual_thread"), Cgroup: get("cgroup"), Container: get("container"),
	}
	rec.TimeText = get("time")
	if ferr != nil {
		return rec, ferr
	}
	t, err := time.Parse(time.RFC3339Nano, rec.TimeText)
	if err != nil {
		return rec, fmt.Errorf("column time: %w", err)
	}
	rec.Time = t.UnixNano()
	return rec, nil
}

func readJSONRecords(br *bufio.Reader, fn func(*Record) error, bad func(*RowError) error) error {
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) == 0 {
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			continue
		}
		var rec Record
		jerr := json.Unmarshal(b, &rec)
		if jerr == nil {
			var t time.Time
			if t, jerr = time.Parse(time.RFC3339Nano, rec.TimeText); jerr == nil {
				rec.Time = t.UnixNano()
			}
		}
		if jerr != nil {
			if berr := bad(&RowError{Line: line, Err: jerr}); berr != nil {
				return berr
			}
		} else if ferr := fn(&rec); ferr != nil {
			return ferr
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// Gunzip returns a reader of br's content, decompressed when it starts with
// the gzip magic (rotated and archived files are often compressed), else br.
func Gunzip(br *bufio.Reader) (*bufio.Reader, error) {
	magic, err := br.Peek(2)
	if err != nil || magic[0] != 0x1f || magic[1] != 0x8b {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	zr.Multistream(true)
	return bufio.NewReaderSize(zr, 64<<10), nil
}
