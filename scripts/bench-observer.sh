#!/usr/bin/env bash
# bench-observer: does tracing change what it measures?
#
# Alternates runs without tracing (off), with jschedlat's defaults
# (on-defaults) and with --min-latency 0 (on-min0), R times each, the order
# reversed every other repetition. Each run starts a fresh Workload JVM with
# fixed work, waits WARMUP seconds, starts jschedlat (tracing modes) and, once
# it is attached, measures over a window of W seconds:
#   run_delay  the JVM's total run-queue wait, ms per second: delta of field 2
#              of /proc/PID/task/*/schedstat summed over its threads (sampled
#              every 50 ms by bench/schedwin, so threads that end inside the
#              window count too)
#   ctxt/s     the system's context switches per second (/proc/stat ctxt)
#   events/s   events jschedlat saw (its stderr summary / traced time)
#   cpu        jschedlat's own CPU inside the window, ms per second
# and prints median and min-max per mode, the ratio of the medians to off,
# and PASS/MISS against the target: both medians within +-TARGET_PCT % of off.
#
# Usage (root): scripts/bench-observer.sh
# Environment (defaults in brackets; the defaults take about 4 minutes):
#   R [5] repetitions   W [10] window s   WARMUP [2] s   MARGIN [3] s
#   WORKERS [6] Workload --workers   SHORT_EVERY_MS [700]  SHORT_LIFE_MS [300]
#   MODES ["off on-defaults on-min0"]; also on-nobudget: defaults with
#     --dump-budget 100% (a dump for every new thread)
#   TARGET_PCT [5]   COOLDOWN [1] s
#   JAVA [java]  JAVAC [javac]  JAVA_OPTS [""]   KEEP [0] 1 = keep the work dir
# The machine is shared: other load shows up in ctxt/s and run_delay; the
# load average is printed with every run.
set -euo pipefail
cd "$(dirname "$0")/.."

R=${R:-5} W=${W:-10} WARMUP=${WARMUP:-2} MARGIN=${MARGIN:-3}
WORKERS=${WORKERS:-6} SHORT_EVERY_MS=${SHORT_EVERY_MS:-700} SHORT_LIFE_MS=${SHORT_LIFE_MS:-300}
MODES=${MODES:-off on-defaults on-min0} TARGET_PCT=${TARGET_PCT:-5} COOLDOWN=${COOLDOWN:-1}
JAVA=${JAVA:-java} JAVAC=${JAVAC:-javac} JAVA_OPTS=${JAVA_OPTS:-} KEEP=${KEEP:-0}

die() { echo "bench-observer: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF, sets sysctl kernel.task_delayacct): sudo $0"
for t in "$JAVA" "$JAVAC"; do
	command -v "$t" >/dev/null || die "$t not found: install a JDK (apt-get install openjdk-17-jdk-headless)"
done
[ -x bin/jschedlat ] || die "bin/jschedlat missing: run make build"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found: needed to build the helper bench/schedwin"
[ -r /proc/self/schedstat ] || die "/proc/*/schedstat missing: kernel without CONFIG_SCHEDSTATS"
for n in R W WARMUP MARGIN WORKERS COOLDOWN; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
[ "$R" -ge 1 ] && [ "$W" -ge 1 ] || die "R and W must be >= 1"
for m in $MODES; do
	case $m in off | on-defaults | on-min0 | on-nobudget) ;; *) die "unknown mode $m (off, on-defaults, on-min0, on-nobudget)" ;; esac
done

work=$(mktemp -d /tmp/bench-observer.XXXXXX)
old_delayacct=$(cat /proc/sys/kernel/task_delayacct 2>/dev/null || echo "")
jvm="" js=""
cleanup() {
	local p
	for p in $js $jvm; do kill "$p" 2>/dev/null || true; done
	for p in $js $jvm; do wait "$p" 2>/dev/null || true; done
	if [ -n "$old_delayacct" ]; then sysctl -qw kernel.task_delayacct="$old_delayacct" || true; fi
	if [ "$KEEP" = 1 ]; then echo "bench-observer: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/schedwin" ./bench/schedwin
mkdir -p "$work/classes"
"$JAVAC" -d "$work/classes" testdata/java/Workload.java
if [ -n "$old_delayacct" ]; then sysctl -qw kernel.task_delayacct=1; fi

echo "== bench-observer: does tracing change what it measures?"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc), kernel $(uname -r)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)   java: $("$JAVA" -version 2>&1 | head -1)"
echo "jschedlat: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git status --porcelain 2>/dev/null | grep -q . && echo ' (uncommitted changes)')"
echo "settings: R=$R W=${W}s WARMUP=${WARMUP}s MARGIN=${MARGIN}s WORKERS=$WORKERS MODES='$MODES' TARGET=+-${TARGET_PCT}% task_delayacct=1 (was ${old_delayacct:-n/a})"
echo

# utime+stime of a process in clock ticks (fields 14, 15 after the comm).
cputicks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Context switches of all threads of a process (field 3 of schedstat).
switches() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $3 } END { print s + 0 }'; }
hz=$(getconf CLK_TCK)

# Go duration (1m2.5s, 12.003s, 950ms) in seconds.
dur_s() { awk -v d="$1" 'BEGIN {
	s = 0
	while (match(d, /^[0-9.]+(h|ms|m|s|us|µs|ns)/)) {
		t = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
		match(t, /[a-zµ]+$/); u = substr(t, RSTART); v = substr(t, 1, RSTART - 1) + 0
		s += v * (u == "h" ? 3600 : u == "m" ? 60 : u == "s" ? 1 : u == "ms" ? 1e-3 : u == "ns" ? 1e-9 : 1e-6)
	}
	printf "%.6f", s }'; }

results=$work/results.tsv
: >"$results"
jvm_secs=$((WARMUP + W + MARGIN + 6))
trace_secs=$((W + MARGIN))
read -r -a modes <<<"$MODES"
nruns=$((R * ${#modes[@]}))
run=0

run_one() { # mode rep
	local mode=$1 rep=$2 jlog=$work/js-$1-$2.err wlog=$work/jvm-$1-$2.log
	local jcmd="" c0=0 c1=0 s0=0 s1=0 line evps=NA lost=NA rc=0
	run=$((run + 1))
	local jargs=(Workload --seconds "$jvm_secs" --workers "$WORKERS" --short-every-ms "$SHORT_EVERY_MS" --short-life-ms "$SHORT_LIFE_MS")
	# shellcheck disable=SC2086 # JAVA_OPTS is a list of options
	"$JAVA" $JAVA_OPTS -cp "$work/classes" "${jargs[@]}" >"$wlog" 2>&1 &
	jvm=$!
	sleep "$WARMUP"
	kill -0 "$jvm" 2>/dev/null || { cat "$wlog" >&2; die "the Workload JVM exited early"; }
	if [ "$mode" != off ]; then
		local extra=()
		[ "$mode" = on-min0 ] && extra=(--min-latency 0)
		[ "$mode" = on-nobudget ] && extra=(--dump-budget 100%)
		jcmd="bin/jschedlat attach $jvm --duration ${trace_secs}s${extra[*]:+ ${extra[*]}} -o /dev/null"
		bin/jschedlat attach "$jvm" --duration "${trace_secs}s" "${extra[@]}" -o /dev/null 2>"$jlog" &
		js=$!
		local i
		for i in $(seq 100); do # wait until attached (up to 10 s)
			grep -q 'msg=tracing' "$jlog" 2>/dev/null && break
			kill -0 "$js" 2>/dev/null || break
			sleep 0.1
		done
		grep -q 'msg=tracing' "$jlog" || { cat "$jlog" >&2; die "jschedlat did not attach (run $run, $mode)"; }
		c0=$(cputicks "$js") s0=$(switches "$js")
	fi
	printf 'run %d/%d rep %d %-11s load %s\n' "$run" "$nruns" "$rep" "$mode" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf '  $ %s%s -cp %s %s    # pid %s\n' "$JAVA" "${JAVA_OPTS:+ $JAVA_OPTS}" "$work/classes" "${jargs[*]}" "$jvm"
	if [ -n "$jcmd" ]; then printf '  $ %s\n' "$jcmd"; fi
	line=$("$work/schedwin" -pid "$jvm" -window "${W}s")
	if [ -n "$js" ]; then
		c1=$(cputicks "$js") s1=$(switches "$js")
		wait "$js" || rc=$?
		js=""
		[ "$rc" = 0 ] || { cat "$jlog" >&2; die "jschedlat failed (exit $rc, run $run, $mode)"; }
		local sum
		sum=$(grep -m1 ' traced: ' "$jlog") || { cat "$jlog" >&2; die "no summary line from jschedlat"; }
		local d ev
		d=$(dur_s "$(sed -E 's/^jschedlat: ([^ ]+) traced:.*/\1/' <<<"$sum")")
		ev=$(sed -nE 's/.* traced: ([0-9]+) events.*/\1/p' <<<"$sum")
		lost=$(sed -nE 's/.*, ([0-9]+) lost.*/\1/p' <<<"$sum")
		evps=$(awk -v e="$ev" -v d="$d" 'BEGIN { printf "%.0f", (d > 0 ? e / d : 0) }')
		echo "  jschedlat: ${sum#jschedlat: }"
	fi
	kill "$jvm" 2>/dev/null || true
	wait "$jvm" 2>/dev/null || true
	jvm=""
	echo "  ${line#schedwin: }"
	# mode rep run_delay_ms_per_s ctxt_per_s events_per_s cpu_ms_per_s lost own_switches_per_s
	awk -v mode="$mode" -v rep="$rep" -v evps="$evps" -v lost="${lost:-NA}" -v c0="$c0" -v c1="$c1" -v s0="$s0" -v s1="$s1" -v hz="$hz" -v traced="$([ "$mode" = off ] && echo 0 || echo 1)" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		w = v["window_s"]
		cpu = traced ? sprintf("%.1f", (c1 - c0) / hz * 1000 / w) : "NA"
		sw = traced ? sprintf("%.0f", (s1 - s0) / w) : "NA"
		printf "%s\t%s\t%.3f\t%.0f\t%s\t%s\t%s\t%s\n", mode, rep, v["run_delay_ns"] / 1e6 / w, v["ctxt_per_s"], evps, cpu, lost, sw
	}' <<<"$line" >>"$results"
	sleep "$COOLDOWN"
}

for rep in $(seq "$R"); do
	if [ $((rep % 2)) = 1 ]; then order=("${modes[@]}"); else order=(); for ((i = ${#modes[@]} - 1; i >= 0; i--)); do order+=("${modes[i]}"); done; fi
	for m in "${order[@]}"; do run_one "$m" "$rep"; done
done

echo
echo "== results: medians over $R run(s), [min-max]; ratio = median / median(off); target: run_delay and ctxt/s medians within +-${TARGET_PCT}% of off"
awk -F'\t' -v modes="$MODES" -v tgt="$TARGET_PCT" '
function stats(key, col,    n, a, i, j, t, med) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, col, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	med = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
	lo[key, col] = a[1]; hi[key, col] = a[n]
	return med
}
{ k = $1; c = ++cnt[k]; for (f = 3; f <= 8; f++) val[k, f, c] = $f }
END {
	nm = split(modes, m, " ")
	printf "%-12s %4s  %-26s %-26s %7s %6s %6s %7s %7s  %s\n", "mode", "runs", "run_delay ms/s [min-max]", "ctxt/s [min-max]", "ev/s", "cpu", "sw/s", "rd/off", "cs/off", "target"
	haveoff = ("off" in cnt)
	if (haveoff) { offrd = stats("off", 3); offcs = stats("off", 4) }
	for (i = 1; i <= nm; i++) {
		k = m[i]; if (!(k in cnt)) continue
		rd = stats(k, 3); cs = stats(k, 4)
		rdlo = lo[k, 3]; rdhi = hi[k, 3]; cslo = lo[k, 4]; cshi = hi[k, 4]
		ev = "-"; cpu = "-"; sw = "-"
		if (val[k, 5, 1] != "NA") { ev = sprintf("%.0f", stats(k, 5)); cpu = sprintf("%.1f", stats(k, 6)); sw = sprintf("%.0f", stats(k, 8)) }
		rr = "-"; rc = "-"; verdict = "-"
		if (haveoff && k != "off" && offrd > 0 && offcs > 0) {
			rr = rd / offrd; rc = cs / offcs
			ok = (rr >= 1 - tgt / 100 && rr <= 1 + tgt / 100 && rc >= 1 - tgt / 100 && rc <= 1 + tgt / 100)
			verdict = ok ? "PASS" : "MISS"
			if (!ok) verdict = verdict " (" ((rr < 1 - tgt / 100 || rr > 1 + tgt / 100) ? "run_delay" : "") ((rc < 1 - tgt / 100 || rc > 1 + tgt / 100) ? ((rr < 1 - tgt / 100 || rr > 1 + tgt / 100) ? ", " : "") "ctxt/s" : "") ")"
			rr = sprintf("%.3f", rr); rc = sprintf("%.3f", rc)
		}
		printf "%-12s %4d  %-26s %-26s %7s %6s %6s %7s %7s  %s\n", k, cnt[k],
			sprintf("%.1f [%.1f-%.1f]", rd, rdlo, rdhi), sprintf("%.0f [%.0f-%.0f]", cs, cslo, cshi), ev, cpu, sw, rr, rc, verdict
	}
	if (haveoff && offrd > 0 && offcs > 0)
		printf "\nnoise: spread of off (max-min)/median: run_delay %.1f%%, ctxt/s %.1f%%%s\n", (hi["off", 3] - lo["off", 3]) / offrd * 100, (hi["off", 4] - lo["off", 4]) / offcs * 100,
			(cnt["off"] < 3 ? " (fewer than 3 off runs: verdicts are indicative only)" : "")
	print "ev/s: events jschedlat saw per second; cpu: its CPU in the window, ms/s; sw/s: its own threads'"'"' context switches per second (medians)"
}' "$results"
lostsum=$(awk -F'\t' '$7 != "NA" { s += $7 } END { print s + 0 }' "$results")
[ "$lostsum" = 0 ] || echo "warning: jschedlat reported $lostsum lost events over the tracing runs"
