package main

import (
	"fmt"
	"strings"

	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/session"
)

// Tracing needs CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN alone also does:
// the kernel takes it for either); attach fails without. What the optional
// features need is in package session, which leaves them off with a
// warning (the commands and numbers are in docs/privileges.md).

// checkPrivileges fails early, before any output file is created, when
// loading BPF cannot work. Its error is one line naming the missing
// capabilities.
func checkPrivileges() error {
	caps, ok := jvm.EffectiveCaps()
	if !ok {
		return nil // cannot tell: loading will say
	}
	if m := missingForTracing(caps); m != "" {
		return fmt.Errorf("tracing needs CAP_BPF and CAP_PERFMON (missing: %s): run as root or grant them (see docs/privileges.md)", m)
	}
	return nil
}

func missingForTracing(caps jvm.CapSet) string {
	if caps.Has(jvm.CapSysAdmin) {
		return "" // the kernel's bpf_capable() and perfmon_capable() take it
	}
	return strings.Join(caps.Missing(jvm.CapBPF, jvm.CapPerfmon), " and ")
}

var (
	missingForProbes = session.MissingForProbes
	missingForDumps  = session.MissingForDumps
	privilegeWarning = session.PrivilegeWarning
)
