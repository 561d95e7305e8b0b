package main

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/jschedlat/jschedlat/session"
)

// TestBPFAttachFlag checks --bpf-attach's default and values, and that a bad
// value is refused before anything is loaded (no root, no BPF).
func TestBPFAttachFlag(t *testing.T) {
	c := newAttachCmd()
	f := c.Flags().Lookup("bpf-attach")
	if f == nil {
		t.Fatal("attach has no --bpf-attach flag")
	}
	if f.DefValue != "auto" {
		t.Errorf("--bpf-attach default %q, want auto", f.DefValue)
	}
	for _, k := range []string{"auto", "tp_btf", "raw_tp"} {
		if err := session.CheckBPFAttach(k); err != nil {
			t.Errorf("%s: %v", k, err)
		}
	}
	for _, k := range []string{"", "raw", "TP_BTF", "fentry"} {
		if err := session.CheckBPFAttach(k); err == nil {
			t.Errorf("%q accepted", k)
		}
	}

	c.SetArgs([]string{"--bpf-attach", "fentry", "1"})
	c.SetOut(io.Discard)
	c.SetErr(io.Discard)
	err := c.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "--bpf-attach \"fentry\"") {
		t.Fatalf("attach --bpf-attach fentry: %v, want the flag's error", err)
	}
}
