package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
)

// AppColumns names the fields of an application request log.
type AppColumns struct {
	Thread, Start, End, Duration, ID string
	// DurationUnit is the unit of a plain-number duration ("ms" default).
	DurationUnit time.Duration
}

// DefaultAppColumns are the names tried when none are given.
var DefaultAppColumns = AppColumns{Thread: "thread", Start: "start", End: "end", Duration: "duration_ms", ID: "id", DurationUnit: time.Millisecond}

// Request is one application request and what the run queue cost it.
type Request struct {
	ID         string
	Thread     string
	Start, End int64 // wall ns
	Line       int   // in the app log
	// Filled by the join: run-queue wait of the request's thread inside
	// [Start, End] (overlaps summed exactly), the number of waits that
	// overlapped, and the longest overlap.
	WaitNs, Waits, MaxNs uint64
}

// Duration returns the request's latency.
func (r *Request) Duration() time.Duration { return time.Duration(r.End - r.Start) }

// Share returns the run-queue wait's share of the request's latency.
func (r *Request) Share() float64 {
	if r.End <= r.Start {
		return 0
	}
	return float64(r.WaitNs) / float64(r.End-r.Start)
}

// timeLayouts are the timestamp forms read, besides epoch numbers.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999 -0700",
	"02/Jan/2006:15:04:05.999999999 -0700", // access log (Apache, nginx, Tomcat)
	"02/Jan/2006:15:04:05 -0700",
	"[02/Jan/2006:15:04:05.999999999 -0700]",
	"[02/Jan/2006:15:04:05 -0700]",
}

// ParseAppTime reads a timestamp with a zone (RFC 3339, access-log style)
// or an epoch number (s, ms, µs or ns, told apart by magnitude).
func ParseAppTime(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("empty time")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n > 1e17:
			return n, nil
		case n > 1e14:
			return n * 1e3, nil
		case n > 1e11:
			return n * 1e6, nil
		default:
			return n * 1e9, nil
		}
	}
	// A decimal fraction, read exactly (a float64 would lose the µs).
	if ip, fp, ok := strings.Cut(s, "."); ok && ip != "" && fp != "" && digits(ip) && digits(fp) {
		n, err := strconv.ParseInt(ip, 10, 64)
		if err == nil {
			unit := int64(1e9) // s
			switch {
			case n > 1e17:
				unit = 1
			case n > 1e14:
				unit = 1e3
			case n > 1e11:
				unit = 1e6
			}
			var frac int64
			for i, scale := 0, unit/10; i < len(fp) && scale > 0; i, scale = i+1, scale/10 {
				frac += int64(fp[i]-'0') * scale
			}
			return n*unit + frac, nil
		}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixNano(), nil
		}
	}
	return 0, fmt.Errorf("time %q: not RFC 3339, access-log style with a zone, or an epoch number", s)
}

func parseDuration(s string, unit time.Duration) (int64, error) {
	s = strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		if f < 0 {
			return 0, fmt.Errorf("negative duration %q", s)
		}
		return int64(f * float64(unit)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("duration %q: a number (in %s) or a Go duration such as 12.5ms", s, unit)
	}
	return int64(d), nil
}

// ReadAppLog reads a request log, CSV with a header or JSON lines, with the
// given column names. A row that cannot be used goes to bad (and is
// skipped when bad returns nil).
func ReadAppLog(r io.Reader, cols AppColumns, bad func(*correlate.RowError) error) ([]Request, error) {
	if cols.DurationUnit <= 0 {
		cols.DurationUnit = time.Millisecond
	}
	if bad == nil {
		bad = func(e *correlate.RowError) error { return e }
	}
	br, err := correlate.Gunzip(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return nil, err
	}
	first, err := br.Peek(1)
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Request
	take := func(line int, get func(string) (string, bool)) error {
		req, err := requestOf(get, cols)
		if err != nil {
			return bad(&correlate.RowError{Line: line, Err: err})
		}
		req.Line = line
		out = append(out, req)
		return nil
	}
	if first[0] == '{' {
		for line := 1; ; line++ {
			b, rerr := br.ReadBytes('\n')
			if len(bytes.TrimSpace(b)) > 0 {
				var m map[string]any
				if err := json.Unmarshal(b, &m); err != nil {
					if berr := bad(&correlate.RowError{Line: line, Err: err}); berr != nil {
						return out, berr
					}
				} else if err := take(line, func(k string) (string, bool) {
					v, ok := m[k]
					if !ok || v == nil {
						return "", false
					}
					switch x := v.(type) {
					case string:
						return x, true
					case float64:
						return strconv.FormatFloat(x, 'f', -1, 64), true
					}
					return fmt.Sprint(v), true
				}); err != nil {
					return out, err
				}
			}
			if rerr == io.EOF {
				return out, nil
			}
			if rerr != nil {
				return out, rerr
			}
		}
	}
	cr := csv.NewReader(br)
	cr.FieldsPerRecord = -1
	head, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("reading the header: %w", err)
	}
	idx := map[string]int{}
	for i, h := range head {
		idx[strings.TrimSpace(h)] = i
	}
	if _, ok := idx[cols.Thread]; !ok {
		return nil, fmt.Errorf("header has no thread column %q (set it with --app-thread)", cols.Thread)
	}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return out, nil
		}
		line, _ := cr.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if berr := bad(&correlate.RowError{Line: pe.StartLine, Err: pe.Err}); berr != nil {
					return out, berr
				}
				continue
			}
			return out, err
		}
		if err := take(line, func(k string) (string, bool) {
			i, ok := idx[k]
			if !ok || i >= len(row) || row[i] == "" {
				return "", false
			}
			return row[i], true
		}); err != nil {
			return out, err
		}
	}
}

func requestOf(get func(string) (string, bool), cols AppColumns) (Request, error) {
	var req Request
	th, ok := get(cols.Thread)
	if !ok {
		return req, fmt.Errorf("no %s", cols.Thread)
	}
	req.Thread = th
	req.ID, _ = get(cols.ID)
	var start, end, dur int64
	var haveStart, haveEnd, haveDur bool
	var err error
	if s, ok := get(cols.Start); ok {
		if start, err = ParseAppTime(s); err != nil {
			return req, fmt.Errorf("%s: %w", cols.Start, err)
		}
		haveStart = true
	}
	if s, ok := get(cols.End); ok {
		if end, err = ParseAppTime(s); err != nil {
			return req, fmt.Errorf("%s: %w", cols.End, err)
		}
		haveEnd = true
	}
	if s, ok := get(cols.Duration); ok {
		if dur, err = parseDuration(s, cols.DurationUnit); err != nil {
			return req, fmt.Errorf("%s: %w", cols.Duration, err)
		}
		haveDur = true
	}
	switch {
	case haveStart && haveEnd:
	case haveStart && haveDur:
		end = start + dur
	case haveEnd && haveDur:
		start = end - dur
	default:
		return req, fmt.Errorf("needs two of %s, %s, %s", cols.Start, cols.End, cols.Duration)
	}
	if end < start {
		return req, fmt.Errorf("ends before it starts")
	}
	req.Start, req.End = start, end
	return req, nil
}

// Join adds each record's run-queue wait to the requests of its thread that
// overlap it: exactly the overlap of [wait start, switch-in] with the
// request's window. Records may come in any order; memory is that of the
// requests.
type Join struct {
	byThread map[string]*threadRequests
	matched  map[string]bool
}

type threadRequests struct {
	reqs   []*Request // by start
	maxEnd []int64    // maxEnd[i] = max end of reqs[0..i]
}

// NewJoin indexes requests by thread.
func NewJoin(reqs []Request) *Join {
	j := &Join{byThread: map[string]*threadRequests{}, matched: map[string]bool{}}
	for i := range reqs {
		r := &reqs[i]
		tr := j.byThread[r.Thread]
		if tr == nil {
			tr = &threadRequests{}
			j.byThread[r.Thread] = tr
		}
		tr.reqs = append(tr.reqs, r)
	}
	for _, tr := range j.byThread {
		sort.Slice(tr.reqs, func(a, b int) bool { return tr.reqs[a].Start < tr.reqs[b].Start })
		tr.maxEnd = make([]int64, len(tr.reqs))
		var m int64
		for i, r := range tr.reqs {
			m = max(m, r.End)
			tr.maxEnd[i] = m
		}
	}
	return j
}

// Add takes one record.
func (j *Join) Add(rec *correlate.Record) {
	tr := j.byThread[rec.JavaThread]
	if tr == nil {
		return
	}
	j.matched[rec.JavaThread] = true
	ws, we := rec.Time-int64(rec.LatencyNs), rec.Time
	// Requests that start before the wait ends; of those, walk back while
	// one of them may still end after the wait starts.
	k := sort.Search(len(tr.reqs), func(i int) bool { return tr.reqs[i].Start >= we })
	for i := k - 1; i >= 0 && tr.maxEnd[i] > ws; i-- {
		r := tr.reqs[i]
		lo, hi := max(ws, r.Start), min(we, r.End)
		if hi > lo {
			o := uint64(hi - lo)
			r.WaitNs += o
			r.Waits++
			r.MaxNs = max(r.MaxNs, o)
		}
	}
}

// Matched returns how many of the app log's thread names appeared in the
// records, and how many names it has.
func (j *Join) Matched() (int, int) { return len(j.matched), len(j.byThread) }

// WriteRequests writes the requests annotated with their run-queue wait,
// as CSV.
func WriteRequests(w io.Writer, reqs []Request) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "thread", "start", "end", "duration_ns", "runq_wait_ns", "runq_share", "runq_waits", "runq_max_ns", "app_log_line"})
	for i := range reqs {
		r := &reqs[i]
		_ = cw.Write([]string{r.ID, r.Thread, correlate.FormatTime(r.Start), correlate.FormatTime(r.End),
			strconv.FormatInt(r.End-r.Start, 10), strconv.FormatUint(r.WaitNs, 10), strconv.FormatFloat(r.Share(), 'f', 4, 64),
			strconv.FormatUint(r.Waits, 10), strconv.FormatUint(r.MaxNs, 10), strconv.Itoa(r.Line)})
	}
	cw.Flush()
	return cw.Error()
}

// RequestSummary answers "did run-queue wait cause the slow requests".
type RequestSummary struct {
	Requests       int
	Threads        int // distinct thread names in the app log
	MatchedThreads int // of those, seen in the records
	SLO            time.Duration
	Threshold      time.Duration
	OverSLO        int // requests slower than SLO
	OverSLOWaited  int // of those, with run-queue wait >= Threshold
	Top            []Request
}

// SummarizeRequests computes the summary; top requests by wait.
func SummarizeRequests(reqs []Request, j *Join, slo, threshold time.Duration, top int) *RequestSummary {
	s := &RequestSummary{Requests: len(reqs), SLO: slo, Threshold: threshold}
	s.MatchedThreads, s.Threads = j.Matched()
	for i := range reqs {
		r := &reqs[i]
		if slo > 0 && r.Duration() > slo {
			s.OverSLO++
			if r.WaitNs >= uint64(threshold) {
				s.OverSLOWaited++
			}
		}
	}
	idx := make([]int, len(reqs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool {
		ra, rb := &reqs[idx[a]], &reqs[idx[b]]
		if ra.WaitNs != rb.WaitNs {
			return ra.WaitNs > rb.WaitNs
		}
		return ra.Start < rb.Start
	})
	for _, i := range idx[:min(top, len(idx))] {
		if reqs[i].WaitNs == 0 {
			break
		}
		s.Top = append(s.Top, reqs[i])
	}
	return s
}

// WriteText prints the request summary.
func (s *RequestSummary) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "\n== application requests: %d, on %d threads, %d of them seen in the records\n", s.Requests, s.Threads, s.MatchedThreads)
	if s.SLO > 0 {
		fmt.Fprintf(w, "%d slower than the SLO (%s); %d of those waited >= %s in the run queue\n", s.OverSLO, s.SLO, s.OverSLOWaited, s.Threshold)
	}
	if len(s.Top) == 0 {
		fmt.Fprintln(w, "no request overlapped a run-queue wait of its thread")
		return nil
	}
	fmt.Fprintln(w, "top requests by run-queue wait:")
	tw := newTable(w)
	fmt.Fprintf(tw, "id\tthread\tstart\tduration ms\trunq wait ms\tshare\twaits\t\n")
	for i := range s.Top {
		r := &s.Top[i]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%s\t%.1f%%\t%d\t\n", r.ID, r.Thread, correlate.FormatTime(r.Start),
			float64(r.End-r.Start)/1e6, ms(r.WaitNs), 100*r.Share(), r.Waits)
	}
	return tw.Flush()
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
