package session

import (
	"fmt"
	"os"
	"strings"

	"github.com/jschedlat/jschedlat/jvm"
)

// What each optional feature of a session needs, as measured on Linux 6.18
// (the commands and numbers are in docs/privileges.md):
//
//   - HotSpot probes (uprobes on libjvm.so): CAP_SYS_ADMIN, whatever
//     perf_event_paranoid says (Linux commit ba677dbe went back to
//     requiring it for perf uprobes), and CAP_SYS_PTRACE too when the JVM
//     runs as another user (its /proc/PID/root, and a perf event on another
//     user's process).
//   - thread dumps of a JVM of the same user: nothing more. Of a JVM of
//     another user: CAP_SETUID and CAP_SETGID (the helper of
//     jvm.NewSourceAsUser runs as the JVM's user). Of a JVM running as
//     root: root.
//
// Without them the session goes on with one warning line (PrivilegeWarning)
// instead of one error per probe site or dump.

// MissingForProbes returns "" when HotSpot's uprobes can be put on process
// pid, else what is missing: "CAP_SYS_ADMIN", or with "CAP_SYS_PTRACE" when
// pid runs as another effective uid.
func MissingForProbes(pid int) string {
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

// MissingForDumps returns "" when thread dumps of the JVM pid can be taken,
// else what is missing: "CAP_SETUID and CAP_SETGID" (or one of them) for a
// JVM of another user, "root" for a JVM running as root (its attach
// listener accepts no one else, and a helper started as uid 0 would be
// root with every capability: jschedlat does not do that).
func MissingForDumps(pid int) string {
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

// PrivilegeWarning is the one line logged when a feature is left off for
// want of privileges: PrivilegeWarning("HotSpot probes", "CAP_SYS_ADMIN")
// is "HotSpot probes off: they need CAP_SYS_ADMIN, which this process
// lacks (see docs/privileges.md)".
func PrivilegeWarning(feature, missing string) string {
	return fmt.Sprintf("%s off: they need %s, which this process lacks (see docs/privileges.md)", feature, missing)
}
