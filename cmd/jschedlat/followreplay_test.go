package main

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/session"
)

// TestFollowReplayEqualsLive: a follow run (--jvm PATTERN) saves each
// JVM's events and dumps (session.EventsPath, session.DumpsPath), and
// replaying them gives the live rows byte for byte; its summary has the
// same totals line as a PID run, with the kernel's counts.
func TestFollowReplayEqualsLive(t *testing.T) {
	testenv.RequireRoot(t)
	bin := binary(t)
	j := jdks(t)[0]
	classes := compileWorkload(t, j)
	dir := keepDir(t, "follow-replay")
	marker := fmt.Sprintf("freplay-%d", rand.Int63())
	a := startFollowJVM(t, j.java, classes, marker, dir, 60)
	other := startFollowJVM(t, j.java, classes, marker+"-not", dir, 60)
	pid := a.cmd.Process.Pid
	testenv.WaitFor(t, 120*time.Second, "the workload JVM to run its workers", func() bool { return jvmReady(pid) })

	out := filepath.Join(dir, "out.csv")
	events := filepath.Join(dir, "events.jsonl")
	dumps := filepath.Join(dir, "dumps")
	err, log := runAttachFor(t, bin, []string{"--jvm", `-Djschedlat\.test=` + marker + `(\s|$)`, "--min-latency", "0",
		"--dump-budget", "100%", "--duration", "6s", "-o", out, "--save-events", events, "--save-dumps", dumps}, nil)
	if err != nil {
		t.Fatalf("attach --jvm: %v\n%s", err, log)
	}
	t.Logf("attach --jvm said:\n%s", log)
	if !regexp.MustCompile(`(?m)^jschedlat: traced=[0-9.]+s: 1 JVMs matching .*, \d+ events, \d+ records written \(\d+ of them without a Java name\), \d+ thread births/renames/exits, \d+ lost`).MatchString(log) {
		t.Errorf("no totals line in the summary")
	}
	if !strings.Contains(log, fmt.Sprintf("JVM %d (Workload)", pid)) || !strings.Contains(log, "reads of the thread names from the JVM's memory") {
		t.Errorf("no line of JVM %d with its memory reads in the summary", pid)
	}
	if _, err := os.Stat(session.EventsPath(events, other.cmd.Process.Pid)); err == nil {
		t.Errorf("events of the JVM that does not match were saved")
	}
	if n := recordsWritten(t, log); n < 1000 {
		t.Fatalf("only %d records", n)
	}
	checkReplay(t, bin, dir, session.EventsPath(events, pid), session.DumpsPath(dumps, pid), out)
}
