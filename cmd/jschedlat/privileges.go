package main

import (
	"errors"
	"os"
	"strconv"
	"strings"
)

// checkPrivileges fails early, with the fix in the message, when loading
// BPF cannot work: before any output file is created.
func checkPrivileges() error {
	st, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil // cannot tell: loading will say
	}
	for _, l := range strings.Split(string(st), "\n") {
		if v, ok := strings.CutPrefix(l, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			if err != nil {
				return nil
			}
			const sysAdmin, perfmon, bpfCap = 21, 38, 39
			if caps&(1<<sysAdmin) != 0 || (caps&(1<<perfmon) != 0 && caps&(1<<bpfCap) != 0) {
				return nil
			}
			return errors.New("tracing needs root (or CAP_BPF and CAP_PERFMON): run it with sudo")
		}
	}
	return nil
}
