package jvm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

const dumpsDir = "../testdata/dumps"

func readDump(t testing.TB, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dumpsDir, rel))
	if err != nil {
		t.Fatalf("test data: %v", err)
	}
	return b
}

func parseBytes(t testing.TB, b []byte) ([]Dump, error) {
	t.Helper()
	return ParseDumps(bytes.NewReader(b), time.UTC)
}

// mustParseOne parses a file that holds exactly one good dump.
func mustParseOne(t testing.TB, rel string) Dump {
	t.Helper()
	ds, err := parseBytes(t, readDump(t, rel))
	if err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	if len(ds) != 1 {
		t.Fatalf("%s: %d dumps, want 1", rel, len(ds))
	}
	return ds[0]
}

func byName(d Dump, name string) *Thread {
	for i := range d.Threads {
		if d.Threads[i].Name == name {
			return &d.Threads[i]
		}
	}
	return nil
}

func byTid(d Dump, tid int) *Thread {
	for i := range d.Threads {
		if d.Threads[i].Tid == tid {
			return &d.Threads[i]
		}
	}
	return nil
}

// countHeaders counts thread headers the simple way, independently of the
// parser: lines starting with a quote between "Full thread dump" and the
// "JNI global" footer. Deadlock sections come after the footer.
func countHeaders(b []byte) (dumps, headers int) {
	in := false
	for _, l := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		switch {
		case strings.HasPrefix(l, "Full thread dump "):
			in = true
			dumps++
		case strings.HasPrefix(l, "JNI global ref"):
			in = false
		case in && strings.HasPrefix(l, `"`):
			headers++
		}
	}
	return dumps, headers
}

// TestParseCorpus checks every real dump against counts taken outside the
// parser. threads/internal/carriers were counted with awk over the corpus:
//
//	threads:  lines matching /^"/ between /^Full thread dump/ and /^JNI global ref/
//	internal: header lines with " tid=0x", no `" #N`, not ending in "]"
//	          (no-tabs.log: its cut-short "main" header is a Java thread, so 0)
//	carriers: lines with "Carrying virtual thread"
func TestParseCorpus(t *testing.T) {
	type spot struct {
		name     string
		javaID   int64
		tid      int
		daemon   bool
		internal bool
		state    string
	}
	tests := []struct {
		file                        string
		threads, internal, carriers int
		vm                          string
		spots                       []spot
	}{
		{"dumpling/crlf.log", 2, 0, 0, "OpenJDK 64-Bit Server VM (24.65-b04 mixed mode)",
			[]spot{{"blockedThread", -1, 0x7469, false, false, "WAITING"}}},
		{"dumpling/deadlock.log", 18, 15, 0, "Java HotSpot(TM) 64-Bit Server VM (20.14-b01 mixed mode)",
			[]spot{
				{"Handling GET /hudson/job/some_job/ : ajp-127.0.0.1-8009-133", -1, 0x4745, true, false, "BLOCKED"},
				{"GC task thread#12 (ParallelGC)", -1, 0x684b, false, true, ""},
			}},
		{"dumpling/no-tabs.log", 2, 0, 0, "OpenJDK 64-Bit Server VM (24.65-b04 mixed mode)",
			[]spot{
				{"main", -1, 0xa5d, false, false, "BLOCKED"},
				{"Finalizer", 3, 0x4a3, true, false, "WAITING"},
			}},
		{"dumpling/no_blank_lines.log", 9, 4, 0, "Java HotSpot(TM) 64-Bit Server VM (24.65-b04 mixed mode)",
			[]spot{{"Service Thread", -1, 0x227a, true, false, "RUNNABLE"}, {"VM Thread", -1, 0x226f, false, true, ""}}},
		{"dumpling/openjdk-1.7.log", 19, 10, 0, "OpenJDK Server VM (24.51-b03 mixed mode)",
			[]spot{{"main", -1, 0x7e6d, false, false, "WAITING"}, {"VM Thread", -1, 0x7e76, false, true, ""}}},
		{"dumpling/openjdk-1.8.log", 16, 6, 0, "OpenJDK Server VM (25.11-b02 mixed mode)",
			[]spot{{"Attach Listener", 11, 0x1e95, true, false, "RUNNABLE"}, {"main", 1, 0x1e75, false, false, "WAITING"}}},
		{"dumpling/openjdk-11.0.2.log", 24, 14, 0, "OpenJDK 64-Bit Server VM (11.0.2+7 mixed mode)",
			[]spot{{"main", 1, 0x3964, false, false, "TIMED_WAITING"}}},
		{"dumpling/oraclejdk-1.9.log", 35, 22, 0, "Java HotSpot(TM) 64-Bit Server VM (9-ea+132 mixed mode)",
			[]spot{{"Attach Listener", 14, 0x30ed, true, false, "RUNNABLE"}, {"GC Thread#0", -1, 0x306c, false, true, ""}}},
		{"dumpling/ownable-synchronizers.log", 2, 0, 0, "OpenJDK 64-Bit Server VM (24.65-b04 mixed mode)",
			[]spot{{"main", -1, 0x6857, false, false, "TIMED_WAITING"}}},
		{"tda/java11dump.log", 14, 12, 0, "OpenJDK 64-Bit Server VM (11.0.6+10 mixed mode)",
			[]spot{{"main", 1, 0xaba, false, false, "RUNNABLE"}, {"ParGC Thread#9", -1, 0xcf9, false, true, ""}}},
		{"tda/java8dump.log", 21, 6, 0, "OpenJDK 64-Bit Server VM (25.91-b14 mixed mode)",
			[]spot{{"Thread-2", 20, 0x2a43, false, false, "TIMED_WAITING"}}},
		{"tda/jstack_dump.log", 28, 16, 0, "OpenJDK 64-Bit Server VM (21.0.9+10-LTS mixed mode, sharing)",
			[]spot{{"Reference Handler", 9, 30467, true, false, "RUNNABLE"}, {"GC Thread#0", -1, 12803, false, true, ""}}},
		{"jthreaddump/complex.txt", 44, 17, 0, "OpenJDK 64-Bit Server VM (25+36-LTS mixed mode, sharing)",
			[]spot{{"main", 3, 5379, false, false, "RUNNABLE"}, {"vitals sampler thread", -1, 25859, false, true, ""}}},
		{"jthreaddump/many-virtual-threads.txt", 54, 19, 10, "",
			[]spot{{"ForkJoinPool-1-worker-1", 65, 62471, true, false, ""}}},
		{"jthreaddump/minimal-threads.txt", 56, 19, 0, "",
			[]spot{{"main", 3, 5891, false, false, "RUNNABLE"}}},
		{"hotspot/jdk17-jstack-4703.txt", 39, 7, 0, "OpenJDK 64-Bit Server VM (17.0.15+6-Debian-1deb12u1 mixed mode, sharing)",
			[]spot{{"main", 1, 0x1261, false, false, "TIMED_WAITING"}, {"VM Thread", -1, 0x1267, false, true, ""}}},
		{"hotspot/jdk17-jstack-l-4703.txt", 39, 7, 0, "", nil},
		{"hotspot/jdk17-jstack-e-4703.txt", 39, 7, 0, "", nil},
		{"hotspot/jdk17-jcmd-threadprint-4703.txt", 39, 7, 0, "", nil},
		{"hotspot/jdk17-kill3-stdout-4703.txt", 39, 7, 0, "", nil},
		{"hotspot/jdk17-pidns-jstack-inside.txt", 37, 7, 0, "",
			[]spot{{"main", 1, 2, false, false, "TIMED_WAITING"}}},
		{"hotspot/jdk17-emoji-jstack.txt", 22, 7, 0, "", nil},
		{"hotspot/jdk17-emoji-rawattach.txt", 22, 7, 0, "", nil},
		{"hotspot/jdk25-jstack-l-5543.txt", 38, 7, 0, "OpenJDK 64-Bit Server VM (25.0.3+9-LTS mixed mode, sharing)",
			[]spot{{"main", 3, 5545, false, false, "TIMED_WAITING"}, {"GC Thread#0", -1, 5546, false, true, ""}}},
		{"hotspot/jdk25-jcmd-threadprint-5543.txt", 38, 7, 0, "", nil},
		{"hotspot/jdk25-kill3-stdout-5543.txt", 38, 7, 0, "", nil},
		{"hotspot/jdk25-emoji-jstack.txt", 21, 7, 0, "", nil},
		{"hotspot/jdk25-emoji-rawattach.txt", 21, 7, 0, "", nil},
		{"hotspot/jdk25-vt-jstack-6037.txt", 26, 7, 1, "",
			[]spot{{"ForkJoinPool-1-worker-1", 27, 6062, true, false, ""}}},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			raw := readDump(t, tc.file)
			nd, nh := countHeaders(raw)
			if nd != 1 || nh != tc.threads {
				t.Fatalf("test table disagrees with the file: %d dumps, %d headers; table says 1, %d", nd, nh, tc.threads)
			}
			d := mustParseOne(t, tc.file)
			var internal, carriers int
			for _, th := range d.Threads {
				if th.Internal {
					internal++
					if th.JavaID != -1 || th.State != "" || len(th.Stack) != 0 {
						t.Errorf("internal thread %q has Java traits: %+v", th.Name, th)
					}
				}
				if th.Carrying >= 0 {
					carriers++
				}
				if th.Tid <= 0 {
					t.Errorf("thread %q: no tid", th.Name)
				}
				if !th.Internal && th.Carrying < 0 && th.State == "" {
					t.Errorf("Java thread %q: no state", th.Name)
				}
			}
			if len(d.Threads) != tc.threads || internal != tc.internal || carriers != tc.carriers {
				t.Errorf("threads/internal/carriers = %d/%d/%d, want %d/%d/%d",
					len(d.Threads), internal, carriers, tc.threads, tc.internal, tc.carriers)
			}
			if tc.vm != "" && d.VM != tc.vm {
				t.Errorf("VM = %q, want %q", d.VM, tc.vm)
			}
			if d.Time.IsZero() {
				t.Errorf("no time")
			}
			for _, s := range tc.spots {
				th := byName(d, s.name)
				if th == nil {
					t.Errorf("no thread %q", s.name)
					continue
				}
				got := spot{th.Name, th.JavaID, th.Tid, th.Daemon, th.Internal, th.State}
				if got != s {
					t.Errorf("thread %q = %+v, want %+v", s.name, got, s)
				}
			}
		})
	}
}

// TestNotDumps: files without a HotSpot dump yield nothing and no error.
func TestNotDumps(t *testing.T) {
	for _, f := range []string{
		"hotspot/jdk25-vt-dump-6037.txt", // Thread.dump_to_file format: `#3 "main" ...`
		"hotspot/jdk17-comm-4703.txt",
		"hotspot/tids-before-rename-4703.txt",
	} {
		ds, err := parseBytes(t, readDump(t, f))
		if err != nil || len(ds) != 0 {
			t.Errorf("%s: %d dumps, err %v; want none", f, len(ds), err)
		}
	}
}

// groundTruth reads a tids-before-rename file written by Named: the Java
// name of each thread and the TID the thread found in /proc/thread-self.
// Names may hold newlines, so entries are cut at "=PID/task/TID".
func groundTruth(t *testing.T, rel string) map[string]int {
	t.Helper()
	s := strings.TrimSuffix(strings.TrimPrefix(string(readDump(t, rel)), "{"), "}")
	re := regexp.MustCompile(`=\d+/task/(\d+)(?:\n|$)`)
	out := map[string]int{}
	prev := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		tid, _ := strconv.Atoi(s[m[2]:m[3]])
		out[s[prev:m[0]]] = tid
		prev = m[1]
	}
	if len(out) < 10 {
		t.Fatalf("%s: only %d entries", rel, len(out))
	}
	return out
}

// commFile reads "tid<TAB>comm" lines; a comm holding a newline continues on
// the next line.
func commFile(t *testing.T, rel string) map[int]string {
	t.Helper()
	out := map[int]string{}
	last := -1
	for _, l := range strings.Split(strings.TrimSuffix(string(readDump(t, rel)), "\n"), "\n") {
		if i := strings.IndexByte(l, '\t'); i > 0 {
			if tid, err := strconv.Atoi(l[:i]); err == nil {
				out[tid], last = l[i+1:], tid
				continue
			}
		}
		if last < 0 {
			t.Fatalf("%s: stray line %q", rel, l)
		}
		out[last] += "\n" + l
	}
	return out
}

func comm15(name string) string {
	if len(name) > 15 {
		return name[:15]
	}
	return name
}

// TestGroundTruth: names and TIDs agree with what the threads themselves saw
// in /proc/thread-self, and with the kernel's 15-byte comm.
func TestGroundTruth(t *testing.T) {
	tests := []struct {
		dumps   []string
		truth   string
		comm    string
		renamed [2]string // renamed by another thread: dump shows the new name, comm keeps the old
	}{
		{
			dumps: []string{"hotspot/jdk17-jstack-4703.txt", "hotspot/jdk17-jstack-l-4703.txt", "hotspot/jdk17-jstack-e-4703.txt",
				"hotspot/jdk17-jcmd-threadprint-4703.txt", "hotspot/jdk17-kill3-stdout-4703.txt"},
			truth:   "hotspot/tids-before-rename-4703.txt",
			comm:    "hotspot/jdk17-comm-4703.txt",
			renamed: [2]string{"before-rename", "after-rename-xyz-longname"},
		},
		{
			dumps:   []string{"hotspot/jdk25-jstack-l-5543.txt", "hotspot/jdk25-jcmd-threadprint-5543.txt", "hotspot/jdk25-kill3-stdout-5543.txt"},
			truth:   "hotspot/tids-before-rename-5543.txt",
			comm:    "hotspot/jdk25-comm-5543.txt",
			renamed: [2]string{"before-rename", "after-rename-xyz-longname"},
		},
	}
	for _, tc := range tests {
		truth := groundTruth(t, tc.truth)
		comms := commFile(t, tc.comm)
		for _, f := range tc.dumps {
			t.Run(f, func(t *testing.T) {
				d := mustParseOne(t, f)
				for name, tid := range truth {
					want := name
					if name == tc.renamed[0] {
						want = tc.renamed[1]
					}
					th := byTid(d, tid)
					if th == nil {
						t.Errorf("tid %d (%q): not in dump", tid, name)
						continue
					}
					if th.Name != want {
						t.Errorf("tid %d: name %q, want %q", tid, th.Name, want)
					}
				}
				matched := 0
				for _, th := range d.Threads {
					c, ok := comms[th.Tid]
					if !ok {
						continue // started after comm was read (Attach Listener)
					}
					want := comm15(th.Name)
					switch th.Name {
					case "main":
						want = "java" // the launcher names the primordial thread
					case tc.renamed[1]:
						want = comm15(tc.renamed[0])
					}
					if c != want {
						t.Errorf("tid %d %q: comm %q, want %q", th.Tid, th.Name, c, want)
					}
					matched++
				}
				if matched < len(d.Threads)-1 {
					t.Errorf("only %d of %d threads found in comm", matched, len(d.Threads))
				}
			})
		}
	}
}

// TestOddNames: quotes, newlines, tabs and non-ASCII come out exactly, and
// bytes that are not UTF-8 are kept as they were.
func TestOddNames(t *testing.T) {
	tests := []struct {
		file string
		name string
		tid  int
	}{
		{"hotspot/jdk17-jstack-4703.txt", `quote"inside`, 4726},
		{"hotspot/jdk17-jstack-4703.txt", "line1\nline2", 4727},
		{"hotspot/jdk17-jstack-4703.txt", "tab\there", 4730},
		{"hotspot/jdk17-jstack-4703.txt", "日本語スレッド", 4728},
		{"hotspot/jdk17-jstack-4703.txt", "café-worker", 4729},
		{"hotspot/jdk25-jcmd-threadprint-5543.txt", "line1\nline2", 5567},
		{"hotspot/jdk25-vt-jstack-6037.txt", "quote\"in\nname", 6060},
		{"hotspot/jdk17-emoji-jstack.txt", "rocket-\uFFFD\uFFFD-x", 0x504f},
		{"hotspot/jdk17-emoji-jstack.txt", "", 0x5051},
		// Modified UTF-8 from the attach socket: surrogates encoded one by one, NUL as C0 80.
		{"hotspot/jdk17-emoji-rawattach.txt", "rocket-\xed\xa0\xbd\xed\xba\x80-x", 0x50dc},
		{"hotspot/jdk17-emoji-rawattach.txt", "nul-\xc0\x80-x", 0x50dd},
		{"hotspot/jdk25-emoji-rawattach.txt", "nul-\xc0\x80-x", 21530},
	}
	for _, tc := range tests {
		d := mustParseOne(t, tc.file)
		th := byTid(d, tc.tid)
		if th == nil {
			t.Errorf("%s: no tid %d", tc.file, tc.tid)
			continue
		}
		if th.Name != tc.name {
			t.Errorf("%s: tid %d name %q, want %q", tc.file, tc.tid, th.Name, tc.name)
		}
		if th.State != "TIMED_WAITING" || th.StateDetail != "sleeping" || len(th.Stack) == 0 {
			t.Errorf("%s: %q: state %q (%q), %d frames; want TIMED_WAITING (sleeping) with frames",
				tc.file, tc.name, th.State, th.StateDetail, len(th.Stack))
		}
	}
}

func TestHexAndDecimalNid(t *testing.T) {
	tests := []struct {
		header string
		tid    int
		javaID int64
	}{
		{`"a" #1 prio=5 os_prio=0 tid=0x00007fd89c017ed0 nid=0x1261 waiting on condition  [0x00007fd8a15fe000]`, 0x1261, 1},
		{`"a" #1 prio=5 os_prio=0 tid=0x00007fd89c017ed0 nid=0X1A2B runnable  [0x00007fd8a15fe000]`, 0x1a2b, 1},
		{`"a" #3 [5545] prio=5 os_prio=0 cpu=1ms elapsed=1s tid=0x00007fd11002a840 nid=5545 runnable  [0x00007fd114dfe000]`, 5545, 3},
		{`"a" #3 prio=5 os_prio=0 cpu=1ms elapsed=1s tid=0x00007fd11002a840 nid=5545 runnable  [0x00007fd114dfe000]`, 5545, 3}, // JDK 18
		{`"a" #3 [777] prio=5 os_prio=0 tid=0x00007fd11002a840 nid=778 runnable  [0x00007fd114dfe000]`, 777, 3},                // the bracket wins
		{`"a" #27 [6062] daemon prio=5 os_prio=0 cpu=2984.72ms elapsed=3.47s tid=0x00007f1e040f3cc0  [0x00007f1dab7fd000]`, 6062, 27},
		{`"a" prio=10 tid=0x67c00800 nid=0x7e94 waiting on condition [0x00000000]`, 0x7e94, -1},
		{`"a" os_prio=0 tid=0x00007fd89c1109c0 nid=0x1271 waiting on condition  `, 0x1271, -1},
		{`"a" #1 prio=5 os_prio=0 tid=0x00007fd89c017ed0 runnable`, 0, 1}, // no nid, no bracket: unknown
	}
	for _, tc := range tests {
		th, ok := parseHeader([]byte(tc.header))
		if !ok || th.Tid != tc.tid || th.JavaID != tc.javaID || th.Name != "a" {
			t.Errorf("parseHeader(%q) = tid %d, id %d, name %q, ok %v; want tid %d id %d",
				tc.header, th.Tid, th.JavaID, th.Name, ok, tc.tid, tc.javaID)
		}
	}
}

func TestParseHeader(t *testing.T) {
	tests := []struct {
		header   string
		ok       bool
		name     string
		daemon   bool
		internal bool
	}{
		{`"main" #1 prio=5 os_prio=0 tid=0x1 nid=0x2 runnable [0x3]`, true, "main", false, false},
		{`"x" #11 daemon prio=9 os_prio=0 tid=0x1 nid=0x2 runnable [0x3]`, true, "x", true, false},
		{`"Attach Listener" daemon prio=10 tid=0x67c00800 nid=0x7e94 waiting on condition [0x00000000]`, true, "Attach Listener", true, false},
		{`"VM Thread" prio=10 tid=0x68370800 nid=0x7e76 runnable `, true, "VM Thread", false, true},
		{`"VM Thread" os_prio=0 cpu=1.31ms elapsed=7.14s tid=0x1 nid=0x1267 runnable  `, true, "VM Thread", false, true},
		{`"a "daemon" name" #5 prio=5 tid=0x1 nid=0x2 sleeping [0x3]`, true, `a "daemon" name`, false, false},
		{`"say "hi" #2 prio=1 tid" #7 daemon prio=5 tid=0x1 nid=0x2 runnable [0x3]`, true, `say "hi" #2 prio=1 tid`, true, false},
		{`""" #7 prio=5 tid=0x1 nid=0x2 runnable [0x3]`, true, `"`, false, false},
		{`"a,b	c" #7 prio=5 tid=0x1 nid=0x2 runnable [0x3]`, true, "a,b\tc", false, false},
		{"\"ends in CR\r\" #7 prio=5 tid=0x1 nid=0x2 runnable [0x3]", true, "ends in CR\r", false, false},
		{`"deadlock-A":`, false, "", false, false},
		{`"line1`, false, "", false, false},
		{`"main" #1 prio=5 os_p`, false, "", false, false},
		{`"main" is waiting`, false, "", false, false},
		{`"`, false, "", false, false},
	}
	for _, tc := range tests {
		th, ok := parseHeader([]byte(tc.header))
		if ok != tc.ok || (ok && (th.Name != tc.name || th.Daemon != tc.daemon || th.Internal != tc.internal)) {
			t.Errorf("parseHeader(%q) = %q daemon=%v internal=%v ok=%v; want %q %v %v %v",
				tc.header, th.Name, th.Daemon, th.Internal, ok, tc.name, tc.daemon, tc.internal, tc.ok)
		}
	}
}

func TestCRLF(t *testing.T) {
	d := mustParseOne(t, "dumpling/crlf.log")
	for _, th := range d.Threads {
		if strings.ContainsAny(th.Name, "\r\n") || strings.ContainsAny(th.State, "\r") {
			t.Errorf("CR left in %q / %q", th.Name, th.State)
		}
		for _, f := range th.Stack {
			if strings.HasSuffix(f, "\r") {
				t.Errorf("CR left in frame %q", f)
			}
		}
	}
	if th := byName(d, "blockedThread"); th == nil || th.Stack[0] != "sun.misc.Unsafe.park(Native Method)" {
		t.Errorf("blockedThread frames: %+v", th)
	}

	// The same JDK 17 dump with CRLF line ends gives the same threads; the
	// newline inside "line1\nline2" becomes CRLF too, and only the line-end
	// CR is dropped.
	lf := readDump(t, "hotspot/jdk17-jstack-4703.txt")
	crlf := bytes.ReplaceAll(lf, []byte("\n"), []byte("\r\n"))
	a, errA := parseBytes(t, lf)
	b, errB := parseBytes(t, crlf)
	if errA != nil || errB != nil || len(a) != 1 || len(b) != 1 {
		t.Fatalf("LF: %d dumps %v; CRLF: %d dumps %v", len(a), errA, len(b), errB)
	}
	if fmt.Sprint(a[0].Threads) != fmt.Sprint(b[0].Threads) {
		t.Errorf("CRLF threads differ from LF threads")
	}
	if byName(b[0], "line1\nline2") == nil {
		t.Errorf("CRLF: no thread %q", "line1\nline2")
	}
}

func TestStacks(t *testing.T) {
	d := mustParseOne(t, "hotspot/jdk17-jstack-4703.txt")
	main := byName(d, "main")
	want := []string{
		"java.lang.Thread.sleep(java.base@17.0.15/Native Method)",
		"Named.sleepForever(Named.java:18)",
		"Named.main(Named.java:71)",
	}
	if fmt.Sprint(main.Stack) != fmt.Sprint(want) {
		t.Errorf("main stack %q, want %q", main.Stack, want)
	}
	fin := byName(d, "Finalizer")
	if len(fin.Stack) != 4 || fin.State != "WAITING" || fin.StateDetail != "on object monitor" {
		t.Errorf("Finalizer: %d frames (want 4, lock lines excluded), state %q (%q)", len(fin.Stack), fin.State, fin.StateDetail)
	}
	for _, th := range d.Threads {
		for _, f := range th.Stack {
			if strings.HasPrefix(f, "-") || strings.HasPrefix(f, "at ") || strings.HasPrefix(f, "\t") {
				t.Errorf("%q: frame %q", th.Name, f)
			}
		}
	}
	// Frames indented with spaces instead of a tab.
	nt := mustParseOne(t, "dumpling/no-tabs.log")
	if f := byName(nt, "Finalizer").Stack; len(f) != 4 || f[0] != "java.lang.Object.wait(Native Method)" {
		t.Errorf("no-tabs Finalizer frames %q", f)
	}
}

func TestCarriers(t *testing.T) {
	d := mustParseOne(t, "hotspot/jdk25-vt-jstack-6037.txt")
	c := byName(d, "ForkJoinPool-1-worker-1")
	if c.Carrying != 31 || c.Tid != 6062 || c.Internal || c.State != "" {
		t.Errorf("carrier: %+v", c)
	}
	if len(c.Stack) != 10 || c.Stack[0] != "jdk.internal.vm.Continuation.run(java.base@25.0.3/Continuation.java:251)" {
		t.Errorf("carrier frames %q", c.Stack)
	}
	if len(c.VirtualStack) != 7 || c.VirtualStack[0] != "VThreads.lambda$main$5(VThreads.java:24)" {
		t.Errorf("mounted frames %q", c.VirtualStack)
	}
	if w := byName(d, "ForkJoinPool-1-worker-2"); w.Carrying != -1 || w.Tid != 6063 || w.State != "WAITING" {
		t.Errorf("idle carrier: %+v", w)
	}

	m := mustParseOne(t, "jthreaddump/many-virtual-threads.txt")
	var got []int64
	for _, th := range m.Threads {
		if th.Carrying >= 0 {
			got = append(got, th.Carrying)
		}
	}
	want := []int64{206, 241, 226, 236, 221, 211, 246, 216, 231, 251}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("carried ids %v, want %v", got, want)
	}
}

// TestDeadlockSections: the `"name":` lines of deadlock reports are not threads.
func TestDeadlockSections(t *testing.T) {
	for _, f := range []string{"hotspot/jdk17-jstack-4703.txt", "dumpling/deadlock.log", "jthreaddump/minimal-threads.txt"} {
		d := mustParseOne(t, f)
		seen := map[string]int{}
		for _, th := range d.Threads {
			seen[fmt.Sprintf("%s/%d", th.Name, th.Tid)]++
			if strings.HasSuffix(th.Name, ":") {
				t.Errorf("%s: thread %q from a deadlock section", f, th.Name)
			}
		}
		for k, n := range seen {
			if n > 1 {
				t.Errorf("%s: %s listed %d times", f, k, n)
			}
		}
	}
	// A deadlock report before the footer (not seen in real dumps, but
	// harmless) is skipped as well.
	in := "Full thread dump X:\n\n" +
		"\"a\" #1 prio=5 tid=0x1 nid=0x2 waiting [0x3]\n   java.lang.Thread.State: BLOCKED (on object monitor)\n\n" +
		"Found one Java-level deadlock:\n=====\n\"a\":\n  waiting to lock monitor 0x1,\n  which is held by \"b\"\n\n" +
		"Java stack information for the threads listed above:\n=====\n\"a\":\n\tat X.y(X.java:1)\n\nFound 1 deadlock.\n\n" +
		"JNI global refs: 1, weak refs: 0\n"
	ds, err := ParseDumps(strings.NewReader(in), nil)
	if err != nil || len(ds) != 1 || len(ds[0].Threads) != 1 || len(ds[0].Threads[0].Stack) != 0 {
		t.Errorf("deadlock before footer: %d dumps, err %v, %+v", len(ds), err, ds)
	}
}

func TestTimeVMLine(t *testing.T) {
	loc := time.FixedZone("UTC+1", 3600)
	tests := []struct {
		file string
		line int
		time string
	}{
		{"hotspot/jdk17-jstack-4703.txt", 2, "2026-11-25 13:36:45"},
		{"hotspot/jdk17-jcmd-threadprint-4703.txt", 3, "2026-11-25 13:36:45"}, // "4703:" comes first
		{"hotspot/jdk17-kill3-stdout-4703.txt", 3, "2026-11-25 13:36:54"},     // after "READY 4703"
		{"dumpling/crlf.log", 2, "2014-08-23 15:51:50"},
	}
	for _, tc := range tests {
		ds, err := ParseDumps(bytes.NewReader(readDump(t, tc.file)), loc)
		if err != nil || len(ds) != 1 {
			t.Fatalf("%s: %d dumps, %v", tc.file, len(ds), err)
		}
		want, _ := time.ParseInLocation(time.DateTime, tc.time, loc)
		if ds[0].Line != tc.line || !ds[0].Time.Equal(want) || ds[0].Time.Location() != loc {
			t.Errorf("%s: line %d time %v, want line %d time %v", tc.file, ds[0].Line, ds[0].Time, tc.line, want)
		}
	}
	ds, err := ParseDumps(strings.NewReader("Full thread dump Y (1 mixed mode):\n\"a\" #1 prio=5 tid=0x1 nid=0x2 r [0x3]\nJNI global refs: 1, weak refs: 0\n"), nil)
	if err != nil || len(ds) != 1 || !ds[0].Time.IsZero() || ds[0].VM != "Y (1 mixed mode)" || ds[0].Line != 1 {
		t.Errorf("no timestamp: %+v, %v", ds, err)
	}
}

// TestLogs: dumps among application log lines, several per stream.
func TestLogs(t *testing.T) {
	k17 := readDump(t, "hotspot/jdk17-kill3-stdout-4703.txt")
	k25 := readDump(t, "hotspot/jdk25-kill3-stdout-5543.txt")
	js := readDump(t, "hotspot/jdk17-jstack-4703.txt")
	var log bytes.Buffer
	log.WriteString("2026-11-25 13:36:40.123 INFO  [main] c.e.App - starting\n")
	log.WriteString("\"quoted\" log line that is not in a dump\n")
	log.Write(k17)
	log.WriteString("2026-11-25 13:36:55.001 WARN  [pool-1-thread-1] c.e.App - slow\n")
	log.Write(k25)
	log.Write(js) // back to back, no separator
	log.WriteString("Exception in thread \"main\" java.lang.Error\n\tat X.y(X.java:1)\n")

	ds, err := parseBytes(t, log.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 3 {
		t.Fatalf("%d dumps, want 3", len(ds))
	}
	var wantLines []int
	for i, l := range strings.Split(log.String(), "\n") {
		if strings.HasPrefix(l, "Full thread dump ") {
			wantLines = append(wantLines, i+1)
		}
	}
	wantThreads := []int{39, 38, 39}
	if len(wantLines) != 3 {
		t.Fatalf("test log has %d dumps", len(wantLines))
	}
	for i, d := range ds {
		if d.Line != wantLines[i] || len(d.Threads) != wantThreads[i] || d.Time.IsZero() {
			t.Errorf("dump %d: line %d, %d threads, time %v; want line %d, %d threads",
				i, d.Line, len(d.Threads), d.Time, wantLines[i], wantThreads[i])
		}
	}
	for _, f := range []string{"hotspot/jdk17-kill3-stdout-4703.txt", "hotspot/jdk25-kill3-stdout-5543.txt", "tda/java8dump.log"} {
		ds, err := parseBytes(t, readDump(t, f))
		if err != nil || len(ds) != 1 {
			t.Errorf("%s: %d dumps, %v; want exactly 1", f, len(ds), err)
		}
	}
}

// parseErrorLines returns the lines of all *ParseError in err.
func parseErrorLines(err error) []int {
	var lines []int
	var walk func(error)
	walk = func(e error) {
		var pe *ParseError
		if errors.As(e, &pe) && pe == e {
			lines = append(lines, pe.Line)
			return
		}
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
		}
	}
	if err != nil {
		walk(err)
	}
	return lines
}

// TestBadInput: corrupt, truncated and binary input yields the good dumps
// and an error with the line of the problem.
func TestBadInput(t *testing.T) {
	good := readDump(t, "hotspot/jdk17-jstack-4703.txt") // 337 lines, footer at 291
	goodLines := bytes.Count(good, []byte("\n"))
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	cutAt := func(b []byte, sub string) []byte { return b[:bytes.Index(b, []byte(sub))] }
	lineOf := func(b []byte, sub string) int { return bytes.Count(b[:bytes.Index(b, []byte(sub))], []byte("\n")) + 1 }

	brokenHeader := bytes.Replace(good, []byte(`"monitor-holder" #20 prio=5 os_prio=0`), []byte(`"monitor-holder" #20 pr`), 1)
	brokenHeader = bytes.Replace(brokenHeader, []byte("cpu=0.17ms elapsed=7.11s tid=0x00007fd89c128020 nid=0x127b waiting on condition  [0x00007fd86c64f000]"), nil, 1)
	midHeader := cutAt(good, "os_prio=0 cpu=0.18ms elapsed=7.11s tid=0x00007fd89c121d30")
	binary := cat(cutAt(good, "\"deadlock-A\" #30"), []byte("\"deadlock-A\" #30 \x00\x01\x02\xff\xfe ELF\x7f\x00\x00\n\x00\x00\x00garbage\n"))

	tests := []struct {
		name  string
		in    []byte
		dumps int
		lines []int // lines of the expected ParseErrors
	}{
		{"cut mid-header", midHeader, 0, []int{lineOf(good, `"quote"inside"`)}},
		{"cut mid-line at EOF", cutAt(good, "Named.java:71)"), 0, []int{lineOf(good, "Named.java:71)")}},
		{"cut at line end before footer", cutAt(good, "JNI global refs"), 0, []int{lineOf(good, "JNI global refs") - 1}},
		{"broken header between good dumps", cat(good, brokenHeader, good), 2, []int{goodLines + lineOf(brokenHeader, `"monitor-holder" #20 pr`)}},
		{"next dump before footer", cat(cutAt(good, "JNI global refs"), good), 1, []int{lineOf(good, "JNI global refs") + 1}},
		{"binary inside a dump", cat(good, binary), 1, []int{goodLines + lineOf(binary, "\"deadlock-A\" #30")}},
		{"binary outside dumps", cat([]byte("\x7fELF\x00\x01\"\x00\n\xff\xfe\n"), good, []byte("\x00\x00\"Full\n")), 1, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ds, err := parseBytes(t, tc.in)
			if len(ds) != tc.dumps {
				t.Errorf("%d dumps, want %d", len(ds), tc.dumps)
			}
			for _, d := range ds {
				if len(d.Threads) != 39 {
					t.Errorf("good dump with %d threads", len(d.Threads))
				}
			}
			got := parseErrorLines(err)
			if fmt.Sprint(got) != fmt.Sprint(tc.lines) {
				t.Errorf("error lines %v, want %v (err: %v)", got, tc.lines, err)
			}
			if err != nil {
				var pe *ParseError
				if !errors.As(err, &pe) || !strings.HasPrefix(err.Error(), fmt.Sprintf("line %d: ", pe.Line)) {
					t.Errorf("error %q does not wrap a *ParseError", err)
				}
			}
		})
	}
}

// TestLongLines: lines longer than the read buffer, in and out of dumps.
func TestLongLines(t *testing.T) {
	long := strings.Repeat("x", 200<<10)
	in := long + "\nFull thread dump Z:\n\"" + long + "\" #1 prio=5 tid=0x1 nid=0x10 runnable [0x3]\n" +
		"   java.lang.Thread.State: RUNNABLE\n\tat " + long + "\nJNI global refs: 1, weak refs: 0\n"
	ds, err := ParseDumps(strings.NewReader(in), nil)
	if err != nil || len(ds) != 1 || ds[0].Threads[0].Name != long || ds[0].Threads[0].Stack[0] != long || ds[0].Threads[0].Tid != 16 {
		t.Fatalf("long lines: %d dumps, %v", len(ds), err)
	}
	huge := "Full thread dump Z:\n\tat " + strings.Repeat("y", maxLine+10) + "\nJNI global refs: 1, weak refs: 0\n"
	ds, err = ParseDumps(strings.NewReader(huge), nil)
	if len(ds) != 0 || fmt.Sprint(parseErrorLines(err)) != "[2]" {
		t.Errorf("over-long line: %d dumps, %v", len(ds), err)
	}
}

// TestManyNewlinesInName: a name split over many lines is joined; past the
// limit the header is reported, and the dump resumes correctly.
func TestManyNewlinesInName(t *testing.T) {
	name := "a" + strings.Repeat("\nb", 20)
	in := "Full thread dump Z:\n\"" + name + "\" #1 prio=5 tid=0x1 nid=0x10 runnable [0x3]\n" +
		"   java.lang.Thread.State: RUNNABLE\nJNI global refs: 1, weak refs: 0\n"
	ds, err := ParseDumps(strings.NewReader(in), nil)
	if err != nil || len(ds) != 1 || ds[0].Threads[0].Name != name {
		t.Fatalf("20 newlines: %v %v", ds, err)
	}
	tooMany := "Full thread dump Z:\n\"" + "a" + strings.Repeat("\nb", maxNameLines+5) + "\" #1 prio=5 tid=0x1 nid=0x10 runnable [0x3]\n" +
		"JNI global refs: 1, weak refs: 0\n" + in
	ds, err = ParseDumps(strings.NewReader(tooMany), nil)
	if len(ds) != 1 || ds[0].Line != maxNameLines+9 || fmt.Sprint(parseErrorLines(err)) != "[2]" {
		t.Errorf("too many newlines: %d dumps (line %v), %v", len(ds), ds, err)
	}
}

// FuzzParseDumps: no input makes the parser panic, and what it returns is
// consistent.
func FuzzParseDumps(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(dumpsDir, "*", "*"))
	for _, p := range files {
		if strings.HasSuffix(p, "LICENSE") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("Full thread dump X:\n\"a\n\" #1 prio=5 tid=0x1 nid=0x2 r [0x3]\nJNI global refs: 1\n"))
	f.Add([]byte("Full thread dump X:\r\n\"\r\n\"\" nid=\r\nJNI global ref"))
	f.Fuzz(func(t *testing.T, in []byte) {
		ds, err := ParseDumps(bytes.NewReader(in), time.UTC)
		lines := bytes.Count(in, []byte("\n")) + 1
		for _, d := range ds {
			if d.Line < 1 || d.Line > lines || d.Partial {
				t.Fatalf("dump line %d outside 1..%d, or partial (%v) from a strict parse", d.Line, lines, d.Partial)
			}
			seen := map[int]bool{}
			for _, th := range d.Threads {
				if th.Line <= d.Line || th.Line > lines || th.Tid < 0 || seen[th.Tid] {
					t.Fatalf("thread %q: line %d, tid %d (twice: %v)", th.Name, th.Line, th.Tid, seen[th.Tid])
				}
				seen[th.Tid] = th.Tid > 0
			}
		}
		for _, l := range parseErrorLines(err) {
			if l < 1 || l > lines {
				t.Fatalf("error line %d outside 1..%d: %v", l, lines, err)
			}
		}
	})
}

// genDump writes a JDK 17 style dump of n Java threads with depth frames
// each, plus a few VM threads.
func genDump(n, depth int) []byte {
	var b bytes.Buffer
	b.WriteString("2026-11-25 13:36:45\nFull thread dump OpenJDK 64-Bit Server VM (17.0.15+6-Debian-1deb12u1 mixed mode, sharing):\n\n")
	b.WriteString("Threads class SMR info:\n_java_thread_list=0x00007fd80c003e70, length=2000, elements={\n0x00007fd89c017ed0, 0x00007fd89c0f83c0\n}\n\n")
	names := []string{"http-nio-8080-exec-%d", "order-matcher-%d", "kafka-consumer-%d", "pool-7-thread-%d"}
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "\"%s\" #%d daemon prio=5 os_prio=0 cpu=0.24ms elapsed=7.11s tid=0x00007fd89c%06x nid=0x%x waiting on condition  [0x00007fd86cd4f000]\n",
			fmt.Sprintf(names[i%4], i), i+12, i, 10000+i)
		b.WriteString("   java.lang.Thread.State: TIMED_WAITING (sleeping)\n")
		b.WriteString("\tat java.lang.Thread.sleep(java.base@17.0.15/Native Method)\n")
		for d := 0; d < depth; d++ {
			b.WriteString("\tat Many.deep(Many.java:5)\n")
		}
		b.WriteString("\t- locked <0x000000069ec1b7d0> (a java.lang.Object)\n")
		b.WriteString("\tat java.lang.Thread.run(java.base@17.0.15/Thread.java:840)\n\n")
	}
	for i := 0; i < 8; i++ {
		fmt.Fprintf(&b, "\"GC Thread#%d\" os_prio=0 cpu=0.12ms elapsed=7.16s tid=0x00007fd89c041650 nid=0x%x runnable  \n\n", i, 9000+i)
	}
	b.WriteString("JNI global refs: 4, weak refs: 0\n\n")
	return b.Bytes()
}

func TestGenDump(t *testing.T) {
	in := genDump(2000, 30)
	start := time.Now()
	ds, err := parseBytes(t, in)
	took := time.Since(start)
	if err != nil || len(ds) != 1 || len(ds[0].Threads) != 2008 {
		t.Fatalf("%d dumps, err %v", len(ds), err)
	}
	th := ds[0].Threads[1999]
	if th.Name != "pool-7-thread-1999" || th.Tid != 11999 || len(th.Stack) != 32 {
		t.Errorf("last thread: %q tid %d, %d frames", th.Name, th.Tid, len(th.Stack))
	}
	t.Logf("2,000-thread dump (%d KiB) parsed in %v", len(in)>>10, took)
}

func BenchmarkParseDumps(b *testing.B) {
	in := genDump(2000, 30)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	threads := 0
	for b.Loop() {
		ds, err := ParseDumps(bytes.NewReader(in), time.UTC)
		if err != nil || len(ds) != 1 {
			b.Fatal(err)
		}
		threads += len(ds[0].Threads)
	}
	b.ReportMetric(float64(threads)/b.Elapsed().Seconds(), "threads/s")
}
