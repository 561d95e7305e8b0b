package jvm

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Real hsperfdata files (see ../testdata/hsperfdata/README.md), each with
// the `jcmd PerfCounter.print` output taken just before the copy: counters
// that do not move on an idle JVM must read the same.
func TestParsePerfDataReal(t *testing.T) {
	for _, jdk := range []string{"jdk17", "jdk25"} {
		t.Run(jdk, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("..", "testdata", "hsperfdata", jdk+".hsperfdata"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := ParsePerfData(b)
			if err != nil {
				t.Fatal(err)
			}
			want := readCounters(t, filepath.Join("..", "testdata", "hsperfdata", jdk+".counters.txt"))
			if c.Len() < 100 {
				t.Errorf("only %d counters", c.Len())
			}
			for _, name := range []string{"sun.rt.safepoints", "sun.rt.safepointTime", "sun.os.hrt.frequency", "java.threads.started", "java.threads.live"} {
				got, ok := c.Value(b, name)
				if !ok {
					t.Errorf("%s missing", name)
					continue
				}
				if got != want[name] {
					t.Errorf("%s = %d, jcmd printed %d", name, got, want[name])
				}
			}
			if v, _ := c.String("java.property.java.vm.specification.version"); v != strings.TrimPrefix(jdk, "jdk") {
				t.Errorf("specification version %q", v)
			}
			if legacySafepointTimer(c) {
				t.Error("taken for a JDK older than 13")
			}
			if _, ok := c.Value(b, "no.such.counter"); ok {
				t.Error("found a counter that does not exist")
			}
		})
	}
}

func readCounters(t *testing.T, path string) map[string]int64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if n, err := strconv.ParseInt(v, 10, 64); ok && err == nil {
			m[k] = n
		}
	}
	return m
}

func TestParsePerfDataRejects(t *testing.T) {
	good, err := os.ReadFile(filepath.Join("..", "testdata", "hsperfdata", "jdk17.hsperfdata"))
	if err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string][]byte{
		"empty":     nil,
		"short":     good[:16],
		"bad magic": append([]byte{0, 0, 0, 0}, good[4:]...),
		"truncated": good[:200],
	} {
		if _, err := ParsePerfData(b); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func FuzzParsePerfData(f *testing.F) {
	for _, jdk := range []string{"jdk17", "jdk25"} {
		b, err := os.ReadFile(filepath.Join("..", "testdata", "hsperfdata", jdk+".hsperfdata"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add(b[:1024])
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParsePerfData(b)
		if err != nil {
			return
		}
		for name := range c.offsets {
			c.Value(b, name)
		}
	})
}

var safepointLine = regexp.MustCompile(`Safepoint "(\w+)".* Total: (\d+) ns`)

// The stop time a Metered capture reports is checked against the JVM's
// own safepoint log (-Xlog:safepoint): same number of safepoints, same
// total time within 1% (both come from the same clock readings).
func TestMeteredMatchesSafepointLog(t *testing.T) {
	eachJDK(t, "the safepoint meter test", func(t *testing.T, java, classes string) {
		logFile := filepath.Join(t.TempDir(), "safepoint.log")
		p := startProbe(t, java, classes, "-Xlog:safepoint=info:file="+logFile)
		src, err := NewSource(p.pid, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := src.(*Metered)
		if !ok {
			t.Fatalf("NewSource gave %T, want *Metered for a JVM with hsperfdata", src)
		}
		defer m.Close()
		before := countSafepoints(t, logFile)
		var stopped time.Duration
		var points int64
		for i := 0; i < 3; i++ {
			c, err := src.Capture(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if !c.StopKnown || c.Safepoints < 1 || c.Stopped <= 0 {
				t.Fatalf("capture %d: stop not measured: %+v", i, c.Stopped)
			}
			stopped += c.Stopped
			points += c.Safepoints
		}
		time.Sleep(200 * time.Millisecond) // the log is written asynchronously
		after := countSafepoints(t, logFile)
		n := int64(len(after) - len(before))
		var logged time.Duration
		for _, d := range after[len(before):] {
			logged += d
		}
		if os.Getenv("JSCHEDLAT_SHOWLOG") != "" {
			b, _ := os.ReadFile(logFile)
			t.Logf("%s", b)
		}
		t.Logf("meter: %d safepoints, %s; JVM log: %d safepoints, %s", points, stopped, n, logged)
		if points != n {
			t.Errorf("meter counted %d safepoints, the JVM logged %d", points, n)
		}
		if diff := stopped - logged; diff < -logged/100 || diff > logged/100 {
			t.Errorf("meter says stopped %s, the JVM logged %s", stopped, logged)
		}
	})
}

func countSafepoints(t *testing.T, path string) []time.Duration {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Duration
	for _, m := range safepointLine.FindAllStringSubmatch(string(b), -1) {
		ns, _ := strconv.ParseInt(m[2], 10, 64)
		out = append(out, time.Duration(ns))
	}
	return out
}
