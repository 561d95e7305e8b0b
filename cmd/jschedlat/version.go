package main

import (
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"
)

// version and commit are set at link time (make build passes git's; with
// plain go build the toolchain's VCS stamp is used, unless -buildvcs=false).
var version, commit = "", ""

// versionString names the version and the commit the binary was built from,
// as the Go toolchain recorded them (a build from a modified tree says so).
func versionString() string {
	v, rev, when, dirty := version, commit, "", false
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.time":
				when = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	if rev == "" {
		rev = "unknown"
	}
	s := fmt.Sprintf("jschedlat %s commit %s", v, rev)
	if dirty {
		s += " (modified)"
	}
	if when != "" {
		s += " built from a tree of " + when
	}
	return s
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version and the commit jschedlat was built from",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), versionString())
		},
	}
}
