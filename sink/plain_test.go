package sink

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// A file the run created is removed again when the run does not start; an
// existing one keeps what it held.
func TestPreparePlainNotStarted(t *testing.T) {
	dir := t.TempDir()
	created := filepath.Join(dir, "events.log")
	o, err := PreparePlain(created)
	if err != nil {
		t.Fatal(err)
	}
	o.Close()
	if _, err := os.Stat(created); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a file the run created stays: %v", err)
	}
	old := filepath.Join(dir, "old.log")
	if err := os.WriteFile(old, []byte("kept\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, err = PreparePlain(old); err != nil {
		t.Fatal(err)
	}
	o.Close()
	if b, _ := os.ReadFile(old); string(b) != "kept\n" {
		t.Errorf("an existing file not started holds %q", b)
	}
	if o, err = PreparePlain(old); err != nil {
		t.Fatal(err)
	}
	if err := o.Start(); err != nil {
		t.Fatal(err)
	}
	o.Write([]byte("new\n"))
	o.Close()
	if b, _ := os.ReadFile(old); string(b) != "new\n" {
		t.Errorf("a started file holds %q", b)
	}
}
