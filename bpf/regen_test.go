package bpf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedUpToDate rebuilds the BPF object with the go:generate line of
// gen.go and checks that the committed runqlat_bpfel.{o,go} match, so that a
// change to runqlat.bpf.c cannot ship with a stale object.
func TestGeneratedUpToDate(t *testing.T) {
	if _, err := exec.LookPath("clang"); err != nil {
		t.Skip("SKIPPED: clang not installed; cannot check that runqlat_bpfel.o matches runqlat.bpf.c")
	}
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//go:generate go "); ok {
			args = strings.Fields(rest)
		}
	}
	if len(args) < 2 || args[0] != "tool" || args[1] != "bpf2go" {
		t.Fatalf("gen.go has no `//go:generate go tool bpf2go` line")
	}
	dir := t.TempDir()
	// Same command, output elsewhere: "tool bpf2go -output-dir DIR ...".
	args = append([]string{"tool", "bpf2go", "-output-dir", dir}, args[2:]...)
	cmd := exec.Command("go", args...)
	cmd.Env = append(os.Environ(), "GOPACKAGE=bpf")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	for _, name := range []string{"runqlat_bpfel.o", "runqlat_bpfel.go"} {
		fresh, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		committed, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(fresh, committed) {
			t.Errorf("%s is stale: run `go generate ./bpf` and commit the result", name)
		}
	}
}
