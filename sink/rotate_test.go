package sink

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

// readAllRecords reads every record file in dir (plain or gzip), and
// returns the record numbers (carried in KTime) per file.
func readAllRecords(t *testing.T, dir string) map[string][]uint64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]uint64{}
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var ids []uint64
		if err := record.ReadRecords(f, func(r *record.Record) error { ids = append(ids, r.KTime); return nil }); err != nil {
			t.Fatalf("%s: %v", e.Name(), err)
		}
		f.Close()
		out[e.Name()] = ids
	}
	return out
}

// checkExactlyOnce checks that the files hold records from..to-1, each
// once, in order within each file.
func checkExactlyOnce(t *testing.T, files map[string][]uint64, from, to uint64) {
	t.Helper()
	var all []uint64
	for name, ids := range files {
		if len(ids) == 0 {
			t.Errorf("%s holds no record", name)
		}
		for i := 1; i < len(ids); i++ {
			if ids[i] != ids[i-1]+1 {
				t.Errorf("%s: record %d follows %d", name, ids[i], ids[i-1])
				break
			}
		}
		all = append(all, ids...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if uint64(len(all)) != to-from {
		t.Errorf("%d records in %d files, want %d", len(all), len(files), to-from)
	}
	for i, id := range all {
		if id != from+uint64(i) {
			t.Fatalf("records %d..%d: record %d where %d was expected (lost or duplicated)", from, to, id, from+uint64(i))
		}
	}
}

func sinkRecord(i uint64) *record.Record {
	return &record.Record{Time: 1795651680000000000 + int64(i)*1000, KTime: i, Kind: "wakeup", LatencyNs: 1000 + i%5000,
		Pid: 10, Tid: 11, Comm: "http-nio-8080-e", JavaThread: "http-nio-8080-exec-1, \"quoted\"", NameSource: "dump"}
}

// Rotation by size, with and without compression, CSV and JSON lines:
// every record lands in exactly one file, each file readable on its own.
func TestSinkRotateBySize(t *testing.T) {
	for _, format := range record.Formats {
		for _, compress := range []bool{false, true} {
			dir := t.TempDir()
			path := filepath.Join(dir, "records."+format)
			s, err := Open(path, format, Options{Size: 20 << 10, Compress: compress})
			if err != nil {
				t.Fatal(err)
			}
			const n = 20000
			for i := uint64(0); i < n; i++ {
				if err := s.Write(sinkRecord(i)); err != nil {
					t.Fatal(err)
				}
				if i%100 == 99 {
					if err := s.Flush(); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			files := readAllRecords(t, dir)
			gz := 0
			for name := range files {
				if strings.HasSuffix(name, ".gz") {
					gz++
				}
			}
			if len(files) < 10 || (compress && gz != len(files)-1) || (!compress && gz != 0) {
				t.Errorf("%s compress=%t: %d files, %d compressed", format, compress, len(files), gz)
			}
			checkExactlyOnce(t, files, 0, n)
		}
	}
}

// --rotate-keep: the oldest rotated files go; what stays is the newest
// records, without a gap.
func TestSinkRotateKeep(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records.csv")
	s, err := Open(path, "csv", Options{Size: 8 << 10, Keep: 3, Compress: true})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	for i := uint64(0); i < n; i++ {
		if err := s.Write(sinkRecord(i)); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			s.Flush()
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := readAllRecords(t, dir)
	if len(files) != 4 {
		t.Fatalf("%d files, want 3 rotated and the current one: %v", len(files), files)
	}
	var first uint64 = n
	for _, ids := range files {
		first = min(first, ids[0])
	}
	checkExactlyOnce(t, files, first, n)
}

// Rotation by age, on a clock the test moves; no empty file is rotated.
func TestSinkRotateByAge(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records.jsonl")
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	s, err := Prepare(path, "jsonl", Options{Age: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s.now, s.settle = func() time.Time { return now }, 0
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	for i := uint64(0); i < 600; i++ {
		now = now.Add(time.Second)
		if err := s.Write(sinkRecord(i)); err != nil {
			t.Fatal(err)
		}
	}
	now = now.Add(time.Hour) // idle: one rotation of the last file, then none
	for i := 0; i < 3; i++ {
		if err := s.Maintain(); err != nil {
			t.Fatal(err)
		}
		now = now.Add(time.Hour)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := readAllRecords(t, dir)
	delete(files, "records.jsonl") // the current file, empty
	// Rotations at 60, 120, ... 600 s while writing, then the last file
	// once while idle.
	if len(files) != 11 {
		t.Errorf("%d rotated files for 10 minutes of records, want 11", len(files))
	}
	checkExactlyOnce(t, files, 0, 600)
	for name := range files {
		if !strings.HasPrefix(name, "records-20261126T00") || !strings.HasSuffix(name, ".jsonl") {
			t.Errorf("rotated file named %s", name)
		}
	}
}

// Reopen (SIGHUP) after an external logrotate: with the file renamed
// away, a new one starts (with its header); after a copytruncate, or with
// the file still there, writing continues in it without a second header.
func TestSinkReopen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "records.csv")
	s, err := Open(path, "csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	write := func(from, to uint64) {
		for i := from; i < to; i++ {
			if err := s.Write(sinkRecord(i)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	write(0, 1000)
	if err := os.Rename(path, path+".1"); err != nil { // logrotate's create mode
		t.Fatal(err)
	}
	write(1000, 1100) // still into the renamed file, until the signal
	s.Reopen()
	write(1100, 2000)
	s.Reopen() // nothing renamed: continue the same file
	write(2000, 2500)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	files := readAllRecords(t, dir)
	if len(files) != 2 || len(files["records.csv.1"]) != 1100 {
		t.Errorf("files %d, records.csv.1 holds %d records (want 2 files, 1100)", len(files), len(files["records.csv.1"]))
	}
	checkExactlyOnce(t, files, 0, 2500)
}

func TestSinkErrorsAndSizes(t *testing.T) {
	if _, err := Open("-", "csv", Options{Size: 1 << 20}); err == nil || !strings.Contains(err.Error(), "-o FILE") {
		t.Errorf("rotation of stdout: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "no", "dir", "r.csv"), "csv", Options{}); err == nil {
		t.Error("a file in a missing directory opened")
	}
}

// countWriter counts what reaches it.
type countWriter struct{ n int }

func (c *countWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

// Rotation by size sees the rows in the steps a record.Writer (whose buffer
// the sink had before it encoded rows into its own) passed them on: the
// files start at the same records as then, flushes and bursts included.
func TestSinkRotatesWhereAWriterDid(t *testing.T) {
	for _, format := range record.Formats {
		size := int64(10 << 10)
		if format == "jsonl" {
			size = 200 << 10
		}
		header, err := formatHeader(format)
		if err != nil {
			t.Fatal(err)
		}
		const n = 6000
		// The sink as it was: a Writer into a buffer, the buffer's length
		// checked before each record, written at each flush.
		var cw countWriter
		w, err := record.NewContinuingWriter(&cw, format)
		if err != nil {
			t.Fatal(err)
		}
		fileSize, held := int64(len(header)), 0
		var want []uint64
		flush := func() {
			if err := w.Flush(); err != nil {
				t.Fatal(err)
			}
			fileSize += int64(cw.n)
			cw.n = 0
		}
		for i := uint64(0); i < n; i++ {
			if held > 0 && fileSize+int64(cw.n) >= size {
				flush()
				want = append(want, i)
				fileSize, held = int64(len(header)), 0
			}
			if err := w.Write(sinkRecord(i)); err != nil {
				t.Fatal(err)
			}
			held++
			if cw.n >= maxBatch || i%700 == 699 {
				flush()
			}
		}

		dir := t.TempDir()
		s, err := Open(filepath.Join(dir, "records."+format), format, Options{Size: size})
		if err != nil {
			t.Fatal(err)
		}
		for i := uint64(0); i < n; i++ {
			if err := s.Write(sinkRecord(i)); err != nil {
				t.Fatal(err)
			}
			if i%700 == 699 {
				if err := s.Flush(); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		files := readAllRecords(t, dir)
		checkExactlyOnce(t, files, 0, n)
		var got []uint64
		for _, ids := range files {
			if len(ids) > 0 && ids[0] > 0 {
				got = append(got, ids[0])
			}
		}
		sort.Slice(got, func(i, j int) bool { return got[i] < got[j] })
		if len(want) < 3 || fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: files begin at records %v, want %v", format, got, want)
		}
	}
}
