package report

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image/png"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/record"
)

// synthRecords makes n records over span on threads in pools; the first
// pool's thread 1 waits much longer (a contended thread to find).
func synthRecords(n int, span time.Duration, seed int64) []record.Record {
	rng := rand.New(rand.NewSource(seed))
	t0 := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano()
	kinds := []string{"wakeup", "preempt", "yield"}
	out := make([]record.Record, n)
	for i := range out {
		pool, th := rng.Intn(5), 1+rng.Intn(8)
		lat := uint64(1000 + rng.ExpFloat64()*50e3)
		if pool == 0 && th == 1 {
			lat *= 40
		}
		out[i] = record.Record{
			Time: t0 + rng.Int63n(int64(span)), CPU: uint32(rng.Intn(4)), QueuedCPU: uint32(rng.Intn(4)),
			Kind: kinds[rng.Intn(3)], LatencyNs: lat, Pid: 100, Tid: uint32(200 + pool*10 + th),
			Comm: fmt.Sprintf("pool-%d-%d", pool, th), JavaThread: fmt.Sprintf("pool-%d-worker-%d", pool, th),
			PrevComm: "C2 CompilerThre", PrevJavaThread: "C2 CompilerThread0",
		}
	}
	return out
}

// Every bin holds exactly the run-queue time that fell inside it, however
// often the width doubled, and no row exceeds MaxBins.
func TestTimelineExact(t *testing.T) {
	for _, span := range []time.Duration{50 * time.Millisecond, 3 * time.Second, 10 * time.Minute} {
		recs := synthRecords(20000, span, 2)
		tl := NewTimeline(300)
		for i := range recs {
			tl.Add(&recs[i])
		}
		lo, hi, ok := tl.Range()
		if !ok || hi-lo+1 > 300 {
			t.Fatalf("span %s: %d bins", span, hi-lo+1)
		}
		w := tl.Width()
		want := map[string][]Bin{}
		for i := range recs {
			r := &recs[i]
			bins := want[ThreadLabel(r)]
			if bins == nil {
				bins = make([]Bin, hi-lo+1)
				want[ThreadLabel(r)] = bins
			}
			s, e := r.Time-int64(r.LatencyNs), r.Time
			for b := lo; b <= hi; b++ {
				if o := min(e, (b+1)*w) - max(s, b*w); o > 0 {
					bins[b-lo].WaitNs += uint64(o)
					bins[b-lo].MaxNs = max(bins[b-lo].MaxNs, r.LatencyNs)
				}
			}
			bins[e/w-lo].Ended++
		}
		for label, bins := range want {
			got := tl.Row(label)
			for i := range bins {
				if got[i] != bins[i] {
					t.Fatalf("span %s width %d: %s bin %d: %+v, want %+v", span, w, label, i, got[i], bins[i])
				}
			}
		}
		t.Logf("span %s: width %s, %d bins", span, time.Duration(w), hi-lo+1)
	}
}

func synthRequests(recs []record.Record, n int, seed int64) []Request {
	rng := rand.New(rand.NewSource(seed))
	t0, t1 := recs[0].Time, recs[0].Time
	for i := range recs {
		t0, t1 = min(t0, recs[i].Time), max(t1, recs[i].Time)
	}
	reqs := make([]Request, n)
	for i := range reqs {
		pool, th := rng.Intn(5), 1+rng.Intn(8)
		start := t0 + rng.Int63n(t1-t0)
		reqs[i] = Request{ID: fmt.Sprintf("req-%d", i), Thread: fmt.Sprintf("pool-%d-worker-%d", pool, th),
			Start: start, End: start + int64(2e6+rng.ExpFloat64()*3e6), Line: i + 2}
	}
	return reqs
}

// buildPage runs records (and requests) through the report and the
// timeline as the command does, and returns the page.
func buildPage(t testing.TB, recs []record.Record, reqs []Request) []byte {
	rp := New(Config{})
	tl := NewTimeline(1000)
	var join *Join
	if reqs != nil {
		join = NewJoin(reqs)
	}
	for i := range recs {
		rp.Add(&recs[i])
		tl.Add(&recs[i])
		if join != nil {
			join.Add(&recs[i])
		}
	}
	s := rp.Summary()
	if join != nil {
		s.Requests = SummarizeRequests(reqs, join, 5*time.Millisecond, time.Millisecond, 10)
	}
	var buf bytes.Buffer
	if err := WriteHTML(&buf, HTMLInput{Summary: s, Timeline: tl, Requests: reqs, SLO: 5 * time.Millisecond, Files: []string{"a.csv"}}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pageData extracts the page's embedded data.
func pageData(t testing.TB, page []byte) htmlData {
	m := regexp.MustCompile(`(?m)^const DATA = (.*);$`).FindSubmatch(page)
	if m == nil {
		t.Fatal("no DATA in the page")
	}
	var d htmlData
	if err := json.Unmarshal(m[1], &d); err != nil {
		t.Fatalf("page data: %v", err)
	}
	return d
}

// The page needs nothing from the network, its drawing data does not grow
// with the records, and what it draws adds up to the records.
func TestHTMLSelfContainedAndBounded(t *testing.T) {
	recs := synthRecords(200000, 30*time.Second, 3)
	page := buildPage(t, recs, synthRequests(recs, 30000, 4))
	for _, bad := range []string{"<script src", "<link", "@import", "url(", "<iframe", "<img", "https://", "src="} {
		if bytes.Contains(page, []byte(bad)) {
			t.Errorf("page contains %q: it must work offline", bad)
		}
	}
	d := pageData(t, page)
	var sumUs, ended float64
	for _, c := range d.All {
		sumUs += c[1]
		ended += c[2]
	}
	var total uint64
	for i := range recs {
		total += recs[i].LatencyNs
	}
	// Cells are rounded to the µs.
	if diff := sumUs - float64(total)/1e3; diff > float64(len(d.All)) || diff < -float64(len(d.All)) {
		t.Errorf("timeline holds %.0f µs of wait, records %d ns", sumUs, total)
	}
	if int(ended) != len(recs) {
		t.Errorf("timeline ends %v waits, records %d", ended, len(recs))
	}
	for _, h := range d.Hists {
		n := h.Zero
		for _, b := range h.Bins {
			n += b[2]
		}
		if n != h.Count || h.Count == 0 {
			t.Errorf("histogram %q draws %d of %d waits", h.Name, n, h.Count)
		}
	}
	var zh Hist
	for _, v := range []uint64{0, 0, 1, 9, 10, 11, 1e6} {
		zh.Add(v)
	}
	if z := logHist("z", &zh); z.Zero != 2 || len(z.Bins) != 4 || z.Bins[0] != [3]uint64{1, 1, 1} || z.Bins[2][2] != 2 {
		t.Errorf("logHist: %+v", z)
	}
	if d.Threads[0].Name != "pool-0-worker-1" || d.Pools[0].Name != "pool-0-worker-*" {
		t.Errorf("first rows %q / %q, want the contended thread and its pool", d.Threads[0].Name, d.Pools[0].Name)
	}
	if d.Requests == nil || d.Requests.Total != 30000 || d.Requests.Shown != htmlRequestDots || len(d.Requests.Points) != htmlRequestDots {
		t.Fatalf("requests: %d total, %d shown, %d dots; want 30000, %d, %d", d.Requests.Total, d.Requests.Shown, len(d.Requests.Points), htmlRequestDots, htmlRequestDots)
	}
	var slowest float64
	for _, b := range d.Requests.MaxByBin {
		slowest = max(slowest, b[1])
	}
	var dotMax float64
	for _, p := range d.Requests.Points {
		dotMax = max(dotMax, p[1])
	}
	if dotMax != slowest {
		t.Errorf("the slowest request (%.3f ms) is not among the dots (max %.3f ms)", slowest, dotMax)
	}

	more := buildPage(t, synthRecords(1000000, 30*time.Second, 5), nil)
	less := buildPage(t, synthRecords(200000, 30*time.Second, 5), nil)
	t.Logf("page: %d bytes for 200k records, %d for 1M", len(less), len(more))
	if float64(len(more)) > 1.2*float64(len(less)) {
		t.Errorf("page grows with the records: %d bytes for 200k, %d for 1M", len(less), len(more))
	}
}

// chromium returns the headless browser, or skips (CI sets
// JSCHEDLAT_REQUIRE_CHROMIUM=1 and installs it, so there it must run).
func chromium(t *testing.T) string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("JSCHEDLAT_REQUIRE_CHROMIUM") != "" {
		t.Fatal("no chromium on PATH, and JSCHEDLAT_REQUIRE_CHROMIUM is set (apt-get install -y chromium)")
	}
	t.Skip("SKIPPED: NO CHROMIUM. The HTML page is checked in headless Chromium: apt-get install -y chromium (CI does).")
	return ""
}

// renderPage loads the page in headless Chromium and returns its DOM after
// the scripts ran and the console messages the page produced.
func renderPage(t *testing.T, browser, page string, extra ...string) (dom string, console []string) {
	args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(), "--enable-logging=stderr", "--v=0", "--window-size=1400,2400"}, extra...)
	args = append(args, "file://"+page)
	cmd := exec.Command(browser, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, stderr.String())
		}
	case <-time.After(2 * time.Minute):
		cmd.Process.Kill()
		t.Fatalf("chromium did not finish in 2 minutes\n%s", stderr.String())
	}
	for _, l := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(l, ":CONSOLE") {
			console = append(console, l)
		}
	}
	return stdout.String(), console
}

// pageProblems says what is wrong with a rendered page ("" = nothing).
func pageProblems(dom string, console []string) string {
	var p []string
	if !strings.Contains(dom, `data-rendered="ok"`) {
		p = append(p, "the page's script did not finish")
	}
	if m := regexp.MustCompile(`data-errors="([0-9]+)"`).FindStringSubmatch(dom); m != nil {
		p = append(p, m[1]+" script errors")
	}
	if len(console) > 0 {
		p = append(p, fmt.Sprintf("console messages: %q", console))
	}
	return strings.Join(p, "; ")
}

// The page renders in headless Chromium without console errors, draws its
// charts, and a screenshot is taken (kept under $JSCHEDLAT_KEEP when set).
// A page with a broken script is caught by the same check.
func TestHTMLInChromium(t *testing.T) {
	testenv.RequireIntegration(t) // a browser, tens of seconds
	browser := chromium(t)
	dir := t.TempDir()
	if keep := os.Getenv("JSCHEDLAT_KEEP"); keep != "" {
		dir = keep
	}
	recs := synthRecords(200000, 20*time.Second, 6)
	page := buildPage(t, recs, synthRequests(recs, 5000, 7))
	path := filepath.Join(dir, "report.html")
	if err := os.WriteFile(path, page, 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	dom, console := renderPage(t, browser, path, "--dump-dom")
	t.Logf("rendered %d-byte page in %s (Chromium start included)", len(page), time.Since(start).Round(time.Millisecond))
	if p := pageProblems(dom, console); p != "" {
		t.Fatalf("%s: %s", path, p)
	}
	if n := strings.Count(dom, "<canvas"); n != 3 {
		t.Errorf("%d canvases drawn, want 3 (all threads, heat map, requests)", n)
	}
	if n := strings.Count(dom, "<figure"); n != 1+3+4 {
		t.Errorf("%d histograms drawn, want 8 (all, 3 kinds, 4 pools)", n)
	}

	shot := filepath.Join(dir, "report.png")
	renderPage(t, browser, path, "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	// The timeline's bars are drawn in blue (#0969da) near the top.
	blue := 0
	b := img.Bounds()
	for y := b.Min.Y; y < min(b.Max.Y, 500); y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 < 40 && g>>8 > 80 && g>>8 < 130 && bl>>8 > 190 {
				blue++
			}
		}
	}
	t.Logf("screenshot %s: %dx%d, %d timeline pixels", shot, b.Dx(), b.Dy(), blue)
	if blue < 10000 {
		t.Errorf("screenshot shows %d timeline pixels: the timeline was not drawn", blue)
	}

	broken := filepath.Join(dir, "broken.html")
	if err := os.WriteFile(broken, bytes.Replace(page, []byte("drawHists();"), []byte("drawHists(); DATA.hists = null; drawHists();"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	dom, console = renderPage(t, browser, broken, "--dump-dom")
	if p := pageProblems(dom, console); p == "" {
		t.Error("a page whose script fails passed the check")
	} else {
		t.Logf("broken page caught: %s", p)
	}
}
