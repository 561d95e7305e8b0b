package jvm

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func readJavacore(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "dumps", "openj9", "javacore.20261125.215007.4242.0001.txt"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseJavacore(t *testing.T) {
	zurich, err := time.LoadLocation("Europe/Zurich")
	if err != nil {
		t.Skipf("SKIPPED: no tzdata: %v", err)
	}
	b := readJavacore(t)
	for name, in := range map[string][]byte{"LF": b, "CRLF": bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))} {
		t.Run(name, func(t *testing.T) {
			if !IsJavacore(in[:200]) {
				t.Fatal("not recognised as a javacore")
			}
			dumps, err := ParseJavacores(bytes.NewReader(in), zurich)
			if err != nil {
				t.Fatal(err)
			}
			if len(dumps) != 1 {
				t.Fatalf("%d dumps, want 1", len(dumps))
			}
			d := dumps[0]
			if want := time.Date(2026, 11, 25, 21, 50, 7, 123e6, zurich); !d.Time.Equal(want) {
				t.Errorf("time %v, want %v", d.Time, want)
			}
			if !strings.Contains(d.VM, "17.0.13") {
				t.Errorf("VM %q", d.VM)
			}
			want := map[int]struct {
				name     string
				id       int64
				state    string
				internal bool
			}{
				0x1093: {"main", 1, "WAITING", false},
				0x1097: {"Signal Dispatcher", 2, "RUNNABLE", false},
				0x1098: {"JIT Compilation Thread-000", 3, "WAITING", false},
				0x10A2: {"order-matcher-worker-1", 0x14, "RUNNABLE", false},
				0x10A3: {`say "hi", then leave`, 0x15, "WAITING", false},
				4260:   {"日本語スレッド-1", 0x16, "BLOCKED", false},
				0x10A6: {"GC Worker", -1, "WAITING", true},
			}
			if len(d.Threads) != len(want) {
				t.Errorf("%d threads, want %d (the current thread once, no anonymous thread)", len(d.Threads), len(want))
			}
			for _, th := range d.Threads {
				w, ok := want[th.Tid]
				if !ok {
					t.Errorf("unexpected thread %+v", th)
					continue
				}
				if th.Name != w.name || th.JavaID != w.id || th.State != w.state || th.Internal != w.internal {
					t.Errorf("tid %#x: %q #%d %s internal=%v, want %q #%d %s internal=%v", th.Tid, th.Name, th.JavaID, th.State, th.Internal, w.name, w.id, w.state, w.internal)
				}
				if th.Tid == 0x1093 && (len(th.Stack) != 3 || th.Stack[0] != "java.lang.Thread.sleepImpl(Native Method)") {
					t.Errorf("main's stack %q", th.Stack)
				}
			}
		})
	}
}

func TestParseJavacoreDamaged(t *testing.T) {
	b := readJavacore(t)
	// Cut before the threads: a javacore without threads is an error.
	i := bytes.Index(b, []byte("0SECTION       THREADS"))
	if dumps, err := ParseJavacores(bytes.NewReader(b[:i]), time.UTC); len(dumps) != 0 || err == nil {
		t.Errorf("javacore without threads: %d dumps, err %v", len(dumps), err)
	}
	bad := bytes.Replace(b, []byte("Date: 2026/11/25 at 21:50:07:123"), []byte("Date: someday"), 1)
	if _, err := ParseJavacores(bytes.NewReader(bad), time.UTC); err == nil || !strings.Contains(err.Error(), "unreadable javacore date") {
		t.Errorf("bad date: err %v", err)
	}
	if IsJavacore([]byte("2026-11-25 21:50:07\nFull thread dump OpenJDK")) {
		t.Error("a HotSpot dump taken for a javacore")
	}
}

func FuzzParseJavacores(f *testing.F) {
	b, err := os.ReadFile(filepath.Join("..", "testdata", "dumps", "openj9", "javacore.20261125.215007.4242.0001.txt"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)/2])
	for _, v := range []string{"javacore.4242.cut-mid-thread.txt", "javacore.4242.utc.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "dumps", "field", v))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		dumps, _ := ParseJavacores(bytes.NewReader(in), time.UTC)
		for _, d := range dumps {
			seen := map[int]bool{}
			for _, th := range d.Threads {
				if th.Tid <= 0 || seen[th.Tid] {
					t.Fatalf("thread without a native id, or with one listed twice, kept: %+v", th)
				}
				seen[th.Tid] = true
			}
		}
	})
}
