package correlate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
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
