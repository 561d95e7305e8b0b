package session

import (
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/bpf"
)

// One PID and a follow run print the same summary: the totals line with
// the kernel's counts, then each JVM's lines.
func TestSummarySameForPidAndFollow(t *testing.T) {
	kc := bpf.Counters{Lost: 3, LostPerCPU: []uint64{1, 2}, Collisions: 2, Recovered: 4, Missed: 1, MissedNs: 500}
	jvmLine := "jschedlat: JVM 42 (Main): traced 1s, 10 events, 9 records (1 without a Java name)\n"
	for _, what := range []string{"", `"Main"`} {
		st := Stats{Traced: 1500 * time.Millisecond, Events: 10, Lifecycle: 5, Written: 9, Unnamed: 1, Counters: kc,
			ThreadStarts: 2, Named: true, What: what, JVMs: 1, PerJVM: []string{jvmLine}}
		var b strings.Builder
		st.WriteSummary(&b)
		got := b.String()
		first := "jschedlat: traced=1.50s: 10 events, 9 records written (1 of them without a Java name), 5 thread births/renames/exits, 3 lost, 2 wait starts shared a slot"
		if what != "" {
			first = strings.Replace(first, "1.50s: ", "1.50s: 1 JVMs matching \"Main\", ", 1)
		}
		for _, want := range []string{first,
			"jschedlat: 2 new threads named as they started",
			"jschedlat: the kernel did not report 5 switch-ins: 4 of those waits recovered from the scheduler's stamps (their prev_comm is empty), 1 missing (500 ns of run-queue time)\n",
			jvmLine,
			"jschedlat: WARNING: events were lost (per CPU: [1 2])",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("what=%q: summary has no %q:\n%s", what, want, got)
			}
		}
	}
}

func TestSavePaths(t *testing.T) {
	for in, want := range map[string]string{
		"events.jsonl":       "events.4242.jsonl",
		"/run/x/events":      "/run/x/events.4242",
		"dir.d/ev.jsonl.tmp": "dir.d/ev.jsonl.4242.tmp",
	} {
		if got := EventsPath(in, 4242); got != want {
			t.Errorf("EventsPath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := DumpsPath("d", 7); got != "d/7" {
		t.Errorf("DumpsPath = %q", got)
	}
}
