package main

import (
	"testing"

	"github.com/jschedlat/jschedlat/sink/sinktest"
)

// recordFile is what one file in an output directory holds.
type recordFile struct {
	size int            // bytes (decompressed)
	keys []sinktest.Key // its records, in file order
}

// readRecordDir reads an output directory's record files, each checked
// complete (sinktest.ReadDir).
func readRecordDir(t *testing.T, dir, format string) map[string]recordFile {
	t.Helper()
	out := map[string]recordFile{}
	for name, f := range sinktest.ReadDir(t, dir, format) {
		out[name] = recordFile{size: f.Size, keys: f.Keys}
	}
	return out
}

// checkOnce checks that the files hold want records, none twice.
func checkOnce(t *testing.T, files map[string]recordFile, want uint64) {
	t.Helper()
	in := map[string]sinktest.File{}
	for name, f := range files {
		in[name] = sinktest.File{Size: f.size, Keys: f.keys}
	}
	sinktest.CheckOnce(t, in, want)
}

// logrotate is sinktest.Logrotate as the end-to-end tests use it.
type logrotate struct {
	*sinktest.Logrotate
	counts map[string]int // Counts
	n      int            // N
}

func newLogrotate(path string, seed uint64) *logrotate {
	l := sinktest.NewLogrotate(path, seed)
	return &logrotate{Logrotate: l, counts: l.Counts}
}

func (l *logrotate) create(hup func()) { l.Create(hup); l.n = l.N }

func (l *logrotate) copytruncate(stopped func(func()), hup func()) {
	l.Copytruncate(stopped, hup)
	l.n = l.N
}

func (l *logrotate) one(stopped func(func()), hup func()) { l.One(stopped, hup); l.n = l.N }
