package report

import (
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/runmeta"
)

// Times without a zone (logback's and log4j's default) are read in the
// zone given, and refused without one; times to the second say so.
func TestParseAppTimeZone(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	want := time.Date(2026, 12, 7, 10, 15, 32, 123e6, berlin).UnixNano()
	for _, s := range []string{"2026-12-07 10:15:32.123", "2026-12-07 10:15:32,123", "2026-12-07T10:15:32.123"} {
		got, coarse, err := ParseAppTimeIn(s, berlin)
		if err != nil || got != want || coarse != 0 {
			t.Errorf("ParseAppTimeIn(%q, Berlin) = %d %d %v, want %d exact", s, got, coarse, err, want)
		}
		if _, _, err := ParseAppTimeIn(s, nil); err == nil || !strings.Contains(err.Error(), "--app-tz") {
			t.Errorf("ParseAppTimeIn(%q, nil): %v, want an error naming --app-tz", s, err)
		}
	}
	for s, wantCoarse := range map[string]int64{
		"2026-12-07 10:15:32": int64(time.Second), "[07/Dec/2026:10:15:32 +0000]": int64(time.Second), "2026-12-07T10:15:32Z": int64(time.Second),
		"1796638532": int64(time.Second), "2026-12-07T10:15:32.5Z": 0, "1796638532123": 0, "07/Dec/2026:10:15:32.123 +0000": 0,
	} {
		_, coarse, err := ParseAppTimeIn(s, time.UTC)
		if err != nil || coarse != wantCoarse {
			t.Errorf("ParseAppTimeIn(%q): precision %d, %v; want %d", s, coarse, err, wantCoarse)
		}
	}
}

// Epoch ns in JSON numbers are read exactly (a float64 holds 53 bits).
func TestReadAppLogJSONExact(t *testing.T) {
	log := `{"thread":"main","start":1795651680563295207,"end":1795651680566757441}` + "\n"
	reqs, err := ReadAppLog(strings.NewReader(log), AppColumns{}, nil)
	if err != nil || len(reqs) != 1 || reqs[0].Start != 1795651680563295207 || reqs[0].End != 1795651680566757441 {
		t.Fatalf("%+v %v", reqs, err)
	}
	log = `{"thread":"main","start":1795651680.563295207,"duration_ms":3.462234}` + "\n"
	reqs, err = ReadAppLog(strings.NewReader(log), AppColumns{}, nil)
	if err != nil || len(reqs) != 1 || reqs[0].Start != 1795651680563295207 || reqs[0].End-reqs[0].Start != 3462234 {
		t.Fatalf("decimal seconds: %+v %v", reqs, err)
	}
}

// Only given or unambiguous columns count.
func TestAppColumnsMapping(t *testing.T) {
	const (
		// "end" here is the endpoint: start and duration give the window.
		endpoint = "id,thread,start,end,duration_ms\nq,exec-1,2026-12-07T10:15:32.000Z,/api/orders,12\n"
		// All three, consistent (the acceptance workload's log).
		all3 = "id,thread,start,end,duration_ms\nq,exec-1,1795651680563295207,1795651680566757441,3.462\n"
		// All three, end meaning something else but still a time.
		other = "id,thread,start,end,duration_ms\nq,exec-1,2026-12-07T10:15:32.000Z,2026-12-07T10:20:00.000Z,12\n"
	)
	for _, c := range []struct {
		name, log string
		cols      AppColumns
		wantDur   time.Duration
		wantErr   string
	}{
		{"start+duration given, end ignored", endpoint, AppColumns{Start: "start", Duration: "duration_ms"}, 12 * time.Millisecond, ""},
		{"one given, the other two both there", endpoint, AppColumns{Start: "start"}, 0, "ambiguous"},
		{"none given, end is not a time", endpoint, AppColumns{}, 0, `column "end" is not a time`},
		{"none given, three consistent", all3, AppColumns{}, 3462234, ""},
		{"none given, three inconsistent", other, AppColumns{}, 0, "disagree"},
		{"start+end given on the inconsistent log", other, AppColumns{Start: "start", End: "end"}, 268 * time.Second, ""},
		{"three given", all3, AppColumns{Start: "start", End: "end", Duration: "duration_ms"}, 0, "two of them"},
		{"a given column missing", all3, AppColumns{Start: "begin", Duration: "duration_ms"}, 0, `no column "begin" (--app-start)`},
		{"too few", "thread,start\nx,1795651680563295207\n", AppColumns{}, 0, "needs two of"},
	} {
		reqs, err := ReadAppLog(strings.NewReader(c.log), c.cols, nil)
		if c.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), c.wantErr) {
				t.Errorf("%s: %v, want an error with %q", c.name, err, c.wantErr)
			}
			continue
		}
		if err != nil || len(reqs) != 1 || reqs[0].Duration() != c.wantDur {
			t.Errorf("%s: %+v %v, want duration %s", c.name, reqs, err, c.wantDur)
		}
	}
}

// coarseBounds against a brute force over every ns placement of small
// windows.
func TestCoarseBounds(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	for it := 0; it < 300; it++ {
		p, d := int64(1+rng.Intn(60)), int64(1+rng.Intn(30))
		var waits [][2]int64
		for k := rng.Intn(6); k > 0; k-- {
			a := int64(rng.Intn(int(p + d)))
			b := min(a+1+int64(rng.Intn(20)), p+d)
			waits = append(waits, [2]int64{a, b})
		}
		overlap := func(s int64) int64 {
			var o int64
			for _, w := range waits {
				if hi, lo := min(w[1], s+d), max(w[0], s); hi > lo {
					o += hi - lo
				}
			}
			return o
		}
		lo, hi := int64(1<<62), int64(0)
		for s := int64(0); s <= p; s++ {
			lo = min(lo, overlap(s))
		}
		for _, w := range waits {
			hi += w[1] - w[0]
		}
		if len(waits) == 0 {
			lo = 0
		}
		gl, gh := coarseBounds(waits, p, d)
		if int64(gl) != lo || int64(gh) != hi {
			t.Fatalf("p %d d %d waits %v: bounds %d..%d, want %d..%d", p, d, waits, gl, gh, lo, hi)
		}
	}
}

// A coarse request's wait is a range: the join agrees with coarseBounds,
// and the summary counts it as waited only when even its least wait
// reaches the threshold.
func TestJoinCoarse(t *testing.T) {
	sec := int64(time.Second)
	base := time.Date(2026, 12, 7, 10, 15, 32, 0, time.UTC).UnixNano()
	reqs := []Request{
		// Somewhere in 10:15:32, 20 ms long; one 30 ms wait at .100: the
		// window may miss it (least 0) or hold 20 ms of it.
		{ID: "a", Thread: "t", Start: base, End: base + 20e6, Coarse: sec},
		// 1.5 s long, starting in 10:15:33; a 900 ms wait from 33.3 to
		// 34.2: wherever it starts, it holds at least the 200 ms after 34.0.
		{ID: "b", Thread: "t", Start: base + sec, End: base + sec + 1500e6, Coarse: sec},
	}
	j := NewJoin(reqs)
	for _, r := range []record.Record{
		{JavaThread: "t", Time: base + 130e6, LatencyNs: 30e6},
		{JavaThread: "t", Time: base + sec + 1200e6, LatencyNs: 900e6},
	} {
		j.Add(&r)
	}
	Classify(reqs, []runmeta.Interval{{From: base - sec, To: base + 5*sec}})
	s := SummarizeRequests(reqs, j, 10*time.Millisecond, 5*time.Millisecond, 5)
	if reqs[0].WaitMinNs != 0 || reqs[0].WaitMaxNs != 30e6 {
		t.Errorf("a: %d..%d, want 0..30000000", reqs[0].WaitMinNs, reqs[0].WaitMaxNs)
	}
	if reqs[1].WaitMinNs != 200e6 || reqs[1].WaitMaxNs != 900e6 {
		t.Errorf("b: %d..%d, want 200000000..900000000", reqs[1].WaitMinNs, reqs[1].WaitMaxNs)
	}
	if s.OverSLO != 2 || s.OverSLOWaited != 1 || s.OverSLOUndecided != 1 || s.Coarse != 2 {
		t.Errorf("summary %+v", s)
	}
}

// Wholly, partly, not traced.
func TestClassify(t *testing.T) {
	span := []runmeta.Interval{{From: 100, To: 200}, {From: 300, To: 400}}
	reqs := []Request{
		{Start: 110, End: 190}, {Start: 50, End: 150}, {Start: 150, End: 350}, {Start: 210, End: 290},
		{Start: 0, End: 10}, {Start: 500, End: 600}, {Start: 300, End: 400}, {Start: 390, End: 395, Coarse: 10},
	}
	Classify(reqs, span)
	want := []Traced{TracedWhole, TracedPartly, TracedPartly, TracedNot, TracedNot, TracedNot, TracedWhole, TracedPartly}
	for i := range reqs {
		if reqs[i].Traced != want[i] {
			t.Errorf("request %d [%d, %d]+%d: %s, want %s", i, reqs[i].Start, reqs[i].End, reqs[i].Coarse, reqs[i].Traced, want[i])
		}
	}
	Classify(reqs, nil)
	for i := range reqs {
		if reqs[i].Traced != TracedNot {
			t.Errorf("no span: request %d %s", i, reqs[i].Traced)
		}
	}
}
