package runmeta

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestBase(t *testing.T) {
	at := time.Date(2026, 11, 26, 0, 23, 11, 123e6, time.UTC)
	for path, want := range map[string]struct {
		base    string
		rotated bool
		seq     int
	}{
		"/d/records.csv":                             {"/d/records.csv", false, 0},
		"/d/records.csv.gz":                          {"/d/records.csv", false, 0},
		"/d/records-20261126T002311.123Z.csv":        {"/d/records.csv", true, 0},
		"/d/records-20261126T002311.123Z.csv.gz":     {"/d/records.csv", true, 0},
		"/d/records-20261126T002311.123Z-2.csv.gz":   {"/d/records.csv", true, 2},
		"my-records-20261126T002311.123Z.jsonl":      {"my-records.jsonl", true, 0},
		"/d/records-20261126T002311.csv":             {"/d/records-20261126T002311.csv", false, 0},
		"/d/records-2026112600231.123Z.csv":          {"/d/records-2026112600231.123Z.csv", false, 0},
		"/d/records-20261126T002311.123Z.runs.jsonl": {"/d/records-20261126T002311.123Z.runs.jsonl", false, 0},
	} {
		base, opened, seq, rotated := Base(path)
		if base != want.base || rotated != want.rotated || seq != want.seq || (rotated && !opened.Equal(at)) {
			t.Errorf("Base(%q) = %q %v %d %v, want %+v", path, base, opened, seq, rotated, want)
		}
	}
	if got := Sidecar("/d/records-20261126T002311.123Z.csv.gz"); got != "/d/records.csv.runs.jsonl" {
		t.Errorf("Sidecar: %q", got)
	}
}

// Begin and End append a start and a stop line that Read pairs; the stop
// time is taken when the run's context ends, not when End is called.
func TestBeginEnd(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "records.csv")
	if Begin(context.Background(), "-", Info{}) != nil {
		t.Fatal("stdout output has a sidecar")
	}
	var nilRun *Run
	nilRun.End(0, nil) // no sidecar, no panic
	ctx, cancel := context.WithCancel(context.Background())
	r := Begin(ctx, out, Info{Mode: "pid", Pids: []uint32{42}, MinLatency: time.Millisecond, Kinds: "wakeup,preempt", Format: "csv", Version: "test"})
	before := time.Now().UnixNano()
	cancel()
	// The stop stamp is taken by the context's AfterFunc, in its own
	// goroutine: wait for it, not for a time.
	for {
		r.mu.Lock()
		s := r.stop
		r.mu.Unlock()
		if s != 0 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	after := time.Now().UnixNano()
	r.End(7, errors.New("disk full"))
	r2 := Begin(context.Background(), out, Info{Mode: "pid"})
	_ = r2 // a second run that never stopped (killed)
	spans, warns, err := Read(Sidecar(out))
	if err != nil || len(warns) != 0 {
		t.Fatal(err, warns)
	}
	if len(spans) != 2 {
		t.Fatalf("spans %+v", spans)
	}
	s := spans[0]
	if !s.Stopped() || s.Start > before || s.Stop < before || s.Stop > after || s.MinLatencyNs != int64(time.Millisecond) || s.Kinds != "wakeup,preempt" || s.Mode != "pid" || s.Error != "disk full" {
		t.Errorf("first run %+v (cancelled between %d and %d)", s, before, after)
	}
	if spans[1].Stopped() || spans[1].Start < s.Stop {
		t.Errorf("second run %+v", spans[1])
	}
	b, _ := os.ReadFile(Sidecar(out))
	if n := strings.Count(string(b), "\n"); n != 3 || !strings.Contains(string(b), `"pids":[42]`) || !strings.Contains(string(b), `"records":7`) {
		t.Errorf("sidecar:\n%s", b)
	}
	// An unwritable sidecar is a warning, and the run goes on.
	if r := Begin(context.Background(), filepath.Join(dir, "no", "such", "dir", "r.csv"), Info{}); r == nil {
		t.Error("Begin returned nil for an unwritable path")
	} else {
		r.End(0, nil)
	}
	os.WriteFile(filepath.Join(dir, "bad"+Suffix), []byte("{\"event\":\"stop\",\"run\":\"x\",\"time_ns\":5}\nnot json\n"), 0o644)
	if spans, warns, err := Read(filepath.Join(dir, "bad"+Suffix)); err != nil || len(spans) != 0 || len(warns) != 2 {
		t.Errorf("bad sidecar: %+v %q %v", spans, warns, err)
	}
}

func rotName(t int64) string {
	return "r-" + time.Unix(0, t).UTC().Format(RotatedLayout) + ".csv"
}

// Which time a set of record files covers.
func TestCovered(t *testing.T) {
	sec := int64(time.Second)
	t0 := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).UnixNano()
	at := func(s float64) int64 { return t0 + int64(s*float64(sec)) }
	// Run 1 traced [10 s, 100 s] into r.csv, rotating at 40 s and 70 s:
	// r-<9s>.csv (opened before tracing started), r-<40s>.csv,
	// r-<70s>.csv, and r.csv (opened at 70 s... renamed: the current file
	// was opened at the last rotation). Records land in a file some
	// seconds after their wait, so a file's records start a little before
	// its opening.
	runs := []Span{{Start: at(10), Stop: at(100)}}
	f1 := &File{Path: "/d/" + rotName(at(9)), First: at(10.5), Last: at(37), Records: 100}
	f2 := &File{Path: "/d/" + rotName(at(40)), First: at(37.5), Last: at(67), Records: 100}
	f3 := &File{Path: "/d/" + rotName(at(70)), First: at(67.5), Last: at(90), Records: 100}
	cur := &File{Path: "/d/r.csv", First: at(91), Last: at(99), Records: 10}
	names := []string{rotName(at(9)), rotName(at(40)), rotName(at(70)), "r.csv", "r.csv" + Suffix, "other.csv"}
	iv := func(a, b float64) Interval { return Interval{at(a), at(b)} }
	for _, c := range []struct {
		name  string
		runs  []Span
		given []*File
		names []string
		want  []Interval
	}{
		{"all files: the run", runs, []*File{f1, f2, f3, cur}, names, []Interval{iv(10, 100)}},
		{"the current file alone: from its first record", runs, []*File{cur}, names, []Interval{iv(91, 100)}},
		{"the first file alone: to its last record", runs, []*File{f1}, names, []Interval{iv(10, 37)}},
		{"a middle file: first record to last", runs, []*File{f2}, names, []Interval{iv(37.5, 67)}},
		{"first and last: a hole", runs, []*File{f1, cur}, names, []Interval{iv(10, 37), iv(91, 100)}},
		{"the oldest deleted (--rotate-keep)", runs, []*File{f2, f3, cur}, names[1:], []Interval{iv(37.5, 100)}},
		{"a file in a rotation gap: before its opening", runs, []*File{f3, cur}, names, []Interval{iv(67.5, 100)}},
		{"run without a stop line: to the last record", []Span{{Start: at(10)}}, []*File{f1, f2, f3, cur}, names, []Interval{iv(10, 99)}},
		{"a second run into the same path: the current file is its", []Span{{Start: at(10), Stop: at(100)}, {Start: at(200), Stop: at(300)}},
			[]*File{{Path: "/d/r.csv", First: at(201), Last: at(290), Records: 5}}, []string{"r.csv"}, []Interval{iv(200, 300)}},
		{"two runs, rotated files of both", []Span{{Start: at(10), Stop: at(100)}, {Start: at(200), Stop: at(300)}},
			[]*File{f1, f2, f3, {Path: "/d/" + rotName(at(199)), First: at(201), Last: at(250), Records: 5}, {Path: "/d/r.csv", First: at(251), Last: at(290), Records: 5}},
			nil, []Interval{iv(10, 100), iv(200, 300)}},
		{"no run", nil, []*File{cur}, names, nil},
	} {
		got := Covered("/d/r.csv", c.runs, c.given, c.names)
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: %v, want %v", c.name, got, c.want)
		}
	}
}
