package main

// End-to-end tests: the real binary traces a real JVM under CPU contention,
// and its output is checked against ground truth: the names and TIDs the
// Java threads report about themselves, and the kernel's own per-thread
// run-queue totals (/proc/<pid>/task/<tid>/schedstat).

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/record"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds the command once per test run.
// TestMain removes what the tests built once for all of them.
func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	if testCache.root != "" {
		os.RemoveAll(testCache.root)
	}
	os.Exit(code)
}

// testCache holds what tests build once per run and only read (compiled
// classes, linked JREs): each build costs seconds of a loaded CPU.
var testCache struct {
	mu   sync.Mutex
	root string
	dirs map[string]string
}

// cached returns the directory build filled for key, building it on first
// use. Each is a directory of its own under a private root (shareDir
// opens a directory's parent to every user: never /tmp itself).
func cached(t *testing.T, key string, build func(dir string) error) string {
	t.Helper()
	testCache.mu.Lock()
	defer testCache.mu.Unlock()
	if d, ok := testCache.dirs[key]; ok {
		return d
	}
	if testCache.root == "" {
		root, err := os.MkdirTemp("", "jschedlat-test-cache")
		if err != nil {
			t.Fatal(err)
		}
		testCache.root, testCache.dirs = root, map[string]string{}
	}
	dir := filepath.Join(testCache.root, strconv.Itoa(len(testCache.dirs)))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := build(dir); err != nil {
		os.RemoveAll(dir)
		t.Fatal(err)
	}
	testCache.dirs[key] = dir
	return dir
}

func binary(t *testing.T) string {
	t.Helper()
	// Every test that runs the tool builds it first: from here on, the BPF
	// objects its runs hold are recorded for testenv.ChildrenGone.
	testenv.WatchChildrenBPF()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "jschedlat-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "jschedlat")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type jdk struct {
	name, java, javac string
	jreOnly           bool // java is a JRE without jcmd/jstack, and PATH holds none
	// defaultBudget runs with the defaults: names from the JVM's memory
	// and new threads named by the thread-start probe, with no dump.
	defaultBudget bool
	// memoryOnly names threads by memory reads alone (--dumps never, no
	// probes) in a JVM that refuses attach.
	memoryOnly bool
}

// jdks lists the JDKs to test: the one on PATH (OpenJDK 17 here) and
// Temurin 25 where this image has it.
func jdks(t *testing.T) []jdk {
	var out []jdk
	if j, err := exec.LookPath("java"); err == nil {
		if jc, err := exec.LookPath("javac"); err == nil {
			out = append(out, jdk{name: "path", java: j, javac: jc})
		}
	}
	t25 := "/usr/lib/jvm/temurin-25-jdk-amd64/bin/"
	if _, err := os.Stat(t25 + "java"); err == nil {
		out = append(out, jdk{name: "jdk25", java: t25 + "java", javac: t25 + "javac"})
	} else {
		t.Logf("Temurin 25 not found at %s: testing the JDK on PATH only", t25)
	}
	if len(out) == 0 {
		t.Fatal("no java/javac on PATH: the integration tests need a JDK (apt-get install openjdk-17-jdk-headless)")
	}
	return out
}

func compileWorkload(t *testing.T, j jdk) string {
	t.Helper()
	return compileJava(t, j, "Workload.java")
}

// truth is what the workload's threads said about themselves.
type truthThread struct {
	tid                 uint32
	start, end          int64 // end 0 = still alive
	name                string
	renamed             string // new name after a self-rename
	renameLo, renameHi  int64  // the rename happened between these
	long, short, rename bool
}

func readTruth(t *testing.T, path string) map[uint32][]*truthThread {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	byTid := map[uint32][]*truthThread{}
	cur := func(tid uint32) *truthThread {
		l := byTid[tid]
		if len(l) == 0 {
			return nil
		}
		return l[len(l)-1]
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), " ", 6)
		num := func(i int) int64 { v, _ := strconv.ParseInt(f[i], 10, 64); return v }
		switch f[0] {
		case "start":
			rest := strings.SplitN(sc.Text(), " ", 4)
			tt := &truthThread{tid: uint32(num(2)), start: num(1), name: rest[3]}
			tt.short = strings.HasPrefix(tt.name, "payment-callback-short-lived-")
			tt.rename = strings.HasPrefix(tt.name, "settlement-batch-before-")
			tt.long = !tt.short && !tt.rename
			byTid[tt.tid] = append(byTid[tt.tid], tt)
		case "rename":
			rest := strings.SplitN(sc.Text(), " ", 5)
			if c := cur(uint32(num(3))); c != nil {
				c.renameLo, c.renameHi, c.renamed = num(1), num(2), rest[4]
			}
		case "end":
			if c := cur(uint32(num(2))); c != nil {
				c.end = num(1)
			}
		}
	}
	return byTid
}

// nameAt returns the names a thread may carry at time ts (two around a
// rename) and the thread, or nil when the TID was not a known thread then.
func nameAt(byTid map[uint32][]*truthThread, tid uint32, ts int64) ([]string, *truthThread) {
	for _, tt := range byTid[tid] {
		if ts < tt.start-int64(50*time.Millisecond) || (tt.end != 0 && ts > tt.end+int64(50*time.Millisecond)) {
			continue
		}
		switch {
		case tt.renamed == "" || ts < tt.renameLo:
			return []string{tt.name}, tt
		case ts > tt.renameHi:
			return []string{tt.renamed}, tt
		default:
			return []string{tt.name, tt.renamed}, tt
		}
	}
	return nil, nil
}

// nameIn tells whether got is one of the names a thread may carry.
func nameIn(got string, names []string) bool {
	for _, n := range names {
		if got == n {
			return true
		}
	}
	return false
}

type schedSnap struct {
	delay    int64 // run_delay ns
	from, to int64 // wall ns bracketing the read
}

func snapshot(pid int) map[uint32]schedSnap {
	out := map[uint32]schedSnap{}
	ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		from := time.Now().UnixNano()
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/schedstat", pid, tid))
		to := time.Now().UnixNano()
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		d, _ := strconv.ParseInt(f[1], 10, 64)
		out[uint32(tid)] = schedSnap{d, from, to}
	}
	return out
}

func setSysctl(t *testing.T, path, val string) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("sysctl %s: %v", path, err)
	}
	if err := os.WriteFile(path, []byte(val), 0o644); err != nil {
		t.Fatalf("sysctl %s: %v", path, err)
	}
	t.Cleanup(func() { _ = os.WriteFile(path, old, 0o644) })
}

// keepDir is the test's working directory: a temporary one, or, when
// JSCHEDLAT_KEEP is set to a directory, a subdirectory of it that outlives
// the test (records, events, dumps and truth to look at after a failure).
func keepDir(t *testing.T, name string) string {
	base := os.Getenv("JSCHEDLAT_KEEP")
	if base == "" {
		return t.TempDir()
	}
	dir := filepath.Join(base, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("keeping files in %s", dir)
	return dir
}

func TestAttachRealJVM(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	for _, j := range jdks(t) {
		t.Run(j.name, func(t *testing.T) { testAttach(t, bin, j) })
		// Production settings: new threads named with no dump at all.
		t.Run(j.name+"-default-budget", func(t *testing.T) {
			jd := j
			jd.name, jd.defaultBudget = j.name+"-default-budget", true
			testAttach(t, bin, jd)
		})
		// Memory reads alone name every thread, new ones too, of a JVM
		// that refuses attach (no dump possible).
		t.Run(j.name+"-memory", func(t *testing.T) {
			jd := j
			jd.name, jd.memoryOnly = j.name+"-memory", true
			testAttach(t, bin, jd)
		})
		// Production hosts often run a JRE: no jcmd or jstack anywhere.
		t.Run(j.name+"-jre", func(t *testing.T) {
			jre := jdk{name: j.name + "-jre", java: buildJRE(t, j), javac: j.javac, jreOnly: true}
			testAttach(t, bin, jre)
		})
	}
}

// buildJRE links a java.base-only runtime from j's JDK (jlink): what a
// JRE-only host has, with no JDK tools in it.
func buildJRE(t *testing.T, j jdk) string {
	t.Helper()
	jlink := filepath.Join(filepath.Dir(j.javac), "jlink")
	if _, err := os.Stat(jlink); err != nil {
		t.Skipf("SKIPPED: no jlink beside %s: the JRE-only test did not run", j.javac)
	}
	dir := filepath.Join(cached(t, "jlink "+jlink, func(dir string) error {
		out, err := exec.Command(jlink, "--add-modules", "java.base", "--output", filepath.Join(dir, "jre"),
			"--no-header-files", "--no-man-pages").CombinedOutput()
		if err != nil {
			return fmt.Errorf("jlink: %v\n%s", err, out)
		}
		return nil
	}), "jre")
	for _, tool := range []string{"jcmd", "jstack"} {
		if _, err := os.Stat(filepath.Join(dir, "bin", tool)); err == nil {
			t.Fatalf("the linked JRE has %s", tool)
		}
	}
	return filepath.Join(dir, "bin", "java")
}

func testAttach(t *testing.T, bin string, j jdk) {
	classes := compileWorkload(t, j)
	dir := keepDir(t, j.name)
	truthPath := filepath.Join(dir, "truth.txt")
	setSysctl(t, "/proc/sys/kernel/task_delayacct", "1")

	jvmArgs := []string{"-Xmx256m"}
	if j.memoryOnly {
		jvmArgs = append(jvmArgs, "-XX:+DisableAttachMechanism")
	}
	jvmCmd := exec.Command(j.java, append(jvmArgs, "-cp", classes, "Workload", "--seconds", "16", "--truth", truthPath,
		"--short-every-ms", "600", "--short-life-ms", "300")...)
	jvmCmd.Stdout, jvmCmd.Stderr = os.Stderr, os.Stderr
	if err := jvmCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = jvmCmd.Process.Kill(); _ = jvmCmd.Wait() }()
	pid := jvmCmd.Process.Pid
	testenv.WaitFor(t, 120*time.Second, "the workload JVM to run its workers", func() bool { return jvmReady(pid) })

	out := filepath.Join(dir, "out.csv")
	events := filepath.Join(dir, "events.jsonl")
	dumps := filepath.Join(dir, "dumps")
	stderr := &testenv.Output{}
	// No dump budget: the workload starts a thread every 700 ms under
	// full CPU contention, where a dump stops the JVM for tens of ms; the
	// default budget would leave most short-lived threads unnamed.
	args := []string{"attach", strconv.Itoa(pid), "--min-latency", "0", "--kind", "all",
		"-o", out, "--save-events", events, "--save-dumps", dumps}
	switch {
	case j.memoryOnly:
		args = append(args, "--dumps", "never", "--hotspot-probes=false")
	case !j.defaultBudget:
		// Names from dumps alone, as on a JVM without HotSpot's probes
		// and whose memory is not read.
		args = append(args, "--dumps", "only", "--dump-budget", "100%", "--hotspot-probes=false")
	}
	tr := exec.Command(bin, args...)
	tr.Stderr = stderr
	if j.jreOnly {
		tr.Env = append(os.Environ(), "PATH="+t.TempDir()) // nothing to run there
	}
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the tracer says it is attached (seconds on a loaded host).
	t.Cleanup(func() { _ = tr.Process.Kill() })
	stderr.WaitFor(t, 120*time.Second, "msg=tracing")
	time.Sleep(time.Second)
	s1 := snapshot(pid)
	time.Sleep(7 * time.Second)
	s2 := snapshot(pid)
	time.Sleep(200 * time.Millisecond)
	_ = tr.Process.Signal(syscall.SIGINT)
	if err := tr.Wait(); err != nil {
		t.Fatalf("attach exited with %v\n%s", err, stderr.String())
	}
	t.Logf("attach stderr:\n%s", stderr.String())
	if j.defaultBudget {
		// Short-lived threads start every 600 ms: named by the probe.
		m := regexp.MustCompile(`(\d+) new threads named as they started`).FindStringSubmatch(stderr.String())
		if n := 0; m == nil || func() bool { n, _ = strconv.Atoi(m[1]); return n < 5 }() {
			t.Errorf("new threads were not named as they started (want >= 5): %v", m)
		}
		// The two self-renaming threads: named from their own call.
		if !regexp.MustCompile(`[2-9]\d* names threads gave themselves read in full`).MatchString(stderr.String()) {
			t.Errorf("self-renames were not read in full as they were set")
		}
		// Everything names itself: the checks below hold at a drain a
		// second.
		if !strings.Contains(stderr.String(), `msg="drains slowed down" interval=1s`) {
			t.Errorf("the drains did not slow down once the probes were in")
		}
	}
	switch {
	case j.defaultBudget || j.memoryOnly:
		// Production defaults: the JVM is never stopped by the tool.
		if !strings.Contains(stderr.String(), "reads of the thread names from the JVM's memory") ||
			strings.Contains(stderr.String(), "thread dumps via") {
			t.Errorf("names were not read from memory alone")
		}
	case !strings.Contains(stderr.String(), "thread dumps via attach"):
		t.Errorf("dumps were not taken by direct attach")
	}
	testenv.ChildrenGone(t)

	truth := readTruth(t, truthPath)
	var recs []record.Record
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := record.ReadRecords(f, func(r *record.Record) error { recs = append(recs, *r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(recs) < 1000 {
		t.Fatalf("only %d records", len(recs))
	}

	// (a) Names equal what each thread said about itself.
	type tally struct{ ok, wrong, unnamed int }
	cats := map[string]*tally{"long-lived": {}, "short-lived": {}, "self-renamed": {}}
	threadsSeen := map[string]map[uint32]bool{"long-lived": {}, "short-lived": {}, "self-renamed": {}}
	var wrongs, unnamed []string
	sources := map[string]int{} // "category name_source" -> records
	// Names from memory: a thread that ended before the tool's first read
	// began was born before HotSpot's probes were in (they come after that
	// read), so nothing could name it. On JDK 21+ that read comes before
	// tracing (none such); on older JVMs just after (a short-lived thread
	// ended 30 ms after tracing began, before it, on a loaded host).
	var firstRead int64
	early := map[uint32]bool{} // such threads
	earlyRecs := 0
	if j.defaultBudget || j.memoryOnly {
		firstRead = firstReadStart(t, dumps)
	}
	for i := range recs {
		r := &recs[i]
		if int(r.Pid) != pid {
			continue
		}
		names, tt := nameAt(truth, r.Tid, r.Time)
		if tt == nil {
			continue
		}
		if tt.short && tt.end != 0 && tt.end < firstRead {
			early[r.Tid] = true
			earlyRecs++
			if r.JavaThread != "" && !nameIn(r.JavaThread, names) {
				t.Errorf("%s tid %d (ended before the first read): java_thread %q, truth %q", r.TimeText, r.Tid, r.JavaThread, names)
			}
			continue
		}
		cat := "long-lived"
		if tt.short {
			cat = "short-lived"
		} else if tt.rename {
			cat = "self-renamed"
		}
		threadsSeen[cat][r.Tid] = true
		sources[cat+" "+r.NameSource]++
		c := cats[cat]
		switch {
		case r.JavaThread == "":
			c.unnamed++
			if len(unnamed) < 10 {
				unnamed = append(unnamed, fmt.Sprintf("%s tid %d comm %q kind %s, truth %q (%d..%d)", r.TimeText, r.Tid, r.Comm, r.Kind, names, tt.start, tt.end))
			}
		case nameIn(r.JavaThread, names):
			c.ok++
		default:
			c.wrong++
			if len(wrongs) < 10 {
				wrongs = append(wrongs, fmt.Sprintf("%s tid %d: java_thread %q (%s), truth %q", r.TimeText, r.Tid, r.JavaThread, r.NameSource, names))
			}
		}
	}
	t.Logf("name sources: %v", sources)
	if len(early) > 0 {
		t.Logf("short-lived threads that ended before the first read (not counted): %d, %d records", len(early), earlyRecs)
		// One thread every 600 ms: more than one ended in that gap
		// would mean a first read far too late.
		if len(early) > 1 {
			t.Errorf("%d short-lived threads ended before the first read of the JVM's memory: it came too late", len(early))
		}
	}
	if j.defaultBudget && (sources["short-lived hotspot"] == 0 || sources["self-renamed hotspot"] == 0) {
		t.Errorf("new and self-renamed threads were not named by HotSpot's probes: %v", sources)
	}
	// The task that held the CPU is named too when it is of the same JVM.
	prevOK, prevWrong := 0, 0
	for i := range recs {
		r := &recs[i]
		if int(r.PrevPid) != pid {
			continue
		}
		names, tt := nameAt(truth, r.PrevTid, r.Time)
		if tt == nil {
			continue
		}
		switch {
		case nameIn(r.PrevJavaThread, names):
			prevOK++
		case r.PrevJavaThread != "":
			prevWrong++
		}
	}
	t.Logf("prev_java_thread: %d right, %d wrong", prevOK, prevWrong)
	if prevWrong > 0 || prevOK < 1000 {
		t.Errorf("prev_java_thread: %d right, %d wrong (want no wrong name and >= 1000 right)", prevOK, prevWrong)
	}
	// With names from dumps alone, a short-lived thread that ended before
	// any dump saw it cannot be named by the tool (on a loaded host a dump
	// takes longer than such a thread lives): its records must carry no
	// wrong name, and the >= 99% bound holds for the threads a saved dump
	// (what the JVM itself wrote) lists.
	if !j.defaultBudget {
		inDump := dumpedTIDs(t, dumps)
		known := map[uint32]bool{}
		c := &tally{}
		for i := range recs {
			r := &recs[i]
			if int(r.Pid) != pid {
				continue
			}
			names, tt := nameAt(truth, r.Tid, r.Time)
			// A dump names the waits of the join's horizon before it:
			// on a loaded host the first dump that lists a thread may
			// come later than that after its first waits.
			end, listed := inDump[r.Tid]
			if tt == nil || !tt.short || !listed || end > r.Time+int64(correlate.DefaultHorizon) {
				continue
			}
			known[r.Tid] = true
			switch {
			case r.JavaThread == "":
				c.unnamed++
			case nameIn(r.JavaThread, names):
				c.ok++
			default:
				c.wrong++
			}
		}
		u := cats["short-lived"]
		t.Logf("short-lived threads a saved dump lists: %d of %d, %d records: %d named right, %d unnamed; %d records of threads no dump saw",
			len(known), len(threadsSeen["short-lived"]), c.ok+c.wrong+c.unnamed, c.ok, c.unnamed, u.ok+u.wrong+u.unnamed-(c.ok+c.wrong+c.unnamed))
		if len(known) < 2 {
			t.Errorf("short-lived: only %d threads listed in a saved dump: too few to check", len(known))
		}
		cats["short-lived"], threadsSeen["short-lived"] = c, known
	}
	for cat, c := range cats {
		total := c.ok + c.wrong + c.unnamed
		t.Logf("%s: %d threads, %d records: %d named right, %d wrong, %d unnamed", cat, len(threadsSeen[cat]), total, c.ok, c.wrong, c.unnamed)
		if total == 0 || len(threadsSeen[cat]) < 2 {
			t.Errorf("%s: too few threads/records traced (%d threads, %d records)", cat, len(threadsSeen[cat]), total)
			continue
		}
		if c.wrong > 0 {
			t.Errorf("%s: %d records with a wrong name, e.g. %v", cat, c.wrong, wrongs)
		}
		if float64(c.ok) < 0.99*float64(total) {
			t.Errorf("%s: only %d of %d records named (want >= 99%%); unnamed e.g. %v", cat, c.ok, total, unnamed)
		}
	}

	// (b) Per-thread sums equal the kernel's run_delay over the same window.
	sums := map[uint32]int64{}
	// Waits in progress while a snapshot was read may fall on either
	// side: the kernel adds a queued thread's wait so far to run_delay
	// when it moves to another CPU's run queue, and at the switch-in just
	// after the record's stamp (2 ms: a VM's vCPU can be descheduled in
	// between); a record carries the whole wait.
	edge := map[uint32]int64{}
	const arriveLag = int64(2 * time.Millisecond)
	during := func(r *record.Record, s schedSnap) bool {
		return r.Time+arriveLag >= s.from && r.Time-int64(r.LatencyNs) <= s.to
	}
	for i := range recs {
		r := &recs[i]
		a, ok1 := s1[r.Tid]
		b, ok2 := s2[r.Tid]
		if int(r.Pid) != pid || !ok1 || !ok2 {
			continue
		}
		// run_delay grows at switch-in, the instant a record is stamped.
		if r.Time > a.to && r.Time <= b.from {
			sums[r.Tid] += int64(r.LatencyNs)
		}
		if during(r, a) || during(r, b) {
			edge[r.Tid] += int64(r.LatencyNs)
		}
	}
	// Waits the tracer reports missing may be any thread's.
	var missingNs int64
	if m := regexp.MustCompile(`missing \((\d+) ns of run-queue time\)`).FindStringSubmatch(stderr.String()); m != nil {
		missingNs, _ = strconv.ParseInt(m[1], 10, 64)
	}
	checked := 0
	var tids []uint32
	for tid := range s2 {
		tids = append(tids, tid)
	}
	sort.Slice(tids, func(i, k int) bool { return tids[i] < tids[k] })
	for _, tid := range tids {
		a, ok := s1[tid]
		if !ok {
			continue
		}
		kernel := s2[tid].delay - a.delay
		if kernel < int64(100*time.Millisecond) {
			continue
		}
		checked++
		diff := float64(sums[tid]-kernel) / float64(kernel)
		t.Logf("tid %d: traced %.1f ms, kernel run_delay %.1f ms (%+.2f%%)", tid, float64(sums[tid])/1e6, float64(kernel)/1e6, diff*100)
		// Exact (each wait is the kernel's own run_delay growth) but for
		// waits cut by the window's edges.
		allowed := 0.005*float64(kernel) + float64(edge[tid]+missingNs)
		if d := float64(sums[tid] - kernel); d > allowed || -d > allowed {
			t.Errorf("tid %d: traced run-queue total %d ns differs from the kernel's %d ns by %.2f%% (> 0.5%%)", tid, sums[tid], kernel, diff*100)
		}
	}
	if checked < 5 {
		t.Errorf("only %d threads waited >= 100 ms: not enough contention to compare", checked)
	}

	// (c) Replaying the saved events with the saved dumps gives the same rows.
	checkReplay(t, bin, dir, events, dumps, out)
}

// firstReadStart is when the first read of the thread names saved under
// dir (the store's index) began, wall ns.
func firstReadStart(t *testing.T, dir string) int64 {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "index.jsonl"))
	if err != nil {
		t.Fatalf("saved reads: %v", err)
	}
	first := int64(math.MaxInt64)
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e struct {
			StartNs int64 `json:"start_ns"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.StartNs == 0 {
			t.Fatalf("saved reads: index line %q: %v", l, err)
		}
		first = min(first, e.StartNs)
	}
	return first
}

// dumpedTIDs lists the native thread IDs (nid=) that the thread
// dumps saved under dir name: the threads whose names a dump could give.
func dumpedTIDs(t *testing.T, dir string) map[uint32]int64 {
	t.Helper()
	// HotSpot before 19 prints nid=0x1f2e, later releases nid=7982.
	nid := regexp.MustCompile(`nid=(0x[0-9a-f]+|[0-9]+)\b`)
	// When each saved dump was complete (the store's index).
	ends := map[string]int64{}
	if b, err := os.ReadFile(filepath.Join(dir, "index.jsonl")); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			var e struct {
				File  string `json:"file"`
				EndNs int64  `json:"end_ns"`
			}
			if json.Unmarshal([]byte(l), &e) == nil {
				ends[e.File] = e.EndNs
			}
		}
	}
	tids := map[uint32]int64{} // TID -> end of the first dump that lists it
	files := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(path, ".jsonl") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(path, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(b))
			if err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
			if b, err = io.ReadAll(zr); err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
		}
		files++
		end, ok := ends[filepath.Base(path)]
		if !ok {
			end = math.MaxInt64
		}
		for _, m := range nid.FindAllSubmatch(b, -1) {
			if v, err := strconv.ParseUint(string(m[1]), 0, 32); err == nil {
				if old, seen := tids[uint32(v)]; !seen || end < old {
					tids[uint32(v)] = end
				}
			}
		}
		return nil
	})
	if err != nil || files == 0 || len(tids) == 0 {
		t.Fatalf("saved dumps in %s: %v (%d files, %d threads)", dir, err, files, len(tids))
	}
	return tids
}

// TestAttachJVMExits: when the JVM ends mid-run, attach stops by itself,
// keeps what it wrote, says so, exits 0 and leaves nothing in the kernel.
func TestAttachJVMExits(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	j := jdks(t)[0]
	classes := compileWorkload(t, j)
	jvmCmd := exec.Command(j.java, "-cp", classes, "Workload", "--seconds", "120")
	if err := jvmCmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = jvmCmd.Wait(); close(done) }()
	defer func() { _ = jvmCmd.Process.Kill(); <-done }()
	testenv.WaitFor(t, 120*time.Second, "the workload JVM to run its workers", func() bool { return jvmReady(jvmCmd.Process.Pid) })
	out := filepath.Join(t.TempDir(), "out.csv")
	cmd := exec.Command(bin, "attach", strconv.Itoa(jvmCmd.Process.Pid), "--min-latency", "0", "-o", out)
	stderr := &testenv.Output{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The JVM ends once it is traced and records are being written (start-up
	// takes seconds on a loaded host).
	stderr.WaitFor(t, 120*time.Second, "msg=tracing")
	testenv.WaitFor(t, 60*time.Second, "records in the output", func() bool {
		fi, err := os.Stat(out)
		return err == nil && fi.Size() > 10_000
	})
	_ = jvmCmd.Process.Signal(syscall.SIGTERM)
	start := time.Now()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("attach: %v\n%s", err, stderr.String())
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("attach took %s to notice the JVM had exited", d)
	}
	if !strings.Contains(stderr.String(), "exited during the run") {
		t.Errorf("summary does not say the JVM exited:\n%s", stderr.String())
	}
	n := 0
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := record.ReadRecords(f, func(*record.Record) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Errorf("only %d records kept", n)
	}
}

// TestAttachJVMInPIDNamespace: a JVM in its own PID (and mount) namespace,
// as in a container, prints its own TIDs; records carry host TIDs and must
// still get the exact names.
func TestAttachJVMInPIDNamespace(t *testing.T) {
	testenv.RequireRoot(t)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Skip("SKIPPED: no unshare(1) (util-linux): the PID-namespace test did not run")
	}
	bin := binary(t)
	for i, j := range jdks(t) {
		// As in a container image: a JRE, no JDK tools on the host's PATH.
		// The first JDK is named by dumps over the attach socket, the
		// others by memory reads (the default): both must map the
		// namespace's TIDs.
		t.Run(j.name+"-jre", func(t *testing.T) {
			jre := jdk{name: j.name + "-jre", java: buildJRE(t, j), javac: j.javac, jreOnly: true, defaultBudget: i > 0}
			testPIDNamespace(t, bin, unshare, jre)
		})
	}
}

func testPIDNamespace(t *testing.T, bin, unshare string, j jdk) {
	classes := compileWorkload(t, j)
	dir := t.TempDir()
	truthPath := filepath.Join(dir, "truth.txt")
	ns := exec.Command(unshare, "--pid", "--fork", "--mount-proc", j.java, "-cp", classes, "Workload",
		"--seconds", "9", "--truth", truthPath, "--short-every-ms", "600", "--short-life-ms", "300")
	if err := ns.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ns.Process.Kill(); _ = ns.Wait() }()
	// The JVM is unshare's child: its host PID.
	var pid int
	for i := 0; i < 100 && pid == 0; i++ {
		time.Sleep(50 * time.Millisecond)
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", ns.Process.Pid, ns.Process.Pid))
		pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if pid == 0 {
		t.Fatal("no JVM under unshare")
	}
	time.Sleep(1500 * time.Millisecond)

	// Namespace TID -> host TID, sampled while threads come and go.
	hostOf := map[uint32]uint32{}
	var mu sync.Mutex
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		for {
			ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
			for _, e := range ents {
				b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/status", pid, e.Name()))
				if err != nil {
					continue
				}
				for _, l := range strings.Split(string(b), "\n") {
					if f, ok := strings.CutPrefix(l, "NSpid:"); ok {
						ids := strings.Fields(f)
						h, _ := strconv.Atoi(ids[0])
						n, _ := strconv.Atoi(ids[len(ids)-1])
						mu.Lock()
						hostOf[uint32(n)] = uint32(h)
						mu.Unlock()
					}
				}
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	out := filepath.Join(dir, "out.csv")
	args := []string{"attach", strconv.Itoa(pid), "--min-latency", "0", "--duration", "5s", "-o", out, "--dump-budget", "100%"}
	if !j.defaultBudget {
		args = append(args, "--dumps", "only")
	}
	cmd := exec.Command(bin, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if j.jreOnly {
		cmd.Env = append(os.Environ(), "PATH="+t.TempDir())
	}
	if err := cmd.Run(); err != nil {
		t.Fatalf("attach: %v\n%s", err, stderr.String())
	}
	// HotSpot's probes work across the mount namespace (through
	// /proc/PID/map_files) and report host TIDs.
	if !strings.Contains(stderr.String(), "new threads named as they started") {
		t.Errorf("no thread named by HotSpot's thread-start probe:\n%s", stderr.String())
	}
	switch {
	case j.defaultBudget:
		if !strings.Contains(stderr.String(), "reads of the thread names from the JVM's memory") {
			t.Errorf("names were not read from the JVM's memory:\n%s", stderr.String())
		}
	case !strings.Contains(stderr.String(), "thread dumps via attach"):
		t.Errorf("dumps were not taken by direct attach:\n%s", stderr.String())
	}
	close(stop)
	<-sampled

	// The truth file has the namespace's TIDs: translate them.
	nsTruth := readTruth(t, truthPath)
	truth := map[uint32][]*truthThread{}
	for nsTid, list := range nsTruth {
		if h, ok := hostOf[nsTid]; ok {
			truth[h] = list
		}
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ok, wrong, unnamed := 0, 0, 0
	err = record.ReadRecords(f, func(r *record.Record) error {
		if int(r.Pid) != pid {
			return nil
		}
		names, tt := nameAt(truth, r.Tid, r.Time)
		if tt == nil {
			return nil
		}
		switch {
		case r.JavaThread == "":
			unnamed++
		case nameIn(r.JavaThread, names):
			ok++
		default:
			wrong++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("JVM %d in its own PID namespace: %d records named right, %d wrong, %d unnamed", pid, ok, wrong, unnamed)
	if wrong > 0 || ok < 1000 || float64(ok) < 0.99*float64(ok+unnamed) {
		t.Errorf("names in a PID namespace: %d right, %d wrong, %d unnamed (want no wrong, >= 99%% right)", ok, wrong, unnamed)
	}
}

var safepointLog = regexp.MustCompile(`Safepoint "(PrintThreads|PrintJNI|FindDeadlocks)".* Total: (\d+) ns`)

// TestDumpBudgetRealJVM: under full CPU contention, with a thread born
// every 600 ms, a dump stops the JVM for tens of ms. With --dump-budget 5%,
// the time the JVM itself logged at the safepoints of our dumps
// (-Xlog:safepoint) stays within 5% of the run (of 10 s at least), plus one
// dump (each is estimated before it is taken); the summary reports that
// time.
func TestDumpBudgetRealJVM(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	j := jdks(t)[0]
	classes := compileWorkload(t, j)
	dir := t.TempDir()
	logPath := filepath.Join(dir, "safepoint.log")
	jvmCmd := exec.Command(j.java, "-Xlog:safepoint=info:file="+logPath, "-cp", classes, "Workload",
		"--seconds", "14", "--short-every-ms", "600", "--short-life-ms", "300")
	if err := jvmCmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = jvmCmd.Process.Kill(); _ = jvmCmd.Wait() }()
	time.Sleep(1500 * time.Millisecond)
	cmd := exec.Command(bin, "attach", strconv.Itoa(jvmCmd.Process.Pid), "--duration", "8s", "-o", filepath.Join(dir, "out.csv"),
		"--dumps", "only", "--dump-budget", "5%")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("attach: %v\n%s", err, stderr.String())
	}
	run := time.Since(start)
	time.Sleep(300 * time.Millisecond) // the JVM writes its log asynchronously
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// A dump is PrintThreads plus what follows it up to the next one.
	var total, dump, largest time.Duration
	n := 0
	for _, m := range safepointLog.FindAllStringSubmatch(string(b), -1) {
		ns, _ := strconv.ParseInt(m[2], 10, 64)
		if m[1] == "PrintThreads" {
			dump = 0
		}
		dump += time.Duration(ns)
		largest = max(largest, dump)
		total += time.Duration(ns)
		n++
	}
	t.Logf("JVM log: %d dump safepoints, %s stopped (largest dump %s) in %s\n%s", n, total, largest, run, stderr.String())
	if n == 0 {
		// On a loaded host the JVM's own safepoints are slow, and the
		// estimate of a first dump (three of them) may not fit the
		// budget: then no dump at all, and the summary must say why.
		if !strings.Contains(stderr.String(), "the dump budget held requested dumps back") {
			t.Fatalf("the JVM logged no dump safepoints, and the summary does not say the budget held dumps back:\n%s", stderr.String())
		}
		t.Log("no dump fitted the budget on this host: nothing more to compare")
		return
	}
	// The budget is checked before each dump, counted over 10 s at
	// least, with the last dump's stop time as the next one's estimate:
	// a dump longer than its estimate may go over, by less than itself.
	if limit := max(run, 10*time.Second)/20 + largest; total > limit {
		t.Errorf("dumps stopped the JVM for %s, over 5%% of %s plus the largest dump (%s)", total, run, limit)
	}
	m := regexp.MustCompile(`stopped the JVM for ([0-9.]+[µm]?s) in (\d+) safepoints`).FindStringSubmatch(stderr.String())
	if m == nil {
		t.Fatalf("summary does not report the stop time:\n%s", stderr.String())
	}
	reported, err := time.ParseDuration(m[1])
	if err != nil {
		t.Fatal(err)
	}
	// The summary rounds to 0.1 ms; the log may also hold a GC safepoint
	// inside a dump's window that the meter counts and the filter above
	// does not.
	if d := reported - total; d < -time.Millisecond || d > total/10+time.Millisecond {
		t.Errorf("summary says %s stopped, the JVM logged %s for the dumps", reported, total)
	}
	if strconv.Itoa(n) != m[2] {
		t.Logf("summary counts %s safepoints, the log %d dump safepoints (others fell inside a dump)", m[2], n)
	}
}

// checkReplay replays the saved events with the saved dumps and requires
// the rows the live run wrote to out.
func checkReplay(t *testing.T, bin, dir, events, dumps, out string) {
	t.Helper()
	replayed := filepath.Join(dir, "replay.csv")
	if b, err := exec.Command(bin, "replay", "--events", events, "--dumps", dumps, "-o", replayed).CombinedOutput(); err != nil {
		t.Fatalf("replay: %v\n%s", err, b)
	}
	live, _ := os.ReadFile(out)
	rep, _ := os.ReadFile(replayed)
	if bytes.Equal(live, rep) {
		return
	}
	ll, rl := strings.Split(string(live), "\n"), strings.Split(string(rep), "\n")
	for i := 0; i < len(ll) && i < len(rl); i++ {
		if ll[i] != rl[i] {
			t.Fatalf("replay differs from live output at line %d (%d vs %d lines):\nlive:   %s\nreplay: %s", i+1, len(ll), len(rl), ll[i], rl[i])
		}
	}
	t.Fatalf("replay has %d lines, live %d", len(rl), len(ll))
}
