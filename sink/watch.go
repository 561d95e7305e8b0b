package sink

import (
	"bytes"
	"fmt"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

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
