package jvm

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

func readDumpFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dumpsDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJSONDumpVirtualThreads(t *testing.T) {
	b := readDumpFile(t, "hotspot/jdk25-vt-dump-6037.json")
	if !IsJSONDump(b) {
		t.Fatal("IsJSONDump: false")
	}
	dumps, err := ParseJSONDumps(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if len(dumps) != 1 {
		t.Fatalf("%d dumps, want 1", len(dumps))
	}
	d := dumps[0]
	if !d.JSON || d.Pid != 6037 || d.VM != "25.0.3+9-LTS" {
		t.Errorf("dump JSON=%v pid=%d vm=%q", d.JSON, d.Pid, d.VM)
	}
	if want := time.Date(2026, 11, 25, 13, 37, 20, 530839550, time.UTC); !d.Time.Equal(want) {
		t.Errorf("time %v, want %v", d.Time, want)
	}
	// 21 "tid" entries in the file, each thread listed once.
	if len(d.Threads) != 21 {
		t.Errorf("%d threads, want 21", len(d.Threads))
	}
	byID := map[int64]Thread{}
	virtual := 0
	for _, th := range d.Threads {
		if th.Tid != 0 {
			t.Errorf("thread #%d has native tid %d: JSON dumps carry none", th.JavaID, th.Tid)
		}
		if th.Sampled.IsZero() {
			t.Errorf("thread #%d: no sample time", th.JavaID)
		}
		if th.Virtual {
			virtual++
		}
		byID[th.JavaID] = th
	}
	if virtual != 6 {
		t.Errorf("%d virtual threads, want 6", virtual)
	}
	vt, carrier := byID[31], byID[27]
	if vt.Name != "vt-spinner" || !vt.Virtual || vt.Carrier != 27 || vt.State != "RUNNABLE" {
		t.Errorf("#31: %+v", vt)
	}
	if carrier.Name != "ForkJoinPool-1-worker-1" || carrier.Virtual || carrier.Carrying != 31 {
		t.Errorf("#27: %+v", carrier)
	}
	if want := time.Date(2026, 11, 25, 13, 37, 20, 600643928, time.UTC); !vt.Sampled.Equal(want) {
		t.Errorf("#31 sampled %v, want %v", vt.Sampled, want)
	}
	if th := byID[3]; th.Name != "main" || len(th.Stack) == 0 || th.Stack[0] != "java.base/java.lang.Thread.sleepNanos0(Native Method)" {
		t.Errorf("#3: %+v", th)
	}
	for id, th := range byID {
		if id != 27 && th.Carrying >= 0 {
			t.Errorf("#%d carries #%d", id, th.Carrying)
		}
	}
}

// JDK 25 stops writing a JSON dump at a NUL in a thread name: the threads
// before it are kept, and the error gives the line.
func TestParseJSONDumpTruncatedByJDK(t *testing.T) {
	b := readDumpFile(t, "hotspot/jdk25-emoji.json")
	dumps, err := ParseJSONDumps(bytes.NewReader(b))
	if err == nil || !strings.Contains(err.Error(), "line 114") {
		t.Fatalf("error %v, want one at line 114", err)
	}
	if len(dumps) != 1 {
		t.Fatalf("%d dumps, want the 1 cut short", len(dumps))
	}
	names := map[string]bool{}
	for _, th := range dumps[0].Threads {
		names[th.Name] = true
	}
	if !names["rocket-🚀-x"] || !names["main"] || len(dumps[0].Threads) != 7 {
		t.Errorf("threads %v, want 7 with main and rocket-🚀-x", names)
	}
}

func TestParseJSONDumpsSeveralAndBroken(t *testing.T) {
	good := readDumpFile(t, "hotspot/jdk25-vt-dump-6037.json")
	two := append(append(append([]byte{}, good...), '\n'), good...)
	dumps, err := ParseJSONDumps(bytes.NewReader(two))
	if err != nil || len(dumps) != 2 {
		t.Fatalf("two dumps in a row: %d dumps, err %v", len(dumps), err)
	}
	// A good dump, then a broken one: the good one is used.
	broken := append(append([]byte{}, good...), "\n{\"threadDump\": {\"threadContainers\": [ {\"threads\": [ {\"tid\": \"x\"} ] } ] } }\n"...)
	dumps, err = ParseJSONDumps(bytes.NewReader(broken))
	if len(dumps) != 1 || err == nil || !strings.Contains(err.Error(), "thread id \"x\"") {
		t.Fatalf("good then bad: %d dumps, err %v", len(dumps), err)
	}
	lines := bytes.Count(good, []byte("\n")) + 2
	if !strings.Contains(err.Error(), "line "+strconv.Itoa(lines)) {
		t.Errorf("error %v does not name line %d", err, lines)
	}
	for _, in := range []string{"", "   ", "{}", "[1,2]", "{\"threadDump\": 3}", "\x00\x01\x02binary", "{\"threadDump\": {\"threadContainers\": [", `{"threadDump":{"time":"yesterday"}}`} {
		dumps, err := ParseJSONDumps(strings.NewReader(in))
		if err == nil || len(dumps) != 0 {
			t.Errorf("%q: %d dumps, err %v; want an error and no dump", in, len(dumps), err)
		}
	}
	if IsJSONDump([]byte("Full thread dump OpenJDK")) || IsJSONDump([]byte(`{"other": 1}`)) {
		t.Error("IsJSONDump true for a non-JSON-dump")
	}
	if !IsJSONDump([]byte("\ufeff\n {\n  \"threadDump\": {")) {
		t.Error("IsJSONDump false after a byte-order mark")
	}
}

func FuzzParseJSONDumps(f *testing.F) {
	f.Add(readDumpFile(f, "hotspot/jdk25-vt-dump-6037.json"))
	f.Add(readDumpFile(f, "hotspot/jdk25-emoji.json"))
	f.Add([]byte(`{"threadDump":{"threadContainers":[{"threads":[{"tid":1,"name":"a","carrier":"2"},{"tid":"2","name":"b"}]}]}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		dumps, _ := ParseJSONDumps(bytes.NewReader(in))
		for _, d := range dumps {
			for _, th := range d.Threads {
				if th.JavaID <= 0 || th.Tid != 0 {
					t.Fatalf("thread kept with Java id %d, tid %d", th.JavaID, th.Tid)
				}
			}
		}
	})
}
