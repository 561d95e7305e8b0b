// Package sink writes records to a file that is rotated by size or age,
// reopened on request (SIGHUP, after logrotate moved it) and safe under
// logrotate's create and copytruncate modes, with rotated files
// compressed and pruned in the background.
package sink

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

// Options say when the record file is rotated, what is kept, and what a
// full disk does.
type Options struct {
	Size     int64         // rotate once the file holds this many bytes (0 = never)
	Age      time.Duration // rotate once the file is this old (0 = never)
	Keep     int           // rotated files kept (0 = all)
	Compress bool          // gzip rotated files
	// WaitFull: on a full disk, drop records (counted) until writes
	// succeed again, instead of failing.
	WaitFull bool
}

func (r Options) enabled() bool { return r.Size > 0 || r.Age > 0 }

// File writes records to a file that is rotated (by size or age)
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
type File struct {
	path, format string
	opts         Options
	now          func() time.Time
	settle       time.Duration // rotated files rest this long before compression

	f       *os.File // the record file (os.Stdout for "-")
	name    string   // its name in messages: path, or where it was rotated to
	regular bool     // a regular file: sizes mean something, it can be rotated
	created bool     // this run created it (removed if the run fails to start)
	aside   string   // f's rotated name while no new file could be opened yet

	header   []byte          // what begins a file: the CSV header (nothing for JSON lines)
	buf      []byte          // rows since the last flush, encoded straight into it
	enc      *record.Encoder // encodes rows into buf
	seen     int             // of buf, what size-based rotation looks at (see due)
	batch    []byte          // header and rows of one write
	size     int64           // f's size after our last write, as the kernel said
	rows     uint64          // records in f
	noHeader bool            // f is empty: its header goes before the next rows
	opened   time.Time       // when f was started: opened new, or found cut to 0

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
	external time.Time // its last open or close (zero after its cut)
	other    time.Time // its last open or close, kept, by s.now (Shared)
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

// Open opens path for records and starts it (truncated, with its
// header). Rotation needs a regular file, not stdout.
func Open(path, format string, opts Options) (*File, error) {
	s, err := Prepare(path, format, opts)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.discard()
		return nil, err
	}
	return s, nil
}

// Prepare opens path for records without changing it: a run checks
// every output it will write before it truncates any (start).
func Prepare(path, format string, opts Options) (*File, error) {
	if opts.enabled() && (path == "" || path == "-") {
		return nil, errors.New("--rotate-size/--rotate-age need an output file (-o FILE)")
	}
	if opts.Keep < 0 {
		return nil, errors.New("--rotate-keep must not be negative")
	}
	header, err := formatHeader(format)
	if err != nil {
		return nil, err
	}
	s := &File{path: path, format: format, opts: opts, waitFull: opts.WaitFull, now: time.Now, header: header, settle: time.Second,
		hold: defaultHold}
	if s.enc, err = record.NewEncoder(format); err != nil {
		return nil, err
	}
	if path == "" || path == "-" {
		s.f, s.name = os.Stdout, "stdout"
		return s, nil
	}
	f, created, err := OpenAppend(path)
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

// OpenAppend opens path for appending, creating it if needed, and tells
// whether it created it.
func OpenAppend(path string) (f *os.File, created bool, err error) {
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
func (s *File) Start() error {
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
func (s *File) discard() {
	if s.f == nil || s.f == os.Stdout {
		return
	}
	s.f.Close()
	if s.created {
		os.Remove(s.path)
	}
}

// Name returns the name of the current file.
func (s *File) Name() string { return s.name }

// Reopen asks for the file to be opened again by its path before the
// next record (safe from a signal handler's goroutine).
func (s *File) Reopen() { s.reopen.Store(true) }

// Maintain rotates or reopens the file if that is due, also when no record
// comes (called after every drain of the kernel buffer). Only a write
// error is returned: a rotation or reopen that fails is logged, records
// go on into the file that is open, and it is tried again later.
func (s *File) Maintain() error {
	// Write calls this for every record: the clock is read only when a
	// failed try waits or the age matters.
	wait := false
	if !s.retryAt.IsZero() {
		if wait = s.now().Before(s.retryAt); !wait {
			s.retryAt = time.Time{}
		}
	}
	// A new SIGHUP is acted on at once, even while a failed try waits.
	if (s.reopen.Load() && s.reopen.Swap(false)) || (!wait && (s.retryReopen || s.aside != "")) {
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
func (s *File) busy(quiet, limit time.Duration) bool {
	if s.watch == nil {
		return false
	}
	now := time.Now()
	s.look(now)
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

// look reads what the watch saw since it last looked: another program
// opened or closed the file.
func (s *File) look(now time.Time) {
	if s.watch.seen() && s.atPath() {
		s.sawOther(now)
	}
}

// sawOther notes that another program opened or closed the file at now:
// writes and rotations wait (busy), and it is shared for a while (Shared).
func (s *File) sawOther(now time.Time) {
	s.external, s.other = now, s.now()
	if s.holdFrom.IsZero() {
		s.holdFrom = now
	}
}

// sharedFor is how long after another program last opened or closed the
// file it counts as shared (Shared).
const sharedFor = time.Minute

// Shared tells whether another program opened or closed the file in the
// last minute (logrotate's copytruncate, a copier, a reader), or whether
// that cannot be seen (no watch). A copy made while a write(2) is under
// way can end inside it, and its cut then loses the rest of that write:
// the writer keeps its writes small while Shared (see session's drains).
func (s *File) Shared() bool {
	if !s.regular {
		return false // a pipe or terminal: nobody cuts it
	}
	if s.watch == nil {
		return true
	}
	s.look(time.Now())
	return !s.other.IsZero() && s.now().Sub(s.other) < sharedFor
}

func (s *File) due() bool {
	if s.rows+s.pending == 0 {
		return false // never rotate to leave an empty file behind
	}
	// The rows a record.Writer would have passed on by now (its buffer
	// filled), as when the file was written through one: the same
	// rotations.
	return (s.opts.Size > 0 && s.size+int64(s.seen) >= s.opts.Size) || (s.opts.Age > 0 && s.now().Sub(s.opened) >= s.opts.Age)
}

// Write writes one record, after a rotation or reopen that is due.
func (s *File) Write(r *record.Record) error {
	if err := s.Maintain(); err != nil {
		return err
	}
	s.pending++
	var passed int
	s.buf, passed = s.enc.Append(s.buf, r)
	s.seen += passed
	if s.seen >= maxBatch {
		return s.Flush() // a burst is written in bounded batches
	}
	return nil
}

// maxBatch bounds the rows held in memory between two writes.
const maxBatch = 1 << 20

// Flush writes the records since the last flush to the file, unless
// another program is at it (they are then written by a later flush).
func (s *File) Flush() error { return s.flush(false) }

// FlushAll writes every record given to the file (at the end of a run),
// after waiting for another program at the file to be done.
func (s *File) FlushAll() error { return s.flush(true) }

func (s *File) flush(force bool) error {
	s.enc.Flush()
	s.seen = len(s.buf)
	// A header alone is never held: if a cut follows, it is written again.
	if force {
		for end := time.Now().Add(s.hold.final); s.busy(s.hold.writeQuiet, s.hold.writeMax) && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
	} else if len(s.buf) > 0 && s.busy(s.hold.writeQuiet, s.hold.writeMax) {
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
func (s *File) commit(rows bool) error {
	if !s.regular {
		b := s.withHeader(rows)
		if rows {
			s.dropRows()
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
			return s.keepWhole(pre, b[:n], header, wrapWrite(s.name, err))
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
			s.dropRows()
		}
		return nil
	}
}

// dropRows empties the row buffer (written or lost).
func (s *File) dropRows() { s.buf, s.seen = s.buf[:0], 0 }

// withHeader is the batch to write: the buffered rows (with rows), after
// the header when the file has none.
func (s *File) withHeader(rows bool) []byte {
	var b []byte
	if rows {
		b = s.buf
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
func (s *File) restarted(size int64) {
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
func (s *File) atPath() bool {
	cur, err1 := s.f.Stat()
	at, err2 := os.Stat(s.path)
	return err1 == nil && err2 == nil && os.SameFile(cur, at)
}

func (s *File) fileSize() (int64, error) {
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
func (s *File) cutBack(to int64, err error) error {
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

// keepWhole handles a write that failed after written bytes of the batch
// reached the file (a full disk): the whole records among them stay and
// count as written, the rest of the file is cut back, so that the file
// ends with its last complete record and holds as many as fitted.
func (s *File) keepWhole(pre int64, written []byte, header bool, err error) error {
	hdr := 0
	if header {
		hdr = len(s.header)
	}
	keep, rows := 0, uint64(0)
	if len(written) >= hdr {
		k, n := wholeRecords(written[hdr:], s.format)
		if hdr == 0 || k > 0 {
			keep, rows = hdr+k, n
		}
	}
	if cerr := s.cutBack(pre+int64(keep), err); cerr != err {
		return cerr
	}
	if keep > 0 && header {
		s.noHeader = false
	}
	rows = min(rows, s.pending)
	s.rows += rows
	s.committed += rows
	s.pending -= rows
	return err
}

// wholeRecords returns the length of the complete records at the start
// of b and how many they are. A CSV record ends at a newline outside
// quotes (a name may hold newlines, quoted); a JSON line at any newline.
func wholeRecords(b []byte, format string) (int, uint64) {
	end, n, quoted := 0, uint64(0), false
	for i, c := range b {
		switch {
		case c == '"' && format == "csv":
			quoted = !quoted
		case c == '\n' && !quoted:
			end, n = i+1, n+1
		}
	}
	return end, n
}

// Committed returns how many records are in the files (flushed).
func (s *File) Committed() uint64 { return s.committed }

// Dropped returns how many records were dropped on a full disk.
func (s *File) Dropped() uint64 { return s.dropped.Load() }

// failed handles a write error: the records since the last flush are
// dropped (the file holds none of them); then, on a full disk with
// waitFull, writing goes on (and is tried again at the next flush), else
// the error ends the run.
func (s *File) failed(err error) error {
	lost := s.pending
	s.pending = 0
	s.dropRows()
	s.enc.Flush()
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

// Close flushes and closes the file and waits for the background work.
func (s *File) Close() error {
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
