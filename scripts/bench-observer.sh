#!/usr/bin/env bash
# bench-observer: what does tracing cost the traced JVM, and does it change
# what it measures?
#
# Runs a JVM of fixed work (testdata/java/ReqWorkload.java: HANDLERS named
# threads http-nio-8080-exec-N serving requests of WORK thousand iterations
# of integer work then THINK_US µs parked, more CPU asked than the machine
# has, plus a short-lived thread async-task-K every SPAWN_EVERY_MS) under
# each of these variants (MODES):
#   off          no tracing
#   on-defaults  bin/jschedlat attach PID -o FILE
#   on-min0      the same with --min-latency 0
#   on-nobudget  the same with --dump-budget 100% (a dump per new thread)
#   perf-sched   perf sched record -a -o FILE -- sleep N (system-wide)
#   runqslower   libbpf-tools' runqslower > FILE (default threshold 10000 us,
#                system-wide); bcc's runqslower-bpfcc only if that is missing
#                and it runs here (it compiles its BPF program against the
#                kernel headers); it is probed either way and why it does
#                not run is recorded
# R times each, the order reversed every other repetition. Each repetition
# starts one JVM and waits WARMUP seconds (JIT compilation settles); then
# each variant in turn starts its tracer on that JVM and, once it is
# attached, measures over a window of W seconds, stops the tracer with
# SIGINT and waits COOLDOWN seconds. (One JVM for all the variants of a
# repetition, as a tracer meets a running service: fresh JVMs differ from
# each other by 1-3% in throughput, more than the costs measured here.
# FRESH=1 starts a fresh JVM for every run instead.)
#   req/s      requests the JVM completed per second (its counter, printed
#              every 50 ms, interpolated at the ends of the window)
#   run_delay  the JVM's total run-queue wait, ms per second: delta of field 2
#              of /proc/PID/task/*/schedstat summed over its threads (sampled
#              every 50 ms by bench/schedwin, so threads that end inside the
#              window count too)
#   us/req     the JVM's CPU (run time of all its threads) per request
#   ctxt/s     the system's context switches per second (/proc/stat ctxt)
#   cpu        the tracer's own CPU inside the window (run time of all its
#              threads), ms per second. What its kernel hooks cost is charged
#              to the threads they run on, so it shows in req/s and us/req
#   events/s   what the tracer recorded: jschedlat's events (its summary),
#              perf's samples, runqslower's lines
#   out        the size of its output file, KiB per second traced
# and prints median and [min-max] per mode, the ratio of the medians to off,
# and the targets, at jschedlat's defaults: req/s >= 100-TPUT_PCT % of off,
# run_delay <= 100+TARGET_PCT % of off, and far below perf sched record (its
# throughput loss at most 1/FAR of perf's). A tool that is missing or fails
# is skipped with its reason; the other modes go on.
# With MD set (scripts/bench.sh), also appends experiment 1's markdown
# fragment to $MD (see scripts/bench-lib.sh).
#
# Usage (root): scripts/bench-observer.sh
# Environment (defaults in brackets; the defaults take about 7 minutes):
#   R [5] repetitions   W [10] window s   WARMUP [5] s   COOLDOWN [1] s
#   FRESH [0] 1 = a fresh JVM per run   TITLE the markdown fragment's heading
#   MODES ["off on-defaults on-min0 perf-sched runqslower"]; also on-nobudget
#   HANDLERS [12]  WORK [300]  THINK_US [1000]  ReqWorkload's settings
#   SPAWN_EVERY_MS [1000]  SPAWN_LIFE_MS [300]  (SPAWN_EVERY_MS=0: none)
#   TPUT_PCT [1]  TARGET_PCT [5]  FAR [3]   the targets, see above
#   JAVA [java]  JAVAC [javac]  JAVA_OPTS [""]   KEEP [0] 1 = keep the logs
#   (the tracers' output files are deleted once sized: perf's are large)
# The machine is shared: other load shows up in every column; the load
# average is printed with every run.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

R=${R:-5} W=${W:-10} WARMUP=${WARMUP:-5} COOLDOWN=${COOLDOWN:-1} FRESH=${FRESH:-0}
TITLE=${TITLE:-1. Cost to the traced JVM}
MODES=${MODES:-off on-defaults on-min0 perf-sched runqslower}
HANDLERS=${HANDLERS:-12} WORK=${WORK:-300} THINK_US=${THINK_US:-1000}
SPAWN_EVERY_MS=${SPAWN_EVERY_MS:-1000} SPAWN_LIFE_MS=${SPAWN_LIFE_MS:-300}
TPUT_PCT=${TPUT_PCT:-1} TARGET_PCT=${TARGET_PCT:-5} FAR=${FAR:-3}
JAVA=${JAVA:-java} JAVAC=${JAVAC:-javac} JAVA_OPTS=${JAVA_OPTS:-} KEEP=${KEEP:-0}

die() { echo "bench-observer: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF, runs perf, sets sysctl kernel.task_delayacct): sudo $0"
for t in "$JAVA" "$JAVAC"; do
	command -v "$t" >/dev/null || die "$t not found: install a JDK (apt-get install openjdk-17-jdk-headless)"
done
[ -x bin/jschedlat ] || die "bin/jschedlat missing: run make build"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found: needed to build the helper bench/schedwin"
[ -r /proc/self/schedstat ] || die "/proc/*/schedstat missing: kernel without CONFIG_SCHEDSTATS"
for n in R W WARMUP COOLDOWN FRESH HANDLERS WORK THINK_US SPAWN_EVERY_MS SPAWN_LIFE_MS FAR; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
for n in TPUT_PCT TARGET_PCT; do
	[[ ${!n} =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$n=${!n}: must be a number"
done
if [ "$R" -lt 1 ] || [ "$W" -lt 1 ] || [ "$FAR" -lt 1 ]; then die "R, W and FAR must be >= 1"; fi
for m in $MODES; do
	case $m in off | on-defaults | on-min0 | on-nobudget | perf-sched | runqslower) ;;
	*) die "unknown mode $m (off, on-defaults, on-min0, on-nobudget, perf-sched, runqslower)" ;;
	esac
done
read -r -a modes <<<"$MODES"
has_mode() { [[ " $MODES " == *" $1 "* ]]; }

work=$(mktemp -d /tmp/bench-observer.XXXXXX)
old_delayacct=$(cat /proc/sys/kernel/task_delayacct 2>/dev/null || echo "")
jvm="" tr="" probe=""
cleanup() {
	local p
	for p in $probe $tr $jvm; do kill "$p" 2>/dev/null || true; done
	for p in $probe $tr $jvm; do wait "$p" 2>/dev/null || true; done
	if [ -n "$old_delayacct" ]; then sysctl -qw kernel.task_delayacct="$old_delayacct" || true; fi
	if [ "$KEEP" = 1 ]; then echo "bench-observer: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/schedwin" ./bench/schedwin
mkdir -p "$work/classes"
"$JAVAC" -d "$work/classes" testdata/java/ReqWorkload.java

# First non-empty line of a tool's output that reads like an error (else the
# first non-empty line), for the record of why it was skipped.
why() { # FILE...
	local l
	l=$(cat "$@" 2>/dev/null | grep -m1 -iE 'error|fail|unable|cannot|not found|no such|denied|invalid|unknown' || true)
	[ -n "$l" ] || l=$(cat "$@" 2>/dev/null | grep -m1 . || true)
	echo "${l:-no output}"
}

# The compared tools: a mode whose tool is missing or does not run is
# skipped, with the reason recorded, and the others go on.
declare -A skipped=()
perf_bin="" rq_bin="" rq_kind="" bpfcc_note=""
if has_mode perf-sched; then
	perf_bin=$(command -v perf || true)
	[ -n "$perf_bin" ] || skipped[perf-sched]="perf is not installed (Debian: apt-get install linux-perf)"
fi
if has_mode runqslower; then
	# bcc's Python tool: only probed (a short run, stopped once it traces).
	bpfcc=$(command -v runqslower-bpfcc || { [ -x /usr/sbin/runqslower-bpfcc ] && echo /usr/sbin/runqslower-bpfcc; } || true)
	bpfcc_ok=0
	if [ -z "$bpfcc" ]; then
		bpfcc_note="bcc's runqslower-bpfcc is not installed (bpfcc-tools)"
	else
		PYTHONUNBUFFERED=1 timeout 10 "$bpfcc" 10000 >"$work/bpfcc.out" 2>"$work/bpfcc.err" &
		probe=$!
		for _ in $(seq 100); do
			grep -q '^Tracing' "$work/bpfcc.out" && { bpfcc_ok=1; break; }
			kill -0 "$probe" 2>/dev/null || break
			sleep 0.1
		done
		kill -INT "$probe" 2>/dev/null || true
		wait "$probe" 2>/dev/null || true
		probe=""
		if [ "$bpfcc_ok" = 1 ]; then
			bpfcc_note="bcc's \`$bpfcc\` runs here (probe: \`timeout 10 $bpfcc 10000\`)"
		else
			bpfcc_note="bcc's \`$bpfcc\` does not run here: \`timeout 10 $bpfcc 10000\` printed \`$(why "$work/bpfcc.out" "$work/bpfcc.err")\`"
			last=$(grep . "$work/bpfcc.err" 2>/dev/null | tail -n1 || true)
			[ -z "$last" ] || bpfcc_note+=" and ended with \`$last\`"
		fi
	fi
	rq_bin=$(command -v runqslower || { [ -x /usr/sbin/runqslower ] && echo /usr/sbin/runqslower; } || true)
	if [ -n "$rq_bin" ]; then
		rq_kind=libbpf
	elif [ "$bpfcc_ok" = 1 ]; then
		rq_bin=$bpfcc rq_kind=bcc
	else
		skipped[runqslower]="libbpf-tools' runqslower is not installed (apt-get install libbpf-tools), and $bpfcc_note"
	fi
fi

if [ -n "$old_delayacct" ]; then sysctl -qw kernel.task_delayacct=1; fi

md_begin "$TITLE"
echo "== bench-observer: what does tracing cost the traced JVM?"
echo "machine: $(md_machine)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)   java: $("$JAVA" -version 2>&1 | head -1)"
echo "jschedlat: $(md_commit)"
echo "settings: R=$R W=${W}s WARMUP=${WARMUP}s COOLDOWN=${COOLDOWN}s FRESH=$FRESH HANDLERS=$HANDLERS WORK=$WORK THINK_US=$THINK_US SPAWN_EVERY_MS=$SPAWN_EVERY_MS MODES='$MODES' task_delayacct=1 (was ${old_delayacct:-n/a})"
echo "targets at defaults: req/s >= $(awk -v p="$TPUT_PCT" 'BEGIN { print 100 - p }')% of off, run_delay <= $(awk -v p="$TARGET_PCT" 'BEGIN { print 100 + p }')% of off, throughput loss <= 1/$FAR of perf sched record's"
[ -z "$perf_bin" ] || echo "perf: $perf_bin ($("$perf_bin" --version 2>&1 | head -1))"
[ -z "$rq_bin" ] || echo "runqslower: $rq_bin ($rq_kind)"
[ -z "$bpfcc_note" ] || echo "bcc: $bpfcc_note" | tr -d '`'
for m in "${!skipped[@]}"; do echo "skipped $m: ${skipped[$m]}"; done
echo

# Switches of all threads of a process (schedstat field 3).
switches() { { cat /proc/"$1"/task/*/schedstat 2>/dev/null || true; } | awk '{ s += $3 } END { print s + 0 }'; }

# Requests per second between two wall-clock instants (ns), interpolated
# between the workload's "count <epoch_ns> <n>" lines.
reqrate() { # LOG FROM_NS TO_NS
	awk -v a="$2" -v b="$3" '
	function at(x,   i) {
		for (i = 1; i < n; i++) if (t[i - 1] <= x && x <= t[i]) return c[i - 1] + (c[i] - c[i - 1]) * (x - t[i - 1]) / (t[i] - t[i - 1])
		return "NA"
	}
	$1 == "count" { t[n] = $2 - a; c[n] = $3; n++ }
	END { b -= a; ca = at(0); cb = at(b); if (ca == "NA" || cb == "NA" || b <= 0) print "NA"; else printf "%.1f\n", (cb - ca) / (b / 1e9) }' "$1"
}
# Waits (up to 3 s) for the workload's first count line at or after NS.
count_after() { # LOG NS
	local i
	for i in $(seq 60); do
		awk -v x="$2" '$1 == "count" && $2 - x >= 0 { f = 1 } END { exit !f }' "$1" && return 0
		sleep 0.05
	done
	return 1
}

results=$work/results.tsv cmds=$work/cmds.txt
: >"$results"
: >"$cmds"
# Killed once measured; this only bounds a leftover.
jvm_secs=$((WARMUP + (FRESH == 1 ? 1 : ${#modes[@]}) * (W + 60) + 20))
nruns=$((R * ${#modes[@]}))
ncpu=$(nproc)
run=0

wlog=""
# start_jvm LOG: starts the workload JVM, waits WARMUP s.
start_jvm() {
	wlog=$1
	local jargs=(ReqWorkload --seconds "$jvm_secs" --handlers "$HANDLERS" --work "$WORK" --think-us "$THINK_US"
		--spawn-every-ms "$SPAWN_EVERY_MS" --spawn-life-ms "$SPAWN_LIFE_MS")
	# shellcheck disable=SC2086 # JAVA_OPTS is a list of options
	"$JAVA" $JAVA_OPTS -cp "$work/classes" "${jargs[@]}" >"$wlog" 2>&1 &
	jvm=$!
	jvm_cmd="$JAVA${JAVA_OPTS:+ $JAVA_OPTS} -cp $work/classes ${jargs[*]}"
	sleep "$WARMUP"
	kill -0 "$jvm" 2>/dev/null || { cat "$wlog" >&2; die "the ReqWorkload JVM exited early"; }
}
stop_jvm() {
	[ -n "$jvm" ] || return 0
	kill "$jvm" 2>/dev/null || true
	wait "$jvm" 2>/dev/null || true
	jvm=""
}

run_one() { # mode rep
	local mode=$1 rep=$2
	local tlog=$work/tracer-$1-$2.log out=$work/out-$1-$2
	local tcmd="" c0=0 c1=0 s0=0 s1=0 t_ready=0 t_stop=0 line rps evps=NA lost=NA outb=NA outkps=NA rc=0 i
	run=$((run + 1))
	if [ -n "${skipped[$mode]:-}" ]; then
		printf 'run %d/%d rep %d %-11s skipped: %s\n' "$run" "$nruns" "$rep" "$mode" "${skipped[$mode]}"
		return 0
	fi
	sync # no writeback of an earlier run's files inside this window
	if [ "$FRESH" = 1 ]; then
		start_jvm "$work/jvm-$1-$2.log"
	else
		kill -0 "$jvm" 2>/dev/null || { cat "$wlog" >&2; die "the ReqWorkload JVM of repetition $rep exited early"; }
	fi
	local load
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	printf 'run %d/%d rep %d %-11s load %s\n' "$run" "$nruns" "$rep" "$mode" "$load"
	if [ "$FRESH" = 1 ]; then
		echo "$jvm_cmd    # run $run/$nruns, rep $rep, $mode, pid $jvm, load $load" >>"$cmds"
		printf '  $ %s    # pid %s\n' "$jvm_cmd" "$jvm"
	else
		echo "# run $run/$nruns, rep $rep, $mode, JVM pid $jvm, load $load" >>"$cmds"
	fi
	if [ "$mode" != off ]; then
		local ready=0 t_start
		t_start=$(now_ns)
		case $mode in
		on-*)
			local extra=()
			[ "$mode" = on-min0 ] && extra=(--min-latency 0)
			[ "$mode" = on-nobudget ] && extra=(--dump-budget 100%)
			tcmd="bin/jschedlat attach $jvm${extra[*]:+ ${extra[*]}} -o $out"
			bin/jschedlat attach "$jvm" "${extra[@]}" -o "$out" 2>"$tlog" &
			;;
		perf-sched)
			# The sleep only ends the recording if the SIGINT does not.
			tcmd="$perf_bin sched record -a -o $out -- sleep $((W + 120))"
			"$perf_bin" sched record -a -o "$out" -- sleep $((W + 120)) >"$tlog" 2>&1 &
			;;
		runqslower)
			tcmd="$rq_bin >$out"
			if [ "$rq_kind" = bcc ]; then
				PYTHONUNBUFFERED=1 "$rq_bin" >"$out" 2>"$tlog" &
			else
				"$rq_bin" >"$out" 2>"$tlog" &
			fi
			;;
		esac
		tr=$!
		for i in $(seq 300); do # wait until it traces (up to 30 s)
			case $mode in
			on-*) grep -q 'msg=tracing' "$tlog" 2>/dev/null && ready=1 ;;
			# perf lets its workload exec once its events are enabled.
			perf-sched) [ "$(ps -o comm= --ppid "$tr" 2>/dev/null)" = sleep ] && ready=1 ;;
			# libbpf-tools: the perf buffer (one perf_event per CPU) is opened after the programs are attached.
			runqslower) if [ "$rq_kind" = bcc ]; then
				grep -q '^Tracing' "$out" 2>/dev/null && ready=1
			else
				[ "$(find "/proc/$tr/fd" -lname 'anon_inode:\[perf_event\]' 2>/dev/null | wc -l)" -ge "$ncpu" ] && ready=1
			fi ;;
			esac
			[ "$ready" = 1 ] && break
			kill -0 "$tr" 2>/dev/null || break
			sleep 0.1
		done
		t_ready=$(now_ns)
		if [ "$ready" != 1 ]; then
			local reason
			kill -0 "$tr" 2>/dev/null && reason="did not start tracing within 30 s" || reason="\`$(why "$tlog")\`"
			kill -INT "$tr" 2>/dev/null || true
			wait "$tr" 2>/dev/null || true
			tr=""
			case $mode in on-*) cat "$tlog" >&2; die "jschedlat did not attach (run $run, $mode): $reason" ;; esac
			skipped[$mode]="\`$tcmd\` failed: $reason"
			echo "$tcmd    # failed: $reason; the run is discarded and $mode skipped from now on" | tr -d '`' >>"$cmds"
			echo "  skipped from now on: ${skipped[$mode]}" | tr -d '`'
			[ "$FRESH" = 1 ] && stop_jvm
			rm -f "$out"
			return 0
		fi
		echo "$tcmd    # started $(awk -v a="$t_start" -v b="$t_ready" 'BEGIN { printf "%.1f", (b - a) / 1e9 }') s before the window, stopped with SIGINT after it" >>"$cmds"
		printf '  $ %s\n' "$tcmd"
		c0=$(runtime "$tr") s0=$(switches "$tr")
	fi
	echo "$work/schedwin -pid $jvm -window ${W}s    # the window (bench/schedwin)" >>"$cmds"
	line=$("$work/schedwin" -pid "$jvm" -window "${W}s")
	if [ -n "$tr" ]; then
		c1=$(runtime "$tr") s1=$(switches "$tr")
		kill -INT "$tr" 2>/dev/null || true
		t_stop=$(now_ns)
		wait "$tr" || rc=$?
		tr=""
		local secs
		secs=$(awk -v a="$t_ready" -v b="$t_stop" 'BEGIN { printf "%.6f", (b - a) / 1e9 }')
		case $mode in
		on-*)
			[ "$rc" = 0 ] || { cat "$tlog" >&2; die "jschedlat failed (exit $rc, run $run, $mode)"; }
			local sum ev
			sum=$(grep -m1 '^jschedlat: traced=' "$tlog") || { cat "$tlog" >&2; die "no summary line from jschedlat"; }
			secs=$(dur_s "$(sed -E 's/^jschedlat: traced=([0-9.]+s):.*/\1/' <<<"$sum")")
			ev=$(sed -nE 's/^jschedlat: traced=[0-9.]+s: ([0-9]+) events.*/\1/p' <<<"$sum")
			lost=$(sed -nE 's/.*, ([0-9]+) lost.*/\1/p' <<<"$sum")
			evps=$(awk -v e="$ev" -v d="$secs" 'BEGIN { printf "%.0f", (d > 0 ? e / d : 0) }')
			echo "  jschedlat: ${sum#jschedlat: }"
			;;
		perf-sched | runqslower)
			# perf returns its workload's status (killed: 143) when interrupted;
			# what counts is that it wrote its data.
			if [ "$mode" = perf-sched ] && grep -q 'Captured and wrote' "$tlog"; then rc=0; fi
			if [ "$rc" != 0 ]; then
				skipped[$mode]="\`$tcmd\` exited $rc: \`$(why "$tlog")\`"
				echo "  skipped from now on: ${skipped[$mode]}" | tr -d '`'
				[ "$FRESH" = 1 ] && stop_jvm
				rm -f "$out"
				return 0
			fi
			local ev
			if [ "$mode" = perf-sched ]; then
				ev=$(sed -nE 's/.*\(([0-9]+) samples\).*/\1/p' "$tlog" | head -n1)
				echo "  perf: $(grep -m1 'Captured and wrote' "$tlog" || echo 'no summary')"
			else
				ev=$(($(grep -c . "$out" || true) - 2)) # less its two header lines
				[ "$ev" -ge 0 ] || ev=0
				echo "  runqslower: $ev lines"
			fi
			# "Lost N events" (runqslower), "lost N chunks" / "Lost N samples" (perf)
			lost=$({ grep -oiE 'lost [0-9]+' "$tlog" || true; } | awk '{ s += $2 } END { print s + 0 }')
			evps=$(awk -v e="${ev:-0}" -v d="$secs" 'BEGIN { printf "%.0f", (d > 0 ? e / d : 0) }')
			;;
		esac
		outb=$(stat -c %s "$out" 2>/dev/null || echo 0)
		outkps=$(awk -v b="$outb" -v d="$secs" 'BEGIN { printf "%.2f", (d > 0 ? b / 1024 / d : 0) }')
		rm -f "$out"
	fi
	local a b
	a=$(sed -nE 's/.* start_unix_ns=([0-9]+).*/\1/p' <<<"$line")
	b=$(sed -nE 's/.* end_unix_ns=([0-9]+).*/\1/p' <<<"$line")
	if [ -z "$a" ] || [ -z "$b" ]; then die "no start_unix_ns/end_unix_ns from schedwin: $line"; fi
	count_after "$wlog" "$b" || { tail -n 5 "$wlog" >&2; die "the workload printed no count after the window (run $run, $mode)"; }
	rps=$(reqrate "$wlog" "$a" "$b")
	[ "$rps" != NA ] || { head -n 5 "$wlog" >&2; die "no request counts around the window (run $run, $mode)"; }
	[ "$FRESH" = 1 ] && stop_jvm
	echo "  ${line#schedwin: }"
	echo "  requests: $rps/s"
	# mode rep req/s run_delay_ms/s ctxt/s events/s cpu_ms/s lost own_switches/s out_KiB/s out_bytes jvm_cpu_us/request
	awk -v mode="$mode" -v rep="$rep" -v rps="$rps" -v evps="$evps" -v lost="${lost:-NA}" -v c0="$c0" -v c1="$c1" -v s0="$s0" -v s1="$s1" \
		-v outkps="$outkps" -v outb="$outb" -v traced="$([ "$mode" = off ] && echo 0 || echo 1)" '{
		for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		w = v["window_s"]
		cpu = traced ? sprintf("%.2f", (c1 - c0) / 1e6 / w) : "NA"
		sw = traced ? sprintf("%.0f", (s1 - s0) / w) : "NA"
		printf "%s\t%s\t%s\t%.3f\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%.1f\n", mode, rep, rps, v["run_delay_ns"] / 1e6 / w, v["ctxt_per_s"], evps, cpu, lost, sw, outkps, outb,
			(rps > 0 ? v["run_time_ns"] / 1e3 / (rps * w) : 0)
	}' <<<"$line" >>"$results"
	sleep "$COOLDOWN"
}

for rep in $(seq "$R"); do
	if [ $((rep % 2)) = 1 ]; then order=("${modes[@]}"); else order=(); for ((i = ${#modes[@]} - 1; i >= 0; i--)); do order+=("${modes[i]}"); done; fi
	if [ "$FRESH" != 1 ]; then
		start_jvm "$work/jvm-$rep.log"
		echo "$jvm_cmd    # repetition $rep: pid $jvm; its variants follow" >>"$cmds"
		printf 'rep %d: JVM pid %s\n  $ %s\n' "$rep" "$jvm" "$jvm_cmd"
	fi
	for m in "${order[@]}"; do run_one "$m" "$rep"; done
	stop_jvm
done

# ---- summary
col() { awk -F'\t' -v m="$1" -v c="$2" '$1 == m && $c != "NA" { print $c }' "$results"; }
nruns_of() { awk -F'\t' -v m="$1" '$1 == m { n++ } END { print n + 0 }' "$results"; }
med() { # MODE COLUMN -> median or NA
	local v
	mapfile -t v < <(col "$1" "$2")
	[ "${#v[@]}" -gt 0 ] || { echo NA; return; }
	stats "${v[@]}" | cut -d' ' -f1
}
num() { awk -v f="$1" -v v="$2" -v none="$NONE" 'BEGIN { if (v == "NA") print none; else printf f, v }'; } # FMT NUMBER|NA
NONE="-" # what an empty cell shows: "-" on stdout (fixed widths), "—" in markdown
cell() { # MODE COLUMN DASH -> "median [min–max]" or $NONE
	local v m lo hi
	mapfile -t v < <(col "$1" "$2")
	[ "${#v[@]}" -gt 0 ] || { echo "$NONE"; return; }
	read -r m lo hi <<<"$(stats "${v[@]}")"
	awk -v m="$m" -v lo="$lo" -v hi="$hi" -v d="$3" 'BEGIN {
		a = m < 0 ? -m : m; f = (a >= 100 ? "%.0f" : a >= 10 ? "%.1f" : "%.2f")
		printf f " [" f d f "]", m, lo, hi }'
}
# pratios MODE COLUMN: per repetition, MODE's value over off's in the same
# JVM (FRESH=0), one per line.
pratios() {
	awk -F'\t' -v m="$1" -v c="$2" '$1 == "off" && $c != "NA" { o[$2] = $c } $1 == m && $c != "NA" { v[$2] = $c }
		END { for (r in v) if ((r in o) && o[r] > 0) printf "%.6f\n", v[r] / o[r] }' "$results"
}
ratio() { # MODE COLUMN -> the ratio to off, or $NONE
	local a b v
	[ "$1" != off ] || { echo "$NONE"; return; }
	if [ "$FRESH" != 1 ]; then
		# One JVM per repetition: the median of the per-repetition ratios,
		# so that the differences between JVMs cancel.
		mapfile -t v < <(pratios "$1" "$2")
		[ "${#v[@]}" -gt 0 ] || { echo "$NONE"; return; }
		stats "${v[@]}" | awk '{ printf "%.3f", $1 }'
		return
	fi
	a=$(med "$1" "$2") b=$(med off "$2")
	if [ "$a" = NA ] || [ "$b" = NA ]; then echo "$NONE"; return; fi
	awk -v a="$a" -v b="$b" -v none="$NONE" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print none }'
}
# prange MODE COLUMN -> "min–max" of the per-repetition ratios, or "".
prange() {
	local v
	[ "$FRESH" != 1 ] || return 0
	mapfile -t v < <(pratios "$1" "$2")
	[ "${#v[@]}" -gt 1 ] || return 0
	stats "${v[@]}" | awk -v d="$3" '{ printf "%.3f%s%.3f", $2, d, $3 }'
}
label() {
	case $1 in
	off) echo "untraced" ;;
	on-defaults) echo "jschedlat, defaults: \`attach PID\`" ;;
	on-min0) echo "jschedlat, \`attach PID --min-latency 0\`" ;;
	on-nobudget) echo "jschedlat, \`attach PID --dump-budget 100%\`" ;;
	perf-sched) echo "\`perf sched record -a\`" ;;
	runqslower) case $rq_kind in
		bcc) echo "bcc \`runqslower-bpfcc\` (10 ms, system-wide)" ;;
		libbpf) echo "\`runqslower\` (libbpf-tools, 10 ms, system-wide)" ;;
		*) echo "runqslower" ;;
		esac ;;
	esac
}

# Targets, judged on the medians of on-defaults against off and perf-sched.
# Against perf only the throughput is judged: it holds what the hooks cost
# in the kernel, which neither tool's own CPU shows.
t_tput="not measured" t_rd="not measured" t_far="not measured" verdict_def="-"
if [ "$(nruns_of on-defaults)" -gt 0 ] && [ "$(nruns_of off)" -gt 0 ]; then
	rt=$(ratio on-defaults 3) rr=$(ratio on-defaults 4)
	t_tput=$(awk -v r="$rt" -v p="$TPUT_PCT" 'BEGIN { printf "%s (ratio %.3f, %+.2f%%)", (r >= 1 - p / 100 ? "met" : "missed"), r, (r - 1) * 100 }')
	t_rd=$(awk -v r="$rr" -v p="$TARGET_PCT" 'BEGIN { printf "%s (ratio %.3f, %+.1f%%)", (r <= 1 + p / 100 ? "met" : "missed"), r, (r - 1) * 100 }')
	if [ "$(nruns_of perf-sched)" -gt 0 ]; then
		# perf's loss must be measurable for "far below" to mean anything:
		# positive, and (one JVM per repetition) in every repetition.
		pmax=$(prange perf-sched 3 " " | awk '{ print $2 }')
		t_far=$(awk -v rj="$rt" -v rp="$(ratio perf-sched 3)" -v pmax="$pmax" -v cj="$(med on-defaults 7)" -v cp="$(med perf-sched 7)" -v f="$FAR" 'BEGIN {
			lj = (1 - rj) * 100; lp = (1 - rp) * 100
			v = (lp <= 0 ? "inconclusive, perf cost no measurable throughput" : (pmax != "" && pmax >= 1 ? "inconclusive, perf cost no throughput in some repetitions" : (lj <= lp / f ? "met" : "missed")))
			printf "%s (throughput loss %.2f%% against %.2f%%; tracer CPU %.2f against %.2f ms/s)", v, lj, lp, cj, cp }')
	elif [ -n "${skipped[perf-sched]:-}" ]; then
		t_far="not measured (perf-sched skipped)"
	fi
	verdict_def=$(for t in "throughput:$t_tput" "run_delay:$t_rd" "vs perf:$t_far"; do echo "$t"; done | awk -F: '
		$2 ~ /^missed/ { miss = miss (miss ? ", " : "") $1 } $2 ~ /^met/ { met++ }
		END { print (miss ? "missed (" miss ")" : met == 3 ? "met" : met ? "met where measured" : "-") }')
fi
echo
echo "== results: medians over the runs, [min-max]; x = $([ "$FRESH" = 1 ] && echo "median / median(off)" || echo "median over the repetitions of run / off in the same JVM")"
printf '%-12s %4s  %-20s %6s  %-17s %6s  %-20s %6s  %-20s %6s  %-18s %8s %9s %5s\n' mode runs "req/s [min-max]" x "jvm us/req" x "run_delay ms/s" x "ctxt/s" x "cpu ms/s" ev/s "out KiB/s" sw/s
for m in "${modes[@]}"; do
	n=$(nruns_of "$m")
	if [ "$n" = 0 ]; then
		printf '%-12s %4d  skipped: %s\n' "$m" 0 "${skipped[$m]:-no run}" | tr -d '`'
		continue
	fi
	ev=$(num %.0f "$(med "$m" 6)") sw=$(num %.0f "$(med "$m" 9)") ok=$(num %.1f "$(med "$m" 10)")
	printf '%-12s %4d  %-20s %6s  %-17s %6s  %-20s %6s  %-20s %6s  %-18s %8s %9s %5s\n' "$m" "$n" \
		"$(cell "$m" 3 -)" "$(ratio "$m" 3)" "$(cell "$m" 12 -)" "$(ratio "$m" 12)" "$(cell "$m" 4 -)" "$(ratio "$m" 4)" "$(cell "$m" 5 -)" "$(ratio "$m" 5)" \
		"$(cell "$m" 7 -)" "$ev" "$ok" "$sw"
done
echo
echo "target, at defaults: req/s >= $(awk -v p="$TPUT_PCT" 'BEGIN { print 100 - p }')% of off: $t_tput"
echo "target, at defaults: run_delay <= $(awk -v p="$TARGET_PCT" 'BEGIN { print 100 + p }')% of off: $t_rd"
echo "target, at defaults: far below perf sched record (throughput loss <= 1/$FAR of perf's): $t_far"
echo "jvm us/req: the JVM's CPU (all threads) per request; cpu, ev/s, out, sw/s: the tracer's CPU, what it recorded, its output and its own switches per second"
noise=""
if [ "$(nruns_of off)" -gt 1 ]; then
	noise=$(for c in 3 12 4 5; do
		mapfile -t v < <(col off "$c")
		stats "${v[@]}"
	done | awk '{ printf "%s%.1f%%", (NR > 1 ? ", " : ""), ($1 > 0 ? ($3 - $2) / $1 * 100 : 0) }')
	echo "noise: spread (max-min)/median of the off runs: req/s, jvm us/req, run_delay, ctxt/s: $noise"
fi
lostsum=$(awk -F'\t' '$8 != "NA" { s += $8 } END { print s + 0 }' "$results")
[ "$lostsum" = 0 ] || echo "warning: the tracers reported $lostsum lost events/chunks in all (see the logs)"

# ---- markdown fragment
[ -n "${MD:-}" ] || exit 0
NONE="—" verdict_def=${verdict_def/#-/—}
fstype=$(findmnt -n -o FSTYPE -T "$work" 2>/dev/null || echo '?')
md "What tracing costs a JVM under contention. The workload (\`testdata/java/ReqWorkload.java\`) does fixed" \
	"work: $HANDLERS handler threads \`http-nio-8080-exec-N\` each serve requests of $WORK thousand steps of integer" \
	"work (the same instructions whatever the scheduling) followed by $THINK_US µs parked, asking for more CPU" \
	"than the machine has, so the threads queue and the requests per second are set by the CPU they get;" \
	"$([ "$SPAWN_EVERY_MS" -gt 0 ] && echo "a short-lived thread \`async-task-K\` serves requests for $SPAWN_LIFE_MS ms every $SPAWN_EVERY_MS ms (new threads are what makes jschedlat take thread dumps)" || echo "no threads are started after warm-up")." \
	"$([ "$FRESH" = 1 ] && echo "Each run starts a fresh JVM, waits ${WARMUP} s, starts the tracer" || echo "Each repetition starts one JVM and waits ${WARMUP} s; each variant in turn starts its tracer on it")" \
	"and, once it traces, measures over a ${W} s" \
	"window: the requests completed per second (the workload's counter, printed every 50 ms, interpolated at" \
	"the window's ends), the JVM's run-queue wait (Δ run_delay of \`/proc/PID/task/*/schedstat\` summed over" \
	"its threads, ms per s), the system's context switches per second, and the tracer's own CPU (run time of" \
	"all its threads, ms per s); then the tracer is stopped with SIGINT. What a tracer's kernel hooks cost is" \
	"charged to the threads they run on, so it shows in the throughput and in the JVM's CPU per request" \
	"(its run time over the requests it completed), not in the tracer's CPU." \
	"Variants alternate, the order reversed every other repetition; × is $([ "$FRESH" = 1 ] && echo "a median over the untraced median" || echo "the median over the repetitions of the variant's value over the untraced value in the same JVM (paired, so that the differences between JVMs cancel)")." \
	"$([ "$FRESH" = 1 ] || echo "(One JVM for the variants of a repetition, as a tracer meets a running service: fresh JVMs differ by 1–3% in throughput, more than the costs measured; \`FRESH=1\` runs a fresh JVM per run.)")" \
	"" \
	"Settings: R=$R runs per variant, W=${W} s, WARMUP=${WARMUP} s, COOLDOWN=${COOLDOWN} s, FRESH=$FRESH, \`ReqWorkload --handlers $HANDLERS --work $WORK --think-us $THINK_US --spawn-every-ms $SPAWN_EVERY_MS --spawn-life-ms $SPAWN_LIFE_MS\`${JAVA_OPTS:+ with JAVA_OPTS=\"$JAVA_OPTS\"}" \
	"($("$JAVA" -version 2>&1 | head -1)), \`kernel.task_delayacct=1\` during the runs; the tracers write to files in \`$(dirname "$work")\` ($fstype), deleted once sized." \
	""
if [[ " $MODES" == *" on-"* ]]; then
	md "- jschedlat: \`bin/jschedlat attach PID -o FILE\` (defaults: min latency 1 ms, dump budget 0.1%), records CSV."
fi
if [ "$(nruns_of perf-sched)" -gt 0 ]; then
	md "- perf: \`$perf_bin\` ($("$perf_bin" --version 2>&1 | head -1)), \`perf sched record -a -o FILE\` system-wide, with \`-- sleep\` as its workload only so that the script knows when its events are enabled."
fi
if [ "$(nruns_of runqslower)" -gt 0 ]; then
	if [ "$rq_kind" = libbpf ]; then
		md "- runqslower: libbpf-tools' \`$rq_bin\` (bcc's tool built CO-RE), at its default threshold (10000 µs), system-wide, stdout to a file."
	else
		md "- runqslower: bcc's \`$rq_bin\` (libbpf-tools' is not installed), at its default threshold (10000 µs), system-wide, stdout to a file."
	fi
fi
# Why bcc's own runqslower is not the one measured (unless the skip says it).
if [ -n "$bpfcc_note" ] && [ -z "${skipped[runqslower]:-}" ] && [ "$rq_kind" != bcc ]; then md "- $bpfcc_note."; fi
for m in "${modes[@]}"; do
	[ -z "${skipped[$m]:-}" ] || md "- **Skipped** $m$([ "$(nruns_of "$m")" -gt 0 ] && echo " after $(nruns_of "$m") run(s)"): ${skipped[$m]}."
done
md "" \
	"| variant | runs | requests/s | × | JVM CPU µs per request | × | JVM run_delay ms/s | × | context switches/s | × | tracer CPU ms/s | tracer events/s | output KiB/s | target |" \
	"|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for m in "${modes[@]}"; do
	n=$(nruns_of "$m")
	t="—"
	[ "$m" = on-defaults ] && t=$verdict_def
	if [ "$n" = 0 ]; then
		md "| $(label "$m") | 0 | skipped | | | | | | | | | | | |"
		continue
	fi
	md "| $(label "$m") | $n | $(cell "$m" 3 –) | $(ratio "$m" 3) | $(cell "$m" 12 –) | $(ratio "$m" 12) | $(cell "$m" 4 –) | $(ratio "$m" 4) | $(cell "$m" 5 –) | $(ratio "$m" 5) | $(cell "$m" 7 –) | $(cell "$m" 6 –) | $(cell "$m" 10 –) | $t |"
done
md ""
if [ "$FRESH" != 1 ] && [ "$(nruns_of off)" -gt 1 ]; then
	pr=()
	for m in "${modes[@]}"; do
		[ "$m" != off ] && [ "$(nruns_of "$m")" -gt 1 ] || continue
		r=$(prange "$m" 3 –)
		[ -z "$r" ] || pr+=("$(label "$m") $r")
	done
	[ "${#pr[@]}" -eq 0 ] || md "Throughput ratios to the untraced run of the same JVM, min–max over the repetitions: $(printf '%s; ' "${pr[@]}" | sed 's/; $//')."
fi
if [ -n "$noise" ]; then
	md "Noise: the untraced runs alone spread (max − min over median$([ "$FRESH" = 1 ] || echo ", across JVMs")) $noise in requests/s, CPU per request, run_delay and context switches/s; load average $(cut -d' ' -f1-3 /proc/loadavg) at the end."
else
	md "Load average $(cut -d' ' -f1-3 /proc/loadavg) at the end (one untraced run: no measure of the noise)."
fi
if [ "$(nruns_of perf-sched)" -gt 0 ]; then
	mapfile -t v < <(col perf-sched 11)
	read -r pm plo phi <<<"$(stats "${v[@]}")"
	md "perf's data file: $(awk -v m="$pm" -v lo="$plo" -v hi="$phi" 'BEGIN { printf "%.1f [%.1f–%.1f] MiB", m / 1048576, lo / 1048576, hi / 1048576 }') per run (recording from the start of tracing to the SIGINT, about ${W} s plus the start-up), $(cell perf-sched 10 –) KiB/s."
fi
lostrows=$(awk -F'\t' '$8 != "NA" && $8 > 0 { s[$1] += $8 } END { for (m in s) printf "%s%s: %d", (n++ ? "; " : ""), m, s[m] }' "$results")
md "Lost events reported by the tracers: ${lostrows:-none}." ""
md "Target: throughput at jschedlat defaults ≥ $(awk -v p="$TPUT_PCT" 'BEGIN { print 100 - p }')% of untraced: $t_tput" "" \
	"Target: JVM run_delay at jschedlat defaults ≤ $(awk -v p="$TARGET_PCT" 'BEGIN { print 100 + p }')% of untraced: $t_rd" "" \
	"Target: cost at jschedlat defaults far below perf sched record (throughput loss ≤ 1/$FAR of perf's): $t_far" ""
md_cmds "$cmds"
