package report

import (
	"bufio"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/runmeta"
)

const liveRun = "../testdata/runs/workload-4s/live.csv.gz"

// liveRecords reads the real run's records straight through package record.
func liveRecords(t *testing.T) []record.Record {
	t.Helper()
	f, err := os.Open(liveRun)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	br, err := record.Gunzip(bufio.NewReader(f))
	if err != nil {
		t.Fatal(err)
	}
	var out []record.Record
	if err := record.ReadRecords(br, func(r *record.Record) error { out = append(out, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

// ReadFiles takes every record of a real run (gzip CSV) into the tables,
// and with a match only those threads' waits, while the requests' join
// still sees every record.
func TestReadFilesRealRun(t *testing.T) {
	recs := liveRecords(t)
	if len(recs) != 1861 {
		t.Fatalf("%s: %d records, its README says 1,861", liveRun, len(recs))
	}
	rp := New(Config{Interval: time.Second})
	if _, err := rp.ReadFiles(Input{Files: []string{liveRun}}); err != nil {
		t.Fatal(err)
	}
	if s := rp.Summary(); s.All.Hist.Count != 1861 {
		t.Errorf("report of all: %d waits, want 1861", s.All.Hist.Count)
	}

	match := regexp.MustCompile(`^order-matcher-`)
	want := 0
	var req Request
	for i := range recs {
		if match.MatchString(ThreadLabel(&recs[i])) {
			want++
		} else if req.Thread == "" && recs[i].JavaThread != "" {
			// A request on a thread --match leaves out of the tables.
			r := recs[i]
			req = Request{Thread: r.JavaThread, Start: r.Time - int64(r.LatencyNs) - 1, End: r.Time + 1}
		}
	}
	if want == 0 || req.Thread == "" {
		t.Fatalf("the run has %d order-matcher waits and no other named thread: not a test", want)
	}
	rp = New(Config{Interval: time.Second})
	// The second one lies after the span given: not traced.
	late := Request{Thread: req.Thread, Start: recs[len(recs)-1].Time + 5e9, End: recs[len(recs)-1].Time + 6e9}
	reqs := []Request{req, late}
	res, err := rp.ReadFiles(Input{Files: []string{liveRun}, Match: match, Requests: reqs,
		Traced: []runmeta.Interval{{From: recs[0].Time - 1e9, To: recs[len(recs)-1].Time + 1e9}}})
	if err != nil {
		t.Fatal(err)
	}
	if s := rp.Summary(); s.All.Hist.Count != uint64(want) {
		t.Errorf("--match: %d waits, want %d", s.All.Hist.Count, want)
	}
	if res.Cover.Source != SpanFromFlag || len(res.Cover.Span) != 1 {
		t.Errorf("coverage %+v, want the span given", res.Cover)
	}
	if reqs[0].Traced != TracedWhole || reqs[0].WaitMinNs == 0 {
		t.Errorf("request %+v: want traced, with its thread's wait though --match leaves that thread out", reqs[0])
	}
	if reqs[1].Traced != TracedNot {
		t.Errorf("request after the span: %v, want not traced", reqs[1].Traced)
	}
}

// An events file given as records is a clear error naming replay.
func TestReadFilesEventLog(t *testing.T) {
	rp := New(Config{Interval: time.Second})
	_, err := rp.ReadFiles(Input{Files: []string{"../testdata/runs/workload-4s/events.jsonl.gz"}})
	if err == nil || !strings.Contains(err.Error(), "is an events file") || !strings.Contains(err.Error(), "jschedlat replay") {
		t.Errorf("error %v", err)
	}
}
