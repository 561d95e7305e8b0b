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
# A tracer is started before its window (which begins SETTLE seconds after
# its start-up is over: jschedlat holds records 2.4 s for the join, and its
# buffers grow to their steady size meanwhile; that CPU is reported apart)
# and stopped with SIGINT after it and a ping-pong run. Per window:
#   tracer CPU  run time of all the tracer's threads (user + system, from
#               /proc/PID/task/*/schedstat), ms per second
#   BPF         the kernel time of the BPF programs the tracer holds
#               (run_time_ns with kernel.bpf_stats_enabled=1, through
#               bench/bpfstats -pid), ms per second: measured
#   kernel      the tracer's kernel side in full, ms per second, estimated
#               with the ping-pong's medians (below): perf: ns per event x
#               the events it fired per second (samples + lost, over perf's
#               own time from its first sample to the ping-pong); jschedlat:
#               BPF + its calls per second x the ns per call outside the run
#               time. Both run on other tasks' CPU time, in no counter of
#               the tracer's
#   host CPU    tracer CPU + kernel
#   events/s    what the tracer recorded: jschedlat's events (its summary),
#               perf's events (every switch, wakeup and run-time update of
#               the host)
#   run_delay   the JVM's run-queue wait, ms per second, and
#   switch-ins  its switch-ins per second: deltas of fields 2 and 3 of
#               /proc/PID/task/*/schedstat summed over its threads
#               (bench/schedwin, sampled every 50 ms)
# The ratios to off are per round (the same JVM, the rounds next to each
# other), median over the rounds.
#
# Kernel cost per event: bench/pingpong, two threads pinned to CPU PP_CPU
# (SCHED_FIFO PP_FIFO: nothing runs between them, no wakeup preempts) pass a
# byte through two pipes PP_N times and print the CPU time (schedstat run
# time) they were charged per round trip: a tracer's tracepoint handlers and
# BPF programs run on those switches and wakeups and are charged to them. It
# runs under each tracer after its window (before the SIGINT), and untraced
# just before the tracer starts and just after it stops (the host drifts);
# against the mean of those two, the difference is what the tracer's kernel
# side costs per round trip:
#   perf  per event: over the events fired in the ping-pong's threads (perf
#         script by TID; lost samples counted as fired, in the proportion of
#         that part of the file)
#   min0  the ping-pong is not its target: its hooks run and filter;
#         pingpong -bpf-pid also reads its programs' run_time_ns and run_cnt
#         around the round trips: per call, the difference against the run
#         time the kernel counts; their gap (outside ns/call: the
#         tracepoint's dispatch to BPF, bpf_stats' own clock reads) is not
#         in the run time (taken as 0 if the difference is below it)
#   min0off the same right after with kernel.bpf_stats_enabled=0, as in
#         production: all-in per call (the calls of the run before) less
#         the run time per call that run counted is the outside ns/call
#         the host CPU uses
# PP_N is small enough that perf's 4 MiB per-CPU buffer holds a run.
# With MD set (scripts/bench.sh), also appends the markdown fragment.
#
# Usage (root): scripts/bench-hostcpu.sh
# Environment (defaults in brackets; about R*3*(W+6) s plus start-ups: 4 min
# at the defaults on a 2-CPU VM at load average 5-10, 5 min at 12-25):
#   R [5] rounds   W [10] window s   WARMUP [5] s   COOLDOWN [1] s
#   SETTLE [3] s from a tracer's start-up to its window
#   PP_N [5000] ping-pong round trips per run
#   PP_CPU [last CPU]   PP_FIFO [1] SCHED_FIFO priority (0 = SCHED_OTHER)
#   WORKERS [6] HOGS [2]  Workload's settings   DISTURB_PCT [2]
#   JAVA [java] JAVAC [javac]   KEEP [0] 1 = keep the logs
#   TITLE the markdown fragment's heading
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

R=${R:-5} W=${W:-10} WARMUP=${WARMUP:-5} COOLDOWN=${COOLDOWN:-1} SETTLE=${SETTLE:-3}
WORKERS=${WORKERS:-6} HOGS=${HOGS:-2} DISTURB_PCT=${DISTURB_PCT:-2}
PP_N=${PP_N:-5000} PP_CPU=${PP_CPU:-$(($(nproc) - 1))} PP_FIFO=${PP_FIFO:-1}
JAVA=${JAVA:-java} JAVAC=${JAVAC:-javac} KEEP=${KEEP:-0}
TITLE=${TITLE:-6. Host CPU side by side with perf sched record}

die() { echo "bench-hostcpu: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF, runs perf, sets sysctls): sudo $0"
for n in R W WARMUP COOLDOWN SETTLE WORKERS HOGS PP_N PP_CPU PP_FIFO; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
[[ $DISTURB_PCT =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "DISTURB_PCT=$DISTURB_PCT: must be a number"
if [ "$R" -lt 1 ] || [ "$W" -lt 1 ] || [ "$PP_N" -lt 1 ]; then die "R, W and PP_N must be >= 1"; fi
[ "$PP_CPU" -lt "$(nproc)" ] || die "PP_CPU=$PP_CPU: this machine has CPUs 0-$(($(nproc) - 1))"
for t in "$JAVA" "$JAVAC"; do command -v "$t" >/dev/null || die "$t not found (apt-get install openjdk-17-jdk-headless)"; done
[ -x bin/jschedlat ] || die "bin/jschedlat missing: run make build"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found: needed to build bench/schedwin, bench/bpfstats and bench/pingpong"
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
go build -o "$work/pingpong" ./bench/pingpong
mkdir -p "$work/classes"
"$JAVAC" -d "$work/classes" testdata/java/Workload.java
[ -z "$old_delayacct" ] || sysctl -qw kernel.task_delayacct=1
sysctl -qw kernel.bpf_stats_enabled=1

start_load=$(cut -d' ' -f1-3 /proc/loadavg)
md_begin "$TITLE"
echo "== bench-hostcpu: host CPU of recording every wait of one JVM, against perf sched record -a"
echo "machine: $(md_machine)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $(md_commit)   java: $("$JAVA" -version 2>&1 | head -1)"
echo "settings: R=$R W=${W}s WARMUP=${WARMUP}s COOLDOWN=${COOLDOWN}s WORKERS=$WORKERS HOGS=$HOGS PP_N=$PP_N PP_CPU=$PP_CPU PP_FIFO=$PP_FIFO"
[ -z "$perf_bin" ] || echo "perf: $perf_bin ($("$perf_bin" --version 2>&1 | head -1))"
[ -z "$perf_skip" ] || echo "skipped perf: $perf_skip"
echo


jvm_secs=$((WARMUP + R * ${#modes[@]} * (W + 60) + 30)) # killed once measured; bounds a leftover
jargs=(Workload --seconds "$jvm_secs" --workers "$WORKERS" --hogs "$HOGS")
jvm_cmd="$JAVA -cp $work/classes ${jargs[*]}"
"$JAVA" -cp "$work/classes" "${jargs[@]}" >"$work/jvm.log" 2>&1 &
jvm=$!
results=$work/results.tsv pp_results=$work/pp.tsv cmds=$work/cmds.txt settles=$work/settle.tsv
: >"$results"
: >"$settles"
: >"$pp_results"
echo "$jvm_cmd    # pid $jvm, for every round and jschedlat's ping-pong runs" >"$cmds"
printf 'JVM pid %s\n  $ %s\n' "$jvm" "$jvm_cmd"
sleep "$WARMUP"
kill -0 "$jvm" 2>/dev/null || { cat "$work/jvm.log" >&2; die "the Workload JVM exited early"; }

# await_tracing MODE LOG WHAT: returns once the tracer $tr traces and its
# start-up is over (jschedlat: the probes attached after tracing began; its
# start-up CPU is measured by experiment 7): the window is the steady state.
await_tracing() {
	local i
	for i in $(seq 600); do # up to 60 s on a busy host
		case $1 in
		min0) grep -q 'msg=started' "$2" 2>/dev/null && return 0 ;;
		# perf execs its workload once its events are enabled.
		perf) [ "$(ps -o comm= --ppid "$tr" 2>/dev/null)" = sleep ] && return 0 ;;
		esac
		kill -0 "$tr" 2>/dev/null || break
		sleep 0.1
	done
	cat "$2" >&2
	die "$1 did not start tracing ($3)"
}
# perf_split FILE TID,TID: one pass over perf's samples (in time order) and
# its lost-sample records, split where the ping-pong's first event is:
#   before it (the window; perf started recording before it): events fired
#     (samples + lost), lost, switch waking runtime other, seconds from the
#     first sample to the ping-pong's first event
#   from there: the samples in the ping-pong's threads (where the
#     tracepoint fired and its handler was charged), switch waking runtime
#     other of those, and all samples and lost ones of that part
perf_split() {
	"$perf_bin" script -i "$1" --show-lost-events -F tid,time,event 2>/dev/null | awk -v tids="$2" '
		BEGIN { split(tids, a, ","); for (i in a) want[a[i]] = 1 }
		function kind(e) { return e ~ /:sched_switch:$/ ? 1 : e ~ /:sched_wak(ing|eup):$/ ? 2 : e ~ /:sched_stat_runtime:$/ ? 3 : 4 }
		{ t = $2; sub(/:$/, "", t); t += 0 }
		/PERF_RECORD_LOST/ { n = $NF + 0; if (pp) { plost += n } else { wlost += n }; next }
		!first { first = t; have = 1 }
		($1 in want) && !pp { pp = 1; pstart = t }
		pp { pall++; if ($1 in want) { pn++; pk[kind($3)]++ }; next }
		{ wn++; wk[kind($3)]++ }
		END {
			if (!pp) pstart = t
			printf "%d %d %d %d %d %d %.6f ", wn + wlost, wlost, wk[1], wk[2], wk[3], wk[4], pstart - first
			printf "%d %d %d %d %d %d %d\n", pn, pk[1], pk[2], pk[3], pk[4], pall, plost }'
}
kv() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n1; }

# pp_run MODE REP: a ping-pong run untraced (off) or under the running
# tracer $tr; sets pp_line, appends off and min0 runs to pp.tsv (perf's once
# its file is read).
PP_WARMUP=500
pp_run() {
	local mode=$1 rep=$2 txt=$work/pp-$1-$2-$SECONDS.txt units bpfrt n
	local pp=("$work/pingpong" -n "$PP_N" -warmup "$PP_WARMUP" -cpu "$PP_CPU" -fifo "$PP_FIFO")
	[ "$mode" != min0 ] || pp+=(-bpf-pid "$tr")
	echo "${pp[*]}    # round $rep, ping-pong, $([ "$mode" = off ] && echo untraced || echo "under $mode")" >>"$cmds"
	"${pp[@]}" >"$txt" 2>&1 || { cat "$txt" >&2; die "pingpong failed (round $rep, $mode)"; }
	pp_line=$(grep -m1 '^pingpong: ' "$txt") || { cat "$txt" >&2; die "no line from pingpong (round $rep, $mode)"; }
	printf '  ping-pong %-5s %s\n' "$mode" "${pp_line#pingpong: }"
	n=$(kv "$pp_line" n)
	case $mode in
	off) printf 'off\t%s\t%s\tNA\tNA\tNA\tNA\tNA\tNA\tNA\n' "$rep" "$(kv "$pp_line" cpu_ns_per_rt)" >>"$pp_results" ;;
	min0)
		units=$(awk -v c="$(kv "$pp_line" bpf_calls)" -v n="$n" 'BEGIN { printf "%.4f", c / n }')
		bpfrt=$(awk -v b="$(kv "$pp_line" bpf_run_ns)" -v n="$n" 'BEGIN { printf "%.3f", b / n }')
		pp_units=$units pp_bpfrt=$bpfrt
		printf 'min0\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\n' "$rep" "$(kv "$pp_line" cpu_ns_per_rt)" "$units" "$bpfrt" >>"$pp_results"
		;;
	min0off)
		# bpf_stats off, as in production: no calls counted; those of
		# the run just before (same programs, same round trips).
		printf 'min0off\t%s\t%s\t%s\t%s\tNA\tNA\tNA\tNA\tNA\n' "$rep" "$(kv "$pp_line" cpu_ns_per_rt)" "$pp_units" "$pp_bpfrt" >>"$pp_results"
		;;
	esac
}

run_one() { # MODE ROUND
	local mode=$1 rep=$2 out=$work/out-$1-$2 tlog=$work/tracer-$1-$2.log
	local bp="" c0=0 c1=0 bpfns=NA callsps=NA evps=NA lost=NA mix="NA NA NA NA" line tcmd="" rc=0 secs
	if [ "$mode" = perf ] && [ -n "$perf_skip" ]; then return 0; fi
	sync # no writeback of an earlier round's files inside this window
	kill -0 "$jvm" 2>/dev/null || { cat "$work/jvm.log" >&2; die "the Workload JVM exited early"; }
	printf 'round %d %-5s load %s\n' "$rep" "$mode" "$(cut -d' ' -f1-3 /proc/loadavg)"
	[ "$mode" = off ] || pp_run off "$rep" # the host drifts: one before, one after
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
		await_tracing "$mode" "$tlog" "round $rep"
		echo "$tcmd    # round $rep, stopped with SIGINT after the window and a ping-pong run" >>"$cmds"
		printf '  $ %s\n' "$tcmd"
		cs=$(runtime "$tr")
		sleep "$SETTLE"
		c0=$(runtime "$tr")
		printf '%s\t%s\n' "$mode" "$(awk -v a="$cs" -v b="$c0" -v s="$SETTLE" 'BEGIN { printf "%.2f", (b - a) / 1e6 / s }')" >>"$settles"
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
			callsps=$(awk '/^bpfstats: / { for (i = 1; i <= NF; i++) if ($i ~ /^calls_per_s=/) s += substr($i, 13) } END { printf "%.1f", s + 0 }' "$work/bpf-$rep.txt")
			sed 's/^/  /' "$work/bpf-$rep.txt"
		fi
		pp_run "$mode" "$rep"
		if [ "$mode" = min0 ]; then
			# Again with bpf_stats off: its two clock reads per call are
			# in the run above, not in a production run's.
			echo "sysctl -w kernel.bpf_stats_enabled=0    # round $rep: the next ping-pong as in production" >>"$cmds"
			sysctl -qw kernel.bpf_stats_enabled=0
			pp_run min0off "$rep"
			sysctl -qw kernel.bpf_stats_enabled=1
		fi
		kill -INT "$tr" 2>/dev/null || true
		wait "$tr" || rc=$?
		tr=""
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
			echo "  perf: $(grep -m1 'Captured and wrote' "$tlog")"
			local sw wk rt o ppn ppsw ppwk pprt ppo pall plost n units ppmix
			read -r ev lost sw wk rt o secs ppn ppsw ppwk pprt ppo pall plost <<<"$(perf_split "$out" "$(kv "$pp_line" tids)")"
			# Every event its tracepoints fired in the window (lost samples
			# too: the handler ran), over perf's own time up to the ping-pong.
			mix=$(awk -v t="$ev" -v a="$sw" -v b="$wk" -v c="$rt" -v d="$o" 'BEGIN { if (t > 0) printf "%.4f %.4f %.4f %.4f", a / t, b / t, c / t, d / t; else print "NA NA NA NA" }')
			echo "  perf, before the ping-pong: $ev events fired in ${secs}s ($lost lost; switch, waking, run-time, other: $mix)"
			# The ping-pong's: lost samples are not attributed to a task,
			# counted fired in its threads in the proportion of that part.
			n=$(kv "$pp_line" n)
			read -r units ppmix <<<"$(awk -v p="$ppn" -v a="$pall" -v l="$plost" -v rts="$((n + PP_WARMUP))" \
				-v sw="$ppsw" -v wk="$ppwk" -v rt="$pprt" -v o="$ppo" 'BEGIN {
				k = (a > 0) ? (a + l) / a : 1
				printf "%.4f %.3f %.3f %.3f %.3f\n", p * k / rts, sw * k / rts, wk * k / rts, rt * k / rts, o * k / rts }')"
			echo "  perf, the ping-pong: $ppn events in its threads ($plost lost from there on): $units per round trip (switch, waking, run-time, other: $ppmix)"
			printf 'perf\t%s\t%s\t%s\tNA\t%s\t%s\n' "$rep" "$(kv "$pp_line" cpu_ns_per_rt)" "$units" \
				"$(awk -v l="$plost" -v a="$pall" 'BEGIN { printf "%.2f", (a + l > 0 ? l / (a + l) * 100 : 0) }')" "${ppmix// /$'\t'}" >>"$pp_results"
		fi
		evps=$(awk -v e="${ev:-0}" -v d="$secs" 'BEGIN { printf "%.0f", (d > 0 ? e / d : 0) }')
		rm -f "$out" "$out".*
		pp_run off "$rep"
	fi
	echo "  ${line#schedwin: }"
	# mode round run_delay_ms/s switch_ins/s tracer_cpu_ms/s bpf_ms/s events/s lost bpf_calls/s switch waking runtime other (shares of perf's events)
	awk -v mode="$mode" -v rep="$rep" -v c0="$c0" -v c1="$c1" -v bpf="$bpfns" -v evps="$evps" -v lost="${lost:-NA}" -v calls="$callsps" -v mix="$mix" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		w = v["window_s"]
		cpu = mode == "off" ? "NA" : sprintf("%.3f", (c1 - c0) / 1e6 / w)
		b = bpf == "NA" ? (mode == "off" ? "NA" : "0") : sprintf("%.3f", bpf / 1e6 / w)
		gsub(/ /, "\t", mix)
		printf "%s\t%s\t%.3f\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\n", mode, rep, v["run_delay_ns"] / 1e6 / w, v["switch_ins"] / w, cpu, b, evps, lost, calls, mix
	}' <<<"$line" >>"$results"
	sleep "$COOLDOWN"
}

run_start=$SECONDS
for rep in $(seq "$R"); do
	if [ $((rep % 2)) = 1 ]; then order=("${modes[@]}"); else order=(perf min0 off); fi
	for m in "${order[@]}"; do run_one "$m" "$rep"; done
done

# Where jschedlat's CPU goes: one more steady-state window of 2W s (the
# tracer uses little CPU), sampled by perf (call graphs, 4999 Hz). Shares
# of the tracer's samples by what
# they were doing (a sample counts under the first part on its stack, from
# the top of the list down). A 2-CPU VM samples code that runs with
# interrupts off (context switches) where they are enabled again: switch
# costs land in "waiting for the ring" and in the kernel's part of the rest.
prof_rows=()
if [ -n "$perf_bin" ]; then
	ptlog=$work/tracer-prof.log
	bin/jschedlat attach "$jvm" --min-latency 0 -o "$work/out-prof" 2>"$ptlog" &
	tr=$!
	await_tracing min0 "$ptlog" "profile"
	sleep "$SETTLE"
	c0=$(runtime "$tr")
	echo "$perf_bin record -F 4999 -g -p $tr -o PROF -- sleep $((2 * W))    # the profile of jschedlat attach $jvm --min-latency 0" >>"$cmds"
	"$perf_bin" record -F 4999 -g -p "$tr" -o "$work/prof.data" -- sleep "$((2 * W))" >"$work/prof.log" 2>&1 || true
	c1=$(runtime "$tr")
	kill -INT "$tr" 2>/dev/null || true
	wait "$tr" || true
	tr=""
	prof_cpu=$(awk -v a="$c0" -v b="$c1" -v w="$((2 * W))" 'BEGIN { printf "%.2f", (b - a) / 1e6 / w }')
	# part<TAB>pattern (the first that matches a frame of the sample's stack)
	parts=$'write(2) of the record file	sink\.\(\*File\)\.commit
encoding the records	record\.\(\*Encoder\)\.Append|record\.\(\*jsonEncoder\)
names and ordering at each drain	correlate\.\(\*Live\)\.Emit
join of each event as it arrives	session\.\(\*Session\)\.add
decoding and converting events	bpf\.deliverSample|bpf\.\(\*Event\)\.Convert
waiting for the ring (epoll, switches)	ringbuf\.\(\*Reader\)\.ReadInto
reading the JVM'"'"'s memory	hsmem\.|session\.\(\*refresher\)
Go runtime: sysmon	runtime\.sysmon
Go runtime: garbage collector	runtime\.gcBgMarkWorker|runtime\.gcStart|runtime\.bgsweep|runtime\.bgscavenge
Go runtime: scheduler	runtime\.schedule|runtime\.findRunnable|runtime\.park_m'
	"$perf_bin" script -i "$work/prof.data" -F ip,sym 2>/dev/null | PARTS=$parts awk '
		BEGIN { n = split(ENVIRON["PARTS"], pl, "\n"); for (i = 1; i <= n; i++) { split(pl[i], f, "\t"); name[i] = f[1]; pat[i] = f[2] } }
		function flush() { if (!have) return; tot++; c = 0
			for (i = 1; i <= n && !c; i++) if (stack ~ pat[i]) c = i
			hit[c]++; have = 0; stack = "" }
		/^[[:space:]]*$/ { flush(); next }
		{ have = 1; stack = stack " " $0 }
		END { flush(); for (i = 1; i <= n; i++) printf "%s\t%.1f\n", name[i], tot ? 100 * hit[i] / tot : 0
			printf "everything else\t%.1f\n", tot ? 100 * hit[0] / tot : 0; printf "samples\t%d\n", tot }' >"$work/prof.txt"
	prof_samples=$(awk -F'\t' '$1 == "samples" { print $2 }' "$work/prof.txt")
	while IFS=$'\t' read -r part pct; do
		[ "$part" = samples ] && continue
		prof_rows+=("| $part | $pct | $(awk -v p="$pct" -v c="$prof_cpu" 'BEGIN { printf "%.2f", p * c / 100 }') |")
	done <"$work/prof.txt"
	echo "profile: $prof_cpu ms/s of CPU, $prof_samples samples"
	printf '  %s\n' "${prof_rows[@]}"
fi
kill "$jvm" 2>/dev/null || true
wait "$jvm" 2>/dev/null || true
jvm=""
rounds_secs=$((SECONDS - run_start))
echo "the rounds took $rounds_secs s, all $SECONDS s"

# ---- summary
cellv() { # FMT VALUES... -> "median [min–max]" or —
	local f=$1
	shift
	[ $# -gt 0 ] || { echo "—"; return; }
	read -r m lo hi <<<"$(stats "$@")"
	awk -v f="$f" -v m="$m" -v lo="$lo" -v hi="$hi" 'BEGIN { printf f " [" f "–" f "]\n", m, lo, hi }'
}
medv() { [ $# -gt 0 ] && stats "$@" | cut -d' ' -f1 || echo NA; }
label() { case $1 in off) echo "untraced" ;; min0 | min0off) echo "jschedlat \`attach PID --min-latency 0\`" ;; perf) echo "\`perf sched record -a\`" ;; esac; }

# The ping-pong, per traced run of MODE against the mean of the untraced runs just
# before and after it: added ns per round trip, events or calls per round
# trip, added ns per event or call, BPF run time ns per call, added ns per
# call outside the run time.
ppvals() {
	awk -F'\t' -v m="$1" 'function emit(base,   d) {
		if (u <= 0) return
		d = c - base
		printf "%.3f\t%.4f\t%.3f\t%s\t%s\n", d, u, d / u, (b == "NA" ? "NA" : sprintf("%.3f", b / u)), (b == "NA" ? "NA" : sprintf("%.3f", (d - b) / u))
	}
	$1 == "off" { if (pending) emit((prev + $3) / 2); pending = 0; prev = $3; have = 1; next }
	$1 == m && have { pending = 1; c = $3; u = $4; b = $5 }
	END { if (pending) emit(prev) }' "$pp_results"
}
ppcol() { awk -F'\t' -v m="$1" -v c="$2" '$1 == m && $c != "NA" { print $c }' "$pp_results"; }
ppv() { ppvals "$1" | awk -F'\t' -v c="$2" '$c != "NA" { print $c }'; }
mapfile -t v < <(ppv perf 3)
read -r perf_ns perf_ns_lo perf_ns_hi <<<"$(stats "${v[@]}")"
# Outside the run time as in production: from the runs with bpf_stats off
# (all-in) less the run time per call the runs with it on counted.
mapfile -t v < <(ppv min0off 5)
read -r js_out js_out_lo js_out_hi <<<"$(stats "${v[@]}")"
mapfile -t v < <(ppv min0 5)
js_out_stats=$(medv "${v[@]}")
# The kernel side is at least the run time the kernel counts.
read -r js_out_raw js_out js_out_lo js_out_hi <<<"$(awk -v a="$js_out" -v b="$js_out_lo" -v c="$js_out_hi" 'function z(x) { return x == "NA" ? x : (x < 0 ? 0 : x) }
	BEGIN { print a, z(a), z(b), z(c) }')"

pprows=()
for m in off min0 min0off perf; do
	n=$(ppcol "$m" 3 | wc -l)
	[ "$n" -gt 0 ] || continue
	mapfile -t cpu < <(ppcol "$m" 3 | awk '{ printf "%.3f\n", $1 / 1000 }')
	if [ "$m" = off ]; then
		pprows+=("| $(label "$m") | $n | $(cellv %.2f "${cpu[@]}") | — | — | — | — | — |")
		continue
	fi
	mapfile -t d < <(ppv "$m" 1 | awk '{ printf "%.3f\n", $1 / 1000 }')
	mapfile -t u < <(ppv "$m" 2)
	mapfile -t a < <(ppv "$m" 3)
	mapfile -t b < <(ppv "$m" 4)
	mapfile -t o < <(ppv "$m" 5)
	l=$(label "$m")
	[ "$m" != min0 ] || l="$l (PID: the JVM; the ping-pong is not its target)"
	[ "$m" != min0off ] || { l="$l, bpf_stats off (as in production)"; b=(); }
	pprows+=("| $l | $n | $(cellv %.2f "${cpu[@]}") | $(cellv %.2f "${d[@]}") | $(cellv %.2f "${u[@]}") | $(cellv %.0f "${a[@]}") | $(cellv %.0f "${b[@]}") | $(cellv %.0f "${o[@]}") |")
done
ppheader="| ping-pong run under | runs | ping-pong CPU µs/round trip | added µs/round trip | perf's events or jschedlat's BPF calls per round trip | added ns per event or call (all-in) | BPF run time ns/call (bpf_stats) | outside the run time ns/call |"
pp_mix=$(awk -F'\t' '$1 == "perf" && $7 != "NA" { sw += $7; wk += $8; rt += $9; o += $10; n++ }
	END { if (n) printf "%.2f switch, %.2f waking, %.2f run-time, %.2f other", sw / n, wk / n, rt / n, o / n }' "$pp_results")
pp_noise=$(mapfile -t v < <(ppcol off 3); [ "${#v[@]}" -gt 1 ] && stats "${v[@]}" | awk '{ printf "%.1f%%", ($1 > 0 ? ($3 - $2) / $1 * 100 : 0) }' || echo "—")
pp_lost=$(ppcol perf 6 | awk '{ if ($1 > m) m = $1 } END { printf "%.1f%%", m + 0 }')

col() { awk -F'\t' -v m="$1" -v c="$2" '$1 == m && $c != "NA" { print $c }' "$results"; }
# rowcol WHAT MODE [PERF_NS JS_OUT]: per round, WHAT = kern (the kernel
# side, ms/s), host (tracer CPU + kern) or per (host, µs per event): perf's
# kernel side is its events/s x PERF_NS; jschedlat's its BPF run time +
# its calls/s x JS_OUT.
rowcol() {
	awk -F'\t' -v w="$1" -v m="$2" -v pn="${3:-$perf_ns}" -v jo="${4:-$js_out}" '$1 == m && $5 != "NA" {
		if (m == "perf") { if (pn == "NA" || $7 == "NA") next; k = $7 * pn / 1e6 }
		else { if ($6 == "NA" || $9 == "NA" || jo == "NA") next; k = $6 + $9 * jo / 1e6 }
		if (w == "kern") printf "%.3f\n", k; else if (w == "host") printf "%.3f\n", $5 + k
		else if ($7 > 0) printf "%.3f\n", ($5 + k) * 1000 / $7 }' "$results"
}
# per round, MODE's value of column C over off's in the same round
pratios() { awk -F'\t' -v m="$1" -v c="$2" '$1 == "off" { o[$2] = $c } $1 == m { v[$2] = $c }
	END { for (r in v) if ((r in o) && o[r] > 0) printf "%.6f\n", v[r] / o[r] }' "$results"; }
rcell() { # MODE COLUMN -> "median ratio [min–max]" to off
	local v
	mapfile -t v < <(pratios "$1" "$2")
	cellv %.3f "${v[@]}"
}

rows=()
for m in "${modes[@]}"; do
	n=$(awk -F'\t' -v m="$m" '$1 == m { n++ } END { print n + 0 }' "$results")
	[ "$n" -gt 0 ] || continue
	mapfile -t cpu < <(col "$m" 5)
	mapfile -t bpf < <(col "$m" 6)
	mapfile -t kern < <(rowcol kern "$m")
	mapfile -t host < <(rowcol host "$m")
	mapfile -t ev < <(col "$m" 7)
	mapfile -t per < <(rowcol per "$m")
	mapfile -t rd < <(col "$m" 3)
	mapfile -t sw < <(col "$m" 4)
	r_rd="—" r_sw="—" bcell="—"
	if [ "$m" != off ]; then r_rd=$(rcell "$m" 3) r_sw=$(rcell "$m" 4); fi
	if [ "$m" = min0 ]; then bcell=$(cellv %.2f "${bpf[@]}"); elif [ "$m" = perf ]; then bcell="— (none: no BPF)"; fi
	rows+=("| $(label "$m") | $n | $(cellv %.2f "${cpu[@]}") | $bcell | $(cellv %.2f "${kern[@]}") | $(cellv %.2f "${host[@]}") | $(cellv %.0f "${ev[@]}") | $(cellv %.2f "${per[@]}") | $(cellv %.1f "${rd[@]}") | $r_rd | $(cellv %.0f "${sw[@]}") | $r_sw |")
done
header="| variant | rounds | tracer CPU ms/s | kernel: BPF run time ms/s (measured) | kernel side ms/s (estimated, all-in) | host CPU ms/s | events/s | host CPU µs/event | JVM run_delay ms/s | × untraced | JVM switch-ins/s | × untraced |"
win_mix=$(awk -F'\t' '$1 == "perf" && $10 != "NA" { sw += $10; wk += $11; rt += $12; o += $13; n++ }
	END { if (n) printf "%.0f%% switch, %.0f%% waking, %.0f%% run-time, %.0f%% other", sw / n * 100, wk / n * 100, rt / n * 100, o / n * 100 }' "$results")
echo
echo "== per-event kernel cost (the ping-pong runs): median [min-max] over the rounds; added = against the mean of the untraced runs just before and after"
printf '%s\n' "$ppheader" "${pprows[@]}" | sed 's/`//g'
echo "perf's events per round trip in the ping-pong: ${pp_mix:-—}; in the JVM windows: ${win_mix:-—}; most lost in a ping-pong run: $pp_lost"
echo
echo "== results: median [min-max] over the rounds; × = per-round ratio to the untraced window of the same round"
printf '%s\n' "$header" "${rows[@]}" | sed 's/`//g'

# The target: host CPU against host CPU, medians over the rounds.
t_cpu="not measured" t_dis="not measured" t_cpu_detail=""
mapfile -t hj < <(rowcol host min0)
mapfile -t hp < <(rowcol host perf)
if [ "${#hj[@]}" -gt 0 ] && [ "${#hp[@]}" -gt 0 ]; then
	mapfile -t v < <(col min0 5); j_cpu=$(medv "${v[@]}")
	mapfile -t v < <(col min0 6); j_bpf=$(medv "${v[@]}")
	mapfile -t v < <(col min0 9); j_calls=$(medv "${v[@]}")
	mapfile -t v < <(rowcol kern min0); j_kern=$(medv "${v[@]}")
	mapfile -t v < <(col perf 5); p_cpu=$(medv "${v[@]}")
	mapfile -t v < <(col perf 7); p_ev=$(medv "${v[@]}")
	mapfile -t v < <(rowcol kern perf); p_kern=$(medv "${v[@]}")
	# the same with the ends of the ping-pong's ranges
	mapfile -t v < <(rowcol host min0 "$perf_ns" "$js_out_lo"); j_lo=$(medv "${v[@]}")
	mapfile -t v < <(rowcol host min0 "$perf_ns" "$js_out_hi"); j_hi=$(medv "${v[@]}")
	mapfile -t v < <(rowcol host perf "$perf_ns_lo" "$js_out"); p_lo=$(medv "${v[@]}")
	mapfile -t v < <(rowcol host perf "$perf_ns_hi" "$js_out"); p_hi=$(medv "${v[@]}")
	mapfile -t v < <(awk -F'\t' '$1 == "min0" && $5 != "NA" && $6 != "NA" { printf "%.3f\n", $5 + $6 }' "$results"); j_old=$(medv "${v[@]}")
	{
		read -r t_cpu
		read -r t_cpu_detail
	} < <(awk -v j="$(medv "${hj[@]}")" -v p="$(medv "${hp[@]}")" -v jc="$j_cpu" -v jb="$j_bpf" -v jk="$j_kern" -v jn="$j_calls" -v jo="$js_out" \
		-v pc="$p_cpu" -v pk="$p_kern" -v pe="$p_ev" -v pn="$perf_ns" -v jlo="$j_lo" -v jhi="$j_hi" -v plo="$p_lo" -v phi="$p_hi" -v jold="$j_old" \
		-v pnlo="$perf_ns_lo" -v pnhi="$perf_ns_hi" -v jolo="$js_out_lo" -v johi="$js_out_hi" -v jraw="$js_out_raw" -v jos="$js_out_stats" 'BEGIN {
		v = j < p ? "met" : "missed"
		# Does it hold at the ends of the per-event costs ranges?
		robust = (v == "met") ? (jhi < plo) : (jlo > phi)
		printf "%s%s (host CPU, medians over the rounds: jschedlat %.2f ms/s, perf %.2f ms/s with its handlers estimated: %.2f×)\n", v, (robust ? "" : ", within the range of the per-event costs"), j, p, (p > 0 ? j / p : 0)
		note = (jraw < 0) ? sprintf(" (measured %.0f, taken as 0)", jraw) : ""
		printf "Host CPU, medians over the rounds: jschedlat %.2f ms/s = process %.2f + kernel side %.2f, of which BPF run time %.2f measured and %.0f calls/s × %.0f ns%s outside it (bpf_stats off; %.0f ns with it on); perf %.2f ms/s = process %.2f + tracepoint handlers %.2f estimated, %.0f events/s × %.0f ns. ", j, jc, jk, jb, jn, jo, note, jos, p, pc, pk, pe, pn
		printf "Over the ping-pong'"'"'s ranges (perf %.0f–%.0f ns/event, jschedlat %.0f–%.0f ns/call outside the run time): jschedlat %.2f–%.2f, perf %.2f–%.2f ms/s. ", pnlo, pnhi, jolo, johi, jlo, jhi, plo, phi
		printf "With BPF run time alone, as the kernel counts it (what this experiment counted before), jschedlat %.2f ms/s.\n", jold }')
fi
noise="—" spread=0
if [ "$(col off 3 | wc -l)" -gt 1 ]; then
	noise=$(for c in 3 4; do mapfile -t v < <(col off "$c"); stats "${v[@]}"; done |
		awk '{ printf "%s%.1f%%", (NR > 1 ? ", " : ""), ($1 > 0 ? ($3 - $2) / $1 * 100 : 0) }')
	# the larger of the two spreads, %
	spread=$(for c in 3 4; do mapfile -t v < <(col off "$c"); stats "${v[@]}"; done |
		awk '{ s = ($1 > 0 ? ($3 - $2) / $1 * 100 : 0); if (s > m) m = s } END { printf "%.1f", m }')
fi
if [ "$(col min0 3 | wc -l)" -gt 0 ]; then
	mapfile -t a < <(pratios min0 3)
	mapfile -t b < <(pratios min0 4)
	# A difference the untraced windows alone exceed is no measure.
	t_dis=$(awk -v rd="$(medv "${a[@]}")" -v sw="$(medv "${b[@]}")" -v p="$DISTURB_PCT" -v sp="$spread" 'BEGIN {
		ok = (rd <= 1 + p / 100 && rd >= 1 - p / 100 && sw <= 1 + p / 100 && sw >= 1 - p / 100)
		v = ok ? "met" : (sp > p ? sprintf("inconclusive, the untraced windows alone spread %.1f%%", sp) : "missed")
		printf "%s (run_delay %+.1f%%, switch-ins %+.1f%% against untraced, medians of the per-round ratios)", v, (rd - 1) * 100, (sw - 1) * 100 }')
fi
echo
[ -z "$t_cpu_detail" ] || echo "$t_cpu_detail"
echo "target: jschedlat --min-latency 0 host CPU below perf sched record's: $t_cpu"
echo "target: JVM run_delay and switch-ins within ${DISTURB_PCT}% of untraced: $t_dis"
[ "$noise" = "—" ] || echo "noise: spread (max-min)/median of the untraced windows: run_delay, switch-ins: $noise"
echo "noise: spread (max-min)/median of the untraced ping-pong runs: $pp_noise"

# ---- markdown fragment
[ -n "${MD:-}" ] || exit 0
md "Recording every wait of one JVM (\`--min-latency 0\`) next to \`perf sched record -a\` on the same JVM, in" \
	"one run. The workload (\`testdata/java/Workload.java --workers $WORKERS --hogs $HOGS\`: pool threads of 1.5–3 ms" \
	"of CPU then 1 ms asleep, CPU hogs, self-renaming and short-lived threads) asks for more CPU than the machine" \
	"has. A tracer costs the host its own process's CPU and its kernel side: perf's tracepoint handlers, which" \
	"write every sched event of the host into its buffers, and jschedlat's BPF programs, which run on every switch" \
	"and wakeup of the host and record the JVM's. The kernel side runs on the CPU time of the tasks that switch," \
	"in no counter of the tracer's; both tools' are measured the same way, with a ping-pong (below)." \
	"" \
	"One JVM runs throughout; after ${WARMUP} s, $R rounds each run the untraced window, jschedlat and perf in turn (the" \
	"order reversed every other round), each window ${W} s, a tracer started before its window and stopped with SIGINT" \
	"after it and a ping-pong run. The window is the steady state: it begins ${SETTLE} s after the tracer's start-up is over" \
	"(jschedlat: its \`started\` line, after the HotSpot probes it attaches once tracing runs; its start-up CPU is" \
	"in experiment 7), once jschedlat's join has held records for its 2.4 s and its buffers have grown to their size." \
	"CPU in those ${SETTLE} s, ms/s, medians [min–max]: jschedlat $(cell %.2f $(awk '$1 == "min0" { print $2 }' "$settles")), perf $(cell %.2f $(awk '$1 == "perf" { print $2 }' "$settles"))." \
	"Tracer CPU is the run time (user + system) of all the tracer's threads in the" \
	"window (\`/proc/PID/task/*/schedstat\`). BPF run time is the kernel's count for the programs jschedlat holds" \
	"(\`kernel.bpf_stats_enabled=1\`, run_time_ns through \`bench/bpfstats -pid\`). The kernel side is **estimated**" \
	"with the ping-pong's medians: perf's is the events its tracepoints fired per second (samples + lost, over perf's" \
	"own time from its first sample to the ping-pong) × its ns per event; jschedlat's is its measured BPF run time +" \
	"its programs' calls per second × the ns per call outside the run time. Host CPU is tracer CPU + kernel side." \
	"events/s: jschedlat's events (its summary), perf's events (every switch, wakeup and run-time update of the host," \
	"not only the JVM's). The JVM's run_delay and switch-ins are the deltas of \`/proc/PID/task/*/schedstat\` summed" \
	"over its threads (\`bench/schedwin\`); × is the median over the rounds of the ratio to the untraced window of the" \
	"same round." \
	"" \
	"Settings: R=$R, W=${W} s, WARMUP=${WARMUP} s, COOLDOWN=${COOLDOWN} s, SETTLE=${SETTLE} s, PP_N=$PP_N, PP_CPU=$PP_CPU, PP_FIFO=$PP_FIFO ($("$JAVA" -version 2>&1 | head -1)); output files in \`$(dirname "$work")\`; the rounds took $rounds_secs s." \
	"$([ "$R" -ge 5 ] && [ "$W" -ge 10 ] || echo "**Shortened run** (defaults R=5, W=10 s).")" \
	"$(awk -v l="${start_load%% *}" -v n="$(nproc)" 'BEGIN { if (l > n) printf "**Busy host**: load average %s at the start on %d CPUs (other work): the JVM waits for a CPU most of the time and its untraced windows differ from each other by more than the disturbance looked for.", l, n }')" \
	"$([ -n "$perf_bin" ] && [ -z "$perf_skip" ] && echo "perf: \`$perf_bin\` ($("$perf_bin" --version 2>&1 | head -1)).")" \
	"$([ -z "$perf_skip" ] || echo "**perf skipped**: $perf_skip.")" \
	"" "$header" "|---|---|---|---|---|---|---|---|---|---|---|---|" "${rows[@]}" "" \
	"Noise: the untraced windows alone spread (max − min over median) $noise in run_delay and switch-ins; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end." \
	"" \
	"**Kernel cost per event.** \`bench/pingpong\`: two threads pinned to CPU $PP_CPU, SCHED_FIFO $PP_FIFO (nothing runs" \
	"between them, no wakeup preempts), pass a byte through two pipes $PP_N times after $PP_WARMUP of warm-up: two" \
	"switches and two wakeups per round trip. It runs under each tracer after its window (perf: the same" \
	"\`perf sched record -a\` as the window's; jschedlat: attached to the JVM, so the ping-pong is not its target and its" \
	"hooks filter), and untraced just before the tracer starts and just after it stops (the host drifts). The CPU" \
	"time the two threads are charged (schedstat run time: the handlers and BPF programs that run on their switches" \
	"and wakeups are charged there) against the mean of the two untraced runs is what the tracer adds per round" \
	"trip. perf: divided by the events its tracepoints fired in the ping-pong's threads (\`perf script\` by TID; lost" \
	"samples, whose handler ran too, counted in proportion). jschedlat: divided by its BPF programs' calls, and set" \
	"against their run time as the kernel counts it (read by \`pingpong -bpf-pid\` around the round trips): the rest" \
	"is outside the run time (the tracepoint's dispatch to the program, bpf_stats' own clock reads; taken as 0 if" \
	"negative). bpf_stats is on for the windows and that run (its two clock reads per call are outside the run time" \
	"it counts); a second ping-pong right after it, with bpf_stats off as in production, gives the all-in cost per" \
	"call without them, and its part outside the run time (that run's all-in less the run time per call the first" \
	"counted) is what the host CPU counts. A ping-pong has hot caches: these are low estimates for both tools." \
	"" "$ppheader" "|---|---|---|---|---|---|---|---|" "${pprows[@]}" "" \
	"perf's events per round trip in the ping-pong: ${pp_mix:-—}; in the JVM windows, ${win_mix:-—} (mean of the rounds' shares). Most samples lost in a ping-pong run: $pp_lost. The untraced ping-pong runs alone spread (max − min over median) $pp_noise." \
	"" \
	"$t_cpu_detail" "" \
	"Target: recording every wait (\`--min-latency 0\`) costs the host less CPU than perf sched record -a: $t_cpu" "" \
	"Target: the JVM's run_delay and switch-ins within ${DISTURB_PCT}% of untraced with --min-latency 0: $t_dis" ""
if [ "${#prof_rows[@]}" -gt 0 ]; then
	md "**Where jschedlat's CPU goes.** One more steady-state window of $((2 * W)) s after the rounds, \`perf record -F 4999 -g -p PID\`" \
		"on the tracer: $prof_cpu ms/s of CPU, $prof_samples samples. Each sample counts under the first part of the list found on" \
		"its stack (so the write(2) is not in the names part that calls it). On this VM a sample cannot land where interrupts are" \
		"off: the cost of a context switch is counted where they are enabled again (waiting for the ring, the kernel side of" \
		"the rest)." "" "| part | % of the samples | ms/s |" "|---|---|---|" "${prof_rows[@]}" ""
fi
md_cmds "$cmds"
