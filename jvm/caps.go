package jvm

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// Capabilities jschedlat checks for (numbers from linux/capability.h). What
// each is needed for, as measured, is in docs/privileges.md.
const (
	CapDacReadSearch = 2
	CapKill          = 5
	CapSetgid        = 6
	CapSetuid        = 7
	CapSysPtrace     = 19
	CapSysAdmin      = 21
	CapPerfmon       = 38
	CapBPF           = 39
)

var capNames = map[int]string{
	CapDacReadSearch: "CAP_DAC_READ_SEARCH",
	CapKill:          "CAP_KILL",
	CapSetgid:        "CAP_SETGID",
	CapSetuid:        "CAP_SETUID",
	CapSysPtrace:     "CAP_SYS_PTRACE",
	CapSysAdmin:      "CAP_SYS_ADMIN",
	CapPerfmon:       "CAP_PERFMON",
	CapBPF:           "CAP_BPF",
}

// CapName returns the name of capability c, e.g. "CAP_BPF".
func CapName(c int) string {
	if n, ok := capNames[c]; ok {
		return n
	}
	return "capability " + strconv.Itoa(c)
}

// CapSet is a set of capabilities: bit n is capability n.
type CapSet uint64

// Has tells whether every one of caps is in the set.
func (s CapSet) Has(caps ...int) bool {
	for _, c := range caps {
		if s&(1<<c) == 0 {
			return false
		}
	}
	return true
}

// Missing returns the names of those of caps that are not in the set, in
// the order given.
func (s CapSet) Missing(caps ...int) []string {
	var out []string
	for _, c := range caps {
		if !s.Has(c) {
			out = append(out, CapName(c))
		}
	}
	return out
}

// EffectiveCaps returns this process's effective capabilities; ok is false
// when they cannot be read (no /proc).
func EffectiveCaps() (set CapSet, ok bool) {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	return parseCapEff(st)
}

func parseCapEff(status []byte) (CapSet, bool) {
	for _, l := range strings.Split(string(status), "\n") {
		if v, found := strings.CutPrefix(l, "CapEff:"); found {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return CapSet(caps), err == nil
		}
	}
	return 0, false
}

// ProcessCreds returns the effective uid and gid of process pid and its
// permitted capabilities.
func ProcessCreds(pid int) (uid, gid int, permitted CapSet, err error) {
	st, err := readStatus(pid)
	if err != nil {
		return 0, 0, 0, err
	}
	uid, ok1 := statusField(st, "Uid:", 1)
	gid, ok2 := statusField(st, "Gid:", 1)
	prm := statusLine(st, "CapPrm:")
	if !ok1 || !ok2 || len(prm) != 1 {
		return 0, 0, 0, fmt.Errorf("pid %d: no Uid, Gid or CapPrm in its status", pid)
	}
	v, err := strconv.ParseUint(prm[0], 16, 64)
	if err != nil {
		return 0, 0, 0, fmt.Errorf("pid %d: CapPrm: %w", pid, err)
	}
	return uid, gid, CapSet(v), nil
}
