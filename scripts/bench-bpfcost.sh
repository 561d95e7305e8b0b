#!/usr/bin/env bash
# bench-bpfcost: what each of jschedlat's BPF programs costs per invocation.
#
# Enables kernel.bpf_stats_enabled=1 (restored on exit) and measures, for
# each scenario (a workload at a low or a high context-switch rate), each
# way of tracing it and each kind of BPF attachment, the run_time_ns and
# run_cnt the kernel accounts to every program the measuring jschedlat holds:
# two snapshots S seconds apart (bench/bpfstats, with github.com/cilium/ebpf:
# no bpftool needed). Reports calls/s and ns/call per program.
#
# Scenarios (one workload per scenario and repetition; the variants attach
# to it one after the other):
#   jvm    low rate: a saturated Workload JVM (WORKERS workers + 2 hogs on
#          the CPUs, ~2k switches/s)
#   storm  high rate: bench/storm (PAIRS thread pairs ping-ponging through
#          pipes, paced to STORM_RATE round trips/s, ~2 switches each) plus
#          a light Workload JVM (STORM_JVM_ARGS) to trace by PID or set
# Variants: traced mode x attachment (--bpf-attach tp_btf | raw_tp):
#   pid    attach JVMPID: a task is traced when its tgid equals the target
#   set    attach --jvm PATTERN (follow mode): the tgid is looked up in a
#          bitmap of traced processes on every call
#   all    attach --all: every task (storm only, STORM_MODES)
# Reference (REF=runqslower, when libbpf-tools' runqslower is installed):
# `runqslower -p JVMPID 1000`, the tool people use today, same threshold
# as jschedlat's default, measured in the same windows as one more variant
# (its own choice of attachment; not held to the target).
# The variants run in a fixed order in odd repetitions and in the reverse
# order (scenarios too) in even ones. Target: sched_switch <= TARGET_NS
# ns/call (the median of every variant).
#
# Usage (root): scripts/bench-bpfcost.sh
#   With MD=FILE set (scripts/bench.sh does), it also appends its markdown
#   fragment to FILE.
# Environment (defaults in brackets; the defaults take about 4 minutes):
#   R [3] repetitions   S [4] seconds between the snapshots
#   SETTLE [1] s after attaching   WARMUP [2] s of workload before the first
#   SCENARIOS ["jvm storm"]   ATTACHES ["tp_btf raw_tp"]
#   JVM_MODES ["pid set"]   STORM_MODES ["all pid set"]
#   STORM_RATE [225000] storm round trips/s (~450k switches/s; 0 = unpaced)
#   PAIRS [4] storm thread pairs   PIN [1]   WORKERS [6] Workload --workers
#   STORM_JVM_ARGS ["--workers 1 --hogs 0"] the JVM beside the storm
#   EXTRA [""] more attach flags for every variant (e.g. "--min-latency 0")
#   PREFIX [runq_] program name prefix   TARGET_NS [400]
#   JAVA [java]  JAVAC [javac]  JAVA_OPTS [""]   KEEP [0] 1 = keep the work dir
#   BIN [bin/jschedlat] the binary to measure (to compare two builds)
#   REF [runqslower] the reference tracer ("" = none)
#   RUNQSLOWER [runqslower in PATH or /usr/sbin] libbpf-tools' runqslower
#   TITLE ["2. Kernel-side cost"] heading of the markdown fragment
# shellcheck disable=SC2016 # backquotes in single quotes are markdown
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

R=${R:-3} S=${S:-4} SETTLE=${SETTLE:-1} WARMUP=${WARMUP:-2}
SCENARIOS=${SCENARIOS:-jvm storm} ATTACHES=${ATTACHES:-tp_btf raw_tp}
JVM_MODES=${JVM_MODES:-pid set} STORM_MODES=${STORM_MODES:-all pid set}
STORM_RATE=${STORM_RATE:-225000} PAIRS=${PAIRS:-4} PIN=${PIN:-1} WORKERS=${WORKERS:-6}
STORM_JVM_ARGS=${STORM_JVM_ARGS:---workers 1 --hogs 0} EXTRA=${EXTRA:-}
PREFIX=${PREFIX:-runq_} TARGET_NS=${TARGET_NS:-400}
JAVA=${JAVA:-java} JAVAC=${JAVAC:-javac} JAVA_OPTS=${JAVA_OPTS:-} KEEP=${KEEP:-0}
BIN=${BIN:-bin/jschedlat} TITLE=${TITLE:-2. Kernel-side cost}
REF=${REF-runqslower}
RUNQSLOWER=${RUNQSLOWER:-$(command -v runqslower || echo /usr/sbin/runqslower)}

die() { echo "bench-bpfcost: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF, sets sysctl kernel.bpf_stats_enabled): sudo $0"
[ -x "$BIN" ] || die "$BIN missing: run make build"
"$BIN" attach --help 2>&1 | grep -q -- --bpf-attach || die "$BIN has no attach --bpf-attach: rebuild it (make build)"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found: needed to build the helpers bench/bpfstats and bench/storm"
[ -e /proc/sys/kernel/bpf_stats_enabled ] || die "kernel without kernel.bpf_stats_enabled (needs Linux >= 5.8)"
for n in R S SETTLE WARMUP STORM_RATE PAIRS WORKERS TARGET_NS; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
[ "$S" -ge 1 ] && [ "$R" -ge 1 ] && [ "$PAIRS" -ge 1 ] || die "S, R and PAIRS must be >= 1"
for sc in $SCENARIOS; do case $sc in jvm | storm) ;; *) die "unknown scenario $sc (jvm, storm)" ;; esac; done
for a in $ATTACHES; do case $a in tp_btf | raw_tp) ;; *) die "unknown attachment $a (tp_btf, raw_tp)" ;; esac; done
for m in $JVM_MODES; do case $m in pid | set | all) ;; *) die "unknown JVM_MODES mode $m (pid, set, all)" ;; esac; done
for m in $STORM_MODES; do case $m in pid | set | all) ;; *) die "unknown STORM_MODES mode $m (pid, set, all)" ;; esac; done
[ -n "$SCENARIOS" ] && [ -n "$ATTACHES" ] || die "SCENARIOS and ATTACHES must not be empty"
ref_note=""
case $REF in
"") ;;
runqslower)
	if [ ! -x "$RUNQSLOWER" ]; then
		ref_note="libbpf-tools' runqslower is not installed ($RUNQSLOWER; apt-get install libbpf-tools): no reference row"
		echo "bench-bpfcost: $ref_note" >&2
		REF=""
	fi
	;;
*) die "unknown REF $REF (runqslower or empty)" ;;
esac
for t in "$JAVA" "$JAVAC"; do
	command -v "$t" >/dev/null || die "$t not found: install a JDK (apt-get install openjdk-17-jdk-headless)"
done

work=$(mktemp -d /tmp/bench-bpfcost.XXXXXX)
old_stats=$(cat /proc/sys/kernel/bpf_stats_enabled)
jvm="" storm="" js=""
stop_loads() {
	local p
	for p in $js $storm $jvm; do kill "$p" 2>/dev/null || true; done
	for p in $js $storm $jvm; do wait "$p" 2>/dev/null || true; done
	js="" storm="" jvm=""
}
cleanup() {
	stop_loads
	sysctl -qw kernel.bpf_stats_enabled="$old_stats" || true
	if [ "$KEEP" = 1 ]; then echo "bench-bpfcost: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/bpfstats" ./bench/bpfstats
go build -o "$work/storm" ./bench/storm
mkdir -p "$work/classes"
"$JAVAC" -d "$work/classes" testdata/java/Workload.java
# Follow mode picks the bench's JVM by its class path: no other JVM of the
# host (and no JVM of an earlier scenario) joins the set.
pattern=${work//./\\.}/classes
cmds=$work/commands.txt
: >"$cmds"
# cmd SUFFIX ARGS...: notes the exact command (shell-quoted) plus SUFFIX
# (a redirection, &) in the list of commands and prints it.
cmd() {
	local s=$1 c
	shift
	c=$(printf '%q ' "$@")
	c=${c% }${s:+ $s}
	printf '%s\n' "$c" >>"$cmds"
	echo "  \$ $c"
}
started=$(date +%s)
# The fragment's heading notes the time and load at the start.
MD=${MD:+$work/head.md} md_begin "$TITLE"
echo "== bench-bpfcost: ns per BPF program invocation (kernel.bpf_stats_enabled=1, was $old_stats)"
echo "machine: $(md_machine)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $(md_commit)"
settings="R=$R S=${S}s SETTLE=${SETTLE}s WARMUP=${WARMUP}s SCENARIOS='$SCENARIOS' ATTACHES='$ATTACHES' JVM_MODES='$JVM_MODES' STORM_MODES='$STORM_MODES' STORM_RATE=$STORM_RATE PAIRS=$PAIRS PIN=$PIN WORKERS=$WORKERS STORM_JVM_ARGS='$STORM_JVM_ARGS' EXTRA='$EXTRA'"
echo "settings: $settings target: sched_switch <= ${TARGET_NS} ns/call"
cmd "" sysctl -w kernel.bpf_stats_enabled=1
sysctl -qw kernel.bpf_stats_enabled=1
echo

results=$work/results.tsv
: >"$results"
read -r -a scenarios <<<"$SCENARIOS"
read -r -a attaches <<<"$ATTACHES"
read -r -a extra <<<"$EXTRA"
pin=$([ "$PIN" = 1 ] && echo true || echo false)
modes_of() { if [ "$1" = jvm ]; then echo "$JVM_MODES"; else echo "$STORM_MODES"; fi; }
nruns=0
for sc in "${scenarios[@]}"; do
	read -r -a ms <<<"$(modes_of "$sc")"
	nruns=$((nruns + R * (${#ms[@]} * ${#attaches[@]} + (${#REF} > 0))))
done
run=0
# Generous: a variant takes SETTLE + S plus attaching and stopping.
per_variant=$((SETTLE + S + 20))

# attached LOG MODE JVMPID: the line that says tracing has begun.
attached() {
	case $2 in
	set) grep -m1 "msg=\"tracing JVM\" pid=$3 " "$1" ;;
	*) grep -m1 'msg=tracing ' "$1" ;;
	esac
}

# run_ref SCENARIO REP: the reference tracer, as one more variant.
run_ref() {
	local sc=$1 rep=$2 log out att
	run=$((run + 1))
	log=$work/ref-$run.err
	local rcmd=("$RUNQSLOWER" -p "$jvm" 1000)
	echo "run $run/$nruns rep $rep $sc reference $REF   load avg $(cut -d' ' -f1-3 /proc/loadavg)"
	cmd ">/dev/null 2>$log &" "${rcmd[@]}"
	"${rcmd[@]}" >/dev/null 2>"$log" &
	js=$!
	sleep $((SETTLE + 2)) # it prints nothing when attached; loading takes well under 1 s
	kill -0 "$js" 2>/dev/null || { cat "$log" >&2; die "$RUNQSLOWER exited early ($sc)"; }
	cmd "" "$work/bpfstats" -pid "$js" -interval "${S}s" sched_
	out=$("$work/bpfstats" -pid "$js" -interval "${S}s" sched_) || { cat "$log" >&2; die "bpfstats failed (reference, $sc)"; }
	cmd "" kill -INT "$js"
	kill -INT "$js" 2>/dev/null || true
	wait "$js" 2>/dev/null || true
	js=""
	grep -q 'name=sched_switch ' <<<"$out" || { printf '%s\n' "$out" "$(cat "$log")" >&2; die "no sched_switch program held by $RUNQSLOWER ($sc)"; }
	while read -r l; do echo "  ${l#bpfstats: }"; done <<<"$out"
	# Its attachment, from the program type: Tracing is tp_btf.
	att=$(grep -m1 'name=sched_switch ' <<<"$out" | grep -oE 'type=[A-Za-z]+' | cut -d= -f2)
	case $att in Tracing) att=tp_btf ;; RawTracepoint) att=raw_tp ;; esac
	parse_stats "$sc" ref "$att" "$rep" <<<"$out" >>"$results"
}

# parse_stats SCENARIO MODE ATTACHMENT REP < bpfstats output: result rows
# (scenario mode attachment rep program calls/s ns/call, "" without calls).
parse_stats() {
	awk -v sc="$1" -v mode="$2" -v att="$3" -v rep="$4" '{
		delete v
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (!("calls_per_s" in v)) next
		p = v["name"]; h = p; sub(/^runq_(btf|raw)_/, "", h)
		if (p != h) p = (h == "switch" ? "sched_switch" : h == "wake" ? "sched_wakeup" : h == "wnew" ? "sched_wakeup_new" : h == "exit" ? "sched_process_exit" : h == "rename" ? "task_rename" : p)
		else if (p !~ /^sched_/) p = "uprobe " p # runqslower names its programs after their tracepoints
		printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", sc, mode, att, rep, p, v["calls_per_s"], (v["calls"] > 0 ? v["ns_per_call"] : "")
	}'
}

run_variant() { # scenario mode attachment rep
	local sc=$1 mode=$2 att=$3 rep=$4 jlog out rc=0 got i
	if [ "$mode" = ref ]; then
		run_ref "$sc" "$rep"
		return
	fi
	run=$((run + 1))
	jlog=$work/js-$run.err
	local jcmd=("$BIN" attach)
	case $mode in
	pid) jcmd+=("$jvm") ;;
	set) jcmd+=(--jvm "$pattern") ;;
	all) jcmd+=(--all) ;;
	esac
	jcmd+=(--bpf-attach "$att" "${extra[@]}" --duration "${per_variant}s" -o /dev/null)
	echo "run $run/$nruns rep $rep $sc $mode $att   load avg $(cut -d' ' -f1-3 /proc/loadavg)"
	cmd "2>$jlog &" "${jcmd[@]}"
	"${jcmd[@]}" 2>"$jlog" &
	js=$!
	for i in $(seq 150); do # wait until attached (up to 15 s)
		attached "$jlog" "$mode" "$jvm" >/dev/null && break
		kill -0 "$js" 2>/dev/null || break
		sleep 0.1
	done
	attached "$jlog" "$mode" "$jvm" >/dev/null || { cat "$jlog" >&2; die "jschedlat did not attach ($sc $mode $att)"; }
	got=$(grep -m1 -oE 'attachment=[a-z_]+' "$jlog" | cut -d= -f2)
	[ "$got" = "$att" ] || { cat "$jlog" >&2; die "asked for $att, jschedlat attached ${got:-?}"; }
	sleep "$SETTLE"
	cmd "" "$work/bpfstats" -pid "$js" -interval "${S}s" "$PREFIX"
	out=$("$work/bpfstats" -pid "$js" -interval "${S}s" "$PREFIX") || { cat "$jlog" >&2; die "bpfstats failed ($sc $mode $att)"; }
	cmd "" kill -TERM "$js"
	kill -TERM "$js" 2>/dev/null || true
	wait "$js" || rc=$?
	js=""
	[ "$rc" = 0 ] || { cat "$jlog" >&2; die "jschedlat failed (exit $rc, $sc $mode $att)"; }
	echo "  jschedlat: $(grep -m1 '^jschedlat: traced=' "$jlog" | sed 's/^jschedlat: //')"
	while read -r l; do echo "  ${l#bpfstats: }"; done <<<"$out"
	parse_stats "$sc" "$mode" "$att" "$rep" <<<"$out" >>"$results"
}

start_loads() { # scenario
	local jargs
	if [ "$1" = jvm ]; then
		jargs=(--workers "$WORKERS")
	else
		read -r -a jargs <<<"$STORM_JVM_ARGS"
		local scmd=("$work/storm" -pairs "$PAIRS" -pin="$pin" -rate "$STORM_RATE" -duration "${life}s")
		cmd "&" "${scmd[@]}"
		"${scmd[@]}" >"$work/storm.out" 2>&1 &
		storm=$!
	fi
	local wcmd=("$JAVA")
	# shellcheck disable=SC2206 # JAVA_OPTS is a list of options
	[ -n "$JAVA_OPTS" ] && wcmd+=($JAVA_OPTS)
	wcmd+=(-cp "$work/classes" Workload --seconds "$life" "${jargs[@]}")
	cmd "&" "${wcmd[@]}"
	"${wcmd[@]}" >"$work/jvm.out" 2>&1 &
	jvm=$!
	sleep "$WARMUP"
	kill -0 "$jvm" 2>/dev/null || { cat "$work/jvm.out" >&2; die "the Workload JVM exited early ($1)"; }
	[ -z "$storm" ] || kill -0 "$storm" 2>/dev/null || { cat "$work/storm.out" >&2; die "the storm exited early"; }
}

for rep in $(seq "$R"); do
	order=("${scenarios[@]}")
	if [ $((rep % 2)) = 0 ]; then order=(); for ((i = ${#scenarios[@]} - 1; i >= 0; i--)); do order+=("${scenarios[i]}"); done; fi
	for sc in "${order[@]}"; do
		read -r -a ms <<<"$(modes_of "$sc")"
		variants=()
		for m in "${ms[@]}"; do for a in "${attaches[@]}"; do variants+=("$m $a"); done; done
		[ -z "$REF" ] || variants+=("ref auto")
		if [ $((rep % 2)) = 0 ]; then
			rev=(); for ((i = ${#variants[@]} - 1; i >= 0; i--)); do rev+=("${variants[i]}"); done
			variants=("${rev[@]}")
		fi
		life=$((WARMUP + ${#variants[@]} * per_variant + 10)) # outlives the variants; killed after them
		echo "rep $rep scenario $sc: starting the workload"
		start_loads "$sc"
		for v in "${variants[@]}"; do
			# shellcheck disable=SC2086 # "mode attachment"
			run_variant "$sc" $v "$rep"
		done
		# shellcheck disable=SC2086 # one or two PIDs
		cmd "" kill $storm $jvm
		stop_loads
	done
done
elapsed=$(($(date +%s) - started))

# ---- report ----
# vals SCENARIO MODE ATT PROGRAM COLUMN: that column of the matching runs.
vals() { awk -F'\t' -v s="$1" -v m="$2" -v a="$3" -v p="$4" -v c="$5" '$1 == s && $2 == m && $3 == a && $5 == p && $c != "" { print $c }' "$results"; }
median() { stats "$@" | cut -d' ' -f1; }
# joined A B C: "A, B and C".
joined() {
	local out=$1
	shift
	while [ $# -gt 1 ]; do out="$out, $1"; shift; done
	[ $# = 0 ] || out="$out and $1"
	printf '%s' "$out"
}
label() {
	case $1 in
	jvm) printf 'low: saturated JVM' ;;
	storm) printf 'high: storm + light JVM' ;;
	esac
}
traced() {
	case $1 in
	pid) printf '`attach PID`' ;;
	set) printf '`attach --jvm PATTERN` (set)' ;;
	all) printf '`attach --all`' ;;
	ref) printf 'reference: libbpf-tools `runqslower -p PID 1000`' ;;
	esac
}
# rows SCENARIO: the "mode attachment" pairs of its table rows, the
# reference last (with the attachment it chose).
rows() {
	local m a
	read -r -a ms <<<"$(modes_of "$1")"
	for m in "${ms[@]}"; do for a in "${attaches[@]}"; do echo "$m $a"; done; done
	awk -F'\t' -v s="$1" '$1 == s && $2 == "ref" && !seen[$3]++ { print "ref " $3 }' "$results"
}

frag=$work/fragment.md
{
	ref_desc=""
	[ -z "$REF" ] || ref_desc=" For reference, libbpf-tools' runqslower (the CO-RE build of bcc's tool) is measured the same way in the same workloads, tracing the JVM's PID at jschedlat's default threshold (\`runqslower -p PID 1000\`)."
	desc=()
	for sc in "${scenarios[@]}"; do
		case $sc in
		jvm) desc+=("a low context-switch rate (a Workload JVM with ${WORKERS} workers and 2 CPU hogs, saturating the CPUs)") ;;
		storm) desc+=("a high one (\`bench/storm\`: ${PAIRS} thread pairs ping-ponging through pipes, paced to $(num %d "$STORM_RATE") round trips/s, about two switches each, next to a light Workload JVM)") ;;
		esac
	done
	used=$(for sc in "${scenarios[@]}"; do modes_of "$sc"; echo; done)
	ways=()
	grep -qw pid <<<"$used" && ways+=("as one PID (\`attach PID\`: the tgid is compared with the target's)")
	grep -qw set <<<"$used" && ways+=("as a set (\`attach --jvm PATTERN\`, follow mode: the tgid is looked up in a bitmap on every call)")
	grep -qw all <<<"$used" && ways+=("as all tasks (\`attach --all\`)")
	printf '%s\n\n' "What each BPF program costs per call, from the kernel's own accounting (\`kernel.bpf_stats_enabled=1\`, which adds two clock reads of its own to every call): \`bench/bpfstats\` reads run_time_ns and run_cnt of the programs the measured jschedlat holds, twice, ${S} s apart, ${SETTLE} s after it attached. Scenarios: $(joined "${desc[@]}"). Each workload is traced $(joined "${ways[@]}"), each way with $(printf '`--bpf-attach %s` ' "${attaches[@]}" | sed 's/ $//; s/` `/` and `/g'). One workload per scenario and repetition; the variants attach to it one after the other, in the reverse order (scenarios too) every other repetition. sched_switch runs on every context switch of the host whatever is traced, so its calls/s is the host's switch rate.$ref_desc"
	printf 'Settings: `%s`, default min latency (1 ms)%s; %s s in all.\n\n' "$settings" "${EXTRA:+ plus \`$EXTRA\`}" "$elapsed"
	printf '| scenario | traced | attachment | sched_switch calls/s | sched_switch ns/call | sched_wakeup calls/s | sched_wakeup ns/call | target (sched_switch ≤ %s ns/call) |\n' "$TARGET_NS"
	printf '|---|---|---|---|---|---|---|---|\n'
	worst="" worst_ns=-1 verdict=met
	for sc in "${scenarios[@]}"; do
		while read -r m a; do
			{
				mapfile -t sw_ns < <(vals "$sc" "$m" "$a" sched_switch 7)
				mapfile -t sw_c < <(vals "$sc" "$m" "$a" sched_switch 6)
				mapfile -t wk_ns < <(vals "$sc" "$m" "$a" sched_wakeup 7)
				mapfile -t wk_c < <(vals "$sc" "$m" "$a" sched_wakeup 6)
				if [ "$m" = ref ]; then
					t="— (not jschedlat)"
				elif [ ${#sw_ns[@]} -eq 0 ]; then
					t="missed (no calls)" verdict=missed
				else
					med=$(median "${sw_ns[@]}")
					if awk -v x="$med" -v t="$TARGET_NS" 'BEGIN { exit !(x <= t) }'; then t=met; else t=missed verdict=missed; fi
					if awk -v x="$med" -v w="$worst_ns" 'BEGIN { exit !(x > w) }'; then worst_ns=$med worst="$sc $m $a"; fi
				fi
				printf '| %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$sc")" "$(traced "$m")" "$a" \
					"$(cell %.0f "${sw_c[@]}")" "$(cell %.0f "${sw_ns[@]}")" "$(cell %.0f "${wk_c[@]}")" "$(cell %.0f "${wk_ns[@]}")" "$t"
			} </dev/null
		done < <(rows "$sc")
	done
	printf '\n'
	# The rare programs (births, exits, renames, HotSpot's uprobes): one
	# column each, headed by its median calls/s over all runs.
	others=() idle=()
	while read -r p; do
		[ -n "$p" ] || continue
		if [ -n "$(awk -F'\t' -v p="$p" '$5 == p && $7 != "" { print; exit }' "$results")" ]; then others+=("$p"); else idle+=("$p"); fi
	done < <(awk -F'\t' '$5 != "sched_switch" && $5 != "sched_wakeup" && !seen[$5]++ { print $5 }' "$results")
	if [ ${#others[@]} -gt 0 ]; then
		printf 'The other programs, ns/call (over the runs in which they were called; calls/s: median of all runs):\n\n| scenario | traced | attachment |'
		for p in "${others[@]}"; do
			mapfile -t c < <(awk -F'\t' -v p="$p" '$5 == p { print $6 }' "$results")
			printf ' %s (%s/s) |' "$p" "$(LC_ALL=C awk -v x="$(median "${c[@]}")" 'BEGIN { printf (x < 10 ? "%.1f" : "%.0f"), x }')"
		done
		printf '\n|---|---|---|%s\n' "$(printf -- '---|%.0s' "${others[@]}")"
		for sc in "${scenarios[@]}"; do
			while read -r m a; do
				printf '| %s | %s | %s |' "$(label "$sc")" "$(traced "$m")" "$a"
				for p in "${others[@]}"; do
					mapfile -t c < <(vals "$sc" "$m" "$a" "$p" 6)
					mapfile -t n < <(vals "$sc" "$m" "$a" "$p" 7)
					nc=$(cell %.0f "${n[@]}")
					[ ${#c[@]} -gt 0 ] || nc="—"
					[ ${#c[@]} -eq 0 ] || [ ${#n[@]} -eq ${#c[@]} ] || nc="$nc (${#n[@]} of ${#c[@]} runs)"
					printf ' %s |' "$nc"
				done
				printf '\n'
			done < <(rows "$sc")
		done
		printf '\n'
	fi
	[ ${#idle[@]} -eq 0 ] || printf 'Not called in any window: %s.\n\n' "$(printf '%s, ' "${idle[@]}" | sed 's/, $//')"
	printf '%s\n\n' "sched_wakeup_new: for a JVM whose HotSpot thread__start probe is not attached (built without it, or the uprobe refused), jschedlat's birth record wakes its reader at once, because a dump must name a new thread before it may end; that wakeup is most of its cost per call (about 8–12 µs here; the comment in \`lifecycle\`, bpf/runqlat.bpf.c, gives the A/B). With the probe, as here, the thread names itself and the birth waits for the next drain."
	# Differences of the sched_switch medians: the bitmap lookup (set - pid)
	# and the attachment (raw_tp / tp_btf).
	diffs=()
	for sc in "${scenarios[@]}"; do
		ml=" $(modes_of "$sc") "
		[[ $ml == *" pid "* && $ml == *" set "* ]] || continue
		for a in "${attaches[@]}"; do
			mapfile -t x < <(vals "$sc" set "$a" sched_switch 7)
			mapfile -t y < <(vals "$sc" pid "$a" sched_switch 7)
			[ ${#x[@]} -gt 0 ] && [ ${#y[@]} -gt 0 ] || continue
			diffs+=("$sc $a $(awk -v x="$(median "${x[@]}")" -v y="$(median "${y[@]}")" 'BEGIN { printf "%+.0f", x - y }') ns")
		done
	done
	[ ${#diffs[@]} -eq 0 ] || printf 'Set instead of PID (the bitmap lookup), difference of the sched_switch medians: %s.\n' "$(printf '%s, ' "${diffs[@]}" | sed 's/, $//')"
	ratios=()
	if [[ " $ATTACHES " == *" tp_btf "* && " $ATTACHES " == *" raw_tp "* ]]; then
		for sc in "${scenarios[@]}"; do
			read -r -a ms <<<"$(modes_of "$sc")"
			for m in "${ms[@]}"; do
				mapfile -t x < <(vals "$sc" "$m" raw_tp sched_switch 7)
				mapfile -t y < <(vals "$sc" "$m" tp_btf sched_switch 7)
				[ ${#x[@]} -gt 0 ] && [ ${#y[@]} -gt 0 ] || continue
				ratios+=("$sc $m $(awk -v x="$(median "${x[@]}")" -v y="$(median "${y[@]}")" 'BEGIN { printf "%.2f", (y > 0 ? x / y : 0) }')")
			done
		done
	fi
	[ ${#ratios[@]} -eq 0 ] || printf 'raw_tp / tp_btf, ratio of the sched_switch medians: %s.\n' "$(printf '%s, ' "${ratios[@]}" | sed 's/, $//')"
	# The reference against jschedlat tracing the same PID the same way.
	refs=()
	for sc in "${scenarios[@]}"; do
		while read -r m a; do
			[ "$m" = ref ] || continue
			mapfile -t x < <(vals "$sc" ref "$a" sched_switch 7)
			mapfile -t y < <(vals "$sc" pid "$a" sched_switch 7)
			mapfile -t xc < <(vals "$sc" ref "$a" sched_switch 6)
			mapfile -t yc < <(vals "$sc" pid "$a" sched_switch 6)
			[ ${#x[@]} -gt 0 ] && [ ${#y[@]} -gt 0 ] || continue
			refs+=("$(label "$sc"): its sched_switch costs $(awk -v x="$(median "${x[@]}")" -v y="$(median "${y[@]}")" 'BEGIN { printf "%.1f", (y > 0 ? x / y : 0) }')× jschedlat's (\`attach PID\`, $a), and the host switched $(awk -v x="$(median "${xc[@]}")" -v y="$(median "${yc[@]}")" 'BEGIN { printf "%.2f", (y > 0 ? x / y : 0) }')× as often while it ran")
		done < <(rows "$sc")
	done
	[ ${#refs[@]} -eq 0 ] || printf 'runqslower against jschedlat on the same workload (ratios of the medians; runqslower sends every wait over its threshold to user space through a perf buffer that wakes its reader per event): %s.\n' "$(printf '%s; ' "${refs[@]}" | sed 's/; $//')"
	[ -z "$ref_note" ] || printf '%s.\n' "${ref_note^}"
	# The line scripts/bench.sh collects into the summary of targets.
	printf '\nTarget: median sched_switch ≤ %s ns/call in every variant: %s%s\n\n' "$TARGET_NS" "$verdict" \
		"$([ -n "$worst" ] && printf ' (highest median %.0f ns, %s)' "$worst_ns" "$worst")"
	printf 'Cells: median [min–max] over %s runs per variant.\n\n' "$R"
} >"$frag"

echo
echo "== results"
cat "$frag"
if [ -n "${MD:-}" ]; then
	cat "$work/head.md" "$frag" >>"$MD"
	md_cmds "$cmds"
fi
