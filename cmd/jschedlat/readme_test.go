package main

import (
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestReadmeFlagsExist keeps the README true: every --flag it names is a
// flag of some subcommand (or of go tools it shows, listed below).
func TestReadmeFlagsExist(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{"help": true, "version": true}
	for _, c := range []*cobra.Command{newAttachCmd(), newReplayCmd(), newThreadsCmd(), newReportCmd(), newVersionCmd()} {
		c.Flags().VisitAll(func(f *pflag.Flag) { known[f.Name] = true })
	}
	// Flags of other programs the README shows (go tool pprof, unshare).
	for _, f := range []string{"http", "top", "tags", "pid", "fork", "mount-proc"} {
		known[f] = true
	}
	var missing []string
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile("(?:^|[\\s`(])--([a-z][a-z0-9-]*)").FindAllSubmatch(b, -1) {
		name := string(m[1])
		if !known[name] && !seen[name] {
			seen[name] = true
			missing = append(missing, "--"+name)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("README.md names flags no subcommand has: %v", missing)
	}
}
