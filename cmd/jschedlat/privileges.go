package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/jschedlat/jschedlat/jvm"
)

// What each feature of attach needs, as measured on Linux 6.18 (the
// commands and numbers are in docs/privileges.md):
//
//   - tracing: CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN alone also does:
//     the kernel takes it for either). Required: attach fails without.
//   - HotSpot probes (uprobes on libjvm.so): CAP_SYS_ADMIN, whatever
//     perf_event_paranoid says (Linux commit ba677dbe went back to
//     requiring it for perf uprobes), and CAP_SYS_PTRACE too when the JVM
//     runs as another user (its /proc/PID/root, and a perf event on another
//     user's process). Optional.
//   - thread dumps of a JVM of the same user: nothing more. Of a JVM of
//     another user: CAP_SETUID and CAP_SETGID (the helper of
//     jvm.NewSourceAsUser runs as the JVM's user). Of a JVM running as
//     root: root. Optional.

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

// missingForProbes returns "" when HotSpot's uprobes can be put on process
// pid, else what is missing: "CAP_SYS_ADMIN", or with "CAP_SYS_PTRACE" when
// pid runs as another effective uid.
//
// attach.go calls it after checkPrivileges, where --hotspot-probes is
// honoured, before bpf.FindHotSpotProbes: when it returns m != "", the
// probes are not attempted (they would fail, one error per probe site) and
// one warning line names m; if --hotspot-probes was given explicitly on
// the command line, attach fails with that line instead.
func missingForProbes(pid int) string {
	caps, ok := jvm.EffectiveCaps()
	if !ok {
		return ""
	}
	need := []int{jvm.CapSysAdmin}
	if uid, _, _, err := jvm.ProcessCreds(pid); err == nil && uid != os.Geteuid() {
		need = append(need, jvm.CapSysPtrace)
	}
	return strings.Join(caps.Missing(need...), " and ")
}

// missingForDumps returns "" when thread dumps of the JVM pid can be taken,
// else what is missing: "CAP_SETUID and CAP_SETGID" (or one of them) for a
// JVM of another user, "root" for a JVM running as root (its attach
// listener accepts no one else, and a helper started as uid 0 would be
// root with every capability: jschedlat does not do that).
//
// attach.go calls it where it now calls jvm.NewSource, which it replaces by
// jvm.NewSourceAsUser: when it returns m != "", no dump source is made and
// one warning line names m (names fall back to the kernel's comm, as when
// a dump source cannot be made); attach goes on.
func missingForDumps(pid int) string {
	caps, ok := jvm.EffectiveCaps()
	if !ok {
		return ""
	}
	euid := os.Geteuid()
	uid, _, _, err := jvm.ProcessCreds(pid)
	switch {
	case err != nil || euid == 0 || uid == euid:
		return "" // root takes any user's (NewSource); the same user needs nothing
	case uid == 0:
		return "root"
	}
	return strings.Join(caps.Missing(jvm.CapSetuid, jvm.CapSetgid), " and ")
}

// privilegeWarning is the one line logged when a feature is left off for
// want of privileges: privilegeWarning("HotSpot probes", "CAP_SYS_ADMIN")
// is "HotSpot probes off: they need CAP_SYS_ADMIN, which this process
// lacks (see docs/privileges.md)".
func privilegeWarning(feature, missing string) string {
	return fmt.Sprintf("%s off: they need %s, which this process lacks (see docs/privileges.md)", feature, missing)
}
