// Package eventlog is the format of the events file (attach --save-events):
// a header line, then one JSON object per converted kernel event.
package eventlog

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/jschedlat/jschedlat/sched"
)

// Header is the first line of an events file.
type Header struct {
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

// Writer appends events as JSON lines. It is written on the hot
// path, so it encodes by hand.
type Writer struct {
	bw  *bufio.Writer
	buf []byte
}

// NewWriter writes the header line.
func NewWriter(w io.Writer, h Header) (*Writer, error) {
	h.Format, h.Version = eventLogFormat, 1
	b, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(w, 256<<10)
	if _, err := bw.Write(append(b, '\n')); err != nil {
		return nil, err
	}
	return &Writer{bw: bw}, nil
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
func (w *Writer) Write(e *sched.Event) error {
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
	if e.VThread != 0 {
		b = append(b, `,"vthread":`...)
		b = strconv.AppendUint(b, e.VThread, 10)
	}
	if e.Kind.HasName() {
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
func (w *Writer) Flush() error { return w.bw.Flush() }

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
	VThread   uint64 `json:"vthread"`
	Name      string `json:"name"`
	NameCut   bool   `json:"name_cut"`
}

var kindByName = map[string]sched.Kind{}

// kindNameList is the names by kind ("" for none).
var kindNameList []string

func init() {
	kindNameList = make([]string, sched.KindThreadName+1)
	for k := sched.KindWakeup; k <= sched.KindThreadName; k++ {
		kindByName[k.String()] = k
		kindNameList[k] = k.String()
	}
}

// Read reads an events file, calling fn for each event in file
// order. A truncated last line (a run killed mid-write) is reported as an
// error after every complete event was delivered.
func Read(r io.Reader, fn func(*sched.Event) error) (Header, error) {
	return ReadKinds(context.Background(), r, nil, fn)
}

// ReadKinds is Read that does not pass fn the events whose
// kind skip accepts (nil: none). Their lines are checked as strictly (a
// malformed one is the same error) but their strings are not made, which
// saves most of the work of a pass that wants a few kinds only. Lines are
// decoded ahead on other goroutines (see readEvents), which call skip: it
// must be safe for that. fn is called on the caller's goroutine, and the
// event it gets is valid until it returns. ctx is checked between chunks
// of lines: fn may see few events.
func ReadKinds(ctx context.Context, r io.Reader, skip func(sched.Kind) bool, fn func(*sched.Event) error) (Header, error) {
	var h Header
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
