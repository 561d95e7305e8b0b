package main

import (
	"github.com/jschedlat/jschedlat/runmeta"
)

// runInfo describes an attach run for its sidecar (FILE.runs.jsonl):
// pid 0 is --all; follow passes its mode and match.
func runInfo(o *attachOpts, pid int) runmeta.Info {
	info := runmeta.Info{Mode: "all", MinLatency: o.minLatency, Kinds: o.kinds, Format: o.format, Version: versionString()}
	switch {
	case o.jvm != "":
		info.Mode, info.Match = "jvm", o.jvm
	case o.allJVMs:
		info.Mode = "all-jvms"
	case pid != 0:
		info.Mode, info.Pids = "pid", []uint32{uint32(pid)}
	}
	return info
}
