package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
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
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jschedlat/jschedlat/record"
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
//
// Other programs may move or cut the file at any moment (logrotate's
// create and copytruncate modes), so the sink trusts no path and no
// offset: it rotates the file it has open (by its identity, not by what
// is at the path now), appends (O_APPEND), writes each batch of rows in
// one write(2) (a truncation lands between two batches, never inside
// one), and checks the file's size around each write to see a
// truncation and start the file again with its header. A rotation or
// reopen that fails is logged and tried again later; records keep going
// to the file that is open.
type recordSink struct {
	path, format string
	opts         rotateOpts
	now          func() time.Time
	settle       time.Duration // rotated files rest this long before compression

	f       *os.File // the record file (os.Stdout for "-")
	name    string   // its name in messages: path, or where it was rotated to
	regular bool     // a regular file: sizes mean something, it can be rotated
	created bool     // this run created it (removed if the run fails to start)
	aside   string   // f's rotated name while no new file could be opened yet

	header   []byte        // what begins a file: the CSV header (nothing for JSON lines)
	buf      bytes.Buffer  // rows since the last flush
	w        record.Writer // encodes rows into buf
	batch    []byte        // header and rows of one write
	size     int64         // f's size after our last write, as the kernel said
	rows     uint64        // records in f
	noHeader bool          // f is empty: its header goes before the next rows
	opened   time.Time     // when f was started: opened new, or found cut to 0

	// Write errors: a batch that was only partly written is cut off again,
	// so the file never ends in half a row. waitFull: on a full disk, drop
	// records (counted) until writes succeed again, instead of failing.
	waitFull  bool
	pending   uint64        // records written since the last successful flush
	committed uint64        // records in files, all told
	dropped   atomic.Uint64 // read by the metrics server
	full      time.Time     // when the disk filled (zero: not full)

	beforeWrite func() // tests: another program acts between the size check and the write

	// Another program at the file (logrotate's copytruncate: it copies
	// the file, then cuts it): writes and rotations wait until it is done,
	// so that no row lands between its copy and its cut (lost) and no
	// rename between them (its cut would hit the new file: rows twice,
	// others lost). Seen through inotify; nil where that is not available.
	watch    *watcher
	external time.Time // its last open or close
	holdFrom time.Time // since when writes wait (zero: they do not)
	hold     holdTimes // see defaultHold

	reopen      atomic.Bool   // set by the signal handler, acted on by the writer
	retryReopen bool          // a reopen failed: try again at retryAt
	retryAt     time.Time     // no rotation or retried reopen before (one failed)
	backoff     time.Duration // until the next try after a failure
	started     bool          // truncated and given its header (start)

	// Rotated files to compress and prune: a queue that never blocks the
	// writer (a small --rotate-size can rotate many times a second).
	queueMu sync.Mutex
	queue   []rotated
	work    chan struct{} // a file was queued (nil: no background work)
	closing chan struct{} // the sink is closing: no more resting
	done    sync.WaitGroup
}

// rotated is a file the sink renamed aside.
type rotated struct {
	name string
	at   time.Time
}

// openSink opens path for records and starts it (truncated, with its
// header). Rotation needs a regular file, not stdout.
func openSink(path, format string, opts rotateOpts) (*recordSink, error) {
	s, err := prepareSink(path, format, opts)
	if err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		s.discard()
		return nil, err
	}
	return s, nil
}

// prepareSink opens path for records without changing it: a run checks
// every output it will write before it truncates any (start).
func prepareSink(path, format string, opts rotateOpts) (*recordSink, error) {
	if opts.enabled() && (path == "" || path == "-") {
		return nil, errors.New("--rotate-size/--rotate-age need an output file (-o FILE)")
	}
	if opts.keep < 0 {
		return nil, errors.New("--rotate-keep must not be negative")
	}
	header, err := formatHeader(format)
	if err != nil {
		return nil, err
	}
	s := &recordSink{path: path, format: format, opts: opts, now: time.Now, header: header, settle: time.Second,
		hold: defaultHold}
	if s.w, err = record.NewContinuingWriter(&s.buf, format); err != nil {
		return nil, err
	}
	if path == "" || path == "-" {
		s.f, s.name = os.Stdout, "stdout"
		return s, nil
	}
	f, created, err := openAppend(path)
	if err != nil {
		return nil, fmt.Errorf("cannot write output: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot write output: %w", err)
	}
	s.f, s.name, s.created, s.regular = f, path, created, fi.Mode().IsRegular()
	if opts.enabled() && !s.regular {
		s.discard()
		return nil, fmt.Errorf("--rotate-size/--rotate-age need a regular output file: %s is not one", path)
	}
	return s, nil
}

// openAppend opens path for appending, creating it if needed, and tells
// whether it created it.
func openAppend(path string) (f *os.File, created bool, err error) {
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o644)
	if err == nil {
		return f, true, nil
	}
	if !errors.Is(err, fs.ErrExist) {
		return nil, false, err
	}
	f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	return f, false, err
}

// formatHeader is what starts a record file of format.
func formatHeader(format string) ([]byte, error) {
	var b bytes.Buffer
	w, err := record.NewWriter(&b, format)
	if err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// start empties the file and writes its header, at once: a file is
// complete from its first instant.
func (s *recordSink) start() error {
	if s.regular {
		if err := s.f.Truncate(0); err != nil {
			return fmt.Errorf("cannot write output: truncating %s: %w", s.name, errors.Unwrap(err))
		}
	}
	s.size, s.rows, s.opened = 0, 0, s.now()
	s.noHeader = len(s.header) > 0
	s.started = true
	if s.regular {
		w, err := newWatcher(s.path)
		if err != nil {
			slog.Warn("cannot watch the output's directory: a copytruncate (logrotate) racing a write or a rotation may lose or repeat records", "file", s.path, "err", err)
		}
		s.watch = w
	}
	if err := s.Flush(); err != nil {
		return err
	}
	if s.opts.enabled() && s.work == nil {
		s.work = make(chan struct{}, 1)
		s.closing = make(chan struct{})
		s.done.Add(1)
		go s.background()
	}
	return nil
}

// discard closes a file that was never started, and removes it if this
// run created it (a run that fails to start leaves nothing behind).
func (s *recordSink) discard() {
	if s.f == nil || s.f == os.Stdout {
		return
	}
	s.f.Close()
	if s.created {
		os.Remove(s.path)
	}
}

// Name returns the name of the current file.
func (s *recordSink) Name() string { return s.name }

// Reopen asks for the file to be opened again by its path before the
// next record (safe from a signal handler's goroutine).
func (s *recordSink) Reopen() { s.reopen.Store(true) }

// Maintain rotates or reopens the file if that is due, also when no record
// comes (called after every drain of the kernel buffer). Only a write
// error is returned: a rotation or reopen that fails is logged, records
// go on into the file that is open, and it is tried again later.
func (s *recordSink) Maintain() error {
	wait := s.now().Before(s.retryAt)
	// A new SIGHUP is acted on at once, even while a failed try waits.
	if s.reopen.Swap(false) || (!wait && (s.retryReopen || s.aside != "")) {
		s.retryReopen = false
		return s.cycle(false)
	}
	if wait {
		return nil
	}
	if s.due() && !s.busy(s.hold.rotateQuiet, s.hold.rotateMax) {
		return s.cycle(true)
	}
	return nil
}

// holdTimes say how long writes and rotations wait for another program
// at the file: until it has cut the file (a copytruncate is done: the
// safest moment), or has not opened or closed it for the quiet time (a
// reader; or a copier slower than that between its copy and its cut),
// never longer than the max (a reader that never stops).
type holdTimes struct {
	writeQuiet, writeMax   time.Duration
	rotateQuiet, rotateMax time.Duration
	final                  time.Duration // the last write of a run
}

// defaultHold: a write after a copy but before its cut is lost (that
// copier is slower than writeQuiet); a rename between them puts rows in
// two files and loses others (slower than rotateQuiet), so rotation waits
// much longer: a late rotation only makes a file bigger.
var defaultHold = holdTimes{
	writeQuiet: 3 * time.Second, writeMax: 10 * time.Second,
	rotateQuiet: 30 * time.Second, rotateMax: 2 * time.Minute,
	final: 2 * time.Second,
}

// busy tells whether another program is at the file: it opened or closed
// it, and has neither cut it since nor left it alone for quiet; limit after
// the hold began, busy is false all the same.
func (s *recordSink) busy(quiet, limit time.Duration) bool {
	if s.watch == nil {
		return false
	}
	now := time.Now()
	if s.watch.seen() && s.atPath() {
		s.external = now
		if s.holdFrom.IsZero() {
			s.holdFrom = now
		}
	}
	if s.holdFrom.IsZero() {
		return false
	}
	if size, err := s.fileSize(); err != nil || size < s.size {
		s.external, s.holdFrom = time.Time{}, time.Time{} // cut: copied and emptied
		return false
	}
	longest := max(s.hold.writeQuiet, s.hold.rotateQuiet)
	if now.Sub(s.external) >= longest {
		s.external, s.holdFrom = time.Time{}, time.Time{}
		return false
	}
	return now.Sub(s.external) < quiet && now.Sub(s.holdFrom) < limit
}

func (s *recordSink) due() bool {
	if s.rows+s.pending == 0 {
		return false // never rotate to leave an empty file behind
	}
	return (s.opts.size > 0 && s.size+int64(s.buf.Len()) >= s.opts.size) || (s.opts.age > 0 && s.now().Sub(s.opened) >= s.opts.age)
}

// Write writes one record, after a rotation or reopen that is due.
func (s *recordSink) Write(r *record.Record) error {
	if err := s.Maintain(); err != nil {
		return err
	}
	s.pending++
	if err := s.w.Write(r); err != nil {
		return s.failed(err)
	}
	if s.buf.Len() >= maxBatch {
		return s.Flush() // a burst is written in bounded batches
	}
	return nil
}

// maxBatch bounds the rows held in memory between two writes.
const maxBatch = 1 << 20

// Flush writes the records since the last flush to the file, unless
// another program is at it (they are then written by a later flush).
func (s *recordSink) Flush() error { return s.flush(false) }

// FlushAll writes every record given to the file (at the end of a run),
// after waiting for another program at the file to be done.
func (s *recordSink) FlushAll() error { return s.flush(true) }

func (s *recordSink) flush(force bool) error {
	if err := s.w.Flush(); err != nil {
		return s.failed(err)
	}
	// A header alone is never held: if a cut follows, it is written again.
	if force {
		for end := time.Now().Add(s.hold.final); s.busy(s.hold.writeQuiet, s.hold.writeMax) && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
	} else if s.buf.Len() > 0 && s.busy(s.hold.writeQuiet, s.hold.writeMax) {
		return nil
	}
	if err := s.commit(true); err != nil {
		return s.failed(err)
	}
	s.rows += s.pending
	s.committed += s.pending
	s.pending = 0
	if !s.full.IsZero() {
		slog.Info("the output is written again", "file", s.name, "after", time.Since(s.full).Round(time.Millisecond), "records_dropped", s.dropped.Load())
		s.full = time.Time{}
	}
	return nil
}

// commit writes the buffered rows (after the header, when the file has
// none yet) in one write(2), and sees whether another program cut the
// file: before the write (its size is below what was written), or between
// the check and the write (the rows then begin the file, headerless).
func (s *recordSink) commit(rows bool) error {
	if !s.regular {
		b := s.withHeader(rows)
		if rows {
			s.buf.Reset()
		}
		if len(b) == 0 {
			return nil
		}
		_, err := s.f.Write(b)
		if err == nil {
			s.noHeader = false
		}
		return wrapWrite(s.name, err)
	}
	for try := 0; ; try++ {
		pre, err := s.fileSize()
		if err != nil {
			return err
		}
		if pre < s.size {
			s.restarted(pre)
		}
		b := s.withHeader(rows)
		if len(b) == 0 {
			return nil
		}
		header := s.noHeader
		if s.beforeWrite != nil {
			s.beforeWrite()
		}
		n, err := s.f.Write(b)
		if err != nil {
			return s.cutBack(pre, wrapWrite(s.name, err))
		}
		post, err := s.fileSize()
		if err != nil {
			return err
		}
		if !header && pre > 0 && post == int64(n) && try < 3 {
			// Cut between the size check and the write: the rows now
			// begin the file, without its header. Nothing of them can be
			// in the other program's copy, made before it cut: write
			// them again after the header.
			if err := s.f.Truncate(0); err != nil {
				return fmt.Errorf("starting %s again after it was cut: %w", s.name, errors.Unwrap(err))
			}
			s.size = 0
			s.restarted(0)
			continue
		}
		// Cut right after the write (post is then below pre+n): the next
		// check sees it.
		s.size = pre + int64(n)
		if header {
			s.noHeader = false
		}
		if rows {
			s.buf.Reset()
		}
		return nil
	}
}

// withHeader is the batch to write: the buffered rows (with rows), after
// the header when the file has none.
func (s *recordSink) withHeader(rows bool) []byte {
	var b []byte
	if rows {
		b = s.buf.Bytes()
	}
	if !s.noHeader {
		return b
	}
	s.batch = append(append(s.batch[:0], s.header...), b...)
	return s.batch
}

// restarted notes that another program cut the file to size bytes
// (logrotate's copytruncate): what it held left with that program's copy,
// and the file starts again, with its header when empty.
func (s *recordSink) restarted(size int64) {
	if size == 0 {
		slog.Info("record file emptied by another program (copytruncate): starting it again with its header", "file", s.name)
	} else {
		slog.Warn("record file cut short by another program: appending to what is left", "file", s.name, "size", size, "was", s.size)
	}
	s.size, s.rows, s.opened = size, 0, s.now()
	s.noHeader = size == 0 && len(s.header) > 0
}

// atPath tells whether the open file is the one at path (another program
// at the path then is at it: logrotate's create mode opens a new file
// there, which is none of the sink's business).
func (s *recordSink) atPath() bool {
	cur, err1 := s.f.Stat()
	at, err2 := os.Stat(s.path)
	return err1 == nil && err2 == nil && os.SameFile(cur, at)
}

func (s *recordSink) fileSize() (int64, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("writing %s: %w", s.name, errors.Unwrap(err))
	}
	return fi.Size(), nil
}

func wrapWrite(name string, err error) error {
	if err == nil {
		return nil
	}
	if u := errors.Unwrap(err); u != nil {
		err = u
	}
	return fmt.Errorf("writing %s: %w", name, err)
}

// cutBack removes what a failed write left of its batch: the file ends
// with its last complete record.
func (s *recordSink) cutBack(to int64, err error) error {
	size, serr := s.fileSize()
	if serr == nil && size > to {
		serr = s.f.Truncate(to)
	}
	if serr != nil {
		return fmt.Errorf("%w; and cutting %s back to its last complete record failed: %v", err, s.name, serr)
	}
	s.size = min(to, size)
	return err
}

// Committed returns how many records are in the files (flushed).
func (s *recordSink) Committed() uint64 { return s.committed }

// Dropped returns how many records were dropped on a full disk.
func (s *recordSink) Dropped() uint64 { return s.dropped.Load() }

// failed handles a write error: the records since the last flush are
// dropped (the file holds none of them); then, on a full disk with
// waitFull, writing goes on (and is tried again at the next flush), else
// the error ends the run.
func (s *recordSink) failed(err error) error {
	lost := s.pending
	s.pending = 0
	s.buf.Reset()
	if w, werr := record.NewContinuingWriter(&s.buf, s.format); werr == nil {
		s.w = w // nothing half-encoded stays behind
	}
	if s.waitFull && (errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)) {
		s.dropped.Add(lost)
		if s.full.IsZero() {
			s.full = time.Now()
			slog.Warn("the output's disk is full: dropping records until there is room (counted)", "file", s.name, "err", err)
		}
		return nil
	}
	return fmt.Errorf("%w (%s ends with its last complete record; %d records written)", err, s.name, s.committed)
}

// cycle writes what is buffered, then with rotate renames the file aside
// (to be compressed and pruned) and starts a new one, else (reopen) opens
// the file now at path if it is not the open one.
func (s *recordSink) cycle(rotate bool) error {
	if err := s.Flush(); err != nil {
		return err
	}
	if !s.full.IsZero() || s.f == os.Stdout {
		return nil // no new file while the disk is full
	}
	if rotate {
		s.rotate()
	} else {
		s.reopenPath()
	}
	if s.noHeader {
		// A new file gets its header at once, even while rows wait.
		if err := s.commit(false); err != nil {
			return s.failed(err)
		}
	}
	return nil
}

// rotate renames the open file aside and starts a new one at path. It
// renames only the file it has open: one that another program moved away
// (logrotate, before its SIGHUP) keeps its records where it is now, and a
// new file starts at path.
func (s *recordSink) rotate() {
	if s.rows == 0 {
		return // cut to nothing by another program meanwhile: no empty file is rotated
	}
	cur, err := s.f.Stat()
	if err != nil {
		s.retry("rotating", err)
		return
	}
	if cur.Size() < s.size {
		// Cut right after the last write: its rows went with the
		// other program's copy (or were lost with it).
		s.restarted(cur.Size())
		return
	}
	at, err := os.Stat(s.path)
	if err != nil || !os.SameFile(cur, at) || s.aside != "" {
		s.reopenPath()
		return
	}
	to := s.rotatedName(s.opened)
	if err := os.Rename(s.path, to); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			s.reopenPath() // moved away by another program just now
			return
		}
		s.retry("rotating", fmt.Errorf("renaming %s to %s: %w", s.path, to, errors.Unwrap(err)))
		return
	}
	if moved, err := os.Stat(to); err != nil || !os.SameFile(cur, moved) {
		// Another program put a file at path between the check and the
		// rename: put it back; ours is where that program moved it.
		if err == nil {
			if rerr := unix.Renameat2(unix.AT_FDCWD, to, unix.AT_FDCWD, s.path, unix.RENAME_NOREPLACE); rerr != nil {
				if moved.Size() == 0 && os.Remove(to) == nil {
					// An empty file (logrotate's create), and the path
					// has yet another one now: nothing is lost.
				} else {
					slog.Warn("record file rotation renamed a file another program had just put at the output's path, and cannot put it back", "file", to, "path", s.path, "err", rerr)
				}
			}
		}
		s.reopenPath()
		return
	}
	if s.watch != nil && s.watch.seen() {
		// Opened or closed by another program since the last look, maybe
		// a copier that opened it just before the rename (its cut by path
		// would hit the next file): put it back, and rotate later.
		if err := unix.Renameat2(unix.AT_FDCWD, to, unix.AT_FDCWD, s.path, unix.RENAME_NOREPLACE); err == nil {
			now := time.Now()
			s.external = now
			if s.holdFrom.IsZero() {
				s.holdFrom = now
			}
			return
		}
	}
	s.name, s.aside = to, to
	s.reopenPath()
}

// reopenPath goes on in the file now at path: the open one if that is it,
// else that file (appended to; started with its header when empty), or a
// new one. On failure records keep going to the open file.
func (s *recordSink) reopenPath() {
	if s.aside == "" {
		cur, err1 := s.f.Stat()
		at, err2 := os.Stat(s.path)
		if err1 == nil && err2 == nil && os.SameFile(cur, at) {
			s.backoff = 0
			return // still ours: a cut is seen by the next write
		}
	}
	f, _, err := openAppend(s.path)
	var fi os.FileInfo
	if err == nil {
		if fi, err = f.Stat(); err != nil {
			f.Close()
		}
	}
	if err != nil {
		s.retry("reopening", err)
		s.retryReopen = true
		return
	}
	if s.watch != nil {
		s.watch.seen() // our own open
	}
	old, oldName, aside := s.f, s.name, s.aside
	s.f, s.name, s.aside, s.regular = f, s.path, "", fi.Mode().IsRegular()
	s.size, s.rows, s.opened = fi.Size(), 0, s.now()
	s.noHeader = fi.Size() == 0 && len(s.header) > 0
	s.backoff = 0
	if err := old.Close(); err != nil {
		slog.Warn("closing the record file", "file", oldName, "err", err)
	}
	if aside != "" {
		s.enqueue(aside)
	}
}

// retry logs a failed rotation or reopen and puts the next try off, a
// little longer after each failure in a row.
func (s *recordSink) retry(what string, err error) {
	s.backoff = min(max(2*s.backoff, time.Second), time.Minute)
	s.retryAt = s.now().Add(s.backoff)
	slog.Warn("record file "+what+" failed: records go on into the open file", "file", s.name, "retry_in", s.backoff, "err", err)
}

// rotatedName is path with t, the UTC time the sink started the file
// (opened it, or found it emptied and started it again: the start of what
// it covers), before the extension (records.csv ->
// records-20261126T002311.123Z.csv; -1, -2... after a name taken): names sort
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

// background compresses and prunes rotated files, in rotation order. A
// rotated file rests a moment first: a copytruncate that copied it just
// before the rename cuts it right after, and its records are then in that
// copy; a file found empty is removed, never compressed.
func (s *recordSink) background() {
	defer s.done.Done()
	for {
		r, ok := s.next()
		if !ok {
			return
		}
		if wait := time.Until(r.at.Add(s.settle)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-s.closing:
				t.Stop()
			}
		}
		fi, err := os.Stat(r.name)
		switch {
		case errors.Is(err, os.ErrNotExist):
			continue // pruned already: newer files came in meanwhile
		case err == nil && fi.Size() == 0:
			slog.Warn("rotated record file emptied by another program (copytruncate?): removed", "file", r.name)
			if err := os.Remove(r.name); err != nil {
				s.fail(err)
			}
			continue
		}
		if s.opts.compress {
			if err := gzipFile(r.name); err != nil {
				s.fail(fmt.Errorf("compressing %s (left as it is): %w", r.name, err))
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

// enqueue hands a rotated file to the background work.
func (s *recordSink) enqueue(name string) {
	if s.work == nil {
		return
	}
	s.queueMu.Lock()
	s.queue = append(s.queue, rotated{name, time.Now()})
	s.queueMu.Unlock()
	select {
	case s.work <- struct{}{}:
	default:
	}
}

// next waits for the next rotated file; false once the sink is closing
// and none is left.
func (s *recordSink) next() (rotated, bool) {
	for {
		s.queueMu.Lock()
		if len(s.queue) > 0 {
			r := s.queue[0]
			s.queue = s.queue[1:]
			s.queueMu.Unlock()
			return r, true
		}
		s.queueMu.Unlock()
		select {
		case <-s.work:
		case <-s.closing:
			s.queueMu.Lock()
			empty := len(s.queue) == 0
			s.queueMu.Unlock()
			if empty {
				return rotated{}, false
			}
		}
	}
}

func (s *recordSink) fail(err error) {
	slog.Warn("record file rotation", "err", err)
}

// temps are the temporary files being written now: removed on every way
// out, also the immediate exit on a second signal.
var temps struct {
	sync.Mutex
	names map[string]bool
}

func addTemp(name string) {
	temps.Lock()
	defer temps.Unlock()
	if temps.names == nil {
		temps.names = map[string]bool{}
	}
	temps.names[name] = true
}

func dropTemp(name string) {
	temps.Lock()
	defer temps.Unlock()
	delete(temps.names, name)
}

// removeTemps removes the temporary files being written (before an
// immediate exit).
func removeTemps() {
	temps.Lock()
	defer temps.Unlock()
	for name := range temps.names {
		os.Remove(name)
	}
	clear(temps.names)
}

// errCutWhileCompressing: the file shrank while it was read.
var errCutWhileCompressing = errors.New("cut by another program while being compressed")

// gzipFile replaces name by name.gz; the original is removed only once
// the compressed file is complete and synced. A file cut while it was read
// (its records went to another program's copy) is removed, with no .gz.
func gzipFile(name string) error {
	in, err := os.Open(name)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := name + ".gz.tmp"
	addTemp(tmp)
	defer dropTemp(tmp)
	out, err := os.Create(tmp)
	if err != nil {
		return err
	}
	zw := gzip.NewWriter(out)
	n, err := io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if fi, serr := in.Stat(); err == nil && serr == nil && fi.Size() < n {
		err = errCutWhileCompressing
	}
	if err == nil {
		err = os.Rename(tmp, name+".gz")
	}
	if err != nil {
		os.Remove(tmp)
		if errors.Is(err, errCutWhileCompressing) {
			slog.Warn("rotated record file cut by another program while being compressed (copytruncate?): removed", "file", name)
			return os.Remove(name)
		}
		return err
	}
	return os.Remove(name)
}

// Close flushes and closes the file and waits for the background work.
func (s *recordSink) Close() error {
	if !s.started {
		s.discard() // the run did not start: the file is as it was
		return nil
	}
	err := s.FlushAll()
	if s.watch != nil {
		s.watch.close()
		s.watch = nil
	}
	if s.f != nil && s.f != os.Stdout {
		if cerr := s.f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("closing %s: %w", s.name, cerr)
		}
		if s.aside != "" {
			s.enqueue(s.aside)
			s.aside = ""
		}
	}
	if s.work != nil {
		close(s.closing)
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

// hupSink is the record sink a SIGHUP reopens (nil: none, SIGHUP is
// ignored).
var hupSink atomic.Pointer[recordSink]

// reopenOnHUP passes every SIGHUP to the record sink of the moment.
func reopenOnHUP(c <-chan os.Signal) {
	for range c {
		if s := hupSink.Load(); s != nil {
			s.Reopen()
		}
	}
}

// watcher sees other programs open or close the file at a path,
// through an inotify watch on its directory (the file at the path may
// change; writes are not watched: ours would drown the rest).
type watcher struct {
	fd   int
	name string
	buf  []byte
}

func newWatcher(path string) (*watcher, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	dir, name := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	// Opens and closes only: a copier opens, reads, closes; a reader that
	// keeps the file open (tail -F, a log shipper) reads after every write
	// and would hold writes for ever.
	if _, err := unix.InotifyAddWatch(fd, dir, unix.IN_OPEN|unix.IN_CLOSE_WRITE|unix.IN_CLOSE_NOWRITE); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("inotify watch on %s: %w", dir, err)
	}
	return &watcher{fd: fd, name: name, buf: make([]byte, 16<<10)}, nil
}

// seen reads the events queued since the last call and tells whether one
// was about the file (or some were lost: then it may have been).
func (w *watcher) seen() bool {
	found := false
	for {
		n, err := unix.Read(w.fd, w.buf)
		if n <= 0 || err != nil {
			return found
		}
		for b := w.buf[:n]; len(b) >= unix.SizeofInotifyEvent; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&b[0]))
			end := unix.SizeofInotifyEvent + int(ev.Len)
			if end > len(b) {
				break
			}
			name := string(bytes.TrimRight(b[unix.SizeofInotifyEvent:end], "\x00"))
			if name == w.name || ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				found = true
			}
			b = b[end:]
		}
	}
}

func (w *watcher) close() { unix.Close(w.fd) }
