package eventlog

import (
	"bufio"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// Open opens an events file for reading, gzip-compressed or not (an
// archived or rotated copy is often compressed). The reader can be sought
// back to its start, as replay's two passes need; nothing else.
func Open(path string) (io.ReadSeekCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	var magic [2]byte
	n, _ := io.ReadFull(f, magic[:])
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	if n < 2 || magic != [2]byte{0x1f, 0x8b} {
		return f, nil
	}
	g := &gzipFile{f: f, br: bufio.NewReaderSize(f, 256<<10)}
	if g.zr, err = gzip.NewReader(g.br); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return g, nil
}

// gzipFile is a gzip file read from its start again on Seek(0, SeekStart).
type gzipFile struct {
	f  *os.File
	br *bufio.Reader
	zr *gzip.Reader
}

func (g *gzipFile) Read(p []byte) (int, error) { return g.zr.Read(p) }

func (g *gzipFile) Seek(off int64, whence int) (int64, error) {
	if off != 0 || whence != io.SeekStart {
		return 0, errors.New("a compressed events file can only be read again from its start")
	}
	if _, err := g.f.Seek(0, io.SeekStart); err != nil {
		return 0, err
	}
	g.br.Reset(g.f)
	return 0, g.zr.Reset(g.br)
}

func (g *gzipFile) Close() error { return g.f.Close() }
