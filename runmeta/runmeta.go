// Package runmeta records the span a tracing run covered, in a sidecar file
// next to its record file (FILE.runs.jsonl: one JSON line when tracing
// starts, one when it stops), and works out from it which time a set of
// record files covers. Records alone cannot say it: a run whose last
// minutes had no wait above --min-latency still traced them, and a request
// log usually spans far more than the run.
package runmeta

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Suffix is appended to a record file's path to name its sidecar.
const Suffix = ".runs.jsonl"

// RotatedLayout is the time in a rotated record file's name: the UTC time
// the file was opened (records.csv -> records-20261126T002311.123Z.csv,
// a second file of the same millisecond -> ...Z-1.csv, compressed .gz).
const RotatedLayout = "20060102T150405.000Z"

// Line is one line of a sidecar.
type Line struct {
	Event        string   `json:"event"` // "start" or "stop"
	Run          string   `json:"run"`   // pairs a stop with its start
	Time         string   `json:"time"`  // RFC 3339 UTC, ns
	TimeNs       int64    `json:"time_ns"`
	Mode         string   `json:"mode,omitempty"` // pid, all, jvm, all-jvms
	Pids         []uint32 `json:"pids,omitempty"`
	Match        string   `json:"match,omitempty"`
	MinLatencyNs int64    `json:"min_latency_ns"`
	Kinds        string   `json:"kinds,omitempty"`
	Format       string   `json:"format,omitempty"`
	Version      string   `json:"version,omitempty"`
	// Stop only: records the run wrote, and the error it ended with.
	Records uint64 `json:"records,omitempty"`
	Error   string `json:"error,omitempty"`
}

// Info describes a run for its start line.
type Info struct {
	Mode       string
	Pids       []uint32
	Match      string
	MinLatency time.Duration
	Kinds      string
	Format     string
	Version    string
}

// Run writes one run's lines. A nil *Run (stdout output) does nothing.
type Run struct {
	path string
	line Line
	mu   sync.Mutex
	stop int64 // wall ns tracing stopped (0: not yet)
}

// Sidecar returns the sidecar of a record file: for records.csv and its
// rotated files (records-20261126T002311.123Z.csv[.gz]) alike,
// records.csv.runs.jsonl beside them.
func Sidecar(path string) string {
	base, _, _, _ := Base(path)
	return base + Suffix
}

var rotatedStem = regexp.MustCompile(`^(.*)-([0-9]{8}T[0-9]{6}\.[0-9]{3}Z)(?:-([0-9]+))?$`)

// Base returns the path attach wrote a record file under (.gz and a
// rotation time taken out of its name), the time in a rotated file's name
// with its -N sequence, and whether it is a rotated file.
func Base(path string) (base string, opened time.Time, seq int, rotated bool) {
	p := strings.TrimSuffix(path, ".gz")
	dir, name := filepath.Split(p)
	ext := filepath.Ext(name)
	stem := strings.TrimSuffix(name, ext)
	m := rotatedStem.FindStringSubmatch(stem)
	if m == nil {
		return p, time.Time{}, 0, false
	}
	t, err := time.Parse(RotatedLayout, m[2])
	if err != nil {
		return p, time.Time{}, 0, false
	}
	if m[3] != "" {
		seq, _ = strconv.Atoi(m[3])
	}
	return filepath.Join(dir, m[1]+ext), t, seq, true
}

// Begin appends the start line of a run writing records to output (no
// sidecar for stdout: nil). Tracing must already be on: the line's time
// is the start of the span the records cover. When ctx ends, the stop
// time is taken (before the tracer is detached, so the span never claims
// time the tracer did not see). A write error is a warning: the report
// then guesses the span from the records.
func Begin(ctx context.Context, output string, info Info) *Run {
	if output == "" || output == "-" {
		return nil
	}
	now := time.Now().UnixNano()
	r := &Run{path: Sidecar(output), line: Line{
		Run: strconv.Itoa(os.Getpid()) + "-" + strconv.FormatInt(now, 10), Mode: info.Mode, Pids: info.Pids, Match: info.Match,
		MinLatencyNs: int64(info.MinLatency), Kinds: info.Kinds, Format: info.Format, Version: info.Version,
	}}
	start := r.line
	start.Event = "start"
	start.TimeNs, start.Time = now, formatNs(now)
	if err := Append(r.path, start); err != nil {
		slog.Warn("run metadata not written: a report of these records will guess the traced span from them", "file", r.path, "err", err)
	}
	if ctx != nil {
		context.AfterFunc(ctx, r.Stopped)
	}
	return r
}

// Stopped takes the stop time now, unless it was taken already.
func (r *Run) Stopped() {
	if r == nil {
		return
	}
	now := time.Now().UnixNano()
	r.mu.Lock()
	if r.stop == 0 {
		r.stop = now
	}
	r.mu.Unlock()
}

// End appends the stop line, once every record is in the files.
func (r *Run) End(records uint64, runErr error) {
	if r == nil {
		return
	}
	r.Stopped()
	l := r.line
	l.Event = "stop"
	r.mu.Lock()
	l.TimeNs = r.stop
	r.mu.Unlock()
	l.Time = formatNs(l.TimeNs)
	l.Pids, l.Match, l.Kinds, l.Format, l.Version, l.Mode = nil, "", "", "", "", ""
	l.Records = records
	if runErr != nil && !errors.Is(runErr, context.Canceled) {
		l.Error = runErr.Error()
	}
	if err := Append(r.path, l); err != nil {
		slog.Warn("run metadata not written: a report of these records will not know when this run stopped", "file", r.path, "err", err)
	}
}

// Append adds one line to a sidecar, in one write.
func Append(path string, l Line) error {
	b, err := json.Marshal(l)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(b, '\n'))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func formatNs(ns int64) string {
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000000000Z07:00")
}

// Span is one run as its sidecar tells it.
type Span struct {
	Start, Stop  int64 // wall ns; Stop is 0 when the run has no stop line
	MinLatencyNs int64
	Kinds, Mode  string
	Error        string // the run ended with an error
}

// Stopped tells whether the run wrote its stop line (it did not if it was
// killed, or is still running).
func (s Span) Stopped() bool { return s.Stop != 0 }

// Read reads a sidecar: its runs in start order. Lines it cannot read are
// returned as warnings.
func Read(path string) ([]Span, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	var warns []string
	byRun := map[string]int{}
	var out []Span
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var l Line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil || l.TimeNs <= 0 || (l.Event != "start" && l.Event != "stop") {
			warns = append(warns, fmt.Sprintf("%s:%d: not a run line, skipped", path, n))
			continue
		}
		i, ok := byRun[l.Run]
		switch {
		case l.Event == "start" && !ok:
			byRun[l.Run] = len(out)
			out = append(out, Span{Start: l.TimeNs, MinLatencyNs: l.MinLatencyNs, Kinds: l.Kinds, Mode: l.Mode})
		case l.Event == "stop" && ok && out[i].Stop == 0 && l.TimeNs >= out[i].Start:
			out[i].Stop, out[i].Error = l.TimeNs, l.Error
		default:
			warns = append(warns, fmt.Sprintf("%s:%d: %s of run %q does not pair with a start, skipped", path, n, l.Event, l.Run))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, warns, fmt.Errorf("%s: %w", path, err)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	return out, warns, nil
}

// Interval is a closed span of wall ns.
type Interval struct{ From, To int64 }

// File is a record file given to a report, with the times of the records
// read from it.
type File struct {
	Path        string
	First, Last int64 // earliest and latest record time
	Records     uint64
}

// member is one file of a record path's sequence: its rotated files in
// the order they were opened, then the current file.
type member struct {
	opened  int64 // rotated: the time in its name; current: math.MaxInt64
	seq     int
	current bool
	given   *File
	keyPath string
}

// Covered returns the time the given files of one record path cover (path
// as attach wrote it: Base of each), sorted and merged, from the runs of
// its sidecar and the rotated files beside it (names: the names of the
// files in the directory now, from which the rotated ones are picked).
//
// Within a run, its first file covers from the run's start and its last
// (the current file) to the run's stop; a rotated file covers until the
// next one, so consecutive given files join up. Where a neighbour is not
// given (deleted by --rotate-keep, or not passed), the boundary between
// them is not known exactly (records land in a file some seconds after
// their wait), and the file is taken to cover from no earlier than its
// first record or opening, to no later than its last record: less than it
// does, never more. A run without a stop line covers up to the last record
// of its files.
func Covered(base string, runs []Span, given []*File, names []string) []Interval {
	seqs := members(base, given, names)
	var out []Interval
	for r, idx := range filesByRun(seqs, runs) {
		out = append(out, runCovered(runs[r], seqs, idx)...)
	}
	return Merge(out)
}

// members are the files of base's sequence, given or found among names,
// in the order they were opened.
func members(base string, given []*File, names []string) []member {
	dir, name := filepath.Split(base)
	var seqs []member
	seen := map[string]bool{}
	add := func(path string, f *File) {
		b, t, seq, rotated := Base(path)
		if filepath.Clean(b) != filepath.Clean(base) {
			return
		}
		key := filepath.Clean(strings.TrimSuffix(path, ".gz"))
		if seen[key] {
			for i := range seqs {
				if f != nil && seqs[i].given == nil && seqs[i].key() == key {
					seqs[i].given = f
				}
			}
			return
		}
		seen[key] = true
		m := member{opened: math.MaxInt64, current: !rotated, seq: seq, given: f}
		if rotated {
			m.opened = t.UnixNano()
		}
		m.keyPath = key
		seqs = append(seqs, m)
	}
	for _, f := range given {
		add(f.Path, f)
	}
	for _, n := range names {
		if strings.HasPrefix(n, strings.TrimSuffix(name, filepath.Ext(name))) {
			add(filepath.Join(dir, n), nil)
		}
	}
	sort.SliceStable(seqs, func(i, j int) bool {
		if seqs[i].opened != seqs[j].opened {
			return seqs[i].opened < seqs[j].opened
		}
		return seqs[i].seq < seqs[j].seq
	})
	return seqs
}

// filesByRun returns, per run, the indexes of its files in seqs.
func filesByRun(seqs []member, runs []Span) [][]int {
	// Each file belongs to the first run that stopped after it was opened
	// (a run's first file is opened just before tracing starts, the
	// others by rotation while it runs); the current file to the last run.
	byRun := make([][]int, len(runs))
	for i, m := range seqs {
		r := -1
		if m.current {
			r = len(runs) - 1
		} else {
			for k, s := range runs {
				if !s.Stopped() || m.opened <= s.Stop {
					r = k
					break
				}
			}
		}
		if r >= 0 {
			byRun[r] = append(byRun[r], i)
		}
	}
	return byRun
}

// runCovered is the time run s's given files cover (idx: its files in
// seqs).
func runCovered(s Span, seqs []member, idx []int) []Interval {
	stop := s.Stop
	if !s.Stopped() {
		stop = math.MinInt64
		for _, i := range idx {
			if f := seqs[i].given; f != nil && f.Records > 0 {
				stop = max(stop, f.Last)
			}
		}
	}
	var out []Interval
	// Consecutive given files make one chain: it covers from its first
	// file's start to its last file's end.
	for k := 0; k < len(idx); k++ {
		if seqs[idx[k]].given == nil {
			continue
		}
		e := k
		for e+1 < len(idx) && seqs[idx[e+1]].given != nil {
			e++
		}
		first, last := seqs[idx[k]], seqs[idx[e]]
		var lo, hi int64
		if k == 0 && (first.current || first.opened <= s.Start) {
			lo = s.Start // opened for this run: it holds its first records
		} else {
			lo = math.MaxInt64
			if !first.current {
				lo = first.opened
			}
			if f := first.given; f.Records > 0 {
				lo = min(lo, f.First)
			}
		}
		if e == len(idx)-1 {
			hi = stop
		} else {
			hi = math.MinInt64
			if f := last.given; f.Records > 0 {
				hi = f.Last
			}
		}
		lo, hi = max(lo, s.Start), min(hi, stop)
		if lo <= hi {
			out = append(out, Interval{lo, hi})
		}
		k = e
	}
	return out
}

func (m member) key() string { return m.keyPath }

// Merge sorts intervals and joins those that overlap or touch.
func Merge(in []Interval) []Interval {
	if len(in) == 0 {
		return nil
	}
	s := append([]Interval(nil), in...)
	sort.Slice(s, func(i, j int) bool { return s[i].From < s[j].From })
	out := s[:1]
	for _, iv := range s[1:] {
		last := &out[len(out)-1]
		if iv.From <= last.To {
			last.To = max(last.To, iv.To)
		} else {
			out = append(out, iv)
		}
	}
	return out
}
