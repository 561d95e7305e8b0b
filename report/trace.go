package report

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

// TraceWriter writes Chrome trace-event JSON (Perfetto UI, chrome://tracing):
// one track per thread, a slice per run-queue wait, and the requests of an
// application log as async slices. Records are written as they come, so
// memory does not grow with them.
type TraceWriter struct {
	bw    *bufio.Writer
	n     int
	named map[[2]uint32]bool
	buf   []byte
	err   error
	// started: the header is written; zero: wall ns of ts 0.
	started bool
	zero    int64
}

// NewTraceWriter starts the trace on w.
func NewTraceWriter(w io.Writer) *TraceWriter {
	return &TraceWriter{bw: bufio.NewWriterSize(w, 256<<10), named: map[[2]uint32]bool{}}
}

// start writes the header once the first time is known. Times are µs since
// zero, midnight UTC of the day before the first event: viewers read "ts"
// as a double, which keeps the ns of a µs count since a recent zero but
// not of one since 1970 (steps of 0.25 µs). The zero is in otherData.
func (t *TraceWriter) start(first int64) {
	if t.started {
		return
	}
	t.started = true
	day := int64(24 * time.Hour)
	t.zero = first - first%day - day
	_, t.err = t.bw.WriteString(`{"displayTimeUnit":"ms","otherData":{"source":"jschedlat","ts_zero_utc":"` +
		time.Unix(0, t.zero).UTC().Format(time.RFC3339) + `"},"traceEvents":[`)
}

// µs renders wall ns as trace-event µs, keeping ns precision.
func us(ns int64) string {
	if ns < 0 {
		return "-" + us(-ns)
	}
	s := strconv.FormatInt(ns/1000, 10)
	if r := ns % 1000; r != 0 {
		s += "." + strconv.FormatInt(1000+r, 10)[1:]
	}
	return s
}

func (t *TraceWriter) event(b []byte) {
	if t.err != nil {
		return
	}
	if t.n > 0 {
		t.bw.WriteByte(',')
	}
	t.bw.WriteByte('\n')
	_, t.err = t.bw.Write(b)
	t.n++
}

func jsonString(b []byte, s string) []byte {
	q, _ := json.Marshal(s)
	return append(b, q...)
}

// Add writes one record as a wait slice on its thread's track.
func (t *TraceWriter) Add(r *record.Record) {
	t.start(r.Time)
	key := [2]uint32{r.Pid, r.Tid}
	if !t.named[key] {
		t.named[key] = true
		b := append(t.buf[:0], `{"ph":"M","name":"thread_name","pid":`...)
		b = strconv.AppendUint(b, uint64(r.Pid), 10)
		b = append(b, `,"tid":`...)
		b = strconv.AppendUint(b, uint64(r.Tid), 10)
		b = append(b, `,"args":{"name":`...)
		b = jsonString(b, ThreadLabel(r))
		b = append(b, `}}`...)
		t.event(b)
		t.buf = b
	}
	start := r.Time - int64(r.LatencyNs)
	b := append(t.buf[:0], `{"ph":"X","name":"run queue","cat":`...)
	b = jsonString(b, r.Kind)
	b = append(b, `,"pid":`...)
	b = strconv.AppendUint(b, uint64(r.Pid), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendUint(b, uint64(r.Tid), 10)
	b = append(b, `,"ts":`...)
	b = append(b, us(start-t.zero)...)
	b = append(b, `,"dur":`...)
	b = append(b, us(int64(r.LatencyNs))...)
	b = append(b, `,"args":{"kind":`...)
	b = jsonString(b, r.Kind)
	b = append(b, `,"cpu":`...)
	b = strconv.AppendUint(b, uint64(r.CPU), 10)
	b = append(b, `,"queued_cpu":`...)
	b = strconv.AppendUint(b, uint64(r.QueuedCPU), 10)
	b = append(b, `,"then_ran_after":`...)
	b = jsonString(b, HolderLabel(r))
	if r.VirtualThread != "" {
		b = append(b, `,"virtual_thread":`...)
		b = jsonString(b, r.VirtualThread)
	}
	b = append(b, `}}`...)
	t.event(b)
	t.buf = b
}

// Requests writes application requests as async slices, one track per
// thread name, under a process of their own.
func (t *TraceWriter) Requests(pid uint32, reqs []Request) {
	if len(reqs) > 0 {
		t.start(reqs[0].Start)
	}
	for i := range reqs {
		r := &reqs[i]
		for _, ph := range []string{"b", "e"} {
			b := append(t.buf[:0], `{"ph":"`...)
			b = append(b, ph...)
			b = append(b, `","cat":"request","name":`...)
			b = jsonString(b, "requests on "+r.Thread)
			b = append(b, `,"id":`...)
			b = strconv.AppendInt(b, int64(i+1), 10)
			b = append(b, `,"pid":`...)
			b = strconv.AppendUint(b, uint64(pid), 10)
			b = append(b, `,"tid":0,"ts":`...)
			if ph == "b" {
				b = append(b, us(r.Start-t.zero)...)
				b = append(b, `,"args":{"id":`...)
				b = jsonString(b, r.ID)
				b = append(b, `,"traced":`...)
				b = jsonString(b, r.Traced.String())
				switch {
				case r.Traced == TracedNot:
					// Unknown: no wait is given, rather than 0.
				case r.Coarse > 0:
					b = append(b, `,"runq_wait_min_ns":`...)
					b = strconv.AppendUint(b, r.WaitMinNs, 10)
					b = append(b, `,"runq_wait_max_ns":`...)
					b = strconv.AppendUint(b, r.WaitMaxNs, 10)
				default:
					b = append(b, `,"runq_wait_ns":`...)
					b = strconv.AppendUint(b, r.WaitNs, 10)
				}
				b = append(b, `,"duration_ns":`...)
				b = strconv.AppendInt(b, r.End-r.Start, 10)
				b = append(b, `}}`...)
			} else {
				b = append(b, us(r.End-t.zero)...)
				b = append(b, `}`...)
			}
			t.event(b)
			t.buf = b
		}
	}
}

// Close ends the JSON document and flushes it.
func (t *TraceWriter) Close() error {
	t.start(0)
	if t.err == nil {
		_, t.err = t.bw.WriteString("\n]}\n")
	}
	if t.err == nil {
		t.err = t.bw.Flush()
	}
	return t.err
}
