// Package sinktest reads a directory of record files for tests: each file
// complete, and every record in exactly one of them.
package sinktest

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
	"strings"
	"testing"

	"github.com/jschedlat/jschedlat/record"
)

// File is what one file in an output directory holds.
type File struct {
	Size int   // bytes (decompressed)
	Keys []Key // its records, in file order
}

// key identifies a record: the test sink's records carry their number in
// KTime; a live run's waits are told apart by thread and kernel time.
type Key struct {
	Tid   uint32
	KTime uint64
}

// ReadDir reads every file in dir (gzip or not) and checks that each
// is complete: no NUL byte, and a CSV file that holds anything starts with
// the header and holds only whole rows. Temporary files are errors.
func ReadDir(t testing.TB, dir, format string) map[string]File {
	t.Helper()
	return ReadDirTail(t, dir, format, nil)
}

// ReadDirTail is ReadDir where the files cutTail names may end
// in half a row, not counted: copies that another program made while the
// sink was writing (the kernel lets a reader see part of a write).
func ReadDirTail(t testing.TB, dir, format string, cutTail func(string) bool) map[string]File {
	t.Helper()
	var hb bytes.Buffer
	hw, err := record.NewWriter(&hb, format)
	if err == nil {
		err = hw.Flush()
	}
	if err != nil {
		t.Fatal(err)
	}
	header := hb.Bytes()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]File{}
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
		rf := File{Size: len(raw)}
		if len(raw) > 0 {
			err = record.ReadRecords(bytes.NewReader(raw), func(r *record.Record) error {
				rf.Keys = append(rf.Keys, Key{r.Tid, r.KTime})
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

// CheckOnce checks that the files hold want records, none twice, and
// returns how many there are.
func CheckOnce(t testing.TB, files map[string]File, want uint64) {
	t.Helper()
	seen := map[Key]string{}
	var total uint64
	for name, f := range files {
		for _, k := range f.Keys {
			if prev, dup := seen[k]; dup {
				t.Errorf("record %v in %s and in %s", k, prev, name)
			}
			seen[k] = name
		}
		total += uint64(len(f.Keys))
	}
	if total != want {
		t.Errorf("the files hold %d records, %d were written", total, want)
	}
}

// Logrotate acts on path as logrotate does, in its two modes.
type Logrotate struct {
	dir, path string
	N         int // actions taken
	rng       *rand.Rand
	Counts    map[string]int // actions by kind
}

func NewLogrotate(path string, seed uint64) *Logrotate {
	return &Logrotate{dir: filepath.Dir(path), path: path, rng: rand.New(rand.NewPCG(seed, 1)), Counts: map[string]int{}}
}

// Create: rename the file away, create an empty one in its place (mostly),
// then SIGHUP (hup).
func (l *Logrotate) Create(hup func()) {
	l.N++
	if err := os.Rename(l.path, filepath.Join(l.dir, fmt.Sprintf("logrotated-%d.csv", l.N))); err != nil && !errors.Is(err, fs.ErrNotExist) {
		panic(err)
	}
	if l.rng.IntN(4) != 0 { // logrotate's create option
		if f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			f.Close()
		}
	}
	l.Counts["create"]++
	hup()
}

// Copytruncate: copy the file, then cut it to nothing through the
// descriptor it was copied from (as logrotate does); SIGHUP or not.
func (l *Logrotate) Copytruncate(stopped func(func()), hup func()) {
	l.N++
	stopped(func() {
		f, err := os.OpenFile(l.path, os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			return
		}
		if err != nil {
			panic(err)
		}
		defer f.Close()
		dst, err := os.Create(filepath.Join(l.dir, fmt.Sprintf("copied-%d.csv", l.N)))
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
	l.Counts["copytruncate"]++
	if l.rng.IntN(2) == 0 {
		l.Counts["copytruncate+hup"]++
		hup()
	}
}

// One does one of the two, at random.
func (l *Logrotate) One(stopped func(func()), hup func()) {
	if l.rng.IntN(2) == 0 {
		l.Create(hup)
	} else {
		l.Copytruncate(stopped, hup)
	}
}
