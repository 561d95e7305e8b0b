package main

// The record file under an operator's logrotate: renamed away (create
// mode, then SIGHUP), copied and cut to nothing (copytruncate, with or
// without SIGHUP), while the sink rotates it by size. Every record must be
// in exactly one file, and every file complete: its header first, whole
// rows, no NUL bytes.

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

// recordFile is what one file in an output directory holds.
type recordFile struct {
	size int   // bytes (decompressed)
	keys []key // its records, in file order
}

// key identifies a record: the test sink's records carry their number in
// KTime; a live run's waits are told apart by thread and kernel time.
type key struct {
	tid   uint32
	ktime uint64
}

// readRecordDir reads every file in dir (gzip or not) and checks that each
// is complete: no NUL byte, and a CSV file that holds anything starts with
// the header and holds only whole rows. Temporary files are errors.
func readRecordDir(t *testing.T, dir, format string) map[string]recordFile {
	t.Helper()
	return readRecordDirTail(t, dir, format, nil)
}

// readRecordDirTail is readRecordDir where the files cutTail names may end
// in half a row, not counted: copies that another program made while the
// sink was writing (the kernel lets a reader see part of a write).
func readRecordDirTail(t *testing.T, dir, format string, cutTail func(string) bool) map[string]recordFile {
	t.Helper()
	header, err := formatHeader(format)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]recordFile{}
	for _, e := range ents {
		name := e.Name()
		if strings.HasSuffix(name, ".tmp") {
			t.Errorf("temporary file left: %s", name)
			continue
		}
		if strings.HasSuffix(name, ".runs.jsonl") {
			continue // the run's metadata, not records
		}
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasSuffix(name, ".gz") {
			zr, err := gzip.NewReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if raw, err = io.ReadAll(zr); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
		}
		if i := bytes.IndexByte(raw, 0); i >= 0 {
			t.Errorf("%s: NUL byte at offset %d of %d", name, i, len(raw))
		}
		if len(raw) > 0 && !bytes.HasPrefix(raw, header) {
			t.Errorf("%s: does not start with the header (%d bytes: %.60q)", name, len(raw), raw)
		}
		if len(raw) > 0 && raw[len(raw)-1] != '\n' {
			if cutTail == nil || !cutTail(name) {
				t.Errorf("%s: ends in half a row", name)
			}
			raw = raw[:bytes.LastIndexByte(raw, '\n')+1]
		}
		rf := recordFile{size: len(raw)}
		if len(raw) > 0 {
			err = record.ReadRecords(bytes.NewReader(raw), func(r *record.Record) error {
				rf.keys = append(rf.keys, key{r.Tid, r.KTime})
				return nil
			})
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		}
		out[name] = rf
	}
	return out
}

// checkOnce checks that the files hold want records, none twice, and
// returns how many there are.
func checkOnce(t *testing.T, files map[string]recordFile, want uint64) {
	t.Helper()
	seen := map[key]string{}
	var total uint64
	for name, f := range files {
		for _, k := range f.keys {
			if prev, dup := seen[k]; dup {
				t.Errorf("record %v in %s and in %s", k, prev, name)
			}
			seen[k] = name
		}
		total += uint64(len(f.keys))
	}
	if total != want {
		t.Errorf("the files hold %d records, %d were written", total, want)
	}
}

// logrotate acts on path as logrotate does, in its two modes.
type logrotate struct {
	dir, path string
	n         int
	rng       *rand.Rand
	counts    map[string]int
}

func newLogrotate(path string, seed uint64) *logrotate {
	return &logrotate{dir: filepath.Dir(path), path: path, rng: rand.New(rand.NewPCG(seed, 1)), counts: map[string]int{}}
}

// create: rename the file away, create an empty one in its place (mostly),
// then SIGHUP (hup).
func (l *logrotate) create(hup func()) {
	l.n++
	if err := os.Rename(l.path, filepath.Join(l.dir, fmt.Sprintf("logrotated-%d.csv", l.n))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		panic(err)
	}
	if l.rng.IntN(4) != 0 { // logrotate's create option
		if f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			f.Close()
		}
	}
	l.counts["create"]++
	hup()
}

// copytruncate: copy the file, then cut it to nothing through the
// descriptor it was copied from (as logrotate does); SIGHUP or not.
func (l *logrotate) copytruncate(stopped func(func()), hup func()) {
	l.n++
	stopped(func() {
		f, err := os.OpenFile(l.path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			panic(err)
		}
		defer f.Close()
		dst, err := os.Create(filepath.Join(l.dir, fmt.Sprintf("copied-%d.csv", l.n)))
		if err != nil {
			panic(err)
		}
		if _, err := io.Copy(dst, f); err != nil {
			panic(err)
		}
		if err := dst.Close(); err != nil {
			panic(err)
		}
		if err := f.Truncate(0); err != nil {
			panic(err)
		}
	})
	l.counts["copytruncate"]++
	if l.rng.IntN(2) == 0 {
		l.counts["copytruncate+hup"]++
		hup()
	}
}

// one does one of the two, at random.
func (l *logrotate) one(stopped func(func()), hup func()) {
	if l.rng.IntN(2) == 0 {
		l.create(hup)
	} else {
		l.copytruncate(stopped, hup)
	}
}

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
	s, err := openSink(path, format, rotateOpts{size: 8 << 10, compress: compress})
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
	lr := newLogrotate(path, seed)
	go func() {
		defer close(done)
		for range progress {
			lr.one(stopped, s.Reopen)
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
	files := readRecordDirTail(t, dir, format, cutTail)
	rotatedN, empty := 0, 0
	for name, f := range files {
		switch {
		case strings.HasPrefix(name, "records-"):
			rotatedN++
			if len(f.keys) == 0 {
				t.Errorf("rotated file %s holds no record (%d bytes)", name, f.size)
			}
		case f.size == 0:
			empty++ // logrotate's own: created, then renamed before any reopen
		}
	}
	t.Logf("%d records; %d logrotate actions (%v); %d files, %d rotated by size, %d left empty by logrotate", i, ops.Load(), lr.counts, len(files), rotatedN, empty)
	if rotatedN < 5 || lr.counts["create"] < 5 || lr.counts["copytruncate"] < 5 {
		t.Errorf("too little happened to test: %d size rotations, %v", rotatedN, lr.counts)
	}
	if exact {
		checkOnce(t, files, i)
		return
	}
	seen := map[key]bool{}
	for name, f := range files {
		for _, k := range f.keys {
			if seen[k] {
				t.Errorf("record %d twice (again in %s)", k.ktime, name)
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
	s, err := openSink(path, "csv", rotateOpts{})
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
	files := readRecordDir(t, dir, "csv")
	checkOnce(t, files, 150)
	if n := len(files["records.csv"].keys); n != 50 || cuts < 2 {
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
		s, err := prepareSink(path, "csv", rotateOpts{age: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		s.now, s.settle = func() time.Time { return now }, 0
		if err := s.start(); err != nil {
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
		files := readRecordDir(t, dir, "csv")
		checkOnce(t, files, i)
		var rotatedFiles []string
		for name, f := range files {
			if strings.HasPrefix(name, "records-") {
				rotatedFiles = append(rotatedFiles, name)
				if len(f.keys) != since {
					t.Errorf("since=%d: rotated %s holds %d records", since, name, len(f.keys))
				}
			}
		}
		if want := map[bool]int{true: 0, false: 1}[since == 0]; len(rotatedFiles) != want {
			t.Errorf("since=%d: rotated files %v, want %d", since, rotatedFiles, want)
		}
		if n := len(files["records.csv"].keys); n != 10 {
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
		s, err := openSink(path, "csv", rotateOpts{size: 8 << 10})
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
		files := readRecordDir(t, dir, "csv")
		checkOnce(t, files, i)
		if len(files["moved.csv"].keys) == 0 {
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
	s, err := prepareSink(path, "csv", rotateOpts{size: 4 << 10})
	if err != nil {
		t.Fatal(err)
	}
	s.now = func() time.Time { return now }
	if err := s.start(); err != nil {
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
	a := readRecordDir(t, moved, "csv")
	b := readRecordDir(t, dir, "csv")
	all := map[string]recordFile{}
	for n, f := range a {
		all["moved/"+n] = f
	}
	for n, f := range b {
		all["out/"+n] = f
	}
	checkOnce(t, all, i)
	if len(a["records.csv"].keys) < 300 || len(b) == 0 {
		t.Errorf("records in the moved file: %d; files at the path afterwards: %d", len(a["records.csv"].keys), len(b))
	}
}

// A rotated file is named by the UTC time the sink started it: when it
// opened it, or found it emptied by another program and started it again.
func TestSinkRotatedNames(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records.csv")
	t0 := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	now := t0
	s, err := prepareSink(path, "csv", rotateOpts{age: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// The test's own copy is done by the time the sink looks: no wait.
	s.now, s.settle, s.hold = func() time.Time { return now }, 0, holdTimes{}
	if err := s.start(); err != nil {
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
	checkOnce(t, readRecordDir(t, dir, "csv"), i)
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
		s, err := prepareSink(p, "csv", rotateOpts{size: 1 << 20})
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
	o, err := prepareOut(filepath.Join(dir, "events.log"))
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	if _, err := os.Stat(filepath.Join(dir, "events.log")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("an events file the run created stays: %v", err)
	}
}

// removeTemps (the exit on a second signal) removes a compression's
// temporary file.
func TestRemoveTemps(t *testing.T) {
	tmp := filepath.Join(t.TempDir(), "r.csv.gz.tmp")
	if err := os.WriteFile(tmp, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	addTemp(tmp)
	removeTemps()
	if _, err := os.Stat(tmp); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s stays: %v", tmp, err)
	}
}

// A burst of records between two flushes is written in batches of at most
// about maxBatch bytes, not held whole in memory.
func TestSinkBoundedBatches(t *testing.T) {
	path := filepath.Join(t.TempDir(), "records.csv")
	s, err := openSink(path, "csv", rotateOpts{})
	if err != nil {
		t.Fatal(err)
	}
	var i uint64
	for ; s.buf.Len() < maxBatch/2 || i < 1000; i++ {
		if err := s.Write(sinkRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	perRecord := s.buf.Len() / int(i)
	for n := i + 2*uint64(maxBatch/perRecord); i < n; i++ {
		if err := s.Write(sinkRecord(i)); err != nil {
			t.Fatal(err)
		}
		if s.buf.Len() > maxBatch+perRecord {
			t.Fatalf("%d bytes held after %d records", s.buf.Len(), i)
		}
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Size() < maxBatch {
		t.Errorf("%d records given, none flushed: the file holds %v bytes (%v)", i, fi.Size(), err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkOnce(t, readRecordDir(t, filepath.Dir(path), "csv"), i)
}
