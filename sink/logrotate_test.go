package sink

// The record file under an operator's logrotate: renamed away (create
// mode, then SIGHUP), copied and cut to nothing (copytruncate, with or
// without SIGHUP), while the sink rotates it by size. Every record must be
// in exactly one file, and every file complete: its header first, whole
// rows, no NUL bytes.

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sink/sinktest"
)

// TestSinkUnderLogrotate drives the sink as attach does (batches of
// records, a flush and maintenance after each) with a small --rotate-size,
// while another goroutine runs logrotate in both modes as fast as the
// writer makes progress. copytruncate holds the writer off while it
// copies and cuts (as a stopped process would be): the records the
// writer adds between logrotate's copy and its cut are lost by design of
// copytruncate, not by the sink. The count is then exact.
func TestSinkUnderLogrotate(t *testing.T) {
	for _, format := range record.Formats {
		for _, compress := range []bool{false, true} {
			// Compressing syncs each rotated file: fewer runs.
			for seed := uint64(1); seed <= map[bool]uint64{false: 6, true: 2}[compress]; seed++ {
				t.Run(fmt.Sprintf("%s/compress=%t/seed=%d", format, compress, seed), func(t *testing.T) {
					sinkUnderLogrotate(t, format, compress, seed, true)
				})
			}
		}
	}
}

// TestSinkUnderLogrotateFree: the same with nothing held off, so that a
// cut can land anywhere, also between the sink's size check and its write,
// or between its check of the path and its rename. Records in
// copytruncate's own window may be lost; none may be duplicated, and
// every file must still be complete.
func TestSinkUnderLogrotateFree(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			sinkUnderLogrotate(t, "csv", seed%4 == 0, seed, false)
		})
	}
}

func sinkUnderLogrotate(t *testing.T, format string, compress bool, seed uint64, exact bool) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records."+format)
	s, err := Open(path, format, Options{Size: 8 << 10, Compress: compress})
	if err != nil {
		t.Fatal(err)
	}
	// This logrotate acts within microseconds, the writer writes every few:
	// wait for it on that scale.
	s.hold = holdTimes{writeQuiet: 5 * time.Millisecond, writeMax: 50 * time.Millisecond,
		rotateQuiet: 20 * time.Millisecond, rotateMax: 100 * time.Millisecond, final: 50 * time.Millisecond}
	var writer sync.Mutex // held by the writer for each batch
	stopped := func(f func()) {
		if exact {
			writer.Lock()
			defer writer.Unlock()
		}
		f()
	}
	const batches, perBatch = 800, 15
	progress := make(chan struct{})
	done := make(chan struct{})
	var ops atomic.Int64
	lr := sinktest.NewLogrotate(path, seed)
	go func() {
		defer close(done)
		for range progress {
			lr.One(stopped, s.Reopen)
			ops.Add(1)
		}
	}()
	var i uint64
	for b := 0; b < batches; b++ {
		writer.Lock()
		for j := 0; j < perBatch; j++ {
			if err := s.Write(sinkRecord(i)); err != nil {
				t.Fatal(err)
			}
			i++
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := s.Maintain(); err != nil {
			t.Fatal(err)
		}
		writer.Unlock()
		if b%7 == 0 {
			// One logrotate action per few batches: handed over once the
			// last one is done, then both run at once.
			progress <- struct{}{}
		}
	}
	close(progress)
	<-done
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Committed() != i {
		t.Fatalf("the sink says %d records written, %d were given", s.Committed(), i)
	}
	var cutTail func(string) bool
	if !exact {
		cutTail = func(name string) bool { return strings.HasPrefix(name, "copied-") }
	}
	files := sinktest.ReadDirTail(t, dir, format, cutTail)
	rotatedN, empty := 0, 0
	for name, f := range files {
		switch {
		case strings.HasPrefix(name, "records-"):
			rotatedN++
			if len(f.Keys) == 0 {
				t.Errorf("rotated file %s holds no record (%d bytes)", name, f.Size)
			}
		case f.Size == 0:
			empty++ // logrotate's own: created, then renamed before any reopen
		}
	}
	t.Logf("%d records; %d logrotate actions (%v); %d files, %d rotated by size, %d left empty by logrotate", i, ops.Load(), lr.Counts, len(files), rotatedN, empty)
	// Free-running, copytruncates empty the file before it grows to the
	// rotation size as often as not: fewer size rotations happen.
	minRotated := 5
	if !exact {
		minRotated = 1
	}
	if rotatedN < minRotated || lr.Counts["create"] < 5 || lr.Counts["copytruncate"] < 5 {
		t.Errorf("too little happened to test: %d size rotations, %v", rotatedN, lr.Counts)
	}
	if exact {
		sinktest.CheckOnce(t, files, i)
		return
	}
	seen := map[sinktest.Key]bool{}
	for name, f := range files {
		for _, k := range f.Keys {
			if seen[k] {
				t.Errorf("record %d twice (again in %s)", k.KTime, name)
			}
			seen[k] = true
		}
	}
	t.Logf("%d of %d records lost in copytruncate's window", i-uint64(len(seen)), i)
}

// A cut between the sink's size check and its write: the rows would begin
// the file without its header. They are written again after the header,
// once.
func TestSinkCutBetweenCheckAndWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records.csv")
	s, err := Open(path, "csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 100; i++ {
		s.Write(sinkRecord(i))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(dir, "copied.csv")
	cuts := 0
	s.beforeWrite = func() {
		if cuts++; cuts == 1 {
			b, err := os.ReadFile(path)
			if err == nil {
				err = os.WriteFile(copied, b, 0o644)
			}
			if err == nil {
				err = os.Truncate(path, 0)
			}
			if err != nil {
				t.Error(err)
			}
		}
	}
	for i := uint64(100); i < 150; i++ {
		s.Write(sinkRecord(i))
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	s.beforeWrite = nil
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := sinktest.ReadDir(t, dir, "csv")
	sinktest.CheckOnce(t, files, 150)
	if n := len(files["records.csv"].Keys); n != 50 || cuts < 2 {
		t.Errorf("records.csv holds %d records after the cut (want 50); %d writes", n, cuts)
	}
}

// copytruncate without a signal: the sink sees the file emptied at its
// next flush and starts it again with its header, appending (no NUL-filled
// gap up to its old offset). A rotation due at that moment rotates
// nothing when no record came since (never an empty or headerless rotated
// file), and the file with the records that came since when some did.
func TestSinkCopytruncateNoSignal(t *testing.T) {
	for _, since := range []int{0, 30} {
		dir := t.TempDir()
		path := filepath.Join(dir, "records.csv")
		now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
		s, err := Prepare(path, "csv", Options{Age: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		s.now, s.settle = func() time.Time { return now }, 0
		if err := s.Start(); err != nil {
			t.Fatal(err)
		}
		var i uint64
		write := func(n int) {
			for j := 0; j < n; j++ {
				if err := s.Write(sinkRecord(i)); err != nil {
					t.Fatal(err)
				}
				i++
			}
		}
		write(50)
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, "copied.csv"), b, 0o644)
		}
		if err == nil {
			err = os.Truncate(path, 0)
		}
		if err != nil {
			t.Fatal(err)
		}
		write(since) // buffered, not written yet
		now = now.Add(time.Hour)
		if !s.due() {
			t.Fatal("no rotation due an hour later")
		}
		if err := s.Maintain(); err != nil {
			t.Fatal(err)
		}
		write(10)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		files := sinktest.ReadDir(t, dir, "csv")
		sinktest.CheckOnce(t, files, i)
		var RotatedFiles []string
		for name, f := range files {
			if strings.HasPrefix(name, "records-") {
				RotatedFiles = append(RotatedFiles, name)
				if len(f.Keys) != since {
					t.Errorf("since=%d: rotated %s holds %d records", since, name, len(f.Keys))
				}
			}
		}
		if want := map[bool]int{true: 0, false: 1}[since == 0]; len(RotatedFiles) != want {
			t.Errorf("since=%d: rotated files %v, want %d", since, RotatedFiles, want)
		}
		if n := len(files["records.csv"].Keys); n != 10 {
			t.Errorf("since=%d: records.csv holds %d records, want 10", since, n)
		}
	}
}

// The file moved away by another program before a size rotation (logrotate
// renamed it, its SIGHUP not yet handled): the sink does not rename
// whatever is at the path now; the moved file keeps its records and a new
// one starts at path. With the path holding another file, that one is
// continued.
func TestSinkRotateAfterMove(t *testing.T) {
	for _, replaced := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "records.csv")
		s, err := Open(path, "csv", Options{Size: 8 << 10})
		if err != nil {
			t.Fatal(err)
		}
		var i uint64
		for ; i < 20; i++ {
			s.Write(sinkRecord(i))
		}
		s.Flush()
		if err := os.Rename(path, filepath.Join(dir, "moved.csv")); err != nil {
			t.Fatal(err)
		}
		if replaced {
			if err := os.WriteFile(path, nil, 0o644); err != nil { // logrotate's create
				t.Fatal(err)
			}
		}
		for ; i < 200; i++ { // a rotation is due among these
			if err := s.Write(sinkRecord(i)); err != nil {
				t.Fatalf("replaced=%t: %v", replaced, err)
			}
		}
		s.Reopen() // the SIGHUP, late
		for ; i < 300; i++ {
			if err := s.Write(sinkRecord(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		files := sinktest.ReadDir(t, dir, "csv")
		sinktest.CheckOnce(t, files, i)
		if len(files["moved.csv"].Keys) == 0 {
			t.Errorf("replaced=%t: the moved file has no records: %v", replaced, files)
		}
	}
}

// A rotation or reopen that fails does not end the run: it is logged, the
// records go on into the open file, and it is tried again later.
func TestSinkRotationFailureGoesOn(t *testing.T) {
	base := t.TempDir()
	dir := filepath.Join(base, "out")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "records.csv")
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s, err := Prepare(path, "csv", Options{Size: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var i uint64
	write := func(n int) {
		for j := 0; j < n; j++ {
			if err := s.Write(sinkRecord(i)); err != nil {
				t.Fatalf("record %d: %v", i, err)
			}
			i++
			now = now.Add(10 * time.Millisecond)
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(10)
	// The whole directory moves away: the path cannot be opened any more.
	moved := filepath.Join(base, "moved")
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	write(300) // rotations due all along; each try fails
	if s.Name() != path || s.backoff == 0 {
		t.Errorf("after failed rotations: writing %s, backoff %s", s.Name(), s.backoff)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	now = now.Add(2 * time.Minute) // past any backoff
	write(100)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	a := sinktest.ReadDir(t, moved, "csv")
	b := sinktest.ReadDir(t, dir, "csv")
	all := map[string]sinktest.File{}
	for n, f := range a {
		all["moved/"+n] = f
	}
	for n, f := range b {
		all["out/"+n] = f
	}
	sinktest.CheckOnce(t, all, i)
	if len(a["records.csv"].Keys) < 300 || len(b) == 0 {
		t.Errorf("records in the moved file: %d; files at the path afterwards: %d", len(a["records.csv"].Keys), len(b))
	}
}

// A rotated file is named by the UTC time the sink started it: when it
// opened it, or found it emptied by another program and started it again.
func TestSinkRotatedNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records.csv")
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	now := t0
	s, err := Prepare(path, "csv", Options{Age: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The test's own copy is done by the time the sink looks: no wait.
	s.now, s.settle, s.hold = func() time.Time { return now }, 0, holdTimes{}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	var i uint64
	write := func(d time.Duration) {
		now = now.Add(d)
		if err := s.Write(sinkRecord(i)); err != nil {
			t.Fatal(err)
		}
		i++
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(5 * time.Second) // first record 5 s after the open
	write(time.Hour)       // rotates the first file, opened at t0
	t1 := now              // the second file was opened now
	write(time.Minute)
	// logrotate renames it, SIGHUP: a third file, opened at t2.
	if err := os.Rename(path, filepath.Join(dir, "logrotated.csv")); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	t2 := now
	s.Reopen()
	if err := s.Maintain(); err != nil {
		t.Fatal(err)
	}
	write(time.Second)
	// copytruncate: copied and emptied, seen at the next flush (t3).
	b, err := os.ReadFile(path)
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, "copied.csv"), b, 0o644)
	}
	if err == nil {
		err = os.Truncate(path, 0)
	}
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute)
	t3 := now
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	write(time.Second)
	write(time.Hour) // rotates the file started at t3
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var names []string
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "records-") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	want := []string{"records-" + t0.Format(rotatedTime) + ".csv", "records-" + t3.Format(rotatedTime) + ".csv"}
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Errorf("rotated files %v, want %v (t1 %s and t2 %s went to logrotate)", names, want, t1.Format(rotatedTime), t2.Format(rotatedTime))
	}
	sinktest.CheckOnce(t, sinktest.ReadDir(t, dir, "csv"), i)
}

// An output that was never started (another output of the run could not
// be opened) is left as it was; one the run created is removed.
func TestSinkNotStartedLeavesFile(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "old.csv")
	if err := os.WriteFile(old, []byte("what an earlier run wrote\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{old, filepath.Join(dir, "new.csv")} {
		s, err := Prepare(p, "csv", Options{Size: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "what an earlier run wrote\n" {
		t.Errorf("the existing file now holds %q (%v)", b, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "new.csv")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file the run created stays: %v", err)
	}
}

// RemoveTemps (the exit on a second signal) removes a compression's
// temporary file.
func TestRemoveTemps(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "r.csv.gz.tmp")
	if err := os.WriteFile(tmp, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	addTemp(tmp)
	RemoveTemps()
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s stays: %v", tmp, err)
	}
}

// A burst of records between two flushes is written in batches of at most
// about maxBatch bytes, not held whole in memory.
func TestSinkBoundedBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.csv")
	s, err := Open(path, "csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var i uint64
	for ; len(s.buf) < maxBatch/2 || i < 1000; i++ {
		if err := s.Write(sinkRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	perRecord := len(s.buf) / int(i)
	for n := i + 2*uint64(maxBatch/perRecord); i < n; i++ {
		if err := s.Write(sinkRecord(i)); err != nil {
			t.Fatal(err)
		}
		if len(s.buf) > maxBatch+perRecord {
			t.Fatalf("%d bytes held after %d records", len(s.buf), i)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < maxBatch {
		t.Errorf("%d records given, none flushed: the file holds %v bytes (%v)", i, fi.Size(), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	sinktest.CheckOnce(t, sinktest.ReadDir(t, filepath.Dir(path), "csv"), i)
}

// Shared: a file nobody else opens is not shared; a copier's open and
// close make it shared for sharedFor, the sink's own reopen does not;
// stdout never is.
func TestSinkShared(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records.csv")
	now := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	s, err := Prepare(path, "csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Shared() {
		t.Fatal("shared before anybody else opened it")
	}
	for i := uint64(0); i < 10; i++ {
		if err := s.Write(sinkRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	// logrotate's create mode: renamed, then a signal; the sink opens a
	// new file (its own open).
	if err := os.Rename(path, filepath.Join(dir, "rotated.csv")); err != nil {
		t.Fatal(err)
	}
	s.Reopen()
	if err := s.Maintain(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("not reopened: %v", err)
	}
	if s.Shared() {
		t.Fatal("shared after its own writes and reopen")
	}
	if _, err := os.ReadFile(path); err != nil { // a copier
		t.Fatal(err)
	}
	if !s.Shared() {
		t.Fatal("not shared after another program read it")
	}
	now = now.Add(sharedFor - time.Second)
	if !s.Shared() {
		t.Fatal("not shared any more before sharedFor passed")
	}
	now = now.Add(2 * time.Second)
	if s.Shared() {
		t.Fatal("still shared after sharedFor")
	}

	out, err := Prepare("-", "csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if out.Shared() {
		t.Error("stdout is shared")
	}
}
