#!/usr/bin/env bash
# bench-bpfcost: what each of jschedlat's BPF programs costs per invocation.
#
# Enables kernel.bpf_stats_enabled=1 (restored on exit) and, for each
# scenario, starts a workload, attaches jschedlat to it and, while it runs,
# takes two snapshots S seconds apart of run_time_ns and run_cnt of the
# programs jschedlat holds (bench/bpfstats, with github.com/cilium/ebpf: no
# bpftool needed). Prints calls/s and ns/call per program; target: <= 400 ns
# per call for sched_switch.
# Scenarios:
#   jvm-defaults       Workload JVM, bin/jschedlat attach PID (defaults)
#   jvm-min0           Workload JVM, --min-latency 0
#   storm-all-defaults context-switch storm, --all
#   storm-all-min0     context-switch storm, --all --min-latency 0 --kind all
#
# Usage (root): scripts/bench-bpfcost.sh
# Environment (defaults in brackets; the defaults take about 1 minute):
#   S [5] seconds between the snapshots   SETTLE [2] s after attaching
#   WARMUP [2] s of workload before attaching   R [1] repetitions
#   SCENARIOS ["jvm-defaults jvm-min0 storm-all-defaults storm-all-min0"]
#   STORM_RATE [225000] storm round trips/s (~450k switches/s; 0 = unpaced)
#   PAIRS [4] storm thread pairs   PIN [1]   WORKERS [6] Workload --workers
#   PREFIX [runq_] program name prefix   TARGET_NS [400]
#   JAVA [java]  JAVAC [javac]  JAVA_OPTS [""]   KEEP [0] 1 = keep the work dir
#   BIN [bin/jschedlat] the binary to measure (to compare two builds)
set -euo pipefail
cd "$(dirname "$0")/.."

S=${S:-5} SETTLE=${SETTLE:-2} WARMUP=${WARMUP:-2} R=${R:-1}
SCENARIOS=${SCENARIOS:-jvm-defaults jvm-min0 storm-all-defaults storm-all-min0}
STORM_RATE=${STORM_RATE:-225000} PAIRS=${PAIRS:-4} PIN=${PIN:-1} WORKERS=${WORKERS:-6}
PREFIX=${PREFIX:-runq_} TARGET_NS=${TARGET_NS:-400}
JAVA=${JAVA:-java} JAVAC=${JAVAC:-javac} JAVA_OPTS=${JAVA_OPTS:-} KEEP=${KEEP:-0}
BIN=${BIN:-bin/jschedlat}

die() { echo "bench-bpfcost: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF, sets sysctl kernel.bpf_stats_enabled): sudo $0"
[ -x "$BIN" ] || die "$BIN missing: run make build"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found: needed to build the helpers bench/bpfstats and bench/storm"
[ -e /proc/sys/kernel/bpf_stats_enabled ] || die "kernel without kernel.bpf_stats_enabled (needs Linux >= 5.8)"
for n in S SETTLE WARMUP R STORM_RATE PAIRS WORKERS TARGET_NS; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
[ "$S" -ge 1 ] && [ "$R" -ge 1 ] && [ "$PAIRS" -ge 1 ] || die "S, R and PAIRS must be >= 1"
needjava=0
for sc in $SCENARIOS; do
	case $sc in
	jvm-defaults | jvm-min0) needjava=1 ;;
	storm-all-defaults | storm-all-min0) ;;
	*) die "unknown scenario $sc (jvm-defaults jvm-min0 storm-all-defaults storm-all-min0)" ;;
	esac
done
if [ "$needjava" = 1 ]; then
	for t in "$JAVA" "$JAVAC"; do
		command -v "$t" >/dev/null || die "$t not found: install a JDK (apt-get install openjdk-17-jdk-headless)"
	done
fi

work=$(mktemp -d /tmp/bench-bpfcost.XXXXXX)
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
load="" js=""
cleanup() {
	local p
	for p in $js $load; do kill "$p" 2>/dev/null || true; done
	for p in $js $load; do wait "$p" 2>/dev/null || true; done
	sysctl -qw kernel.bpf_stats_enabled="$old_stats" || true
	if [ "$KEEP" = 1 ]; then echo "bench-bpfcost: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/bpfstats" ./bench/bpfstats
go build -o "$work/storm" ./bench/storm
if [ "$needjava" = 1 ]; then
	mkdir -p "$work/classes"
	"$JAVAC" -d "$work/classes" testdata/java/Workload.java
fi
sysctl -qw kernel.bpf_stats_enabled=1

echo "== bench-bpfcost: ns per BPF program invocation (kernel.bpf_stats_enabled=1, was $old_stats)"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc), kernel $(uname -r)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git status --porcelain 2>/dev/null | grep -q . && echo ' (uncommitted changes)')"
echo "settings: S=${S}s SETTLE=${SETTLE}s WARMUP=${WARMUP}s R=$R STORM_RATE=$STORM_RATE PAIRS=$PAIRS PIN=$PIN PREFIX=$PREFIX target: sched_switch <= ${TARGET_NS} ns/call"
echo

results=$work/results.tsv
: >"$results"
read -r -a scenarios <<<"$SCENARIOS"
nruns=$((R * ${#scenarios[@]}))
run=0
life=$((WARMUP + SETTLE + S + 8)) # workload seconds: outlives jschedlat
trace=$((SETTLE + S + 3))          # jschedlat --duration, outlives the snapshots
pin=$([ "$PIN" = 1 ] && echo true || echo false)

for rep in $(seq "$R"); do
	for sc in "${scenarios[@]}"; do
		run=$((run + 1))
		echo "run $run/$nruns rep $rep $sc   load avg $(cut -d' ' -f1-3 /proc/loadavg)"
		case $sc in
		jvm-*)
			wcmd=("$JAVA")
			# shellcheck disable=SC2206 # JAVA_OPTS is a list of options
			[ -n "$JAVA_OPTS" ] && wcmd+=($JAVA_OPTS)
			wcmd+=(-cp "$work/classes" Workload --seconds "$life" --workers "$WORKERS")
			;;
		storm-*) wcmd=("$work/storm" -pairs "$PAIRS" -pin="$pin" -rate "$STORM_RATE" -duration "${life}s") ;;
		esac
		"${wcmd[@]}" >"$work/load-$run.out" 2>&1 &
		load=$!
		sleep "$WARMUP"
		kill -0 "$load" 2>/dev/null || { cat "$work/load-$run.out" >&2; die "the workload exited early ($sc)"; }
		case $sc in
		jvm-defaults) jcmd=("$BIN" attach "$load") ;;
		jvm-min0) jcmd=("$BIN" attach "$load" --min-latency 0) ;;
		storm-all-defaults) jcmd=("$BIN" attach --all) ;;
		storm-all-min0) jcmd=("$BIN" attach --all --min-latency 0 --kind all) ;;
		esac
		jcmd+=(--duration "${trace}s" -o /dev/null)
		echo "  \$ ${wcmd[*]} &"
		echo "  \$ ${jcmd[*]}"
		jlog=$work/js-$run.err
		"${jcmd[@]}" 2>"$jlog" &
		js=$!
		for i in $(seq 100); do # wait until attached (up to 10 s)
			grep -q 'msg=tracing' "$jlog" 2>/dev/null && break
			kill -0 "$js" 2>/dev/null || break
			sleep 0.1
		done
		grep -q 'msg=tracing' "$jlog" || { cat "$jlog" >&2; die "jschedlat did not attach ($sc)"; }
		att=$(sed -nE 's/.*msg=tracing.* attachment=([^ ]+).*/\1/p' "$jlog" | head -1)
		sleep "$SETTLE"
		echo "  \$ bpfstats -pid $js -interval ${S}s $PREFIX"
		out=$("$work/bpfstats" -pid "$js" -interval "${S}s" "$PREFIX") || { cat "$jlog" >&2; die "bpfstats failed ($sc)"; }
		rc=0
		wait "$js" || rc=$?
		js=""
		[ "$rc" = 0 ] || { cat "$jlog" >&2; die "jschedlat failed (exit $rc, $sc)"; }
		kill "$load" 2>/dev/null || true
		wait "$load" 2>/dev/null || true
		load=""
		sum=$(grep -m1 ' traced: ' "$jlog" || true)
		echo "  jschedlat: ${sum#jschedlat: }"
		while read -r l; do echo "  ${l#bpfstats: }"; done <<<"$out"
		# scenario rep attachment program calls/s ns/call
		awk -v sc="$sc" -v rep="$rep" -v att="${att:-?}" '{
			delete v
			for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
			if ("ns_per_call" in v) printf "%s\t%s\t%s\t%s\t%s\t%s\n", sc, rep, att, v["name"], v["calls_per_s"], v["ns_per_call"]
		}' <<<"$out" >>"$results"
		sleep 1
	done
done

echo
echo "== results: per program, mean over the snapshot window of each run; target: sched_switch <= ${TARGET_NS} ns/call"
awk -F'\t' -v tgt="$TARGET_NS" 'BEGIN {
	printf "%-20s %3s %-7s %-16s %12s %9s %11s  %s\n", "scenario", "rep", "attach", "program", "calls/s", "ns/call", "cpu us/s", "target"
}
{
	verdict = "-"
	if ($4 ~ /switch/) verdict = ($5 > 0 && $6 <= tgt) ? "PASS" : ($5 > 0 ? "MISS" : "MISS (no calls)")
	printf "%-20s %3s %-7s %-16s %12.1f %9s %11.1f  %s\n", $1, $2, $3, $4, $5, ($5 > 0 ? sprintf("%.1f", $6) : "-"), $5 * $6 / 1000, verdict
}' "$results"
echo "calls/s: invocations per second (sched_switch runs for every switch on the host, whatever is traced); cpu us/s: calls/s x ns/call, CPU time the program takes per second"
