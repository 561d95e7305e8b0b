package sink

import (
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
	"time"

	"golang.org/x/sys/unix"
)

// cycle writes what is buffered, then with rotate renames the file aside
// (to be compressed and pruned) and starts a new one, else (reopen) opens
// the file now at path if it is not the open one.
func (s *File) cycle(rotate bool) error {
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
func (s *File) rotate() {
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
			s.sawOther(time.Now())
			return
		}
	}
	s.name, s.aside = to, to
	s.reopenPath()
}

// reopenPath goes on in the file now at path: the open one if that is it,
// else that file (appended to; started with its header when empty), or a
// new one. On failure records keep going to the open file.
func (s *File) reopenPath() {
	if s.aside == "" {
		cur, err1 := s.f.Stat()
		at, err2 := os.Stat(s.path)
		if err1 == nil && err2 == nil && os.SameFile(cur, at) {
			s.backoff = 0
			return // still ours: a cut is seen by the next write
		}
	}
	f, _, err := OpenAppend(s.path)
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
func (s *File) retry(what string, err error) {
	s.backoff = min(max(2*s.backoff, time.Second), time.Minute)
	s.retryAt = s.now().Add(s.backoff)
	slog.Warn("record file "+what+" failed: records go on into the open file", "file", s.name, "retry_in", s.backoff, "err", err)
}

// rotatedName is path with t, the UTC time the sink started the file
// (opened it, or found it emptied and started it again: the start of what
// it covers), before the extension (records.csv ->
// records-20261126T002311.123Z.csv; -1, -2... after a name taken): names sort
// in time order.
func (s *File) rotatedName(t time.Time) string {
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
func RotatedFiles(path string) ([]string, error) {
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
func (s *File) background() {
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
		if s.opts.Compress {
			if err := gzipFile(r.name); err != nil {
				s.fail(fmt.Errorf("compressing %s (left as it is): %w", r.name, err))
			}
		}
		if s.opts.Keep > 0 {
			files, err := RotatedFiles(s.path)
			if err != nil {
				s.fail(err)
				continue
			}
			for len(files) > s.opts.Keep {
				if err := os.Remove(files[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
					s.fail(err)
				}
				files = files[1:]
			}
		}
	}
}

// enqueue hands a rotated file to the background work.
func (s *File) enqueue(name string) {
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
func (s *File) next() (rotated, bool) {
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

func (s *File) fail(err error) {
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

// RemoveTemps removes the temporary files being written (before an
// immediate exit).
func RemoveTemps() {
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
