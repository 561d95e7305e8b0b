package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runBin executes the built binary and returns its exit code and stderr.
func runBin(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stderr.String()
}

// TestBadInput checks that each bad input ends with a clear one-line error
// and a non-zero exit, before anything is loaded into the kernel.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.txt")
	if err := os.WriteFile(garbage, []byte("not an events file\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty-events.jsonl")
	if err := os.WriteFile(empty, []byte(`{"format":"jschedlat-events","version":1,"pid":1}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	self := strconv.Itoa(os.Getpid()) // a live process that is not a JVM
	cases := []struct {
		name string
		args []string
		want string
		root bool // the check comes after the privilege check
	}{
		{"no such pid", []string{"attach", "999999999"}, "no such process", true},
		{"pid not a number", []string{"attach", "abc"}, "invalid PID", false},
		{"unknown kind", []string{"attach", "1", "--kind", "sleep"}, "unknown kind", false},
		{"unknown format", []string{"attach", "1", "--format", "xml"}, "unknown --format", false},
		{"unwritable output", []string{"attach", self, "-o", filepath.Join(dir, "no", "such", "dir", "x.csv")}, "cannot write output", true},
		{"replay: not an events file", []string{"replay", "--events", garbage}, "not a jschedlat events file", false},
		{"replay: missing events file", []string{"replay", "--events", filepath.Join(dir, "nope")}, "no such file", false},
		{"replay: missing dumps", []string{"replay", "--events", empty, "--dumps", filepath.Join(dir, "nope")}, "no such file", false},
		{"threads: not a JVM", []string{"threads", self}, "not a JVM", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.root && os.Geteuid() != 0 {
				t.Skip("SKIPPED: needs root to get past the privilege check")
			}
			code, stderr := runBin(t, c.args...)
			if code == 0 {
				t.Fatalf("exit 0, want non-zero; stderr: %s", stderr)
			}
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			last := lines[len(lines)-1]
			if !strings.Contains(last, c.want) || !strings.HasPrefix(last, "jschedlat: ") {
				t.Errorf("last stderr line %q, want a jschedlat error containing %q", last, c.want)
			}
		})
	}
}
