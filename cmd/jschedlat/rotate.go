package main

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jschedlat/jschedlat/correlate"
)

// rotateOpts say when the record file is rotated and what is kept.
type rotateOpts struct {
	size     int64         // rotate once the file holds this many bytes (0 = never)
	age      time.Duration // rotate once the file is this old (0 = never)
	keep     int           // rotated files kept (0 = all)
	compress bool          // gzip rotated files
}

func (r rotateOpts) enabled() bool { return r.size > 0 || r.age > 0 }

// recordSink writes records to a file that is rotated (by size or age)
// and reopened on request (SIGHUP, after an external logrotate renamed
// it), always between two records: every record lands in exactly one
// file, and every file is complete on its own (a CSV file starts with its
// header). Rotated files are compressed and pruned in the background.
type recordSink struct {
	path, format string
	opts         rotateOpts
	now          func() time.Time

	out    *countingFile
	w      correlate.Writer
	opened time.Time
	rows   uint64 // records in the current file

	// Write errors: the file is cut back to its last complete record
	// (good: its size after the last successful flush), so it never
	// ends in half a row. waitFull: on a full disk, drop records (counted)
	// until writes succeed again, instead of failing.
	waitFull  bool
	good      int64
	pending   uint64        // records written since the last successful flush
	committed uint64        // records in files, all told
	dropped   atomic.Uint64 // read by the metrics server
	full      time.Time     // when the disk filled (zero: not full)

	reopen atomic.Bool // set by the signal handler, acted on by the writer

	work chan string // rotated files to compress and prune
	done sync.WaitGroup
	mu   sync.Mutex
}

// countingFile is the open record file and what it holds.
type countingFile struct {
	f    *os.File
	name string
	size int64
}

func (c *countingFile) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.size += int64(n)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", c.name, errors.Unwrap(err))
	}
	return n, err
}

// openSink opens path for records. Rotation needs a file, not stdout.
func openSink(path, format string, opts rotateOpts) (*recordSink, error) {
	if opts.enabled() && (path == "" || path == "-") {
		return nil, errors.New("--rotate-size/--rotate-age need an output file (-o FILE)")
	}
	if opts.keep < 0 {
		return nil, errors.New("--rotate-keep must not be negative")
	}
	s := &recordSink{path: path, format: format, opts: opts, now: time.Now}
	if err := s.open(false); err != nil {
		return nil, err
	}
	if opts.enabled() {
		s.work = make(chan string, 64)
		s.done.Add(1)
		go s.background()
	}
	return s, nil
}

// open opens the record file: a new one (truncated), or with appendTo the
// file now at path, continuing it when it already has content (reopen
// after logrotate's copytruncate or a restart).
func (s *recordSink) open(appendTo bool) error {
	if s.path == "" || s.path == "-" {
		s.out = &countingFile{f: os.Stdout, name: "stdout"}
		w, err := correlate.NewWriter(s.out, s.format)
		s.w = w
		return err
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(s.path, flags, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write output: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("cannot write output: %w", err)
	}
	s.out = &countingFile{f: f, name: s.path, size: st.Size()}
	s.good = st.Size()
	if st.Size() > 0 {
		s.w, err = correlate.NewContinuingWriter(s.out, s.format)
	} else {
		s.w, err = correlate.NewWriter(s.out, s.format)
	}
	if err != nil {
		f.Close()
		return err
	}
	s.opened, s.rows = s.now(), 0
	return nil
}

// Name returns the path of the current file.
func (s *recordSink) Name() string { return s.out.name }

// Reopen asks for the file to be closed and opened again by its path
// before the next record (safe from a signal handler's goroutine).
func (s *recordSink) Reopen() { s.reopen.Store(true) }

// Maintain rotates or reopens the file if that is due, also when no record
// comes (called after every drain of the kernel buffer).
func (s *recordSink) Maintain() error {
	if s.reopen.Swap(false) {
		return s.cycle(false)
	}
	if s.due() {
		return s.cycle(true)
	}
	return nil
}

func (s *recordSink) due() bool {
	if s.rows == 0 {
		return false // never rotate to leave an empty file behind
	}
	return (s.opts.size > 0 && s.out.size >= s.opts.size) || (s.opts.age > 0 && s.now().Sub(s.opened) >= s.opts.age)
}

// Write writes one record, after a rotation or reopen that is due.
func (s *recordSink) Write(r *correlate.Record) error {
	if err := s.Maintain(); err != nil {
		return err
	}
	s.pending++
	if err := s.w.Write(r); err != nil {
		return s.failed(err)
	}
	s.rows++
	return nil
}

// Flush writes buffered records to the file.
func (s *recordSink) Flush() error {
	if err := s.w.Flush(); err != nil {
		return s.failed(err)
	}
	s.good = s.out.size
	s.committed += s.pending
	s.pending = 0
	if !s.full.IsZero() {
		slog.Info("the output is written again", "file", s.out.name, "after", time.Since(s.full).Round(time.Millisecond), "records_dropped", s.dropped.Load())
		s.full = time.Time{}
	}
	return nil
}

// Committed returns how many records are in the files (flushed).
func (s *recordSink) Committed() uint64 { return s.committed }

// Dropped returns how many records were dropped on a full disk.
func (s *recordSink) Dropped() uint64 { return s.dropped.Load() }

// failed handles a write error: the file is cut back to its last complete
// record and the records since are dropped; then, on a full disk with
// waitFull, writing goes on (and is tried again at the next flush), else
// the error ends the run.
func (s *recordSink) failed(err error) error {
	lost := s.pending
	s.pending = 0
	if s.out.f != os.Stdout {
		terr := s.out.f.Truncate(s.good)
		if terr == nil {
			_, terr = s.out.f.Seek(s.good, io.SeekStart)
		}
		if terr != nil {
			return fmt.Errorf("%w; and cutting %s back to its last complete record failed: %v", err, s.out.name, terr)
		}
		s.out.size = s.good
		var werr error
		if s.good > 0 {
			s.w, werr = correlate.NewContinuingWriter(s.out, s.format)
		} else {
			s.w, werr = correlate.NewWriter(s.out, s.format)
		}
		if werr != nil {
			return werr
		}
	}
	if s.waitFull && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		s.dropped.Add(lost)
		if s.full.IsZero() {
			s.full = time.Now()
			slog.Warn("the output's disk is full: dropping records until there is room (counted)", "file", s.out.name, "err", err)
		}
		return nil
	}
	return fmt.Errorf("%w (%s ends with its last complete record; %d records written)", err, s.out.name, s.committed)
}

// cycle closes the current file; with rotate it renames it aside (to be
// compressed and pruned), else (reopen) it leaves it where it is now, then
// opens the file at path again.
func (s *recordSink) cycle(rotate bool) error {
	if err := s.Flush(); err != nil {
		return err
	}
	if !s.full.IsZero() {
		return nil // no new file while the disk is full
	}
	if err := s.out.f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", s.path, err)
	}
	if rotate {
		to := s.rotatedName(s.opened)
		if err := os.Rename(s.path, to); err != nil {
			return fmt.Errorf("rotating %s: %w", s.path, err)
		}
		s.work <- to
	}
	return s.open(!rotate)
}

// rotatedName is path with the time its records start at, before the
// extension (records.csv -> records-20261126T002311.123Z.csv): names sort
// in time order.
func (s *recordSink) rotatedName(t time.Time) string {
	dir, base := filepath.Split(s.path)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	name := filepath.Join(dir, stem+"-"+t.UTC().Format(rotatedTime)+ext)
	for i := 1; ; i++ {
		if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
			if _, err := os.Stat(name + ".gz"); errors.Is(err, os.ErrNotExist) {
				return name
			}
		}
		name = filepath.Join(dir, fmt.Sprintf("%s-%s-%d%s", stem, t.UTC().Format(rotatedTime), i, ext))
	}
}

// Rotated lists the rotated files of path, oldest first.
func rotatedFiles(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	stem := strings.TrimSuffix(base, ext)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type rotated struct {
		name string
		t    time.Time
		seq  int // the -N of a name taken by a file of the same ms
	}
	var found []rotated
	for _, e := range ents {
		n := e.Name()
		rest, ok := strings.CutPrefix(n, stem+"-")
		if !ok || len(rest) < len(rotatedTime) {
			continue
		}
		t, err := time.Parse(rotatedTime, rest[:len(rotatedTime)])
		if err != nil {
			continue
		}
		rest = strings.TrimSuffix(rest[len(rotatedTime):], ".gz")
		rest, ok = strings.CutSuffix(rest, ext)
		if !ok {
			continue
		}
		seq := 0
		if rest != "" {
			if seq, err = strconv.Atoi(strings.TrimPrefix(rest, "-")); err != nil || !strings.HasPrefix(rest, "-") {
				continue
			}
		}
		found = append(found, rotated{filepath.Join(dir, n), t, seq})
	}
	sort.Slice(found, func(i, j int) bool {
		if !found[i].t.Equal(found[j].t) {
			return found[i].t.Before(found[j].t)
		}
		return found[i].seq < found[j].seq
	})
	out := make([]string, len(found))
	for i, f := range found {
		out[i] = f.name
	}
	return out, nil
}

// rotatedTime is the layout of the time in a rotated file's name.
const rotatedTime = "20060102T150405.000Z"

// background compresses and prunes rotated files, in rotation order.
func (s *recordSink) background() {
	defer s.done.Done()
	for name := range s.work {
		if s.opts.compress {
			if _, err := os.Stat(name); errors.Is(err, os.ErrNotExist) {
				continue // pruned already: newer files came in meanwhile
			}
			if err := gzipFile(name); err != nil {
				s.fail(fmt.Errorf("compressing %s (left as it is): %w", name, err))
			}
		}
		if s.opts.keep > 0 {
			files, err := rotatedFiles(s.path)
			if err != nil {
				s.fail(err)
				continue
			}
			for len(files) > s.opts.keep {
				if err := os.Remove(files[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
					s.fail(err)
				}
				files = files[1:]
			}
		}
	}
}

func (s *recordSink) fail(err error) {
	slog.Warn("record file rotation", "err", err)
}

// gzipFile replaces name by name.gz; the original is removed only once
// the compressed file is complete and synced.
func gzipFile(name string) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := name + ".gz.tmp"
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name+".gz")
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(name)
}

// Close flushes and closes the file and waits for the background work.
func (s *recordSink) Close() error {
	err := s.Flush()
	if s.out.f != os.Stdout {
		if cerr := s.out.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing %s: %w", s.path, cerr)
		}
	}
	if s.work != nil {
		close(s.work)
		s.done.Wait()
		s.work = nil
	}
	return err
}

// sizeValue is a byte size flag: 1048576, 64KB, 100MB, 1GiB (KB/MB/GB
// are powers of 1000, KiB/MiB/GiB of 1024).
type sizeValue struct{ p *int64 }

func newSizeValue(p *int64) *sizeValue { return &sizeValue{p} }

func (v *sizeValue) String() string {
	if v.p == nil || *v.p == 0 {
		return "0"
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v *sizeValue) Type() string { return "SIZE" }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
}

func (v *sizeValue) Set(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return fmt.Errorf("size %q: a number of bytes, or with KB, MB, GB, KiB, MiB, GiB", s)
	}
	*v.p = int64(f * float64(mult))
	return nil
}
