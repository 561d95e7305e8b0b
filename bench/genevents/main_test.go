package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/jschedlat/jschedlat/internal/eventgen/jvmrun"
)

func TestRunWritesFiles(t *testing.T) {
	dir := t.TempDir()
	c := jvmrun.DefaultConfig()
	c.Waits = 1000
	if err := run(c, filepath.Join(dir, "events.jsonl"), filepath.Join(dir, "dumps")); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"events.jsonl", "dumps/index.jsonl", "dumps/dump-000001.txt"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", f, err)
		}
	}
	// A second run into the same directory would mix two captures.
	if err := run(c, filepath.Join(dir, "events2.jsonl"), filepath.Join(dir, "dumps")); err == nil {
		t.Error("a directory holding a capture was reused")
	}
}
