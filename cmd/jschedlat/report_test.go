package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/report"
	"github.com/jschedlat/jschedlat/runmeta"
)

// writeRecords writes n records of two threads of one pool as CSV.
func writeRecords(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := record.NewWriter(f, "csv")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano()
	for i := 0; i < n; i++ {
		r := record.Record{Time: base + int64(i)*int64(time.Millisecond), Kind: "wakeup", LatencyNs: uint64(1000 * (i + 1)),
			Pid: 10, Tid: uint32(11 + i%2), Comm: "exec", JavaThread: []string{"http-nio-8080-exec-1", "http-nio-8080-exec-2"}[i%2],
			NameSource: "dump", PrevComm: "swapper/0"}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// Malformed rows are reported with file and line and skipped; --strict
// stops at the first; good rows of every file count.
func TestReportBadRows(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.csv")
	writeRecords(t, good, 100)
	b, _ := os.ReadFile(good)
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	// Line 3: a bad latency; line 6: a missing field; line 9: a bad time.
	lines[2] = strings.Replace(lines[2], ",wakeup,", ",wakeup,x", 1)
	lines[5] = lines[5][:strings.LastIndex(lines[5], ",")]
	lines[8] = "yesterday" + lines[8][strings.Index(lines[8], ","):]
	bad := filepath.Join(dir, "bad.csv")
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stderr := runBin(t, "report", "--format", "json", "-o", filepath.Join(dir, "r.json"), good, bad)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, line := range []string{"line=3", "line=6", "line=9"} {
		if !strings.Contains(stderr, "bad.csv") || !strings.Contains(stderr, line) {
			t.Errorf("stderr does not name bad.csv %s:\n%s", line, stderr)
		}
	}
	var out struct {
		Records uint64 `json:"records"`
		Pools   []struct {
			Name  string `json:"name"`
			Count uint64 `json:"count"`
		} `json:"pools"`
	}
	jb, err := os.ReadFile(filepath.Join(dir, "r.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(jb, &out); err != nil {
		t.Fatal(err)
	}
	if out.Records != 197 || len(out.Pools) != 1 || out.Pools[0].Name != "http-nio-8080-exec-*" || out.Pools[0].Count != 197 {
		t.Errorf("report: %+v, want 197 records in pool http-nio-8080-exec-*", out)
	}
	code, stderr = runBin(t, "report", "--strict", "-o", filepath.Join(dir, "r.txt"), bad)
	if code == 0 || !strings.Contains(stderr, "bad.csv:3:") {
		t.Errorf("--strict: exit %d, stderr %q; want an error at bad.csv:3", code, stderr)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", filepath.Join(dir, "missing.csv")}, "no such file"},
		{[]string{"report", "--format", "xml", good}, "unknown --format"},
		{[]string{"report", "--pool", "(=>x", good}, "--pool"},
		{[]string{"report", "/etc/hostname"}, "not a jschedlat records file"},
	} {
		code, stderr := runBin(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want one line with %q", c.args, code, stderr, c.want)
		}
	}
}

// The text report of a real run names the pools and threads.
func TestReportText(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeRecords(t, in, 10)
	out, err := exec.Command(binary(t), "report", in).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10 waits", "http-nio-8080-exec-*", "http-nio-8080-exec-2", "[swapper/0]", "per CPU", "over time"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// The profile opens in go tool pprof: the waits of a thread sit under its
// pool and thread pseudo-frames and the Java stack of the dump nearest in
// time; a thread no dump saw is there without a stack.
func TestReportPprof(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	w, _ := record.NewWriter(f, "csv")
	// The dump's timestamp line says 2026-11-25 13:36:45 (read as UTC).
	at := time.Date(2026, 11, 25, 13, 36, 46, 0, time.UTC).UnixNano()
	for i, r := range []record.Record{
		{Kind: "wakeup", LatencyNs: 3_000_000, Tid: 0x1273, Comm: "order-matcher-1", JavaThread: "order-matcher-1"},
		{Kind: "preempt", LatencyNs: 5_000_000, Tid: 0x1273, Comm: "order-matcher-1", JavaThread: "order-matcher-1"},
		{Kind: "wakeup", LatencyNs: 7_000_000, Tid: 999, Comm: "http-nio-8080-e", JavaThread: "http-nio-8080-exec-1"},
	} {
		r.Time, r.Pid = at+int64(i), 4703
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	f.Close()
	prof := filepath.Join(dir, "waits.pb.gz")
	code, stderr := runBin(t, "report", "-o", os.DevNull, "--pprof", prof, "--dumps", "../../testdata/dumps/hotspot/jdk17-jstack-4703.txt", "--tz", "UTC", in)
	if code != 0 {
		t.Fatalf("report --pprof: exit %d: %s", code, stderr)
	}
	out, err := exec.Command(gobin, "tool", "pprof", "-top", "-sample_index=runq_delay", "-unit=ms", prof).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -top: %v\n%s", err, out)
	}
	for _, want := range []string{"15ms total", "thread: order-matcher-1", "pool: order-matcher-*", "java.lang.Thread.sleep", "Named.sleepForever",
		"thread: http-nio-8080-exec-1", "(no thread dump saw this thread)", "(stack from the thread dump at 13:36:45 UTC, within 1 s of the wait: not where it waited)"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pprof -top lacks %q:\n%s", want, out)
		}
	}
	// The dump's frames are not the leaf: the pseudo-frame naming the dump
	// is, so -top's flat column does not read as where the thread waited.
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "java.lang.Thread.sleep") && !strings.HasPrefix(strings.TrimSpace(l), "0 ") {
			t.Errorf("pprof -top: Thread.sleep has flat time (it reads as where the thread waited): %q", l)
		}
	}
	out, err = exec.Command(gobin, "tool", "pprof", "-tags", "-sample_index=waits", prof).CombinedOutput()
	if err != nil {
		t.Fatalf("go tool pprof -tags: %v\n%s", err, out)
	}
	for _, want := range []string{"kind", "preempt", "state", "TIMED_WAITING", "pool", "thread"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("pprof -tags lacks %q:\n%s", want, out)
		}
	}
	checkPprofHTTP(t, gobin, prof, "order-matcher-1", "Named.sleepForever")
}

// checkPprofHTTP serves the profile with `go tool pprof -http` and checks
// that its top and flame graph pages load and name want.
func checkPprofHTTP(t *testing.T, gobin, prof string, want ...string) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	cmd := exec.Command(gobin, "tool", "pprof", "-no_browser", "-http="+addr, prof)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// `go tool` runs pprof as a child: stop the whole process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	for _, page := range []string{"/ui/top", "/ui/flamegraph"} {
		var body []byte
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err := client.Get("http://" + addr + page)
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil && resp.StatusCode != 200 {
					err = fmt.Errorf("HTTP %s", resp.Status)
				}
			}
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("go tool pprof -http: %s: %v\n%s", page, err, out.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		for _, w := range want {
			if !bytes.Contains(body, []byte(w)) {
				t.Errorf("go tool pprof -http %s lacks %q", page, w)
			}
		}
	}
}

// The app join: each request gets exactly the overlap of its thread's
// waits with its window; the summary counts slow requests that waited; an
// app log whose threads match nothing says so.
func TestReportAppLog(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeRecords(t, in, 100) // waits of (i+1) µs ending at 12:00:00 + i ms, threads exec-1/exec-2 alternating
	app := filepath.Join(dir, "requests.csv")
	// r1 on exec-1 covers records 0..9 wholly (even i: 0,2,4,6,8 on exec-1);
	// r2 on exec-2 starts inside record 1's wait.
	log := "id,thread,start,end\n" +
		"r1,http-nio-8080-exec-1,2026-11-25T11:59:59.9Z,2026-11-25T12:00:00.0095Z\n" +
		"r2,http-nio-8080-exec-2,2026-11-25T12:00:00.000999Z,2026-11-25T12:00:00.0035Z\n" +
		"r3,nobody,2026-11-25T12:00:00.000Z,2026-11-25T12:00:01.000Z\n" +
		"bad,http-nio-8080-exec-1,never,2026-11-25T12:00:01Z\n"
	if err := os.WriteFile(app, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "req.csv")
	code, stderr := runBin(t, "report", "-o", filepath.Join(dir, "r.txt"), "--app-log", app, "--app-out", out, "--slo", "5ms", "--runq-threshold", "1us",
		"--traced", "2026-11-25T11:59:59Z,2026-11-25T12:00:02Z", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stderr, "line=5") {
		t.Errorf("the bad app-log row is not reported with its line: %s", stderr)
	}
	got := readAnnotated(t, out)
	// r1: waits of 1, 3, 5, 7, 9 µs (records 0, 2, 4, 6, 8): 25 µs.
	// r2: record 1 (2 µs, from 11:59:59.999998 to 12:00:00.001000...) ends at
	// 12:00:00.001, so its overlap is 1 µs; record 3 (4 µs) ends at .003: all of it.
	for id, want := range map[string]string{"r1": "25000", "r2": "5000", "r3": "0"} {
		if got[id]["runq_wait_ns"] != want || got[id]["traced"] != "yes" {
			t.Errorf("request %s: %v, want runq_wait_ns %s, traced", id, got[id], want)
		}
	}
	text, _ := os.ReadFile(filepath.Join(dir, "r.txt"))
	if !strings.Contains(string(text), "application requests: 3, on 3 threads, 2 of them seen in the records") ||
		!strings.Contains(string(text), "2 traced requests slower than the SLO (5ms); 1 of those waited >= 1µs in the run queue") ||
		!strings.Contains(string(text), "from --traced") {
		t.Errorf("report text:\n%s", text)
	}
	// --match picks the tables' threads, not the waits of the requests.
	code, stderr = runBin(t, "report", "-o", os.DevNull, "--app-log", app, "--app-out", out, "--match", "^exec-2$",
		"--traced", "2026-11-25T11:59:59Z,2026-11-25T12:00:02Z", in)
	if got := readAnnotated(t, out); code != 0 || got["r1"]["runq_wait_ns"] != "25000" {
		t.Errorf("with --match: exit %d, r1 %v (%s)", code, got["r1"], stderr)
	}
	none := filepath.Join(dir, "none.csv")
	os.WriteFile(none, []byte("id,thread,start,duration_ms\nx,somebody,2026-11-25T12:00:00Z,5\n"), 0o644)
	code, stderr = runBin(t, "report", "-o", os.DevNull, "--app-log", none, "--app-out", filepath.Join(dir, "n.csv"), in)
	if code != 0 || !strings.Contains(stderr, "no thread name of the app log appears in the records") {
		t.Errorf("unmatched app log: exit %d, stderr %s", code, stderr)
	}
}

// The trace is valid trace-event JSON: a named track per thread, a slice
// per wait (µs, to the ns), and each request as an async begin/end pair.
func TestReportTrace(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeRecords(t, in, 50)
	app := filepath.Join(dir, "requests.jsonl")
	os.WriteFile(app, []byte(`{"id":"q1","thread":"http-nio-8080-exec-1","start":"2026-11-25T12:00:00Z","duration_ms":10}`+"\n"), 0o644)
	trace := filepath.Join(dir, "trace.json")
	code, stderr := runBin(t, "report", "-o", os.DevNull, "--trace", trace, "--app-log", app, "--app-out", filepath.Join(dir, "q.csv"), in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		OtherData struct {
			Zero string `json:"ts_zero_utc"`
		} `json:"otherData"`
		TraceEvents []struct {
			Ph   string          `json:"ph"`
			Name string          `json:"name"`
			Tid  uint32          `json:"tid"`
			Ts   float64         `json:"ts"`
			Dur  float64         `json:"dur"`
			Args json.RawMessage `json:"args"`
		} `json:"traceEvents"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	if doc.OtherData.Zero != "2026-11-24T00:00:00Z" {
		t.Errorf("ts_zero_utc %q, want 2026-11-24T00:00:00Z", doc.OtherData.Zero)
	}
	count := map[string]int{}
	for _, e := range doc.TraceEvents {
		count[e.Ph]++
		if e.Ph == "X" && e.Tid == 11 && e.Dur == 1 {
			// Record 0: a 1 µs wait ending at 12:00:00 exactly.
			// Since ts_zero_utc, midnight of the day before.
			if want := float64(36*time.Hour/time.Microsecond - 1); e.Ts != want {
				t.Errorf("first wait at %f µs, want %f", e.Ts, want)
			}
		}
	}
	if count["M"] != 2 || count["X"] != 50 || count["b"] != 1 || count["e"] != 1 {
		t.Errorf("events by phase %v, want 2 thread names, 50 waits, 1 request", count)
	}
}

// --html writes one page holding the tables and the drawing data; a path
// that cannot be written is a one-line error and a non-zero exit.
func TestReportHTML(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeRecords(t, in, 200)
	app := filepath.Join(dir, "requests.csv")
	os.WriteFile(app, []byte("id,thread,start,duration_ms\nq1,http-nio-8080-exec-1,2026-11-25T12:00:00.000Z,10\n"), 0o644)
	page := filepath.Join(dir, "r.html")
	code, stderr := runBin(t, "report", "-o", os.DevNull, "--html", page, "--app-log", app, "--app-out", filepath.Join(dir, "q.csv"), "--slo", "5ms", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<title>jschedlat report: 200 run-queue waits</title>", "http-nio-8080-exec-*", `"requests":{"total":1`, "const DATA = {",
		`<div class="card">not traced<b>0</b></div>`, `<div class="card">traced<b>1</b></div>`, "Running when the wait ended", "records, guessed"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("page lacks %q", want)
		}
	}
	code, stderr = runBin(t, "report", "-o", os.DevNull, "--html", filepath.Join(dir, "no", "such", "dir", "r.html"), in)
	if code == 0 || !strings.Contains(stderr, "--html") || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
		t.Errorf("unwritable --html: exit %d, stderr %q", code, stderr)
	}
}

// readAnnotated reads an --app-out file by request id, each row by column.
func readAnnotated(t *testing.T, path string) map[string]map[string]string {
	t.Helper()
	rows, err := readCSVFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]map[string]string{}
	for _, m := range rows {
		out[m["id"]] = m
	}
	return out
}

// The acceptance recording's app log, extended by an hour of requests on
// both sides of the run (as an application that logs all day does): the
// slow requests that waited are counted among those the run traced alone,
// and equal the ground truth (the app's own schedstat run-queue time);
// the requests outside the run are "not traced", never "did not wait".
func TestReportAppLogBeyondRun(t *testing.T) {
	dir := t.TempDir()
	records := filepath.Join(dir, "records.csv.gz")
	src, err := os.ReadFile(acceptanceFile(t, "records.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(records, src, 0o644)
	truth, err := readAppTruth(acceptanceFile(t, "app.csv.gz"))
	if err != nil {
		t.Fatal(err)
	}
	// The run: the recording's first to last record (its sidecar was not
	// kept; this is within the run's own span).
	var first, last int64
	n := 0
	copyRecords(t, records, filepath.Join(dir, "scan.csv"), func(r *record.Record) bool {
		if n == 0 || r.Time < first {
			first = r.Time
		}
		last = max(last, r.Time)
		n++
		return false
	})
	// A threshold that splits the slow requests of the recording (at 1 ms
	// all of them waited).
	const slo, threshold = 6 * time.Millisecond, 5 * time.Millisecond
	var inside, insideSlow, insideWaited, straddle int
	for _, r := range truth {
		switch {
		case r.start >= first && r.end <= last:
			inside++
			if time.Duration(r.end-r.start) > slo {
				insideSlow++
				if time.Duration(r.runqNs) >= threshold {
					insideWaited++
				}
			}
		case r.end >= first && r.start <= last:
			straddle++
		}
	}
	// An hour of slow requests before and after, on the same threads.
	ext := append([]appRequest(nil), truth...)
	added := 0
	for i := 0; i < 3600; i++ {
		for _, at := range []int64{first - int64(time.Hour) + int64(i)*int64(time.Second), last + int64(time.Second) + int64(i)*int64(time.Second)} {
			added++
			ext = append(ext, appRequest{id: fmt.Sprintf("x-%d", added), thread: fmt.Sprintf("http-nio-8080-exec-%d", 1+i%4), start: at, end: at + int64(20*time.Millisecond)})
		}
	}
	appLog := filepath.Join(dir, "app.csv")
	if err := writeAppLog(appLog, ext); err != nil {
		t.Fatal(err)
	}
	outside := len(truth) - inside - straddle + added
	t.Logf("%d requests: %d inside the run (%d slow, %d of them waited >= %s by the ground truth), %d straddle its edges, %d outside",
		len(ext), inside, insideSlow, insideWaited, threshold, straddle, outside)

	check := func(name string, wantSource string) {
		t.Helper()
		jsonOut, annotated := filepath.Join(dir, name+".json"), filepath.Join(dir, name+".runq.csv")
		code, stderr := runBin(t, "report", records, "--format", "json", "-o", jsonOut, "--app-log", appLog, "--slo", slo.String(),
			"--runq-threshold", threshold.String(), "--app-out", annotated)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", name, code, stderr)
		}
		if guessed := strings.Contains(stderr, "GUESSED"); guessed != (wantSource == string(report.SpanFromRecords)) {
			t.Errorf("%s: warning of a guessed span: %t; stderr:\n%s", name, guessed, stderr)
		}
		var rep struct {
			Requests struct {
				Span          []struct{ From, To time.Time } `json:"traced_span"`
				From          string                         `json:"traced_span_from"`
				Traced        int                            `json:"traced"`
				Partly        int                            `json:"partly_traced"`
				NotTraced     int                            `json:"not_traced"`
				OverSLO       int                            `json:"over_slo"`
				OverSLOWaited int                            `json:"over_slo_with_runq_wait"`
				NotJudged     int                            `json:"over_slo_not_traced"`
			} `json:"requests"`
		}
		b, _ := os.ReadFile(jsonOut)
		if err := json.Unmarshal(b, &rep); err != nil {
			t.Fatal(err)
		}
		rq := rep.Requests
		t.Logf("%s: %+v", name, rq)
		if rq.From != wantSource || len(rq.Span) != 1 || rq.Span[0].From.UnixNano() != first || rq.Span[0].To.UnixNano() != last {
			t.Errorf("%s: span %+v from %q, want %s to %s from %q", name, rq.Span, rq.From, record.FormatTime(first), record.FormatTime(last), wantSource)
		}
		if rq.Traced != inside || rq.Partly != straddle || rq.NotTraced != outside {
			t.Errorf("%s: traced %d, partly %d, not %d; want %d, %d, %d", name, rq.Traced, rq.Partly, rq.NotTraced, inside, straddle, outside)
		}
		if rq.OverSLO != insideSlow || rq.OverSLOWaited != insideWaited {
			t.Errorf("%s: %d slow, %d of them waited; the ground truth inside the run: %d, %d", name, rq.OverSLO, rq.OverSLOWaited, insideSlow, insideWaited)
		}
		if rq.NotJudged < added {
			t.Errorf("%s: %d slow requests not traced, want at least the %d added", name, rq.NotJudged, added)
		}
		ann := readAnnotated(t, annotated)
		for _, id := range []string{"x-1", fmt.Sprint("x-", added)} {
			if m := ann[id]; m["traced"] != "no" || m["runq_wait_ns"] != "" {
				t.Errorf("%s: request %s outside the run: %v, want traced=no and no wait", name, id, m)
			}
		}
	}
	check("guessed", string(report.SpanFromRecords))
	// The run's own span, as attach writes it beside its output.
	for _, l := range []runmeta.Line{{Event: "start", Run: "r1", TimeNs: first, MinLatencyNs: 0}, {Event: "stop", Run: "r1", TimeNs: last}} {
		if err := runmeta.Append(runmeta.Sidecar(records), l); err != nil {
			t.Fatal(err)
		}
	}
	check("sidecar", string(report.SpanFromRuns))

	// Text: the not traced requests are named as such.
	out, err := exec.Command(binary(t), "report", records, "--app-log", appLog, "--slo", slo.String(), "--runq-threshold", threshold.String(), "--app-out", filepath.Join(dir, "t.csv")).Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{fmt.Sprintf("%d not traced", outside), fmt.Sprintf("%d traced requests slower than the SLO (6ms); %d of those waited", insideSlow, insideWaited), "from run metadata"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
}

// Inputs report cannot use are refused with one line saying what to do.
func TestReportInputChecks(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeRecords(t, in, 10)
	events := filepath.Join(dir, "events.jsonl")
	os.WriteFile(events, []byte(`{"format":"jschedlat-events","version":1,"pid":42,"start":"2026-11-25T12:00:00.000000000Z","min_latency_ns":0,"kinds":"wakeup","clock_err_ns":100}`+"\n"+
		`{"ktime":1,"time":1795651680563295207,"kind":"wakeup","latency":5,"cpu":0,"queued_cpu":0,"pid":42,"tid":43,"comm":"java","prev_pid":0,"prev_tid":0,"prev_comm":"swapper/0"}`+"\n"), 0o644)
	app := filepath.Join(dir, "app.csv")
	os.WriteFile(app, []byte("thread,start,end,duration_ms\nhttp-nio-8080-exec-1,2026-11-25T12:00:00.000Z,2026-11-25T12:00:01.000Z,7\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", events}, "is an events file (--save-events), not records: name its threads with 'jschedlat replay"},
		{[]string{"report", in, events}, "events file"},
		{[]string{"report", "--slo", "5ms", in}, "--slo judges the requests of an application log: give --app-log FILE too"},
		{[]string{"report", "--traced", "2026-11-25T12:00:00Z,2026-11-25T12:00:01Z", in}, "--traced judges the requests"},
		{[]string{"report", "--app-log", app, "--traced", "yesterday,today", in}, "--traced \"yesterday,today\": want FROM,TO in RFC 3339"},
		{[]string{"report", "--app-log", app, in}, "disagree"},
		{[]string{"report", "--app-log", app, "--app-pattern", "%t %I %D", in}, "--app-duration-unit"},
	} {
		code, stderr := runBin(t, c.args...)
		if code == 0 || !strings.Contains(stderr, c.want) || strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
			t.Errorf("%v: exit %d, stderr %q; want one line with %q", c.args, code, stderr, c.want)
		}
	}
}

// --format json: each pool with its number of threads, as the text table.
func TestReportJSONPoolThreads(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.csv")
	writeRecords(t, in, 10)
	out, err := exec.Command(binary(t), "report", "--format", "json", in).Output()
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Pools []struct {
			Name    string `json:"name"`
			Threads int    `json:"threads"`
		} `json:"pools"`
	}
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Pools) != 1 || rep.Pools[0].Name != "http-nio-8080-exec-*" || rep.Pools[0].Threads != 2 {
		t.Errorf("pools %+v, want http-nio-8080-exec-* with 2 threads", rep.Pools)
	}
}

// Rotated record files and their run metadata: the report's span is the
// run's, as far as the files given cover it.
func TestReportRotatedSpan(t *testing.T) {
	dir := t.TempDir()
	base := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return base.Add(time.Duration(s * float64(time.Second))) }
	// One record a second on http-nio-8080-exec-1 from 11 s to 99 s of a
	// run that traced from 10 s to 100 s into records.csv, rotated at 40 s
	// and 70 s: records-<9 s>.csv (opened before tracing started),
	// records-<40 s>.csv, and records.csv (opened at 70 s). Records land
	// in a file a few seconds after their wait, so each file starts a
	// little before its opening.
	write := func(name string, from, to int) string {
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		w, _ := record.NewWriter(f, "csv")
		for i := from; i < to; i++ {
			w.Write(&record.Record{Time: at(float64(i)).UnixNano(), Kind: "wakeup", LatencyNs: 1000, Pid: 10, Tid: 11, Comm: "exec", JavaThread: "http-nio-8080-exec-1", NameSource: "dump"})
		}
		w.Flush()
		f.Close()
		return path
	}
	rot := func(s float64) string { return "records-" + at(s).UTC().Format(runmeta.RotatedLayout) + ".csv" }
	f1, f2, cur := write(rot(9), 11, 38), write(rot(40), 38, 68), write("records.csv", 68, 100)
	for _, l := range []runmeta.Line{{Event: "start", Run: "a", TimeNs: at(10).UnixNano()}, {Event: "stop", Run: "a", TimeNs: at(100).UnixNano()}} {
		runmeta.Append(filepath.Join(dir, "records.csv"+runmeta.Suffix), l)
	}
	app := filepath.Join(dir, "app.csv")
	var b strings.Builder
	b.WriteString("id,thread,start,end\n")
	for i := 0; i < 110; i += 5 {
		fmt.Fprintf(&b, "r%d,http-nio-8080-exec-1,%s,%s\n", i, at(float64(i)).Format(time.RFC3339Nano), at(float64(i)+0.5).Format(time.RFC3339Nano))
	}
	os.WriteFile(app, []byte(b.String()), 0o644)
	for _, c := range []struct {
		name  string
		files []string
		from  time.Time
		to    time.Time
	}{
		{"all files", []string{f1, f2, cur}, at(10), at(100)},
		{"the current file only", []string{cur}, at(68), at(100)},
		{"the first file only", []string{f1}, at(10), at(37)},
	} {
		args := append([]string{"report", "--format", "json", "--app-log", app, "--app-out", filepath.Join(dir, "q.csv")}, c.files...)
		cmd := exec.Command(binary(t), args...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", c.name, err, stderr.String())
		}
		var rep struct {
			Requests struct {
				Span []struct{ From, To time.Time } `json:"traced_span"`
				From string                         `json:"traced_span_from"`
			} `json:"requests"`
		}
		json.Unmarshal(out, &rep)
		sp := rep.Requests.Span
		if rep.Requests.From != "run metadata" || len(sp) != 1 || !sp[0].From.Equal(c.from) || !sp[0].To.Equal(c.to) || strings.Contains(stderr.String(), "GUESSED") {
			t.Errorf("%s: span %+v from %q, want %s to %s from run metadata; stderr %s", c.name, sp, rep.Requests.From, c.from, c.to, stderr.String())
		}
	}
}
