package report

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

// The wait a request gets is exactly the sum of its thread's waits'
// overlaps with its window, whatever the order of the records.
func TestJoinExact(t *testing.T) {
	rng := rand.New(rand.NewSource(3))
	threads := []string{"http-nio-8080-exec-1", "http-nio-8080-exec-2", "worker"}
	var reqs []Request
	for i := 0; i < 300; i++ {
		start := int64(rng.Intn(1_000_000_000))
		reqs = append(reqs, Request{ID: strings.Repeat("r", 1+i%3), Thread: threads[rng.Intn(3)], Start: start, End: start + int64(rng.Intn(50_000_000))})
	}
	var recs []record.Record
	for i := 0; i < 5000; i++ {
		recs = append(recs, record.Record{JavaThread: threads[rng.Intn(len(threads))], Time: int64(rng.Intn(1_050_000_000)), LatencyNs: uint64(rng.Intn(20_000_000))})
	}
	recs = append(recs, record.Record{JavaThread: "not in the app log", Time: 5, LatencyNs: 5})
	j := NewJoin(reqs)
	for _, i := range rng.Perm(len(recs)) {
		j.Add(&recs[i])
	}
	for i := range reqs {
		r := &reqs[i]
		var want, n uint64
		for k := range recs {
			rec := &recs[k]
			if rec.JavaThread != r.Thread {
				continue
			}
			lo, hi := max(rec.Time-int64(rec.LatencyNs), r.Start), min(rec.Time, r.End)
			if hi > lo {
				want += uint64(hi - lo)
				n++
			}
		}
		if r.WaitNs != want || r.Waits != n {
			t.Fatalf("request %d on %s [%d, %d]: wait %d over %d waits, want %d over %d", i, r.Thread, r.Start, r.End, r.WaitNs, r.Waits, want, n)
		}
	}
	if m, all := j.Matched(); m != 3 || all != 3 {
		t.Errorf("matched %d of %d thread names, want 3 of 3", m, all)
	}
	s := SummarizeRequests(reqs, j, 30*time.Millisecond, time.Millisecond, 5)
	if len(s.Top) != 5 || s.Top[0].WaitNs < s.Top[4].WaitNs {
		t.Errorf("top: %+v", s.Top)
	}
	over, waited := 0, 0
	for i := range reqs {
		if reqs[i].Duration() > 30*time.Millisecond {
			over++
			if reqs[i].WaitNs >= uint64(time.Millisecond) {
				waited++
			}
		}
	}
	if s.OverSLO != over || s.OverSLOWaited != waited {
		t.Errorf("over SLO %d (%d waited), want %d (%d)", s.OverSLO, s.OverSLOWaited, over, waited)
	}
}

func TestParseAppTime(t *testing.T) {
	want := time.Date(2026, 11, 25, 12, 36, 45, 123000000, time.UTC).UnixNano()
	for _, s := range []string{
		"2026-11-25T12:36:45.123Z", "2026-11-25T13:36:45.123+01:00", "2026-11-25 13:36:45.123+01:00",
		"25/Nov/2026:13:36:45.123 +0100", "[25/Nov/2026:13:36:45.123 +0100]",
		fmt.Sprintf("%d.123", want/1e9), fmt.Sprintf("%d.000", want/1e6), strconv.FormatInt(want/1e6, 10),
		strconv.FormatInt(want/1e3, 10), strconv.FormatInt(want, 10),
	} {
		got, err := ParseAppTime(s)
		if err != nil || got != want {
			t.Errorf("ParseAppTime(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-11-25 13:36:45"} {
		if _, err := ParseAppTime(bad); err == nil {
			t.Errorf("ParseAppTime(%q): no error (a time without a zone is ambiguous)", bad)
		}
	}
}

func TestReadAppLog(t *testing.T) {
	csvLog := "id,thread,start,duration_ms,extra\n" +
		"a,http-nio-8080-exec-1,2026-11-25T12:00:00Z,12.5,x\n" +
		"b,http-nio-8080-exec-2,not a time,3,x\n" +
		"c,\"odd, name\",2026-11-25T12:00:01Z,1,x\n" +
		"d,http-nio-8080-exec-1,2026-11-25T12:00:02Z,,x\n"
	var bad []int
	reqs, err := ReadAppLog(strings.NewReader(csvLog), AppColumns{}, func(e *record.RowError) error { bad = append(bad, e.Line); return nil })
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) != 2 || reqs[0].ID != "a" || reqs[0].End-reqs[0].Start != int64(12500*time.Microsecond) || reqs[1].Thread != "odd, name" {
		t.Errorf("requests %+v", reqs)
	}
	if len(bad) != 2 || bad[0] != 3 || bad[1] != 5 {
		t.Errorf("bad lines %v, want [3 5]", bad)
	}
	jsonLog := `{"req":"x1","t":"main","end":"25/Nov/2026:13:00:00 +0100","ms":"250ms"}` + "\n{broken\n"
	cols := AppColumns{Thread: "t", End: "end", Duration: "ms", ID: "req"}
	bad = nil
	reqs, err = ReadAppLog(strings.NewReader(jsonLog), cols, func(e *record.RowError) error { bad = append(bad, e.Line); return nil })
	if err != nil || len(reqs) != 1 || reqs[0].ID != "x1" || reqs[0].End-reqs[0].Start != int64(250*time.Millisecond) || len(bad) != 1 || bad[0] != 2 {
		t.Errorf("JSON lines: %+v, bad %v, err %v", reqs, bad, err)
	}
	if _, err := ReadAppLog(strings.NewReader("a,b\n1,2\n"), AppColumns{}, nil); err == nil || !strings.Contains(err.Error(), "--app-thread") {
		t.Errorf("no thread column: %v", err)
	}
}
