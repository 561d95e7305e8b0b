package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/eventlog"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// replayOnce writes an event log of pid with one wait of each TID at t,
// replays it with args and returns the Java names of the rows by TID and
// what was logged.
func replayOnce(t *testing.T, pid uint32, at time.Time, tids []uint32, o replayOpts) (map[uint32]string, string) {
	t.Helper()
	dir := t.TempDir()
	var ev bytes.Buffer
	w, err := eventlog.NewWriter(&ev, eventlog.Header{Pid: pid})
	if err != nil {
		t.Fatal(err)
	}
	for i, tid := range tids {
		// The kernel's names of those threads (jdk17-comm-4703.txt).
		comm := map[uint32]string{0x1279: "café-worker", 0x1261: "java"}[tid]
		e := sched.Event{KTime: uint64(1e9 + i), Time: at.UnixNano() + int64(i), Latency: 1000, Kind: sched.KindWakeup, Pid: pid, Tid: tid, Comm: comm}
		if err := w.Write(&e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	o.events = filepath.Join(dir, "events.jsonl")
	if err := os.WriteFile(o.events, ev.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	o.output, o.format = filepath.Join(dir, "out.csv"), "csv"
	if o.tz == "" {
		o.tz = "UTC"
	}
	var logged bytes.Buffer
	old := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&logged, nil)))
	defer slog.SetDefault(old)
	if err := runReplay(context.Background(), &o); err != nil {
		t.Fatalf("replay: %v\n%s", err, logged.String())
	}
	out, err := os.ReadFile(o.output)
	if err != nil {
		t.Fatal(err)
	}
	names := map[uint32]string{}
	if err := record.ReadRecords(bytes.NewReader(out), func(r *record.Record) error {
		names[r.Tid] = r.JavaThread
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return names, logged.String()
}

// 2026-11-25 13:36:45 in the dumps' zone (UTC here): when jdk17-*-4703 were taken.
var dump4703 = time.Date(2026, 11, 25, 13, 36, 45, 500e6, time.UTC)

func TestReplayJcmdPid(t *testing.T) {
	jcmd := "../../testdata/dumps/hotspot/jdk17-jcmd-threadprint-4703.txt"
	names, _ := replayOnce(t, 4703, dump4703, []uint32{0x1279}, replayOpts{dumps: []string{jcmd}})
	if names[0x1279] != "café-worker" {
		t.Errorf("same pid: TID 0x1279 named %q", names[0x1279])
	}
	names, logged := replayOnce(t, 5000, dump4703, []uint32{0x1279}, replayOpts{dumps: []string{jcmd}})
	if names[0x1279] != "" {
		t.Errorf("dump of pid 4703 named a thread of pid 5000: %q", names[0x1279])
	}
	if !strings.Contains(logged, "dump is of another process") || !strings.Contains(logged, "dump_pid=4703") || !strings.Contains(logged, "events_pid=5000") {
		t.Errorf("log %q: want a warning naming both pids", logged)
	}
}

func TestReplayDumpTime(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "dump.txt")
	b, err := os.ReadFile("../../testdata/dumps/field/jdk17-jstack-4703.no-timestamp.txt")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// Without --dump-time: the file's modification time (now) places it,
	// far from the events, and the warning says so.
	names, logged := replayOnce(t, 4703, dump4703, []uint32{0x1279}, replayOpts{dumps: []string{dir}})
	if !strings.Contains(logged, "no timestamp line") || !strings.Contains(logged, "modification time") ||
		!strings.Contains(logged, "dump placed after the last event names no thread") {
		t.Errorf("log %q", logged)
	}
	if names[0x1279] != "" {
		t.Errorf("a dump placed after the events named %q", names[0x1279])
	}
	names, logged = replayOnce(t, 4703, dump4703, []uint32{0x1279, 0x1261}, replayOpts{dumps: []string{dir},
		dumpTime: []string{"dump.txt=2026-11-25T13:36:45Z"}})
	if names[0x1279] != "café-worker" || names[0x1261] != "main" {
		t.Errorf("--dump-time: names %v\n%s", names, logged)
	}
	// The dump's own layout, read in --tz.
	names, _ = replayOnce(t, 4703, dump4703, []uint32{0x1279}, replayOpts{dumps: []string{f}, tz: "UTC",
		dumpTime: []string{f + "=2026-11-25 13:36:45"}})
	if names[0x1279] != "café-worker" {
		t.Errorf("--dump-time in --tz: names %v", names)
	}
	for _, bad := range []string{"dump.txt", "dump.txt=yesterday", "=2026-11-25T13:36:45Z"} {
		o := replayOpts{dumps: []string{dir}, dumpTime: []string{bad}, tz: "UTC", events: "x", format: "csv"}
		if err := runReplay(context.Background(), &o); err == nil || !strings.Contains(err.Error(), "--dump-time") {
			t.Errorf("--dump-time %q: err %v", bad, err)
		}
	}
}

// A dump read in the wrong zone lands after the events: it names nothing,
// and the warning says why.
func TestReplayDumpAfterEvents(t *testing.T) {
	jstack := "../../testdata/dumps/hotspot/jdk17-jstack-4703.txt"
	if _, err := time.LoadLocation("America/New_York"); err != nil {
		t.Skipf("SKIPPED: no time zone data: %v", err)
	}
	names, logged := replayOnce(t, 4703, dump4703, []uint32{0x1279}, replayOpts{dumps: []string{jstack}, tz: "America/New_York"})
	if names[0x1279] != "" || !strings.Contains(logged, "dump placed after the last event") || !strings.Contains(logged, "tz=America/New_York") {
		t.Errorf("names %v, log %q", names, logged)
	}
	names, logged = replayOnce(t, 4703, dump4703, []uint32{0x1279}, replayOpts{dumps: []string{jstack}, tz: "UTC"})
	if names[0x1279] != "café-worker" || strings.Contains(logged, "after the last event") {
		t.Errorf("right zone: names %v, log %q", names, logged)
	}
}

func TestReplayWithoutDumps(t *testing.T) {
	_, logged := replayOnce(t, 4703, dump4703, []uint32{0x1279}, replayOpts{})
	if !strings.Contains(logged, "no --dumps given") {
		t.Errorf("log %q", logged)
	}
}

// A compressed events file (an archived run) replays to the live rows, as
// the plain one does.
func TestReplayCompressedEvents(t *testing.T) {
	run := "../../testdata/runs/workload-4s"
	o := replayOpts{events: run + "/events.jsonl.gz", dumps: []string{run + "/dumps"}, format: "csv", tz: "UTC",
		output: filepath.Join(t.TempDir(), "replayed.csv")}
	if err := runReplay(context.Background(), &o); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(o.output)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(run + "/live.csv.gz")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("replay of the compressed events: %d bytes, the live run %d", len(got), len(want))
	}
}
