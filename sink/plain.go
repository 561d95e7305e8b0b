package sink

import (
	"errors"
	"fmt"
	"os"
)

// Plain is an output file without rotation (replay's and report's output,
// a saved events file) that names itself in its errors. "-" is stdout.
type Plain struct {
	name    string
	f       *os.File
	created bool // by this run: removed again if the run does not start
	started bool
}

// CreatePlain creates path, emptied if it exists.
func CreatePlain(path string) (*Plain, error) {
	if path == "" || path == "-" {
		return &Plain{name: "stdout", f: os.Stdout, started: true}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("cannot write output: %w", err)
	}
	return &Plain{name: path, f: f, started: true}, nil
}

// PreparePlain opens path for writing without changing what it holds: a
// run checks every output before it truncates any (Start).
func PreparePlain(path string) (*Plain, error) {
	if path == "" || path == "-" {
		return &Plain{name: "stdout", f: os.Stdout, started: true}, nil
	}
	f, created, err := OpenAppend(path)
	if err != nil {
		return nil, fmt.Errorf("cannot write output: %w", err)
	}
	return &Plain{name: path, f: f, created: created}, nil
}

// Name is the file's path, or "stdout".
func (o *Plain) Name() string { return o.name }

// Start empties a file opened by PreparePlain.
func (o *Plain) Start() error {
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

func (o *Plain) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	if err != nil {
		err = fmt.Errorf("writing %s: %w", o.name, errors.Unwrap(err))
	}
	return n, err
}

// Close closes the file; one this run created but never started is removed.
func (o *Plain) Close() error {
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
