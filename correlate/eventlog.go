package correlate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/jschedlat/jschedlat/bpf"
	"github.com/jschedlat/jschedlat/jvm"
)

// Event is a kernel record after clock conversion, before naming: what
// --save-events stores and replay reads back.
type Event struct {
	KTime     uint64   // CLOCK_MONOTONIC ns (kernel timestamp)
	Time      int64    // wall clock, Unix ns
	Latency   uint64   // ns
	Kind      bpf.Kind // lifecycle kinds (exit, birth, rename) carry no latency
	CPU       uint32
	QueuedCPU uint32
	Pid, Tid  uint32
	Comm      string // valid UTF-8 (a comm cut inside a character ends in U+FFFD)
	PrevPid   uint32
	PrevTid   uint32
	PrevComm  string
	// OffCPU is how long the thread had been off the CPU at this
	// switch-in (ns; 0 = unknown): see bpf.Event.
	OffCPU uint64
	// Name is a starting thread's Java name (bpf.KindThreadStart);
	// NameCut tells that it was too long to be read whole (unusable).
	Name    string
	NameCut bool
}

// FromKernel converts a decoded kernel event.
func FromKernel(e *bpf.Event, clock *bpf.WallClock) Event {
	return Event{
		KTime: e.Time, Time: clock.WallNs(e.Time), Latency: e.Latency, Kind: e.Kind,
		CPU: e.CPU, QueuedCPU: e.QueuedCPU, Pid: e.Pid, Tid: e.Tid,
		Comm:    strings.ToValidUTF8(bpf.CommString(e.Comm), "\uFFFD"),
		PrevPid: e.PrevPid, PrevTid: e.PrevTid,
		PrevComm: strings.ToValidUTF8(bpf.CommString(e.PrevComm), "\uFFFD"),
		OffCPU:   e.OffCPU,
		Name:     threadName(e),
		NameCut:  hasName(e.Kind) && uint64(len(e.Name)) != e.Latency,
	}
}

func hasName(k bpf.Kind) bool { return k == bpf.KindThreadStart || k == bpf.KindThreadName }

// threadName decodes a thread-start name from HotSpot's modified UTF-8.
func threadName(e *bpf.Event) string {
	if !hasName(e.Kind) {
		return ""
	}
	return string(jvm.DecodeModifiedUTF8([]byte(e.Name)))
}

// EventLogHeader is the first line of an events file.
type EventLogHeader struct {
	Format     string `json:"format"` // "jschedlat-events"
	Version    int    `json:"version"`
	Pid        uint32 `json:"pid"`
	Start      string `json:"start"`
	Attachment string `json:"attachment,omitempty"`
	MinLatency int64  `json:"min_latency_ns"`
	Kinds      string `json:"kinds"`
	ClockErrNs int64  `json:"clock_err_ns"`
	// The traced process's cgroup when the log began, for replay's cgroup
	// and container columns (a process rarely moves).
	Cgroup    string `json:"cgroup,omitempty"`
	Container string `json:"container,omitempty"`
}

const eventLogFormat = "jschedlat-events"

// EventLogWriter appends events as JSON lines. It is written on the hot
// path, so it encodes by hand.
type EventLogWriter struct {
	bw  *bufio.Writer
	buf []byte
}

// NewEventLogWriter writes the header line.
func NewEventLogWriter(w io.Writer, h EventLogHeader) (*EventLogWriter, error) {
	h.Format, h.Version = eventLogFormat, 1
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if _, err := bw.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	return &EventLogWriter{bw: bw}, nil
}

func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&15])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// Write appends one event.
func (w *EventLogWriter) Write(e *Event) error {
	b := w.buf[:0]
	b = append(b, `{"ktime":`...)
	b = strconv.AppendUint(b, e.KTime, 10)
	b = append(b, `,"time":`...)
	b = strconv.AppendInt(b, e.Time, 10)
	b = append(b, `,"kind":"`...)
	b = append(b, e.Kind.String()...)
	b = append(b, `","latency":`...)
	b = strconv.AppendUint(b, e.Latency, 10)
	b = append(b, `,"cpu":`...)
	b = strconv.AppendUint(b, uint64(e.CPU), 10)
	b = append(b, `,"queued_cpu":`...)
	b = strconv.AppendUint(b, uint64(e.QueuedCPU), 10)
	b = append(b, `,"pid":`...)
	b = strconv.AppendUint(b, uint64(e.Pid), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendUint(b, uint64(e.Tid), 10)
	b = append(b, `,"comm":`...)
	b = appendJSONString(b, e.Comm)
	b = append(b, `,"prev_pid":`...)
	b = strconv.AppendUint(b, uint64(e.PrevPid), 10)
	b = append(b, `,"prev_tid":`...)
	b = strconv.AppendUint(b, uint64(e.PrevTid), 10)
	b = append(b, `,"prev_comm":`...)
	b = appendJSONString(b, e.PrevComm)
	if e.OffCPU != 0 {
		b = append(b, `,"off_cpu":`...)
		b = strconv.AppendUint(b, e.OffCPU, 10)
	}
	if hasName(e.Kind) {
		b = append(b, `,"name":`...)
		b = appendJSONString(b, e.Name)
		if e.NameCut {
			b = append(b, `,"name_cut":true`...)
		}
	}
	b = append(b, "}\n"...)
	w.buf = b
	_, err := w.bw.Write(b)
	return err
}

// Flush writes buffered events to the file.
func (w *EventLogWriter) Flush() error { return w.bw.Flush() }

type eventLine struct {
	KTime     uint64 `json:"ktime"`
	Time      int64  `json:"time"`
	Kind      string `json:"kind"`
	Latency   uint64 `json:"latency"`
	CPU       uint32 `json:"cpu"`
	QueuedCPU uint32 `json:"queued_cpu"`
	Pid       uint32 `json:"pid"`
	Tid       uint32 `json:"tid"`
	Comm      string `json:"comm"`
	PrevPid   uint32 `json:"prev_pid"`
	PrevTid   uint32 `json:"prev_tid"`
	PrevComm  string `json:"prev_comm"`
	OffCPU    uint64 `json:"off_cpu"`
	Name      string `json:"name"`
	NameCut   bool   `json:"name_cut"`
}

var kindByName = map[string]bpf.Kind{}

// kindNameList is the names by kind ("" for none).
var kindNameList []string

func init() {
	kindNameList = make([]string, bpf.KindThreadName+1)
	for k := bpf.KindWakeup; k <= bpf.KindThreadName; k++ {
		kindByName[k.String()] = k
		kindNameList[k] = k.String()
	}
}

// ReadEventLog reads an events file, calling fn for each event in file
// order. A truncated last line (a run killed mid-write) is reported as an
// error after every complete event was delivered.
func ReadEventLog(r io.Reader, fn func(*Event) error) (EventLogHeader, error) {
	return ReadEventLogKinds(context.Background(), r, nil, fn)
}

// ReadEventLogKinds is ReadEventLog that does not pass fn the events whose
// kind skip accepts (nil: none). Their lines are checked as strictly (a
// malformed one is the same error) but their strings are not made, which
// saves most of the work of a pass that wants a few kinds only. Lines are
// decoded ahead on other goroutines (see readEvents), which call skip: it
// must be safe for that. fn is called on the caller's goroutine, and the
// event it gets is valid until it returns. ctx is checked between chunks
// of lines: fn may see few events.
func ReadEventLogKinds(ctx context.Context, r io.Reader, skip func(bpf.Kind) bool, fn func(*Event) error) (EventLogHeader, error) {
	var h EventLogHeader
	lr := lineReader{br: bufio.NewReaderSize(r, 256<<10)}
	line, err := lr.next()
	if err != nil && (err != io.EOF || len(line) == 0) {
		return h, fmt.Errorf("reading header: %w", err)
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Format != eventLogFormat {
		return h, errors.New("line 1: not a jschedlat events file (written by attach --save-events)")
	}
	return h, readEvents(ctx, lr.br, skip, fn)
}

// lineReader returns lines from the reader's buffer without copying them
// (bufio.Reader.ReadBytes allocates each), but for lines longer than it.
type lineReader struct {
	br   *bufio.Reader
	long []byte
}

// next is bufio.Reader.ReadBytes('\n'), valid until the next call.
func (l *lineReader) next() ([]byte, error) {
	line, err := l.br.ReadSlice('\n')
	if err != bufio.ErrBufferFull {
		return line, err
	}
	l.long = append(l.long[:0], line...)
	for err == bufio.ErrBufferFull {
		line, err = l.br.ReadSlice('\n')
		l.long = append(l.long, line...)
	}
	return l.long, err
}
