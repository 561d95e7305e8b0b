package correlate

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
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
}

// Columns is the CSV header; tools outside the project rely on these names.
var Columns = []string{
	"time", "cpu", "queued_cpu", "kind", "latency_ns", "pid", "tid", "comm",
	"java_thread", "name_source", "prev_pid", "prev_tid", "prev_comm",
	"prev_java_thread", "ktime_ns", "virtual_thread",
}

// optionalColumns may be missing from files written by older versions.
var optionalColumns = map[string]bool{"virtual_thread": true}

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

// NewWriter returns a writer for format "csv" or "jsonl".
func NewWriter(w io.Writer, format string) (Writer, error) {
	switch format {
	case "csv", "":
		cw := csv.NewWriter(w)
		if err := cw.Write(Columns); err != nil {
			return nil, err
		}
		return &csvWriter{w: cw, row: make([]string, len(Columns))}, nil
	case "jsonl", "json":
		bw := bufio.NewWriterSize(w, 64<<10)
		return &jsonWriter{bw: bw, enc: json.NewEncoder(bw)}, nil
	}
	return nil, fmt.Errorf("unknown format %q (valid: csv, jsonl)", format)
}

type csvWriter struct {
	w   *csv.Writer
	row []string
}

func u32(v uint32) string { return strconv.FormatUint(uint64(v), 10) }

func (c *csvWriter) Write(r *Record) error {
	row := c.row
	row[0] = FormatTime(r.Time)
	row[1] = u32(r.CPU)
	row[2] = u32(r.QueuedCPU)
	row[3] = r.Kind
	row[4] = strconv.FormatUint(r.LatencyNs, 10)
	row[5] = u32(r.Pid)
	row[6] = u32(r.Tid)
	row[7] = r.Comm
	row[8] = r.JavaThread
	row[9] = r.NameSource
	row[10] = u32(r.PrevPid)
	row[11] = u32(r.PrevTid)
	row[12] = r.PrevComm
	row[13] = r.PrevJavaThread
	row[14] = strconv.FormatUint(r.KTime, 10)
	row[15] = r.VirtualThread
	return c.w.Write(row)
}

func (c *csvWriter) Flush() error {
	c.w.Flush()
	return c.w.Error()
}

type jsonWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

func (j *jsonWriter) Write(r *Record) error {
	r.TimeText = FormatTime(r.Time)
	return j.enc.Encode(r)
}

func (j *jsonWriter) Flush() error { return j.bw.Flush() }

// ReadRecords reads records written by a Writer (CSV with header, or JSON
// lines), calling fn for each. It is used by tests and offline analysis.
func ReadRecords(r io.Reader, fn func(*Record) error) error {
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := br.Peek(1)
	if err != nil {
		if err == io.EOF {
			return nil
		}
		return err
	}
	if first[0] == '{' {
		dec := json.NewDecoder(br)
		for line := 1; ; line++ {
			var rec Record
			if err := dec.Decode(&rec); err == io.EOF {
				return nil
			} else if err != nil {
				return fmt.Errorf("record %d: %w", line, err)
			}
			t, err := time.Parse(time.RFC3339Nano, rec.TimeText)
			if err != nil {
				return fmt.Errorf("record %d: %w", line, err)
			}
			rec.Time = t.UnixNano()
			if err := fn(&rec); err != nil {
				return err
			}
		}
	}
	cr := csv.NewReader(br)
	cr.ReuseRecord = true
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
			return fmt.Errorf("header has no column %q", c)
		}
	}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		get := func(c string) string {
			if i, ok := idx[c]; ok {
				return row[i]
			}
			return ""
		}
		num := func(c string) uint64 {
			if err != nil {
				return 0
			}
			var v uint64
			v, err = strconv.ParseUint(get(c), 10, 64)
			return v
		}
		rec := Record{
			CPU: uint32(num("cpu")), QueuedCPU: uint32(num("queued_cpu")), Kind: get("kind"),
			LatencyNs: num("latency_ns"), Pid: uint32(num("pid")), Tid: uint32(num("tid")),
			Comm: get("comm"), JavaThread: get("java_thread"), NameSource: get("name_source"),
			PrevPid: uint32(num("prev_pid")), PrevTid: uint32(num("prev_tid")), PrevComm: get("prev_comm"),
			PrevJavaThread: get("prev_java_thread"), KTime: num("ktime_ns"),
			VirtualThread: get("virtual_thread"),
		}
		rec.TimeText = get("time")
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		t, perr := time.Parse(time.RFC3339Nano, rec.TimeText)
		if perr != nil {
			return fmt.Errorf("line %d: %w", line, perr)
		}
		rec.Time = t.UnixNano()
		if err := fn(&rec); err != nil {
			return err
		}
	}
}
