package main

import (
	"os"
	"regexp"
	"sort"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// TestReadmeFlagsExist keeps the README and the reference true: every
// --flag they name is a flag of some subcommand (or of other programs they
// show, listed below).
func TestReadmeFlagsExist(t *testing.T) {
	for _, doc := range []string{"../../README.md", "../../docs/reference.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		if missing := unknownFlags(b); len(missing) > 0 {
			t.Errorf("%s names flags no subcommand has: %v", doc, missing)
		}
	}
}

func unknownFlags(b []byte) []string {
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
	return missing
}
