package report

import (
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

// Access-log lines as Tomcat's AccessLogValve writes them, read by their
// pattern; --app-regex lines of an application's own log.
func TestAccessLog(t *testing.T) {
	utc := time.UTC
	at := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	for _, c := range []struct {
		name, pattern, regex string
		timeIs               TimeIs
		unit                 time.Duration
		lines                string
		want                 []Request // ID, Thread, Start, End, Coarse
		bad                  []int
	}{
		{
			name: "Tomcat 9 %D ms, %t to the second (start)", pattern: `%h %l %u %t "%r" %s %b %D %I`, timeIs: TimeIsStart, unit: time.Millisecond,
			lines: `127.0.0.1 - - [07/Dec/2026:10:15:32 +0000] "GET /api/orders HTTP/1.1" 200 512 12 http-nio-8080-exec-3
10.1.2.3 - alice [07/Dec/2026:11:15:33 +0100] "POST /api/orders?id=1 2 HTTP/1.1" 201 - 1250 http-nio-8080-exec-10
garbage
`,
			want: []Request{
				{Thread: "http-nio-8080-exec-3", Start: at("2026-12-07T10:15:32Z"), End: at("2026-12-07T10:15:32.012Z"), Coarse: int64(time.Second)},
				{Thread: "http-nio-8080-exec-10", Start: at("2026-12-07T10:15:33Z"), End: at("2026-12-07T10:15:34.250Z"), Coarse: int64(time.Second)},
			},
			bad: []int{3},
		},
		{
			name: "Tomcat 10.1 %D µs, %t read as the end", pattern: `%h %l %u %t "%r" %s %b %D %I`, timeIs: TimeIsEnd, unit: time.Microsecond,
			lines: `127.0.0.1 - - [07/Dec/2026:10:15:32 +0000] "GET /api/orders HTTP/1.1" 200 512 12345 http-nio-8080-exec-3` + "\n",
			want:  []Request{{Thread: "http-nio-8080-exec-3", Start: at("2026-12-07T10:15:31.987655Z"), End: at("2026-12-07T10:15:32Z"), Coarse: int64(time.Second)}},
		},
		{
			name: "Tomcat with milliseconds: %{begin:msec}t and %{ms}T", pattern: `%{begin:msec}t %I "%r" %s %{ms}T`,
			lines: `1796638532123 http-nio-8080-exec-1 "GET / HTTP/1.1" 200 7` + "\n",
			want:  []Request{{Thread: "http-nio-8080-exec-1", Start: at("2026-12-07T10:15:32.123Z"), End: at("2026-12-07T10:15:32.130Z")}},
		},
		{
			name: "SimpleDateFormat time with a zone, %{us}T", pattern: `%a [%{yyyy-MM-dd'T'HH:mm:ss.SSSZ}t] "%r" %s %{us}T %I`,
			lines: `10.0.0.1 [2026-12-07T11:15:32.123+0100] "GET /x HTTP/1.1" 200 2500 worker pool-2-thread-7` + "\n",
			want:  []Request{{Thread: "worker pool-2-thread-7", Start: at("2026-12-07T10:15:32.123Z"), End: at("2026-12-07T10:15:32.1255Z")}},
		},
		{
			name: "seconds and msec_frac, no zone: --app-tz", pattern: `%{end:yyyy-MM-dd HH:mm:ss}t.%{end:msec_frac}t %I %D`, unit: time.Millisecond,
			lines: `2026-12-07 10:15:32.123 http-nio-8080-exec-2 40` + "\n",
			want:  []Request{{Thread: "http-nio-8080-exec-2", Start: at("2026-12-07T10:15:32.083Z"), End: at("2026-12-07T10:15:32.123Z")}},
		},
		{
			name:  "--app-regex on a logback line",
			regex: `^(?P<end>\S+ \S+) \[(?P<thread>[^\]]+)\] \S+ +\S+ - (?P<id>\S+) .* took (?P<duration>\d+) ms$`, unit: time.Millisecond,
			lines: `2026-12-07 10:15:32,123 [http-nio-8080-exec-5] INFO  c.a.OrderController - req-77 GET /api/orders took 12 ms` + "\n",
			want:  []Request{{ID: "req-77", Thread: "http-nio-8080-exec-5", Start: at("2026-12-07T10:15:32.111Z"), End: at("2026-12-07T10:15:32.123Z")}},
		},
	} {
		var lf *LineFormat
		var err error
		if c.regex != "" {
			lf, err = CompileAppRegex(c.regex, c.unit, utc)
		} else {
			lf, err = CompileAccessPattern(c.pattern, c.timeIs, c.unit, utc)
		}
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		var bad []int
		reqs, err := ReadAppLines(strings.NewReader(c.lines), lf, func(e *record.RowError) error { bad = append(bad, e.Line); return nil })
		if err != nil || len(reqs) != len(c.want) || len(bad) != len(c.bad) {
			t.Errorf("%s (%s): %+v, bad %v, %v", c.name, lf.Re, reqs, bad, err)
			continue
		}
		for i, w := range c.want {
			r := reqs[i]
			if r.ID != w.ID || r.Thread != w.Thread || r.Start != w.Start || r.End != w.End || r.Coarse != w.Coarse {
				t.Errorf("%s: request %d = %q %q %s..%s ±%d, want %q %q %s..%s ±%d", c.name, i, r.ID, r.Thread, record.FormatTime(r.Start), record.FormatTime(r.End), r.Coarse,
					w.ID, w.Thread, record.FormatTime(w.Start), record.FormatTime(w.End), w.Coarse)
			}
		}
	}
	for _, c := range []struct{ pattern, regex, want string }{
		{pattern: `%h %t "%r" %s %D %I`, want: "--app-duration-unit"},
		{pattern: `%h %t "%r" %s %b`, want: "thread"},
		{pattern: `%h %t "%r" %I`, want: "two of"},
		{pattern: `%t %I %{minutes}T`, want: "unit"},
		{regex: `(?P<thread>\S+) (?P<when>\S+)`, want: `group "when"`},
		{regex: `(?P<thread>\S+) (?P<start>\S+)`, want: "two of"},
		{regex: `(`, want: "--app-regex"},
	} {
		var err error
		if c.regex != "" {
			_, err = CompileAppRegex(c.regex, time.Millisecond, nil)
		} else {
			_, err = CompileAccessPattern(c.pattern, TimeIsStart, 0, nil)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q%q: %v, want an error with %q", c.pattern, c.regex, err, c.want)
		}
	}
	// A zoneless pattern time without --app-tz: each line says so.
	lf, err := CompileAccessPattern(`%{yyyy-MM-dd HH:mm:ss.SSS}t %I %{ms}T`, TimeIsStart, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = ReadAppLines(strings.NewReader("2026-12-07 10:15:32.123 main 5\n"), lf, nil)
	if err == nil || !strings.Contains(err.Error(), "--app-tz") {
		t.Errorf("zoneless without --app-tz: %v", err)
	}
}

func FuzzParseAppTime(f *testing.F) {
	for _, s := range []string{"2026-11-25T12:36:45.123Z", "[25/Nov/2026:13:36:45 +0100]", "2026-12-07 10:15:32,123", "1795651680563295207", "1795651680.5632", "", "9999999999999999999", "1.", "-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = ParseAppTimeIn(s, time.UTC)
		_, _, _ = ParseAppTimeIn(s, nil)
		_, _ = parseDuration(s, time.Millisecond)
	})
}

func FuzzAccessLog(f *testing.F) {
	f.Add(`%h %l %u %t "%r" %s %b %D %I`, `127.0.0.1 - - [07/Dec/2026:10:15:32 +0000] "GET /api/orders HTTP/1.1" 200 512 12 http-nio-8080-exec-3`)
	f.Add(`%{begin:msec}t %I %{ms}T`, `1796638532123 exec-1 7`)
	f.Add(`%{yyyy-MM-dd'T'HH:mm:ss.SSSXXX}t %I %T`, `2026-12-07T10:15:32.123+01:00 main 0.5`)
	f.Add(`%{end:yyyy-MM-dd HH:mm:ss}t.%{msec_frac}t %I %D`, `2026-12-07 10:15:32.123 x 4`)
	f.Fuzz(func(t *testing.T, pattern, line string) {
		lf, err := CompileAccessPattern(pattern, TimeIsStart, time.Millisecond, time.UTC)
		if err != nil {
			return
		}
		reqs, _ := ReadAppLines(strings.NewReader(line), lf, func(*record.RowError) error { return nil })
		for _, r := range reqs {
			if r.End < r.Start || r.Thread == "" {
				t.Fatalf("request %+v", r)
			}
		}
	})
}

func FuzzReadAppLog(f *testing.F) {
	f.Add("id,thread,start,end,duration_ms\nq,exec-1,1795651680563295207,1795651680566757441,3.462\n")
	f.Add(`{"thread":"main","start":1795651680563295207,"duration_ms":3}` + "\n")
	f.Add("thread,start,duration_ms\nx,2026-12-07 10:15:32.123,1\n")
	f.Fuzz(func(t *testing.T, log string) {
		reqs, _ := ReadAppLog(strings.NewReader(log), AppColumns{TZ: time.UTC}, func(*record.RowError) error { return nil })
		for _, r := range reqs {
			if r.End < r.Start {
				t.Fatalf("request %+v", r)
			}
		}
	})
}
