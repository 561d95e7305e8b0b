package report

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/runmeta"
)

// AppColumns names the fields of an application request log. An empty
// name is not given: the reader then looks for the default name
// (DefaultAppColumns), and uses it only where that is unambiguous.
type AppColumns struct {
	Thread, Start, End, Duration, ID string
	// DurationUnit is the unit of a plain-number duration ("ms" default).
	DurationUnit time.Duration
	// TZ is the zone of times written without one (logback's and log4j's
	// default "yyyy-MM-dd HH:mm:ss.SSS"); nil: such a time is an error.
	TZ *time.Location
}

// DefaultAppColumns are the names looked for when none are given.
var DefaultAppColumns = AppColumns{Thread: "thread", Start: "start", End: "end", Duration: "duration_ms", ID: "id", DurationUnit: time.Millisecond}

// Traced says whether the records cover a request's window.
type Traced uint8

const (
	// TracedWhole: the window lies wholly inside the traced span; its
	// wait is judged.
	TracedWhole Traced = iota
	// TracedPartly: the window straddles an edge of the span; its wait
	// counts only the traced part.
	TracedPartly
	// TracedNot: no part of the window was traced; its wait is unknown.
	TracedNot
)

func (t Traced) String() string {
	switch t {
	case TracedWhole:
		return "yes"
	case TracedPartly:
		return "partly"
	}
	return "no"
}

// Request is one application request and what the run queue cost it.
type Request struct {
	ID         string
	Thread     string
	Start, End int64 // wall ns
	// Coarse: the log gives the request's time only to this precision
	// (ns; 1 s for an access log's %t): it began somewhere in
	// [Start, Start+Coarse] and lasted End-Start. 0: exact.
	Coarse int64
	Line   int // in the app log
	// Filled by the join: run-queue wait of the request's thread inside
	// [Start, End] (overlaps summed exactly), the number of waits that
	// overlapped, and the longest overlap. For a coarse request, WaitNs is
	// 0 and the wait lies in [WaitMinNs, WaitMaxNs] (the least and the most
	// any placement of its window can overlap); Waits and MaxNs are those
	// of the whole range it may lie in. For an exact one both bounds equal
	// WaitNs.
	WaitNs, Waits, MaxNs uint64
	WaitMinNs, WaitMaxNs uint64
	// Traced: set by Classify.
	Traced Traced
}

// Duration returns the request's latency.
func (r *Request) Duration() time.Duration { return time.Duration(r.End - r.Start) }

// Share returns the run-queue wait's share of the request's latency (of
// its lower bound, for a coarse request).
func (r *Request) Share() float64 {
	if r.End <= r.Start {
		return 0
	}
	return float64(r.WaitMinNs) / float64(r.End-r.Start)
}

// Window returns the widest the request's window can be.
func (r *Request) Window() (int64, int64) { return r.Start, r.End + r.Coarse }

// timeLayouts are the timestamp forms with a zone read, besides epoch
// numbers.
var timeLayouts = []string{
	time.RFC3339Nano,
	"2006-01-02 15:04:05.999999999Z07:00",
	"2006-01-02 15:04:05.999999999 -0700",
	"2006-01-02 15:04:05.999999999 MST",
	"02/Jan/2006:15:04:05.999999999 -0700", // access log (Apache, nginx, Tomcat, Jetty)
	"[02/Jan/2006:15:04:05.999999999 -0700]",
}

// localLayouts are the forms without a zone (logback's and log4j's
// default, with "." or "," before the milliseconds): read in --app-tz.
var localLayouts = []string{
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006/01/02 15:04:05.999999999",
}

// ParseAppTime reads a timestamp with a zone (RFC 3339, access-log style)
// or an epoch number (s, ms, µs or ns, told apart by magnitude).
func ParseAppTime(s string) (int64, error) {
	ns, _, err := ParseAppTimeIn(s, nil)
	return ns, err
}

// ParseAppTimeIn is ParseAppTime that reads a time without a zone in loc
// (nil: an error saying to give --app-tz). coarse is the time's
// precision when it has no digit below the second (1 s), else 0: a
// request logged at 10:15:32 began somewhere in that second.
func ParseAppTimeIn(s string, loc *time.Location) (ns, coarse int64, err error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, 0, errors.New("empty time")
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		switch {
		case n > 1e17:
			return n, 0, nil
		case n > 1e14:
			return n * 1e3, 0, nil
		case n > 1e11:
			return n * 1e6, 0, nil
		default:
			return n * 1e9, int64(time.Second), nil
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
			return n*unit + frac, 0, nil
		}
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UnixNano(), coarseOf(s), nil
		}
	}
	for _, l := range localLayouts {
		if _, err := time.Parse(l, s); err == nil {
			if loc == nil {
				return 0, 0, fmt.Errorf("time %q has no zone: give its zone with --app-tz (e.g. UTC, Europe/Berlin, Local)", s)
			}
			t, _ := time.ParseInLocation(l, s, loc)
			return t.UnixNano(), coarseOf(s), nil
		}
	}
	return 0, 0, fmt.Errorf("time %q: not RFC 3339, an access-log time, yyyy-MM-dd HH:mm:ss[.SSS] (with --app-tz), or an epoch number", s)
}

// coarseOf is the precision of a date-time text: 1 s when no digit
// follows the seconds' "." or ",".
func coarseOf(s string) int64 {
	for i := 0; i+1 < len(s); i++ {
		if (s[i] == '.' || s[i] == ',') && s[i+1] >= '0' && s[i+1] <= '9' && i > 0 && s[i-1] >= '0' && s[i-1] <= '9' {
			return 0
		}
	}
	return int64(time.Second)
}

func parseDuration(s string, unit time.Duration) (int64, error) {
	s = strings.TrimSpace(s)
	if ip, fp, _ := strings.Cut(s, "."); ip != "" && digits(ip) && digits(fp) {
		// Exact: 12.345 ms is 12345000 ns, not a float's neighbour.
		n, err := strconv.ParseInt(ip, 10, 64)
		if err == nil && n < math.MaxInt64/int64(unit) {
			d := n * int64(unit)
			for i, scale := 0, int64(unit)/10; i < len(fp) && scale > 0; i, scale = i+1, scale/10 {
				d += int64(fp[i]-'0') * scale
			}
			return d, nil
		}
	}
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

// resolveColumns picks the columns to read among the names the log has
// (has: the CSV header, or the keys of the first JSON object). Given
// names are used as they are; the default name of a column not given
// counts only where no other reading is possible: a log with start and
// duration_ms whose "end" means something else must not be read by its
// end. check: all three time columns are there and none was given; each
// row's duration must then agree with end - start.
func resolveColumns(given AppColumns, has func(string) bool) (cols AppColumns, check bool, err error) {
	cols = given
	if cols.Thread == "" {
		cols.Thread = DefaultAppColumns.Thread
	}
	if !has(cols.Thread) {
		return cols, false, fmt.Errorf("no thread column %q (set it with --app-thread)", cols.Thread)
	}
	if cols.ID == "" {
		cols.ID = DefaultAppColumns.ID
	} else if !has(cols.ID) {
		return cols, false, fmt.Errorf("no id column %q (--app-id)", cols.ID)
	}
	type role struct {
		name *string
		def  string
		flag string
	}
	roles := []role{{&cols.Start, DefaultAppColumns.Start, "--app-start"}, {&cols.End, DefaultAppColumns.End, "--app-end"}, {&cols.Duration, DefaultAppColumns.Duration, "--app-duration"}}
	var n int
	for _, r := range roles {
		if *r.name != "" {
			n++
			if !has(*r.name) {
				return cols, false, fmt.Errorf("no column %q (%s)", *r.name, r.flag)
			}
		}
	}
	if n == 3 {
		return cols, false, errors.New("--app-start, --app-end and --app-duration: give two of them, not three")
	}
	if n == 2 {
		return cols, false, nil
	}
	var found []role
	for _, r := range roles {
		if *r.name == "" && has(r.def) && r.def != given.Start && r.def != given.End && r.def != given.Duration {
			found = append(found, r)
		}
	}
	switch {
	case n+len(found) < 2:
		return cols, false, fmt.Errorf("needs two of a start, an end and a duration column: name them with --app-start, --app-end, --app-duration (looked for %q, %q, %q)",
			DefaultAppColumns.Start, DefaultAppColumns.End, DefaultAppColumns.Duration)
	case n == 1 && len(found) == 2:
		return cols, false, fmt.Errorf("ambiguous: the log has columns %q and %q besides the one given: name the second with %s or %s",
			found[0].def, found[1].def, found[0].flag, found[1].flag)
	}
	for _, r := range found {
		*r.name = r.def
	}
	return cols, n == 0 && len(found) == 3, nil
}

// durationAgrees tells whether a logged duration agrees with end - start
// within what logging can explain (rounding, two clock reads).
func durationAgrees(dur, span int64) bool {
	d := dur - span
	if d < 0 {
		d = -d
	}
	return d <= max(int64(time.Millisecond), max(dur, span)/20)
}

// ReadAppLog reads a request log, CSV with a header or JSON lines, with the
// given column names (empty: the defaults, where unambiguous). A row that
// cannot be used goes to bad (and is skipped when bad returns nil).
func ReadAppLog(r io.Reader, given AppColumns, bad func(*record.RowError) error) ([]Request, error) {
	if given.DurationUnit <= 0 {
		given.DurationUnit = time.Millisecond
	}
	if bad == nil {
		bad = func(e *record.RowError) error { return e }
	}
	br, err := record.Gunzip(bufio.NewReaderSize(r, 64<<10))
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
	ar := &appReader{given: given, bad: bad}
	if first[0] == '{' {
		return ar.readJSON(br)
	}
	return ar.readCSV(br)
}

// appReader reads one request log's rows.
type appReader struct {
	given    AppColumns
	bad      func(*record.RowError) error
	out      []Request
	cols     AppColumns // given, resolved against the first row or header
	check    bool
	resolved bool
}

// take adds the request of one row; a row that cannot be used goes to bad.
func (ar *appReader) take(line int, get func(string) (string, bool)) error {
	req, err := requestOf(get, ar.cols, ar.check)
	if err != nil {
		var fatal *mappingError
		if errors.As(err, &fatal) {
			return fmt.Errorf("line %d: %w", line, err)
		}
		return ar.bad(&record.RowError{Line: line, Err: err})
	}
	req.Line = line
	ar.out = append(ar.out, req)
	return nil
}

// readJSON reads JSON lines: one object a request.
func (ar *appReader) readJSON(br *bufio.Reader) ([]Request, error) {
	for line := 1; ; line++ {
		b, rerr := br.ReadBytes('\n')
		if len(bytes.TrimSpace(b)) > 0 {
			var m map[string]any
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber() // epoch ns exceed a float64's 53 bits
			if err := dec.Decode(&m); err != nil {
				if berr := ar.bad(&record.RowError{Line: line, Err: err}); berr != nil {
					return ar.out, berr
				}
			} else {
				if !ar.resolved {
					var err error
					if ar.cols, ar.check, err = resolveColumns(ar.given, func(k string) bool { _, ok := m[k]; return ok }); err != nil {
						return nil, fmt.Errorf("line %d: %w", line, err)
					}
					ar.resolved = true
				}
				if err := ar.take(line, jsonField(m)); err != nil {
					return ar.out, err
				}
			}
		}
		if rerr == io.EOF {
			return ar.out, nil
		}
		if rerr != nil {
			return ar.out, rerr
		}
	}
}

// jsonField reads a field of a JSON object as text (absent or null: false).
func jsonField(m map[string]any) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := m[k]
		if !ok || v == nil {
			return "", false
		}
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		}
		return fmt.Sprint(v), true
	}
}

// readCSV reads CSV with a header.
func (ar *appReader) readCSV(br *bufio.Reader) ([]Request, error) {
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
	if ar.cols, ar.check, err = resolveColumns(ar.given, func(k string) bool { _, ok := idx[k]; return ok }); err != nil {
		return nil, err
	}
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return ar.out, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				if berr := ar.bad(&record.RowError{Line: pe.StartLine, Err: pe.Err}); berr != nil {
					return ar.out, berr
				}
				continue
			}
			return ar.out, err
		}
		line, _ := cr.FieldPos(0)
		if err := ar.take(line, func(k string) (string, bool) {
			i, ok := idx[k]
			if !ok || i >= len(row) || row[i] == "" {
				return "", false
			}
			return row[i], true
		}); err != nil {
			return ar.out, err
		}
	}
}

// mappingError ends the read: the columns do not mean what they were
// taken for.
type mappingError struct{ msg string }

func (e *mappingError) Error() string { return e.msg }

// timeParser reads a start or end field: ns, its precision (see
// ParseAppTimeIn), or an error.
type timeParser func(string) (int64, int64, error)

func requestOf(get func(string) (string, bool), cols AppColumns, check bool) (Request, error) {
	return requestWith(get, cols, check, func(s string) (int64, int64, error) { return ParseAppTimeIn(s, cols.TZ) })
}

func requestWith(get func(string) (string, bool), cols AppColumns, check bool, parseTime timeParser) (Request, error) {
	var req Request
	th, ok := get(cols.Thread)
	if !ok || th == "" || th == "-" {
		return req, fmt.Errorf("no %s", cols.Thread)
	}
	req.Thread = th
	req.ID, _ = get(cols.ID)
	var start, end, dur, startCoarse, endCoarse int64
	var haveStart, haveEnd, haveDur bool
	var err error
	if s, ok := get(cols.Start); ok && cols.Start != "" {
		if start, startCoarse, err = parseTime(s); err != nil {
			return req, fmt.Errorf("%s: %w", cols.Start, err)
		}
		haveStart = true
	}
	if s, ok := get(cols.End); ok && cols.End != "" {
		if end, endCoarse, err = parseTime(s); err != nil {
			if check && haveStart {
				return req, &mappingError{fmt.Sprintf("column %q is not a time (%v): is it something else? give the two columns to use with --app-start, --app-end, --app-duration", cols.End, err)}
			}
			return req, fmt.Errorf("%s: %w", cols.End, err)
		}
		haveEnd = true
	}
	if s, ok := get(cols.Duration); ok && cols.Duration != "" {
		if dur, err = parseDuration(s, cols.DurationUnit); err != nil {
			return req, fmt.Errorf("%s: %w", cols.Duration, err)
		}
		haveDur = true
	}
	switch {
	case haveStart && haveEnd:
		if check && haveDur && !durationAgrees(dur, end-start) {
			return req, &mappingError{fmt.Sprintf("columns %q, %q and %q disagree (end - start = %s, duration %s): give the two to use with --app-start, --app-end, --app-duration",
				cols.Start, cols.End, cols.Duration, time.Duration(end-start), time.Duration(dur))}
		}
		if startCoarse > 0 || endCoarse > 0 {
			// Both to the second: the duration itself is known only to
			// 2 s; read the window as from start, to the second.
			req.Coarse = max(startCoarse, endCoarse)
		}
	case haveStart && haveDur:
		end = start + dur
		req.Coarse = startCoarse
	case haveEnd && haveDur:
		start = end - dur
		req.Coarse = endCoarse
	default:
		return req, fmt.Errorf("needs two of %s", strings.Join(nonEmpty(cols.Start, cols.End, cols.Duration), ", "))
	}
	if end < start {
		return req, fmt.Errorf("ends before it starts")
	}
	req.Start, req.End = start, end
	return req, nil
}

func nonEmpty(s ...string) []string {
	var out []string
	for _, x := range s {
		if x != "" {
			out = append(out, x)
		}
	}
	return out
}

// Join adds each record's run-queue wait to the requests of its thread that
// overlap it: exactly the overlap of [wait start, switch-in] with the
// request's window. Records may come in any order; memory is that of the
// requests, and for threads with coarse requests (time to the second), the
// waits in their windows: their bounds are computed by Finish.
type Join struct {
	byThread map[string]*threadRequests
	matched  map[string]bool
	finished bool
}

type threadRequests struct {
	reqs   []*Request // exact, by start
	maxEnd []int64    // maxEnd[i] = max end of reqs[0..i]
	coarse []*Request
	lo, hi int64      // the coarse requests' windows lie in [lo, hi]
	waits  [][2]int64 // waits overlapping [lo, hi]: start, end
}

// NewJoin indexes requests by thread.
func NewJoin(reqs []Request) *Join {
	j := &Join{byThread: map[string]*threadRequests{}, matched: map[string]bool{}}
	for i := range reqs {
		r := &reqs[i]
		tr := j.byThread[r.Thread]
		if tr == nil {
			tr = &threadRequests{lo: math.MaxInt64, hi: math.MinInt64}
			j.byThread[r.Thread] = tr
		}
		if r.Coarse > 0 {
			tr.coarse = append(tr.coarse, r)
			a, b := r.Window()
			tr.lo, tr.hi = min(tr.lo, a), max(tr.hi, b)
		} else {
			tr.reqs = append(tr.reqs, r)
		}
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
func (j *Join) Add(rec *record.Record) {
	tr := j.byThread[rec.JavaThread]
	if tr == nil {
		return
	}
	j.matched[rec.JavaThread] = true
	ws, we := rec.Time-int64(rec.LatencyNs), rec.Time
	if len(tr.coarse) > 0 && we > tr.lo && ws < tr.hi {
		tr.waits = append(tr.waits, [2]int64{ws, we})
	}
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

// Finish completes the requests once every record was added: the bounds
// of every request's wait. Idempotent; Add must not be called after it.
func (j *Join) Finish() {
	if j.finished {
		return
	}
	j.finished = true
	for _, tr := range j.byThread {
		for _, r := range tr.reqs {
			r.WaitMinNs, r.WaitMaxNs = r.WaitNs, r.WaitNs
		}
		if len(tr.coarse) == 0 {
			continue
		}
		sort.Slice(tr.waits, func(a, b int) bool { return tr.waits[a][0] < tr.waits[b][0] })
		var longest int64
		for _, w := range tr.waits {
			longest = max(longest, w[1]-w[0])
		}
		for _, r := range tr.coarse {
			a, b := r.Window()
			k := sort.Search(len(tr.waits), func(i int) bool { return tr.waits[i][0] > a-longest })
			var in [][2]int64
			for ; k < len(tr.waits) && tr.waits[k][0] < b; k++ {
				w := tr.waits[k]
				lo, hi := max(w[0], a), min(w[1], b)
				if hi > lo {
					in = append(in, [2]int64{lo - a, hi - a})
					r.Waits++
					r.MaxNs = max(r.MaxNs, uint64(hi-lo))
				}
			}
			r.WaitMinNs, r.WaitMaxNs = coarseBounds(in, r.Coarse, r.End-r.Start)
		}
		tr.waits = nil
	}
}

// coarseBounds returns the least and the most run-queue wait a window of
// length d can hold when it starts anywhere in [0, p], given the waits
// (clipped to [0, p+d], relative to 0; they may overlap when threads share
// a name). The overlap is piecewise linear in the window's start, so its
// least value is at a breakpoint: where either edge meets a wait's edge,
// or at 0 or p.
func coarseBounds(waits [][2]int64, p, d int64) (lo, hi uint64) {
	if len(waits) == 0 {
		return 0, 0
	}
	starts := make([]int64, len(waits))
	ends := make([]int64, len(waits))
	for i, w := range waits {
		starts[i], ends[i] = w[0], w[1]
	}
	sort.Slice(starts, func(a, b int) bool { return starts[a] < starts[b] })
	sort.Slice(ends, func(a, b int) bool { return ends[a] < ends[b] })
	sumS := make([]int64, len(starts)+1)
	sumE := make([]int64, len(ends)+1)
	for i := range starts {
		sumS[i+1] = sumS[i] + starts[i]
		sumE[i+1] = sumE[i] + ends[i]
	}
	// f(x): run-queue time before x, summed over the waits.
	f := func(x int64) int64 {
		ns := sort.Search(len(starts), func(i int) bool { return starts[i] >= x })
		ne := sort.Search(len(ends), func(i int) bool { return ends[i] > x })
		return (int64(ns)*x - sumS[ns]) - (int64(ne)*x - sumE[ne])
	}
	best := int64(math.MaxInt64)
	try := func(s int64) {
		if s >= 0 && s <= p {
			best = min(best, f(s+d)-f(s))
		}
	}
	try(0)
	try(p)
	for _, w := range waits {
		try(w[0])
		try(w[1])
		try(w[0] - d)
		try(w[1] - d)
	}
	return uint64(best), uint64(f(p+d) - f(0))
}

// Matched returns how many of the app log's thread names appeared in the
// records, and how many names it has.
func (j *Join) Matched() (int, int) { return len(j.matched), len(j.byThread) }

// Classify marks each request by whether span (the traced time: sorted,
// disjoint intervals) holds its window wholly, partly or not at all.
func Classify(reqs []Request, span []runmeta.Interval) {
	for i := range reqs {
		r := &reqs[i]
		a, b := r.Window()
		// The first interval that ends at or after the window's start.
		k := sort.Search(len(span), func(i int) bool { return span[i].To >= a })
		switch {
		case k < len(span) && span[k].From <= a && b <= span[k].To:
			r.Traced = TracedWhole
		case k < len(span) && span[k].From <= b:
			r.Traced = TracedPartly
		default:
			r.Traced = TracedNot
		}
	}
}

// WriteRequests writes the requests annotated with their run-queue wait,
// as CSV. traced says whether the records cover the request: yes, partly
// (the wait counts the traced part only) or no (the wait is unknown: its
// columns are empty, not 0). A coarse request (time to the second) has
// no exact runq_wait_ns, only its bounds runq_wait_min_ns..runq_wait_max_ns.
func WriteRequests(w io.Writer, reqs []Request) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"id", "thread", "start", "end", "duration_ns", "traced", "runq_wait_ns", "runq_wait_min_ns", "runq_wait_max_ns",
		"runq_share", "runq_waits", "runq_max_ns", "time_precision_ns", "app_log_line"})
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	for i := range reqs {
		r := &reqs[i]
		row := []string{r.ID, r.Thread, record.FormatTime(r.Start), record.FormatTime(r.End), strconv.FormatInt(r.End-r.Start, 10), r.Traced.String()}
		switch {
		case r.Traced == TracedNot:
			row = append(row, "", "", "", "", "", "")
		case r.Coarse > 0:
			row = append(row, "", u(r.WaitMinNs), u(r.WaitMaxNs), strconv.FormatFloat(r.Share(), 'f', 4, 64), u(r.Waits), u(r.MaxNs))
		default:
			row = append(row, u(r.WaitNs), u(r.WaitNs), u(r.WaitNs), strconv.FormatFloat(r.Share(), 'f', 4, 64), u(r.Waits), u(r.MaxNs))
		}
		row = append(row, strconv.FormatInt(r.Coarse, 10), strconv.Itoa(r.Line))
		_ = cw.Write(row)
	}
	cw.Flush()
	return cw.Error()
}

// SpanSource says where the traced span came from.
type SpanSource string

const (
	SpanFromRuns    SpanSource = "run metadata"     // FILE.runs.jsonl beside the records
	SpanFromFlag    SpanSource = "--traced"         // given by the user
	SpanFromRecords SpanSource = "records, guessed" // first to last record: no run metadata
)

// RequestSummary answers "did run-queue wait cause the slow requests",
// for the requests the records cover wholly.
type RequestSummary struct {
	Requests       int
	Threads        int // distinct thread names in the app log
	MatchedThreads int // of those, seen in the records
	SLO            time.Duration
	Threshold      time.Duration
	// The traced span and where it came from.
	Span       []runmeta.Interval
	SpanSource SpanSource
	// MinLatency is the largest --min-latency of the runs (-1: unknown):
	// shorter waits were not recorded, so "waited" counts are lower
	// bounds, and below it "did not wait" cannot be judged.
	MinLatency time.Duration
	// Requests by coverage; Coarse: of the traced ones, those whose time
	// is known only to the second.
	Traced, Partly, NotTraced, Coarse int
	OverSLO                           int // traced wholly and slower than SLO
	OverSLOWaited                     int // of those, with run-queue wait >= Threshold
	// Of those over the SLO: certainly not (wait < Threshold), and coarse
	// ones whose bounds straddle Threshold.
	OverSLONotWaited, OverSLOUndecided int
	// Slower than the SLO but not judged: partly or not traced.
	OverSLOPartly, OverSLONotTraced int
	Top                             []Request
}

// SummarizeRequests computes the summary (the requests classified by
// Classify and joined); top requests by wait, wholly or partly traced.
func SummarizeRequests(reqs []Request, j *Join, slo, threshold time.Duration, top int) *RequestSummary {
	j.Finish()
	s := &RequestSummary{Requests: len(reqs), SLO: slo, Threshold: threshold, MinLatency: -1}
	s.MatchedThreads, s.Threads = j.Matched()
	for i := range reqs {
		r := &reqs[i]
		switch r.Traced {
		case TracedWhole:
			s.Traced++
			if r.Coarse > 0 {
				s.Coarse++
			}
		case TracedPartly:
			s.Partly++
		default:
			s.NotTraced++
		}
		if slo <= 0 || r.Duration() <= slo {
			continue
		}
		switch r.Traced {
		case TracedPartly:
			s.OverSLOPartly++
			continue
		case TracedNot:
			s.OverSLONotTraced++
			continue
		}
		s.OverSLO++
		switch {
		case r.WaitMinNs >= uint64(threshold):
			s.OverSLOWaited++
		case r.WaitMaxNs < uint64(threshold):
			s.OverSLONotWaited++
		default:
			s.OverSLOUndecided++
		}
	}
	idx := make([]int, 0, len(reqs))
	for i := range reqs {
		if reqs[i].Traced != TracedNot && reqs[i].WaitMinNs > 0 {
			idx = append(idx, i)
		}
	}
	sort.Slice(idx, func(a, b int) bool {
		ra, rb := &reqs[idx[a]], &reqs[idx[b]]
		if ra.WaitMinNs != rb.WaitMinNs {
			return ra.WaitMinNs > rb.WaitMinNs
		}
		return ra.Start < rb.Start
	})
	for _, i := range idx[:min(top, len(idx))] {
		s.Top = append(s.Top, reqs[i])
	}
	return s
}

// SpanText describes the traced span in one line.
func (s *RequestSummary) SpanText() string {
	if len(s.Span) == 0 {
		return fmt.Sprintf("no traced span (from %s)", s.SpanSource)
	}
	var b strings.Builder
	var total int64
	for i, iv := range s.Span {
		if i > 0 {
			b.WriteString(", ")
		}
		if i == 3 {
			fmt.Fprintf(&b, "… %d more", len(s.Span)-3)
			break
		}
		b.WriteString(record.FormatTime(iv.From) + " to " + record.FormatTime(iv.To))
	}
	for _, iv := range s.Span {
		total += iv.To - iv.From
	}
	return fmt.Sprintf("traced %s (%s; from %s)", b.String(), time.Duration(total).Round(time.Millisecond), s.SpanSource)
}

// WriteText prints the request summary.
func (s *RequestSummary) WriteText(w io.Writer) error {
	fmt.Fprintf(w, "\n== application requests: %d, on %d threads, %d of them seen in the records\n", s.Requests, s.Threads, s.MatchedThreads)
	fmt.Fprintf(w, "%s\n", s.SpanText())
	fmt.Fprintf(w, "%d traced, %d partly traced, %d not traced (outside the traced span: their wait is unknown, not counted)\n", s.Traced, s.Partly, s.NotTraced)
	if s.Coarse > 0 {
		fmt.Fprintf(w, "%d traced requests have times to the second only: their wait is a range\n", s.Coarse)
	}
	if s.SLO > 0 {
		fmt.Fprintf(w, "%d traced requests slower than the SLO (%s); %d of those waited >= %s in the run queue", s.OverSLO, s.SLO, s.OverSLOWaited, s.Threshold)
		if s.OverSLOUndecided > 0 {
			fmt.Fprintf(w, ", %d may have (times to the second)", s.OverSLOUndecided)
		}
		fmt.Fprintln(w)
		if s.MinLatency > 0 {
			fmt.Fprintf(w, "(waits under %s were not recorded (--min-latency): the count of those that waited is a lower bound)\n", s.MinLatency)
		}
		if n := s.OverSLOPartly + s.OverSLONotTraced; n > 0 {
			fmt.Fprintf(w, "%d more slower than the SLO not judged: %d partly traced, %d not traced\n", n, s.OverSLOPartly, s.OverSLONotTraced)
		}
	}
	if len(s.Top) == 0 {
		fmt.Fprintln(w, "no traced request overlapped a run-queue wait of its thread")
		return nil
	}
	fmt.Fprintln(w, "top requests by run-queue wait:")
	tw := newTable(w)
	fmt.Fprintf(tw, "id\tthread\tstart\tduration ms\trunq wait ms\tshare\twaits\ttraced\t\n")
	for i := range s.Top {
		r := &s.Top[i]
		wait := ms(r.WaitMinNs)
		if r.Coarse > 0 {
			wait = ms(r.WaitMinNs) + ".." + ms(r.WaitMaxNs)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%.3f\t%s\t%.1f%%\t%d\t%s\t\n", r.ID, r.Thread, record.FormatTime(r.Start),
			float64(r.End-r.Start)/1e6, wait, 100*r.Share(), r.Waits, r.Traced)
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
