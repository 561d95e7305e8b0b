#!/usr/bin/env bash
# bench-hostcpu: what recording every wait of one JVM costs the host, side by
# side with perf sched record in the same run, and how much each disturbs the
# JVM.
#
# One JVM (testdata/java/Workload.java: WORKERS pool threads of 1.5-3 ms of
# CPU then 1 ms asleep, HOGS threads that rarely sleep, self-renaming and
# short-lived threads: more CPU asked than the machine has) runs for the whole
# experiment. After WARMUP seconds, R rounds each run these variants in turn
# (the order reversed every other round), each over a window of W seconds:
#   off    untraced
#   min0   bin/jschedlat attach PID --min-latency 0 -o FILE (every wait)
#   perf   perf sched record -a -o FILE -- sleep N (system-wide)
# A tracer is started before its window and stopped with SIGINT after it.
# Per window:
#   tracer CPU  run time of all the tracer's threads (user + system, from
#               /proc/PID/task/*/schedstat), ms per second
#   BPF         the kernel time of the BPF programs the tracer holds
#               (run_time_ns with kernel.bpf_stats_enabled=1, through
#               bench/bpfstats -pid), ms per second. perf's tracepoint
#               handlers have no such counter: their cost is charged to the
#               tasks that switch, and is missing from perf's column
#   host CPU    tracer CPU + BPF
#   events/s    what the tracer recorded: jschedlat's events (its summary),
#               perf's samples (every switch and wakeup of the host)
#   run_delay   the JVM's run-queue wait, ms per second, and
#   switch-ins  its switch-ins per second: deltas of fields 2 and 3 of
#               /proc/PID/task/*/schedstat summed over its threads
#               (bench/schedwin, sampled every 50 ms)
# The ratios to off are per round (the same JVM, the rounds next to each
# other), median over the rounds.
# With MD set (scripts/bench.sh), also appends the markdown fragment.
#
# Usage (root): scripts/bench-hostcpu.sh
# Environment (defaults in brackets; about R*3*(W+5) s plus start-ups):
#   R [5] rounds   W [10] window s   WARMUP [5] s   COOLDOWN [1] s
#   WORKERS [6] HOGS [2]  Workload's settings   DISTURB_PCT [2]
#   JAVA [java] JAVAC [javac]   KEEP [0] 1 = keep the logs
#   TITLE the markdown fragment's heading
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

R=${R:-5} W=${W:-10} WARMUP=${WARMUP:-5} COOLDOWN=${COOLDOWN:-1}
WORKERS=${WORKERS:-6} HOGS=${HOGS:-2} DISTURB_PCT=${DISTURB_PCT:-2}
JAVA=${JAVA:-java} JAVAC=${JAVAC:-javac} KEEP=${KEEP:-0}
TITLE=${TITLE:-6. Host CPU side by side with perf sched record}

die() { echo "bench-hostcpu: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF, runs perf, sets sysctls): sudo $0"
for n in R W WARMUP COOLDOWN WORKERS HOGS; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
[[ $DISTURB_PCT =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "DISTURB_PCT=$DISTURB_PCT: must be a number"
if [ "$R" -lt 1 ] || [ "$W" -lt 1 ]; then die "R and W must be >= 1"; fi
for t in "$JAVA" "$JAVAC"; do command -v "$t" >/dev/null || die "$t not found (apt-get install openjdk-17-jdk-headless)"; done
[ -x bin/jschedlat ] || die "bin/jschedlat missing: run make build"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found: needed to build bench/schedwin and bench/bpfstats"
[ -r /proc/self/schedstat ] || die "/proc/*/schedstat missing: kernel without CONFIG_SCHEDSTATS"
[ -e /proc/sys/kernel/bpf_stats_enabled ] || die "kernel without kernel.bpf_stats_enabled (needs Linux >= 5.8)"
perf_bin=$(command -v perf || true) perf_skip=""
if [ -z "$perf_bin" ]; then
	perf_skip="perf is not installed (Debian: apt-get install linux-perf)"
elif ! "$perf_bin" --version >/dev/null 2>&1; then
	perf_skip="\`$perf_bin --version\` fails: $("$perf_bin" --version 2>&1 | head -1)"
fi
modes=(off min0 perf)

work=$(mktemp -d /tmp/bench-hostcpu.XXXXXX)
old_delayacct=$(cat /proc/sys/kernel/task_delayacct 2>/dev/null || echo "")
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
jvm="" tr=""
cleanup() {
	local p
	for p in $tr $jvm; do kill "$p" 2>/dev/null || true; done
	for p in $tr $jvm; do wait "$p" 2>/dev/null || true; done
	[ -z "$old_delayacct" ] || sysctl -qw kernel.task_delayacct="$old_delayacct" || true
	sysctl -qw kernel.bpf_stats_enabled="$old_stats" || true
	if [ "$KEEP" = 1 ]; then echo "bench-hostcpu: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/schedwin" ./bench/schedwin
go build -o "$work/bpfstats" ./bench/bpfstats
mkdir -p "$work/classes"
"$JAVAC" -d "$work/classes" testdata/java/Workload.java
[ -z "$old_delayacct" ] || sysctl -qw kernel.task_delayacct=1
sysctl -qw kernel.bpf_stats_enabled=1

start_load=$(cut -d' ' -f1-3 /proc/loadavg)
md_begin "$TITLE"
echo "== bench-hostcpu: host CPU of recording every wait of one JVM, against perf sched record -a"
echo "machine: $(md_machine)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $(md_commit)   java: $("$JAVA" -version 2>&1 | head -1)"
echo "settings: R=$R W=${W}s WARMUP=${WARMUP}s COOLDOWN=${COOLDOWN}s WORKERS=$WORKERS HOGS=$HOGS"
[ -z "$perf_bin" ] || echo "perf: $perf_bin ($("$perf_bin" --version 2>&1 | head -1))"
[ -z "$perf_skip" ] || echo "skipped perf: $perf_skip"
echo

# Run time (ns) of all threads of a process (schedstat field 1).
runtime() { { cat /proc/"$1"/task/*/schedstat 2>/dev/null || true; } | awk '{ s += $1 } END { printf "%.0f\n", s + 0 }'; }
now_ns() { date +%s%N; }
# Go duration (1m2.5s, 12.003s, 950ms) in seconds.
dur_s() { awk -v d="$1" 'BEGIN {
	s = 0
	while (match(d, /^[0-9.]+(h|ms|m|s|us|µs|ns)/)) {
		t = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
		match(t, /[a-zµ]+$/); u = substr(t, RSTART); v = substr(t, 1, RSTART - 1) + 0
		s += v * (u == "h" ? 3600 : u == "m" ? 60 : u == "s" ? 1 : u == "ms" ? 1e-3 : u == "ns" ? 1e-9 : 1e-6)
	}
	printf "%.6f", s }'; }

jvm_secs=$((WARMUP + R * ${#modes[@]} * (W + 60) + 30)) # killed once measured; bounds a leftover
jargs=(Workload --seconds "$jvm_secs" --workers "$WORKERS" --hogs "$HOGS")
jvm_cmd="$JAVA -cp $work/classes ${jargs[*]}"
"$JAVA" -cp "$work/classes" "${jargs[@]}" >"$work/jvm.log" 2>&1 &
jvm=$!
results=$work/results.tsv cmds=$work/cmds.txt
: >"$results"
echo "$jvm_cmd    # pid $jvm, for every round" >"$cmds"
printf 'JVM pid %s\n  $ %s\n' "$jvm" "$jvm_cmd"
sleep "$WARMUP"
kill -0 "$jvm" 2>/dev/null || { cat "$work/jvm.log" >&2; die "the Workload JVM exited early"; }

run_one() { # MODE ROUND
	local mode=$1 rep=$2 out=$work/out-$1-$2 tlog=$work/tracer-$1-$2.log
	local bp="" c0=0 c1=0 bpfns=NA evps=NA lost=NA line tcmd="" i ready=0 rc=0 t_ready t_stop secs
	if [ "$mode" = perf ] && [ -n "$perf_skip" ]; then return 0; fi
	sync # no writeback of an earlier round's files inside this window
	kill -0 "$jvm" 2>/dev/null || { cat "$work/jvm.log" >&2; die "the Workload JVM exited early"; }
	printf 'round %d %-5s load %s\n' "$rep" "$mode" "$(cut -d' ' -f1-3 /proc/loadavg)"
	case $mode in
	min0)
		tcmd="bin/jschedlat attach $jvm --min-latency 0 -o $out"
		bin/jschedlat attach "$jvm" --min-latency 0 -o "$out" 2>"$tlog" &
		tr=$!
		;;
	perf)
		# The sleep only ends the recording if the SIGINT does not.
		tcmd="$perf_bin sched record -a -o $out -- sleep $((W + 120))"
		"$perf_bin" sched record -a -o "$out" -- sleep $((W + 120)) >"$tlog" 2>&1 &
		tr=$!
		;;
	esac
	if [ -n "$tr" ]; then
		for i in $(seq 600); do # until it traces (up to 60 s on a busy host)
			case $mode in
			min0) grep -q 'msg=tracing' "$tlog" 2>/dev/null && ready=1 ;;
			# perf execs its workload once its events are enabled.
			perf) [ "$(ps -o comm= --ppid "$tr" 2>/dev/null)" = sleep ] && ready=1 ;;
			esac
			[ "$ready" = 1 ] && break
			kill -0 "$tr" 2>/dev/null || break
			sleep 0.1
		done
		[ "$ready" = 1 ] || { cat "$tlog" >&2; die "$mode did not start tracing (round $rep)"; }
		t_ready=$(now_ns)
		echo "$tcmd    # round $rep, stopped with SIGINT after the window" >>"$cmds"
		printf '  $ %s\n' "$tcmd"
		c0=$(runtime "$tr")
		if [ "$mode" = min0 ]; then
			"$work/bpfstats" -pid "$tr" -interval "${W}s" "" >"$work/bpf-$rep.txt" 2>&1 &
			bp=$!
		fi
	fi
	echo "$work/schedwin -pid $jvm -window ${W}s    # round $rep, $mode: the window" >>"$cmds"
	line=$("$work/schedwin" -pid "$jvm" -window "${W}s")
	if [ -n "$tr" ]; then
		c1=$(runtime "$tr")
		if [ "$mode" = min0 ]; then
			wait "$bp" || { cat "$work/bpf-$rep.txt" >&2; die "bpfstats failed (round $rep)"; }
			bpfns=$(awk '/^bpfstats: / { for (i = 1; i <= NF; i++) if ($i ~ /^run_ns=/) s += substr($i, 8) } END { print s + 0 }' "$work/bpf-$rep.txt")
			sed 's/^/  /' "$work/bpf-$rep.txt"
		fi
		kill -INT "$tr" 2>/dev/null || true
		t_stop=$(now_ns)
		wait "$tr" || rc=$?
		tr=""
		secs=$(awk -v a="$t_ready" -v b="$t_stop" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
		local ev=0
		if [ "$mode" = min0 ]; then
			[ "$rc" = 0 ] || { cat "$tlog" >&2; die "jschedlat failed (exit $rc, round $rep)"; }
			local sum
			sum=$(grep -m1 '^jschedlat: traced=' "$tlog") || { cat "$tlog" >&2; die "no summary line from jschedlat"; }
			secs=$(dur_s "$(sed -E 's/^jschedlat: traced=([0-9.]+[a-zµ]+):.*/\1/' <<<"$sum")")
			ev=$(sed -nE 's/^jschedlat: traced=[^:]+: ([0-9]+) events.*/\1/p' <<<"$sum")
			lost=$(sed -nE 's/.*, ([0-9]+) lost.*/\1/p' <<<"$sum")
			echo "  ${sum}"
		else
			# perf returns its workload's status (killed) when interrupted.
			grep -q 'Captured and wrote' "$tlog" || { cat "$tlog" >&2; die "perf wrote no data (exit $rc, round $rep)"; }
			ev=$(sed -nE 's/.*\(([0-9]+) samples\).*/\1/p' "$tlog" | head -n1)
			lost=$({ grep -oiE 'lost [0-9]+' "$tlog" || true; } | awk '{ s += $2 } END { print s + 0 }')
			echo "  perf: $(grep -m1 'Captured and wrote' "$tlog")"
		fi
		evps=$(awk -v e="${ev:-0}" -v d="$secs" 'BEGIN { printf "%.0f", (d > 0 ? e / d : 0) }')
		rm -f "$out"
	fi
	echo "  ${line#schedwin: }"
	# mode round run_delay_ms/s switch_ins/s tracer_cpu_ms/s bpf_ms/s events/s lost
	awk -v mode="$mode" -v rep="$rep" -v c0="$c0" -v c1="$c1" -v bpf="$bpfns" -v evps="$evps" -v lost="${lost:-NA}" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		w = v["window_s"]
		cpu = mode == "off" ? "NA" : sprintf("%.3f", (c1 - c0) / 1e6 / w)
		b = bpf == "NA" ? (mode == "off" ? "NA" : "0") : sprintf("%.3f", bpf / 1e6 / w)
		printf "%s\t%s\t%.3f\t%.1f\t%s\t%s\t%s\t%s\n", mode, rep, v["run_delay_ns"] / 1e6 / w, v["switch_ins"] / w, cpu, b, evps, lost
	}' <<<"$line" >>"$results"
	sleep "$COOLDOWN"
}

for rep in $(seq "$R"); do
	if [ $((rep % 2)) = 1 ]; then order=("${modes[@]}"); else order=(perf min0 off); fi
	for m in "${order[@]}"; do run_one "$m" "$rep"; done
done
kill "$jvm" 2>/dev/null || true
wait "$jvm" 2>/dev/null || true
jvm=""

# ---- summary
col() { awk -F'\t' -v m="$1" -v c="$2" '$1 == m && $c != "NA" { print $c }' "$results"; }
# host CPU (tracer + BPF), one per round
hostcol() { awk -F'\t' -v m="$1" '$1 == m && $5 != "NA" { printf "%.3f\n", $5 + ($6 == "NA" ? 0 : $6) }' "$results"; }
# per round, MODE's value of column C over off's in the same round
pratios() { awk -F'\t' -v m="$1" -v c="$2" '$1 == "off" { o[$2] = $c } $1 == m { v[$2] = $c }
	END { for (r in v) if ((r in o) && o[r] > 0) printf "%.6f\n", v[r] / o[r] }' "$results"; }
cellv() { # FMT VALUES... -> "median [min–max]" or —
	local f=$1
	shift
	[ $# -gt 0 ] || { echo "—"; return; }
	read -r m lo hi <<<"$(stats "$@")"
	awk -v f="$f" -v m="$m" -v lo="$lo" -v hi="$hi" 'BEGIN { printf f " [" f "–" f "]\n", m, lo, hi }'
}
medv() { [ $# -gt 0 ] && stats "$@" | cut -d' ' -f1 || echo NA; }
rcell() { # MODE COLUMN -> "median ratio [min–max]" to off
	local v
	mapfile -t v < <(pratios "$1" "$2")
	cellv %.3f "${v[@]}"
}
label() { case $1 in off) echo "untraced" ;; min0) echo "jschedlat \`attach PID --min-latency 0\`" ;; perf) echo "\`perf sched record -a\`" ;; esac; }

rows=()
for m in "${modes[@]}"; do
	n=$(awk -F'\t' -v m="$m" '$1 == m { n++ } END { print n + 0 }' "$results")
	[ "$n" -gt 0 ] || continue
	mapfile -t cpu < <(col "$m" 5)
	mapfile -t bpf < <(col "$m" 6)
	mapfile -t host < <(hostcol "$m")
	mapfile -t ev < <(col "$m" 7)
	mapfile -t rd < <(col "$m" 3)
	mapfile -t sw < <(col "$m" 4)
	r_rd="—" r_sw="—"
	if [ "$m" != off ]; then r_rd=$(rcell "$m" 3) r_sw=$(rcell "$m" 4); fi
	# host CPU per event recorded, µs, per round
	mapfile -t per < <(awk -F'\t' -v m="$m" '$1 == m && $5 != "NA" && $7 > 0 { printf "%.3f\n", ($5 + ($6 == "NA" ? 0 : $6)) * 1000 / $7 }' "$results")
	rows+=("| $(label "$m") | $n | $(cellv %.2f "${cpu[@]}") | $(cellv %.2f "${bpf[@]}") | $(cellv %.2f "${host[@]}") | $(cellv %.0f "${ev[@]}") | $(cellv %.2f "${per[@]}") | $(cellv %.1f "${rd[@]}") | $r_rd | $(cellv %.0f "${sw[@]}") | $r_sw |")
done
header="| variant | rounds | tracer CPU ms/s | BPF ms/s | host CPU ms/s | events/s | host CPU µs/event | JVM run_delay ms/s | × untraced | JVM switch-ins/s | × untraced |"
echo
echo "== results: median [min-max] over the rounds; × = per-round ratio to the untraced window of the same round"
printf '%s\n' "$header" "${rows[@]}" | sed 's/`//g'

mapfile -t hj < <(hostcol min0)
mapfile -t hp < <(hostcol perf)
t_cpu="not measured" t_dis="not measured"
if [ "${#hj[@]}" -gt 0 ] && [ "${#hp[@]}" -gt 0 ]; then
	t_cpu=$(awk -v j="$(medv "${hj[@]}")" -v p="$(medv "${hp[@]}")" 'BEGIN {
		printf "%s (jschedlat %.2f ms/s with its BPF programs, perf %.2f ms/s without its kernel handlers: %.2f×)", (j < p ? "met" : "missed"), j, p, (p > 0 ? j / p : 0) }')
fi
noise="—" spread=0
if [ "$(col off 3 | wc -l)" -gt 1 ]; then
	noise=$(for c in 3 4; do mapfile -t v < <(col off "$c"); stats "${v[@]}"; done |
		awk '{ printf "%s%.1f%%", (NR > 1 ? ", " : ""), ($1 > 0 ? ($3 - $2) / $1 * 100 : 0) }')
	# the larger of the two spreads, %
	spread=$(for c in 3 4; do mapfile -t v < <(col off "$c"); stats "${v[@]}"; done |
		awk '{ s = ($1 > 0 ? ($3 - $2) / $1 * 100 : 0); if (s > m) m = s } END { printf "%.1f", m }')
fi
if [ "${#hj[@]}" -gt 0 ]; then
	mapfile -t a < <(pratios min0 3)
	mapfile -t b < <(pratios min0 4)
	# A difference the untraced windows alone exceed is no measure.
	t_dis=$(awk -v rd="$(medv "${a[@]}")" -v sw="$(medv "${b[@]}")" -v p="$DISTURB_PCT" -v sp="$spread" 'BEGIN {
		ok = (rd <= 1 + p / 100 && rd >= 1 - p / 100 && sw <= 1 + p / 100 && sw >= 1 - p / 100)
		v = ok ? "met" : (sp > p ? sprintf("inconclusive, the untraced windows alone spread %.1f%%", sp) : "missed")
		printf "%s (run_delay %+.1f%%, switch-ins %+.1f%% against untraced, medians of the per-round ratios)", v, (rd - 1) * 100, (sw - 1) * 100 }')
fi
echo
echo "target: jschedlat --min-latency 0 host CPU below perf sched record's: $t_cpu"
echo "target: JVM run_delay and switch-ins within ${DISTURB_PCT}% of untraced: $t_dis"
[ "$noise" = "—" ] || echo "noise: spread (max-min)/median of the untraced windows: run_delay, switch-ins: $noise"

# ---- markdown fragment
[ -n "${MD:-}" ] || exit 0
md "Recording every wait of one JVM (\`--min-latency 0\`) next to \`perf sched record -a\` on the same JVM, in" \
	"one run. The workload (\`testdata/java/Workload.java --workers $WORKERS --hogs $HOGS\`: pool threads of 1.5–3 ms" \
	"of CPU then 1 ms asleep, CPU hogs, self-renaming and short-lived threads) asks for more CPU than the machine" \
	"has. One JVM runs throughout; after ${WARMUP} s, $R rounds each run the untraced window, jschedlat and perf in turn" \
	"(the order reversed every other round), each window ${W} s, a tracer started before its window and stopped" \
	"with SIGINT after it. Tracer CPU is the run time (user + system) of all the tracer's threads in the window" \
	"(\`/proc/PID/task/*/schedstat\`); BPF is the kernel time of the BPF programs jschedlat holds" \
	"(\`kernel.bpf_stats_enabled=1\`, run_time_ns through \`bench/bpfstats -pid\`), which runs on other tasks' CPU" \
	"time; host CPU is their sum. perf's tracepoint handlers have no such counter: what they cost is charged to" \
	"the tasks that switch and is **not** in perf's column (the comparison favours perf). events/s: jschedlat's" \
	"events (its summary), perf's samples (every switch and wakeup of the host, not only the JVM's). The JVM's" \
	"run_delay and switch-ins are the deltas of \`/proc/PID/task/*/schedstat\` summed over its threads" \
	"(\`bench/schedwin\`); × is the median over the rounds of the ratio to the untraced window of the same round." \
	"" \
	"Settings: R=$R, W=${W} s, WARMUP=${WARMUP} s, COOLDOWN=${COOLDOWN} s ($("$JAVA" -version 2>&1 | head -1)); output files in \`$(dirname "$work")\`." \
	"$([ "$R" -ge 5 ] && [ "$W" -ge 10 ] || echo "**Shortened run** (defaults R=5, W=10 s).")" \
	"$(awk -v l="${start_load%% *}" -v n="$(nproc)" 'BEGIN { if (l > n) printf "**Busy host**: load average %s at the start on %d CPUs (other work): the JVM waits for a CPU most of the time and its untraced windows differ from each other by more than the disturbance looked for.", l, n }')" \
	"$([ -n "$perf_bin" ] && [ -z "$perf_skip" ] && echo "perf: \`$perf_bin\` ($("$perf_bin" --version 2>&1 | head -1)).")" \
	"$([ -z "$perf_skip" ] || echo "**perf skipped**: $perf_skip.")" \
	"" "$header" "|---|---|---|---|---|---|---|---|---|---|---|" "${rows[@]}" "" \
	"Noise: the untraced windows alone spread (max − min over median) $noise in run_delay and switch-ins; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end." \
	"" \
	"Target: recording every wait (\`--min-latency 0\`) costs the host less CPU than perf sched record -a: $t_cpu" "" \
	"Target: the JVM's run_delay and switch-ins within ${DISTURB_PCT}% of untraced with --min-latency 0: $t_dis" ""
md_cmds "$cmds"
