package jvm

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// The variants in testdata/dumps/field/ were made from real dumps of the
// corpus by make-variants.py there (README.md says how each). Each must
// name exactly the threads of its original, minus those the damage took.

// parseFieldBytes reads a file as LoadDumps does: decoded, and as a
// javacore or a text dump with partial dumps and log prefixes.
func parseFieldBytes(t testing.TB, b []byte, loc *time.Location) ([]Dump, error) {
	t.Helper()
	text, _, _, err := DecodeInput(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	all, rerr := io.ReadAll(text)
	if IsJavacore(all[:min(len(all), 64<<10)]) {
		ds, err := ParseJavacores(bytes.NewReader(all), loc)
		return ds, errors.Join(err, rerr)
	}
	ds, err := ParseDumpsWith(bytes.NewReader(all), ParseOptions{Loc: loc, Partial: true, LogPrefixes: true})
	return ds, errors.Join(err, rerr)
}

func parseField(t testing.TB, rel string) ([]Dump, error) {
	t.Helper()
	return parseFieldBytes(t, readDump(t, rel), time.UTC)
}

// tidNames is what a set of dumps names: TID -> name.
func tidNames(ds []Dump) map[int]string {
	m := map[int]string{}
	for _, d := range ds {
		for _, th := range d.Threads {
			if th.Tid > 0 {
				m[th.Tid] = th.Name
			}
		}
	}
	return m
}

// without returns m minus the TIDs of the threads that keep returns false.
func without(d Dump, drop func(Thread) bool) map[int]string {
	m := map[int]string{}
	for _, th := range d.Threads {
		if th.Tid > 0 && !drop(th) {
			m[th.Tid] = th.Name
		}
	}
	return m
}

func diffNames(got, want map[int]string) string {
	var out []string
	for tid, n := range want {
		if g, ok := got[tid]; !ok {
			out = append(out, fmt.Sprintf("TID %d (%q) missing", tid, n))
		} else if g != n {
			out = append(out, fmt.Sprintf("TID %d named %q, want %q", tid, g, n))
		}
	}
	for tid, n := range got {
		if _, ok := want[tid]; !ok {
			out = append(out, fmt.Sprintf("TID %d (%q) should not be named", tid, n))
		}
	}
	sort.Strings(out)
	return strings.Join(out, "; ")
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestFieldVariants(t *testing.T) {
	j17 := mustParseOne(t, "hotspot/jdk17-jstack-4703.txt")
	j25 := mustParseOne(t, "hotspot/jdk25-jstack-l-5543.txt")
	k17 := mustParseOne(t, "hotspot/jdk17-kill3-stdout-4703.txt")
	k25 := mustParseOne(t, "hotspot/jdk25-kill3-stdout-5543.txt")
	none := func(Thread) bool { return false }
	from := func(line int) func(Thread) bool { return func(th Thread) bool { return th.Line >= line } }
	tids := func(ts ...int) func(Thread) bool {
		return func(th Thread) bool {
			for _, x := range ts {
				if th.Tid == x {
					return true
				}
			}
			return false
		}
	}
	tests := []struct {
		file    string
		orig    Dump
		drop    func(Thread) bool
		partial bool
		errs    []string // substrings the error must hold; none: no error
		noTime  bool
	}{
		{file: "jdk17-jstack-4703.utf16le-bom-crlf.txt", orig: j17, drop: none},
		{file: "jdk25-jstack-l-5543.utf16be-bom.txt", orig: j25, drop: none},
		{file: "jdk17-jstack-4703.utf8-bom.txt", orig: j17, drop: none},
		{file: "jdk17-jstack-4703.ts-blanks-logline.txt", orig: j17, drop: none},
		// Cut inside cpu-spinner's nid (header at line 200): "nid=0x12" must
		// not name TID 0x12; the threads before it are complete.
		{file: "jdk17-jstack-4703.cut-mid-nid.txt", orig: j17, drop: from(200), partial: true,
			errs: []string{"line 200: thread dump from line 2: input ends in the middle of a line (truncated); the thread being printed there (line 200) is not used"}},
		// Cut inside a frame of rlock-waiter (line 288).
		{file: "jdk25-jstack-l-5543.cut-mid-frame.txt", orig: j25, drop: from(288), partial: true,
			errs: []string{"input ends in the middle of a line (truncated); the thread being printed there (line 288) is not used"}},
		{file: "jdk17-jstack-4703.dup-tid.txt", orig: j17, drop: tids(0x127c, 0x127d), partial: true,
			errs: []string{"line 154: thread dump from line 2: TID 4732 is listed for 2 threads (lines 154, 163): it names none of them"}},
		{file: "jdk17-jstack-4703.wrapped-header.txt", orig: j17, drop: tids(0x1280), partial: true,
			errs: []string{"line 201: thread dump from line 2: thread header at line 200 is continued on this line (wrapped by a log system?): the TID 1 read from it may be cut short and is not used"}},
		{file: "jdk17-kill3-stdout-4703.journald-short.txt", orig: k17, drop: none},
		{file: "jdk17-kill3-stdout-4703.journald-short-iso.txt", orig: k17, drop: none},
		{file: "jdk17-kill3-stdout-4703.journald-short-precise.txt", orig: k17, drop: none},
		{file: "jdk25-kill3-stdout-5543.cri.log", orig: k25, drop: none},
		{file: "jdk25-kill3-stdout-5543.docker-json.log", orig: k25, drop: none},
		{file: "jdk17-jstack-4703.gzip-noext.txt", orig: j17, drop: none},
		{file: "jdk17-jstack-4703.no-timestamp.txt", orig: j17, drop: none, noTime: true},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ds, err := parseField(t, "field/"+tc.file)
			if len(tc.errs) == 0 && err != nil {
				t.Fatalf("error: %v", err)
			}
			for _, s := range tc.errs {
				if !strings.Contains(errText(err), s) {
					t.Errorf("error %q does not say %q", errText(err), s)
				}
			}
			if len(ds) != 1 {
				t.Fatalf("%d dumps, want 1", len(ds))
			}
			d := ds[0]
			if d.Partial != tc.partial {
				t.Errorf("Partial = %v, want %v", d.Partial, tc.partial)
			}
			if diff := diffNames(tidNames(ds), without(tc.orig, tc.drop)); diff != "" {
				t.Errorf("names: %s", diff)
			}
			if tc.noTime != d.Time.IsZero() || !tc.noTime && !d.Time.Equal(tc.orig.Time) {
				t.Errorf("time %v, want %v", d.Time, tc.orig.Time)
			}
			if d.VM != tc.orig.VM {
				t.Errorf("VM %q, want %q", d.VM, tc.orig.VM)
			}
		})
	}
}

// A gzip file cut short: the threads complete in what came are named.
func TestFieldGzipCut(t *testing.T) {
	orig := mustParseOne(t, "hotspot/jdk17-jstack-4703.txt")
	b := readDump(t, "field/jdk17-jstack-4703.gzip-cut.txt")
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("test file: %v, want a gzip stream cut short", err)
	}
	// The thread being printed at the cut is the one whose header last
	// began in what came.
	lastHeader := 0
	for i, l := range strings.Split(string(got), "\n") {
		if strings.HasPrefix(l, `"`) {
			lastHeader = i + 1
		}
	}
	ds, perr := parseField(t, "field/jdk17-jstack-4703.gzip-cut.txt")
	var ie *InputError
	if !errors.As(perr, &ie) || ie.Corrupt || !strings.Contains(perr.Error(), "truncated") {
		t.Errorf("error %v: want a cut-short InputError and a truncated dump", perr)
	}
	want := without(orig, func(th Thread) bool { return th.Line >= lastHeader })
	if len(want) < 5 {
		t.Fatalf("cut too early for the test: %d threads before line %d", len(want), lastHeader)
	}
	if diff := diffNames(tidNames(ds), want); diff != "" {
		t.Errorf("names: %s", diff)
	}
	// Corrupt data: the reader says so (the loader then uses nothing).
	_, perr = parseField(t, "field/jdk17-jstack-4703.gzip-corrupt.txt")
	if !errors.As(perr, &ie) || !ie.Corrupt {
		t.Errorf("corrupt gzip: error %v", perr)
	}
}

// Bytes that are not UTF-8 pass through: the name is kept as it was.
func TestFieldLatin1Name(t *testing.T) {
	orig := mustParseOne(t, "hotspot/jdk17-jstack-4703.txt")
	ds, err := parseField(t, "field/jdk17-jstack-4703.latin1-name.txt")
	if err != nil || len(ds) != 1 {
		t.Fatalf("%d dumps, %v", len(ds), err)
	}
	want := without(orig, func(Thread) bool { return false })
	want[0x1279] = "caf\xe9-worker"
	if diff := diffNames(tidNames(ds), want); diff != "" {
		t.Errorf("names: %s", diff)
	}
}

// The strict parse (live captures) still returns only whole dumps: a
// damaged one is reported, not returned.
func TestFieldStrict(t *testing.T) {
	for _, f := range []string{"jdk17-jstack-4703.cut-mid-nid.txt", "jdk25-jstack-l-5543.cut-mid-frame.txt",
		"jdk17-jstack-4703.dup-tid.txt", "jdk17-jstack-4703.wrapped-header.txt"} {
		ds, err := ParseDumps(bytes.NewReader(readDump(t, "field/"+f)), time.UTC)
		if len(ds) != 0 || err == nil {
			t.Errorf("%s: %d dumps, err %v; want none and an error", f, len(ds), err)
		}
	}
}

// Prefixes are only taken off where the dump itself has them: inside a
// dump printed without one, a line that looks like a log prefix is part of
// it (here a thread name holding a newline and a journald-like text).
func TestPrefixOnlyInPrefixedDumps(t *testing.T) {
	name := "x\nDec 07 10:15:32 host java[1]: y"
	in := "2026-12-07 10:15:32\nFull thread dump Z:\n\"" + name + "\" #1 prio=5 tid=0x1 nid=0x10 runnable [0x3]\n" +
		"   java.lang.Thread.State: RUNNABLE\nJNI global refs: 1, weak refs: 0\n"
	ds, err := ParseDumpsWith(strings.NewReader(in), ParseOptions{Partial: true, LogPrefixes: true})
	if err != nil || len(ds) != 1 || ds[0].Threads[0].Name != name {
		t.Fatalf("%+v, %v", ds, err)
	}
	// In a prefixed dump each physical line has its own prefix, taken off
	// once.
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimSuffix(in, "\n"), "\n") {
		b.WriteString("Dec 07 10:15:32 host java[1]: " + l + "\n")
	}
	ds, err = ParseDumpsWith(strings.NewReader(b.String()), ParseOptions{Partial: true, LogPrefixes: true})
	if err != nil || len(ds) != 1 || ds[0].Threads[0].Name != name || ds[0].Time.IsZero() {
		t.Fatalf("prefixed: %+v, %v", ds, err)
	}
}

func TestSplitLogPrefix(t *testing.T) {
	tests := []struct {
		line, msg, src string
		partial, ok    bool
	}{
		{"Dec 07 10:15:32 host java[1234]: \tat X.y(X.java:1)", "\tat X.y(X.java:1)", "host java[1234]", false, true},
		{"Dec  7 10:15:32 host java[1234]: a", "a", "host java[1234]", false, true},
		{"Dec 07 10:15:32.123456 host java[1234]: a", "a", "host java[1234]", false, true},
		{"2026-12-07T10:15:32+0100 host java[1234]: a", "a", "host java[1234]", false, true},
		{"2026-12-07T10:15:32.123456+01:00 host java: a", "a", "host java", false, true},
		{"Mon 2026-12-07 10:15:32 CET host java[1234]: a", "a", "host java[1234]", false, true},
		{"[ 5312.123456] host java[1234]: a", "a", "host java[1234]", false, true},
		{"1733566532.123456 host java[1234]: a", "a", "host java[1234]", false, true},
		{"Dec 07 10:15:32 host java[1234]:", "", "host java[1234]", false, true},
		{"2026-12-07T10:15:32.123456789Z stdout F a b", "a b", "stdout", false, true},
		{"2026-12-07T10:15:32.123456789Z stderr P a", "a", "stderr", true, true},
		{"2026-12-07T10:15:32.123456789Z stdout F ", "", "stdout", false, true},
		{`{"log":"\t\"a\"\n","stream":"stdout","time":"2026-12-07T10:15:32.1Z"}`, "\t\"a\"", "stdout", false, true},
		{`{"log":"part","stream":"stderr","time":"2026-12-07T10:15:32.1Z"}`, "part", "stderr", true, true},
		{"2026-11-25 13:37:36", "", "", false, false},
		{"Full thread dump OpenJDK 64-Bit Server VM (17):", "", "", false, false},
		{"\"Dec 07 10:15:32 host java[1]: x\" #1 prio=5", "", "", false, false},
		{"JNI global refs: 4, weak refs: 0", "", "", false, false},
		{"Dec 07 10:15:32 host java [1234]: a", "", "", false, false},
		{"2026-12-07T10:15:32.123Z INFO [main] c.e.App - x", "", "", false, false},
	}
	for _, tc := range tests {
		l, _, ok := splitLogPrefix([]byte(tc.line), nil)
		if ok != tc.ok || ok && (string(l.msg) != tc.msg || string(l.src) != tc.src || l.partial != tc.partial) {
			t.Errorf("%q: %q %q partial=%v ok=%v; want %q %q %v %v", tc.line, l.msg, l.src, l.partial, ok, tc.msg, tc.src, tc.partial, tc.ok)
		}
	}
}

func TestDecodeInput(t *testing.T) {
	plain := "2026-11-25 13:36:45\nFull thread dump X ü 日本 🚀:\n"
	u16 := func(le bool) []byte {
		var b []byte
		for _, r := range plain {
			var units []uint16
			if r > 0xFFFF {
				r -= 0x10000
				units = []uint16{uint16(0xD800 + r>>10), uint16(0xDC00 + r&0x3FF)}
			} else {
				units = []uint16{uint16(r)}
			}
			for _, u := range units {
				if le {
					b = append(b, byte(u), byte(u>>8))
				} else {
					b = append(b, byte(u>>8), byte(u))
				}
			}
		}
		return b
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(append([]byte{0xFF, 0xFE}, u16(true)...))
	zw.Close()
	tests := []struct {
		name  string
		in    []byte
		steps string
	}{
		{"plain", []byte(plain), ""},
		{"UTF-8 BOM", append([]byte{0xEF, 0xBB, 0xBF}, plain...), "UTF-8 with BOM"},
		{"UTF-16LE BOM", append([]byte{0xFF, 0xFE}, u16(true)...), "UTF-16LE"},
		{"UTF-16BE BOM", append([]byte{0xFE, 0xFF}, u16(false)...), "UTF-16BE"},
		{"UTF-16LE", u16(true), "UTF-16LE without BOM"},
		{"UTF-16BE", u16(false), "UTF-16BE without BOM"},
		{"gzip of UTF-16LE", gz.Bytes(), "gzip, UTF-16LE"},
	}
	for _, tc := range tests {
		r, steps, _, err := DecodeInput(bytes.NewReader(tc.in))
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got, err := io.ReadAll(r)
		if err != nil || string(got) != plain || strings.Join(steps, ", ") != tc.steps {
			t.Errorf("%s: %q (%v), steps %q; want %q, %q", tc.name, got, err, steps, plain, tc.steps)
		}
	}
	// An odd last byte and an unpaired surrogate become U+FFFD.
	r, _, _, _ := DecodeInput(bytes.NewReader([]byte{0xFF, 0xFE, 'a', 0, 0x00, 0xD8, 'b', 0, 'c'}))
	if got, _ := io.ReadAll(r); string(got) != "a\uFFFDb\uFFFD" {
		t.Errorf("bad UTF-16: %q", got)
	}
	for _, junk := range [][]byte{[]byte("JAVA PROFILE 1.0.2\x00\x00\x00\x04"), []byte("\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00")} {
		if _, _, _, err := DecodeInput(bytes.NewReader(junk)); !errors.Is(err, ErrBinary) {
			t.Errorf("%q: %v, want ErrBinary", junk, err)
		}
	}
}

func TestJavacoreField(t *testing.T) {
	orig, err := ParseJavacores(bytes.NewReader(readJavacore(t)), time.UTC)
	if err != nil || len(orig) != 1 {
		t.Fatal(err)
	}
	// Cut inside 'say "hi", then leave''s native ID ("0x10" of 0x10A3): that
	// thread and the ones after it are not named, and the cut is reported.
	ds, err := parseField(t, "field/javacore.4242.cut-mid-thread.txt")
	if len(ds) != 1 || !ds[0].Partial || !strings.Contains(errText(err), "javacore ends before its END OF DUMP line (truncated); the thread being written there (line 65) is not used") {
		t.Fatalf("%d dumps, err %v", len(ds), err)
	}
	if diff := diffNames(tidNames(ds), without(orig[0], func(th Thread) bool { return th.Line >= 65 })); diff != "" {
		t.Errorf("names: %s", diff)
	}
	if _, ok := tidNames(ds)[0x10]; ok {
		t.Error("a native ID cut short named a thread")
	}
	// The complete javacore says nothing of truncation.
	if orig[0].Partial {
		t.Error("complete javacore marked Partial")
	}

	// 1TIDATETIMEUTC wins over the local 1TIDATETIME, whatever zone the
	// caller assumes.
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("UTC+5", 5*3600)} {
		ds, err := parseFieldBytes(t, readDump(t, "field/javacore.4242.utc.txt"), loc)
		if err != nil || len(ds) != 1 {
			t.Fatalf("%d dumps, %v", len(ds), err)
		}
		if want := time.Date(2026, 11, 25, 20, 50, 7, 123e6, time.UTC); !ds[0].Time.Equal(want) {
			t.Errorf("loc %v: time %v, want %v", loc, ds[0].Time, want)
		}
		if diff := diffNames(tidNames(ds), tidNames(orig)); diff != "" {
			t.Errorf("names: %s", diff)
		}
	}

	// A native ID listed for two threads names neither.
	b := bytes.Replace(readJavacore(t), []byte("native thread ID:0x10A3"), []byte("native thread ID:0x10A2"), 1)
	ds, err = ParseJavacores(bytes.NewReader(b), time.UTC)
	if len(ds) != 1 || !strings.Contains(errText(err), "native thread ID 4258 is listed for 2 threads (lines 57, 65)") {
		t.Fatalf("%d dumps, err %v", len(ds), err)
	}
	want := tidNames(orig)
	delete(want, 0x10A2)
	delete(want, 0x10A3)
	if diff := diffNames(tidNames(ds), want); diff != "" {
		t.Errorf("names: %s", diff)
	}
}

// The pid jcmd prints first is the dump's Pid; jstack prints none.
func TestJcmdPid(t *testing.T) {
	for f, want := range map[string]int{
		"hotspot/jdk17-jcmd-threadprint-4703.txt": 4703,
		"hotspot/jdk25-jcmd-threadprint-5543.txt": 5543,
		"hotspot/jdk17-jstack-4703.txt":           0,
		"hotspot/jdk17-kill3-stdout-4703.txt":     0,
	} {
		if d := mustParseOne(t, f); d.Pid != want {
			t.Errorf("%s: pid %d, want %d", f, d.Pid, want)
		}
	}
	if ds, _ := ParseJavacores(bytes.NewReader(readJavacore(t)), time.UTC); len(ds) != 1 || ds[0].Pid != 4242 {
		t.Errorf("javacore pid: %+v", ds)
	}
}

// FuzzParseField: no input makes the field path panic, and what it names
// is consistent: no TID twice in a dump, lines within the input.
func FuzzParseField(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(dumpsDir, "field", "*"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Dec 07 10:15:32 h j[1]: Full thread dump X:\nDec 07 10:15:32 h j[1]: \"a\" #1 prio=5 tid=0x1 nid=0x2 r [0x3]\n"))
	f.Add([]byte("2026-12-07T10:15:32Z stdout P \"a\" #1 prio=5 tid=0x1\n2026-12-07T10:15:32Z stdout F  nid=0x2 r [0x3]\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		ds, _ := parseFieldBytes(t, in, time.UTC)
		for _, d := range ds {
			seen := map[int]bool{}
			for _, th := range d.Threads {
				if th.Tid < 0 || th.Tid > 0 && seen[th.Tid] {
					t.Fatalf("TID %d twice or negative in a dump", th.Tid)
				}
				seen[th.Tid] = th.Tid > 0
				if th.Line < 1 {
					t.Fatalf("thread %q at line %d", th.Name, th.Line)
				}
			}
		}
	})
}

// Partial parses of the damage TestBadInput knows: the complete threads
// are kept, the damaged ones (and only they) are not.
func TestPartialDamage(t *testing.T) {
	good := readDump(t, "hotspot/jdk17-jstack-4703.txt")
	orig := mustParseOne(t, "hotspot/jdk17-jstack-4703.txt")
	lineOf := func(b []byte, sub string) int { return bytes.Count(b[:bytes.Index(b, []byte(sub))], []byte("\n")) + 1 }
	cutAt := func(b []byte, sub string) []byte { return b[:bytes.Index(b, []byte(sub))] }
	opts := ParseOptions{Loc: time.UTC, Partial: true}

	// A header that does not parse loses its thread, and its state and
	// frames do not go to the thread before it.
	broken := bytes.Replace(good, []byte(`"monitor-holder" #20 prio=5 os_prio=0 cpu=0.17ms elapsed=7.11s tid=0x00007fd89c128020 nid=0x127b waiting on condition  [0x00007fd86c64f000]`),
		[]byte(`"monitor-holder" #20 pr`), 1)
	ds, err := ParseDumpsWith(bytes.NewReader(broken), opts)
	if len(ds) != 1 || !ds[0].Partial || !strings.Contains(errText(err), "line 143: thread dump from line 2: cannot parse thread header") {
		t.Fatalf("broken header: %d dumps, %v", len(ds), err)
	}
	if diff := diffNames(tidNames(ds), without(orig, func(th Thread) bool { return th.Name == "monitor-holder" })); diff != "" {
		t.Errorf("broken header: %s", diff)
	}
	if tab := byName(ds[0], "tab\there"); tab == nil || fmt.Sprint(tab.Stack) != fmt.Sprint(byName(orig, "tab\there").Stack) || tab.State != "TIMED_WAITING" {
		t.Errorf("the broken thread's state or frames went to the one before: %+v", tab)
	}

	// Cut off by the next dump: the first keeps its threads before the
	// one being printed; the second is whole.
	two := append(cutAt(good, "\tat Named.lambda$main$9"), good...)
	ds, err = ParseDumpsWith(bytes.NewReader(two), opts)
	if len(ds) != 2 || !ds[0].Partial || ds[1].Partial || !strings.Contains(errText(err), "cut off by the next dump") {
		t.Fatalf("cut by the next dump: %d dumps, %v", len(ds), err)
	}
	cutThread := 0
	for _, th := range orig.Threads {
		if th.Line < lineOf(good, "\tat Named.lambda$main$9") {
			cutThread = th.Line
		}
	}
	if diff := diffNames(tidNames(ds[:1]), without(orig, func(th Thread) bool { return th.Line >= cutThread })); diff != "" {
		t.Errorf("cut dump: %s", diff)
	}
	if len(ds[1].Threads) != 39 || ds[1].Time.IsZero() {
		t.Errorf("second dump: %d threads, time %v", len(ds[1].Threads), ds[1].Time)
	}

	// Binary data inside a dump cuts it there.
	bin := append(cutAt(good, `"deadlock-A" #30`), []byte("\x00\x01\x02 ELF\n\x00garbage\n")...)
	ds, err = ParseDumpsWith(bytes.NewReader(bin), opts)
	if len(ds) != 1 || !strings.Contains(errText(err), "binary data") {
		t.Fatalf("binary: %d dumps, %v", len(ds), err)
	}
	if diff := diffNames(tidNames(ds), without(orig, func(th Thread) bool { return th.Line >= lineOf(good, `"after-rename-xyz-longname"`) })); diff != "" {
		t.Errorf("binary: %s", diff)
	}
}

// A timestamp line dates only the dump that follows it within a few lines,
// never a later dump without one.
func TestTimestampScope(t *testing.T) {
	d := "Full thread dump Z:\n\"a\" #1 prio=5 tid=0x1 nid=0x10 runnable [0x3]\nJNI global refs: 1, weak refs: 0\n"
	in := "2026-11-25 13:36:45\n" + d + d + "2026-11-25 13:40:00\n" + strings.Repeat("log line\n", maxTsGap) + d
	ds, err := ParseDumps(strings.NewReader(in), time.UTC)
	if err != nil || len(ds) != 3 {
		t.Fatalf("%d dumps, %v", len(ds), err)
	}
	if ds[0].Time.IsZero() || !ds[1].Time.IsZero() || !ds[2].Time.IsZero() {
		t.Errorf("times %v, %v, %v: want only the first dated", ds[0].Time, ds[1].Time, ds[2].Time)
	}
	in = "2026-11-25 13:40:00\n" + strings.Repeat("log line\n", maxTsGap-1) + d
	if ds, _ := ParseDumps(strings.NewReader(in), time.UTC); len(ds) != 1 || ds[0].Time.IsZero() {
		t.Errorf("%d log lines between: %+v", maxTsGap-1, ds)
	}
}

// fold wraps every line longer than width characters, as a terminal or a
// log system with a fixed line width does (fold -w).
func fold(b []byte, width int) []byte {
	var out bytes.Buffer
	for _, l := range strings.SplitAfter(string(b), "\n") {
		nl := strings.HasSuffix(l, "\n")
		r := []rune(strings.TrimSuffix(l, "\n"))
		for len(r) > width {
			out.WriteString(string(r[:width]) + "\n")
			r = r[width:]
		}
		out.WriteString(string(r))
		if nl {
			out.WriteByte('\n')
		}
	}
	return out.Bytes()
}

// A dump wrapped at any width never names a TID wrong: headers cut inside
// their TID or name are reported and name nothing; the others name as
// before.
func TestWrappedDumpsNameNothingWrong(t *testing.T) {
	for _, f := range []string{"hotspot/jdk17-jstack-4703.txt", "hotspot/jdk25-jstack-l-5543.txt", "dumpling/openjdk-1.7.log", "tda/java8dump.log"} {
		orig := tidNames([]Dump{mustParseOne(t, f)})
		for _, width := range []int{20, 40, 60, 80, 100, 120, 140} {
			ds, _ := parseFieldBytes(t, fold(readDump(t, f), width), time.UTC)
			named, wrong := 0, 0
			for tid, n := range tidNames(ds) {
				if orig[tid] != n {
					wrong++
					t.Errorf("%s wrapped at %d: TID %d named %q, want %q", f, width, tid, n, orig[tid])
				}
				named++
			}
			t.Logf("%s wrapped at %d: %d of %d TIDs named, %d wrong", f, width, named, len(orig), wrong)
		}
	}
	// The file in field/ is that wrapping at 100: 25 threads named, and
	// each of the 14 others is reported.
	ds, err := parseField(t, "field/jdk17-jstack-4703.fold-100.txt")
	got := tidNames(ds)
	if diff := diffNames(got, without(mustParseOne(t, "hotspot/jdk17-jstack-4703.txt"), func(th Thread) bool { _, ok := got[th.Tid]; return !ok })); diff != "" || len(got) != 25 {
		t.Errorf("fold-100: %d named: %s", len(got), diff)
	}
	if n := strings.Count(errText(err), "is continued on this line") + strings.Count(errText(err), "has no native thread id"); n != 14 {
		t.Errorf("fold-100: %d threads reported, want 14: %v", n, err)
	}
}

func TestEmptyFrame(t *testing.T) {
	in := "Full thread dump Z:\n\"a\" #1 prio=5 tid=0x1 nid=0x10 runnable [0x3]\n\tat \nx\nJNI global refs: 1, weak refs: 0\n"
	if ds, _ := ParseDumps(strings.NewReader(in), nil); len(ds) != 1 || ds[0].Threads[0].Tid != 16 {
		t.Errorf("%+v", ds)
	}
}
