package main

import (
	"os/exec"
	"strings"
	"testing"
)

func TestVersionString(t *testing.T) {
	defer func(v, c string) { version, commit = v, c }(version, commit)
	version, commit = "v1.2.3", "0123456789abcdef0123456789abcdef01234567"
	got := versionString()
	if !strings.HasPrefix(got, "jschedlat v1.2.3 commit 0123456789abcdef0123456789abcdef01234567") {
		t.Fatalf("versionString() = %q", got)
	}
	version, commit = "", ""
	if got := versionString(); !strings.Contains(got, "commit ") || strings.Contains(got, "commit  ") {
		t.Fatalf("without link-time values: %q", got)
	}
}

// TestVersionFlag checks that both spellings print one line naming the
// version and the commit, and exit 0.
func TestVersionFlag(t *testing.T) {
	for _, args := range [][]string{{"--version"}, {"version"}} {
		out, err := exec.Command(binary(t), args...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		s := strings.TrimSpace(string(out))
		if !strings.HasPrefix(s, "jschedlat ") || !strings.Contains(s, " commit ") || strings.Count(s, "\n") != 0 {
			t.Errorf("%v printed %q", args, out)
		}
	}
}
