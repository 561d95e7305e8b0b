package eventlog

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// An events file reads the same, twice, whether it is compressed or not.
func TestOpenCompressed(t *testing.T) {
	dir := t.TempDir()
	content := bytes.Repeat([]byte(`{"format":"jschedlat-events"}`+"\n"), 50000)
	plain := filepath.Join(dir, "ev.jsonl")
	if err := os.WriteFile(plain, content, 0o644); err != nil {
		t.Fatal(err)
	}
	var zb bytes.Buffer
	zw := gzip.NewWriter(&zb)
	zw.Write(content)
	zw.Close()
	packed := filepath.Join(dir, "ev.jsonl.gz")
	if err := os.WriteFile(packed, zb.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{plain, packed} {
		r, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		for pass := 0; pass < 2; pass++ {
			if pass > 0 {
				if _, err := r.Seek(0, io.SeekStart); err != nil {
					t.Fatal(err)
				}
			}
			got, err := io.ReadAll(r)
			if err != nil || !bytes.Equal(got, content) {
				t.Fatalf("%s pass %d: %d bytes, %v", p, pass, len(got), err)
			}
		}
		r.Close()
	}
	bad := filepath.Join(dir, "bad.gz")
	os.WriteFile(bad, []byte{0x1f, 0x8b, 0, 0}, 0o644)
	if _, err := Open(bad); err == nil {
		t.Error("a broken gzip header opens")
	}
}
