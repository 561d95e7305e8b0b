package session

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// outFile is a saved-events destination that reports write errors with
// its name.
type outFile struct {
	name    string
	f       *os.File
	created bool // by this run; removed again if the run does not start
	started bool
}

// prepareOut opens path for writing without changing what it holds: a
// session checks every output before it truncates any (start).
func prepareOut(path string) (*outFile, error) {
	if path == "-" {
		return &outFile{name: "stdout", f: os.Stdout, started: true}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	created := err == nil
	if errors.Is(err, fs.ErrExist) {
		f, err = os.OpenFile(path, os.O_WRONLY, 0o644)
	}
	if err != nil {
		return nil, fmt.Errorf("cannot write output: %w", err)
	}
	return &outFile{name: path, f: f, created: created}, nil
}

// createOut creates path (emptied if it exists).
func createOut(path string) (*outFile, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cannot write output: %w", err)
	}
	return &outFile{name: path, f: f, started: true}, nil
}

// start empties a file opened by prepareOut.
func (o *outFile) start() error {
	if o.started {
		return nil
	}
	if fi, err := o.f.Stat(); err == nil && fi.Mode().IsRegular() {
		if err := o.f.Truncate(0); err != nil {
			return fmt.Errorf("cannot write output: truncating %s: %w", o.name, errors.Unwrap(err))
		}
	}
	o.started = true
	return nil
}

func (o *outFile) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", o.name, errors.Unwrap(err))
	}
	return n, err
}

func (o *outFile) Close() error {
	if o.f == os.Stdout {
		return nil
	}
	if err := o.f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", o.name, err)
	}
	if !o.started && o.created {
		os.Remove(o.name)
	}
	return nil
}
