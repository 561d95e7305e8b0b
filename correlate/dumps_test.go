package correlate

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/record"
)

func TestLoadDumpsPlainFiles(t *testing.T) {
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Skip("SKIPPED: no time zone data")
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("no dump here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	log := "../testdata/dumps/hotspot/jdk17-kill3-stdout-4703.txt"
	dumps, warns, err := LoadDumps([]string{log, bad}, zurich)
	if err != nil {
		t.Fatal(err)
	}
	if len(dumps) != 1 {
		t.Fatalf("%d dumps from %s, want 1", len(dumps), log)
	}
	// The timestamp line is local time of the zone given, second resolution.
	if got := time.Unix(0, dumps[0].Start).In(zurich).Format("2006-01-02 15:04:05"); !strings.HasPrefix(got, "2026-") {
		t.Errorf("dump time %s", got)
	}
	if dumps[0].End-dumps[0].Start != int64(time.Second)-1 {
		t.Errorf("a plain dump spans its timestamp's second, got %d ns", dumps[0].End-dumps[0].Start)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "bad.txt") {
		t.Errorf("warnings %q: want one naming bad.txt", warns)
	}
	if _, _, err := LoadDumps([]string{filepath.Join(dir, "missing")}, zurich); err == nil {
		t.Error("missing path: no error")
	}
}

// A directory mixing a HotSpot log and an OpenJ9 javacore: each file is
// read with its own parser and the dumps come back in time order.
func TestLoadDumpsJavacore(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"openj9/javacore.20261125.215007.4242.0001.txt", "hotspot/jdk17-kill3-stdout-4703.txt"} {
		b, err := os.ReadFile(filepath.Join("../testdata/dumps", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dumps, warns, err := LoadDumps([]string{dir}, time.UTC)
	if err != nil || len(warns) > 0 {
		t.Fatalf("err %v, warnings %q", err, warns)
	}
	if len(dumps) != 2 || dumps[0].Start > dumps[1].Start {
		t.Fatalf("%d dumps, want 2 in time order", len(dumps))
	}
	var j9 *TimedDump
	for i := range dumps {
		if strings.Contains(dumps[i].Origin, "javacore") {
			j9 = &dumps[i]
		}
	}
	if j9 == nil {
		t.Fatal("no dump from the javacore")
	}
	if want := time.Date(2026, 11, 25, 21, 50, 7, 123e6, time.UTC).UnixNano(); j9.Start != want || j9.End != want+int64(time.Second)-1 {
		t.Errorf("javacore placed at %d..%d, want %d + 1 s", j9.Start, j9.End, want)
	}
	names := map[int]string{}
	for _, th := range j9.Dump.Threads {
		names[th.Tid] = th.Name
	}
	if names[0x10A2] != "order-matcher-worker-1" || names[4260] != "日本語スレッド-1" {
		t.Errorf("javacore threads: %v", names)
	}
}

func TestDumpStoreRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dumps")
	s, err := NewDumpStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../testdata/dumps/hotspot/jdk17-jstack-4703.txt")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(0, 1795623292049732581)
	c := &jvm.Capture{Pid: 4703, Start: start, End: start.Add(5 * time.Millisecond), Source: "attach", Raw: raw}
	if _, err := s.Save(c, "start", nil); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := NewDumpStore(dir); err == nil {
		t.Error("a directory holding a capture was accepted again")
	}
	dumps, warns, err := LoadDumps([]string{dir}, time.UTC)
	if err != nil || len(warns) != 0 {
		t.Fatalf("err %v, warnings %q", err, warns)
	}
	if len(dumps) != 1 || dumps[0].Start != start.UnixNano() || dumps[0].End != start.Add(5*time.Millisecond).UnixNano() || dumps[0].Pid != 4703 {
		t.Fatalf("loaded %+v", dumps)
	}
	if len(dumps[0].Dump.Threads) < 20 {
		t.Errorf("only %d threads", len(dumps[0].Dump.Threads))
	}
}

func TestDumpStoreKeepsNamespaceMap(t *testing.T) {
	// A JVM in its own PID namespace prints its own TIDs; the capture keeps
	// the map to host TIDs so that a replay elsewhere names exactly.
	dir := filepath.Join(t.TempDir(), "dumps")
	s, err := NewDumpStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("../testdata/dumps/hotspot/jdk17-pidns-jstack-inside.txt")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Unix(0, 1795623292049732581)
	c := &jvm.Capture{Pid: 999, Start: start, End: start.Add(time.Millisecond), Source: "attach", Raw: raw}
	if _, err := s.Save(c, "start", map[int]uint32{1: 5001, 2: 5002}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	dumps, _, err := LoadDumps([]string{dir}, time.UTC)
	if err != nil || len(dumps) != 1 {
		t.Fatalf("%d dumps, %v", len(dumps), err)
	}
	m := dumps[0].TidMap()
	if m == nil {
		t.Fatal("namespace map lost")
	}
	if h, ok := m(2); !ok || h != 5002 {
		t.Errorf("TID 2 -> %d, %v; want 5002", h, ok)
	}
	if _, ok := m(3); ok {
		t.Error("an unmapped TID was mapped: it must stay unnamed")
	}
	n := NewNamer(0)
	n.AddDump(dumps[0].Start, dumps[0].End, &dumps[0].Dump, m)
	var nsName string
	for _, th := range dumps[0].Dump.Threads {
		if th.Tid == 2 {
			nsName = th.Name
		}
	}
	if name, _ := n.Name(5002, dumps[0].Start, "java"); name != nsName || name == "" {
		t.Errorf("host TID 5002 named %q, want %q", name, nsName)
	}
	if name, _ := n.Name(2, dumps[0].Start, "java"); name != "" {
		t.Errorf("namespace TID 2 used as a host TID: named %q", name)
	}
}

const fieldDir = "../testdata/dumps/field"

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func dumpNames(ds []TimedDump) map[int]string {
	m := map[int]string{}
	for _, d := range ds {
		for _, th := range d.Dump.Threads {
			if th.Tid > 0 {
				m[th.Tid] = th.Name
			}
		}
	}
	return m
}

func sameNames(t *testing.T, what string, got, want map[int]string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d TIDs named, want %d", what, len(got), len(want))
	}
	for tid, n := range want {
		if got[tid] != n {
			t.Errorf("%s: TID %d named %q, want %q", what, tid, got[tid], n)
		}
	}
}

func hasWarning(warns []string, parts ...string) bool {
	for _, w := range warns {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(w, p)
		}
		if all {
			return true
		}
	}
	return false
}

// One unreadable file in a directory (a dangling link, binary junk, corrupt
// gzip, no permission) is a warning naming it; the other files are read.
func TestLoadDumpsDirSurvivesBadFiles(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, "../testdata/dumps/hotspot/jdk17-jstack-4703.txt", filepath.Join(dir, "good.txt"))
	copyFile(t, filepath.Join(fieldDir, "jdk25-jstack-l-5543.utf16be-bom.txt"), filepath.Join(dir, "good-utf16.txt"))
	copyFile(t, filepath.Join(fieldDir, "jdk17-jstack-4703.gzip-corrupt.txt"), filepath.Join(dir, "corrupt.gz"))
	if err := os.WriteFile(filepath.Join(dir, "heap.hprof"), append([]byte("JAVA PROFILE 1.0.2\x00\x00\x00\x00\x08"), make([]byte, 5000)...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "gone.txt"), filepath.Join(dir, "dangling.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "old"), 0o755); err != nil {
		t.Fatal(err)
	}
	noPerm := os.Geteuid() != 0 // root reads a file of mode 000
	if noPerm {
		copyFile(t, "../testdata/dumps/hotspot/jdk17-jstack-4703.txt", filepath.Join(dir, "secret.txt"))
		if err := os.Chmod(filepath.Join(dir, "secret.txt"), 0); err != nil {
			t.Fatal(err)
		}
	}
	dumps, warns, err := LoadDumps([]string{dir}, time.UTC)
	if err != nil {
		t.Fatalf("a bad file ended the load: %v", err)
	}
	if len(dumps) != 2 {
		t.Errorf("%d dumps, want 2 (good.txt, good-utf16.txt)", len(dumps))
	}
	for _, w := range [][]string{
		{"dangling.txt", "skipped"},
		{"heap.hprof", "binary data, not a thread dump", "skipped"},
		{"corrupt.gz", "corrupt gzip data", "nothing in it is used"},
	} {
		if !hasWarning(warns, w...) {
			t.Errorf("no warning saying %q in %q", w, warns)
		}
	}
	// Corrupt data decodes into lines that look like a dump: what the
	// parser made of them is not passed on, only the one warning.
	n := 0
	for _, w := range warns {
		if strings.Contains(w, "corrupt.gz") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d warnings about corrupt.gz, want 1: %q", n, warns)
	}
	if noPerm && !hasWarning(warns, "secret.txt", "permission denied", "skipped") {
		t.Errorf("no warning for the unreadable file in %q", warns)
	}
	for _, d := range dumps {
		if strings.Contains(d.Origin, "corrupt") {
			t.Errorf("a dump from corrupt gzip data was used: %s", d.Origin)
		}
	}
	// A file named on its own that cannot be read is an error.
	if _, _, err := LoadDumps([]string{filepath.Join(dir, "dangling.txt")}, time.UTC); err == nil {
		t.Error("a dangling file named on its own: no error")
	}
}

// Field forms load with the names of their source, placed at the same time.
func TestLoadDumpsFieldForms(t *testing.T) {
	orig, _, err := LoadDumps([]string{"../testdata/dumps/hotspot/jdk17-jstack-4703.txt"}, time.UTC)
	if err != nil || len(orig) != 1 {
		t.Fatal(err)
	}
	k25, _, err := LoadDumps([]string{"../testdata/dumps/hotspot/jdk25-kill3-stdout-5543.txt"}, time.UTC)
	if err != nil || len(k25) != 1 {
		t.Fatal(err)
	}
	for f, want := range map[string]TimedDump{
		"jdk17-jstack-4703.utf16le-bom-crlf.txt":  orig[0],
		"jdk17-jstack-4703.gzip-noext.txt":        orig[0],
		"jdk17-jstack-4703.ts-blanks-logline.txt": orig[0],
		"jdk25-kill3-stdout-5543.cri.log":         k25[0],
		"jdk25-kill3-stdout-5543.docker-json.log": k25[0],
		"jdk17-kill3-stdout-4703.journald-short.txt": func() TimedDump {
			d, _, _ := LoadDumps([]string{"../testdata/dumps/hotspot/jdk17-kill3-stdout-4703.txt"}, time.UTC)
			return d[0]
		}(),
	} {
		ds, warns, err := LoadDumps([]string{filepath.Join(fieldDir, f)}, time.UTC)
		if err != nil || len(warns) > 0 || len(ds) != 1 {
			t.Errorf("%s: %d dumps, warnings %q, err %v", f, len(ds), warns, err)
			continue
		}
		sameNames(t, f, dumpNames(ds), dumpNames([]TimedDump{want}))
		if ds[0].Start != want.Start || ds[0].End != want.End {
			t.Errorf("%s: placed at %d..%d, want %d..%d", f, ds[0].Start, ds[0].End, want.Start, want.End)
		}
	}
}

// A truncated dump gives its complete threads and says so, naming the
// file and line.
func TestLoadDumpsTruncated(t *testing.T) {
	f := filepath.Join(fieldDir, "jdk17-jstack-4703.cut-mid-nid.txt")
	ds, warns, err := LoadDumps([]string{f}, time.UTC)
	if err != nil || len(ds) != 1 {
		t.Fatalf("%d dumps, %v", len(ds), err)
	}
	if !hasWarning(warns, f+":200: ", "truncated", "the thread being printed there (line 200) is not used") {
		t.Errorf("warnings %q", warns)
	}
	if n := len(dumpNames(ds)); n != 24 {
		t.Errorf("%d threads named, want the 24 before line 200", n)
	}
	j9 := filepath.Join(fieldDir, "javacore.4242.cut-mid-thread.txt")
	ds, warns, err = LoadDumps([]string{j9}, time.UTC)
	if err != nil || len(ds) != 1 || !hasWarning(warns, j9+":", "javacore ends before its END OF DUMP line (truncated)") {
		t.Errorf("javacore: %d dumps, warnings %q, %v", len(ds), warns, err)
	}
}

// A javacore with 1TIDATETIMEUTC is placed by it, whatever --tz says.
func TestLoadDumpsJavacoreUTC(t *testing.T) {
	for _, loc := range []*time.Location{time.UTC, time.FixedZone("UTC-7", -7*3600)} {
		ds, warns, err := LoadDumps([]string{filepath.Join(fieldDir, "javacore.4242.utc.txt")}, loc)
		if err != nil || len(warns) > 0 || len(ds) != 1 {
			t.Fatalf("%d dumps, warnings %q, %v", len(ds), warns, err)
		}
		if want := time.Date(2026, 11, 25, 20, 50, 7, 123e6, time.UTC).UnixNano(); ds[0].Start != want {
			t.Errorf("tz %v: placed at %s, want %s", loc, record.FormatTime(ds[0].Start), record.FormatTime(want))
		}
		if ds[0].Pid != 4242 {
			t.Errorf("pid %d, want 4242 (1CIPROCESSID)", ds[0].Pid)
		}
	}
}

// A dump without a timestamp line is placed at the instant given, or else
// at the file's modification time, and the warning says which.
func TestLoadDumpsWithoutTimestamp(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "dump.txt")
	copyFile(t, filepath.Join(fieldDir, "jdk17-jstack-4703.no-timestamp.txt"), f)
	mtime := time.Date(2026, 11, 25, 12, 36, 46, 250e6, time.UTC)
	if err := os.Chtimes(f, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	ds, warns, err := LoadDumps([]string{f}, time.UTC)
	if err != nil || len(ds) != 1 {
		t.Fatalf("%d dumps, %v", len(ds), err)
	}
	if ds[0].End != mtime.UnixNano() || ds[0].Start != mtime.UnixNano()-int64(time.Second)+1 {
		t.Errorf("placed at %s..%s, want the second before the modification time %s", record.FormatTime(ds[0].Start), record.FormatTime(ds[0].End), record.FormatTime(mtime.UnixNano()))
	}
	if !hasWarning(warns, f+":1: ", "no timestamp line", "modification time", "2026-11-25T12:36:46.250000000Z", "--dump-time") {
		t.Errorf("warnings %q", warns)
	}
	if len(dumpNames(ds)) != 39 {
		t.Errorf("%d threads named", len(dumpNames(ds)))
	}

	at := time.Date(2026, 11, 25, 12, 36, 45, 0, time.UTC)
	for _, key := range []string{f, "dump.txt"} {
		ds, warns, err = LoadDumpsWith([]string{dir}, LoadOptions{Loc: time.UTC, At: map[string]time.Time{key: at}})
		if err != nil || len(ds) != 1 || len(warns) > 0 {
			t.Fatalf("--dump-time %s: %d dumps, warnings %q, %v", key, len(ds), warns, err)
		}
		if ds[0].Start != at.UnixNano() || ds[0].End != at.UnixNano()+int64(time.Second)-1 {
			t.Errorf("--dump-time %s: placed at %s", key, record.FormatTime(ds[0].Start))
		}
	}
	if _, _, err := LoadDumpsWith([]string{dir}, LoadOptions{At: map[string]time.Time{"other.txt": at}}); err == nil {
		t.Error("a dump time for a file not read: no error")
	}
	// A gzip file keeps the modification time of what it packed.
	gz := filepath.Join(dir, "gz.txt")
	copyFile(t, filepath.Join(fieldDir, "jdk17-jstack-4703.gzip-noext.txt"), gz)
	ds, _, err = LoadDumps([]string{gz}, time.UTC)
	if err != nil || len(ds) != 1 || ds[0].Start != time.Date(2026, 11, 25, 13, 36, 45, 0, time.UTC).UnixNano() {
		t.Errorf("gzip with a timestamp line: %+v, %v", ds, err)
	}
}

// jcmd's first line gives the dump's process.
func TestLoadDumpsJcmdPid(t *testing.T) {
	ds, _, err := LoadDumps([]string{"../testdata/dumps/hotspot/jdk17-jcmd-threadprint-4703.txt", "../testdata/dumps/hotspot/jdk17-jstack-4703.txt"}, time.UTC)
	if err != nil || len(ds) != 2 {
		t.Fatalf("%d dumps, %v", len(ds), err)
	}
	for _, d := range ds {
		want := 0
		if strings.Contains(d.Origin, "jcmd") {
			want = 4703
		}
		if d.Pid != want {
			t.Errorf("%s: pid %d, want %d", d.Origin, d.Pid, want)
		}
	}
}

// A thread name that is not UTF-8 (here Latin-1 from a real dump) comes
// out as valid UTF-8 in CSV, the same text as in JSON lines.
func TestCSVValidUTF8FromDump(t *testing.T) {
	ds, _, err := LoadDumps([]string{filepath.Join(fieldDir, "jdk17-jstack-4703.latin1-name.txt")}, time.UTC)
	if err != nil || len(ds) != 1 {
		t.Fatal(err)
	}
	name := dumpNames(ds)[0x1279]
	if name != "caf\xe9-worker" {
		t.Fatalf("name %q: the test wants the Latin-1 byte", name)
	}
	for _, format := range []string{"csv", "jsonl"} {
		var b bytes.Buffer
		w, err := record.NewWriter(&b, format)
		if err != nil {
			t.Fatal(err)
		}
		r := record.Record{Time: ds[0].Start, Kind: "wait", Tid: 0x1279, Comm: "caf\xe9-worker", JavaThread: name, NameSource: record.SourceDump}
		if err := w.Write(&r); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(b.Bytes()) {
			t.Errorf("%s output is not UTF-8: %q", format, b.Bytes())
		}
		var got []record.Record
		if err := record.ReadRecords(bytes.NewReader(b.Bytes()), func(r *record.Record) error { got = append(got, *r); return nil }); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if len(got) != 1 || got[0].JavaThread != "caf\uFFFD-worker" || got[0].Comm != "caf\uFFFD-worker" {
			t.Errorf("%s: read back %+v", format, got)
		}
	}
}
