#!/usr/bin/env bash
# bench-vthreads: how many waits of carrier threads carry the virtual thread
# that was mounted, against the ground truth the virtual threads write
# themselves, side by side with naming them from thread dumps.
#
# Per JDK with virtual threads found (Temurin 25 on this image, /opt/jdk21,
# /opt/jdk25 from scripts/fetch-test-jdks.sh, or JDKS="HOME ..."), R rounds;
# each round starts testdata/java/VWorkload.java (busy platform threads
# saturate the CPUs while virtual threads run short chunks and unmount all
# the time; each writes `<wall ns> <id> <carrier TID> <mark>` as it mounts,
# between chunks and before it may unmount) and runs, in turn (reversed
# every other round), each for W s with --min-latency 0:
#   defaults  bin/jschedlat attach PID (the kernel side reads the virtual
#             thread mounted on a carrier at its switch-out)
#   dumps     bin/jschedlat attach PID --dumps only --dump-interval 100ms
#             --dump-budget 100% (what earlier versions did: the virtual
#             thread a dump saw mounted, a dump every 100 ms)
# bench/vtcheck compares every virtual_thread written with the truth: a wait
# of a carrier whose last truth line before the wait began is a mount or a
# chunk (not a possible unmount) has a known virtual thread. Waits that
# began before tracing (their switch-out unseen) are counted apart.
# With MD set (scripts/bench.sh), also appends the markdown fragment.
#
# Usage (root): scripts/bench-vthreads.sh
# Environment (defaults in brackets): R [3] rounds  W [6] s  JDKS [found]
#   KEEP [0]  TITLE the fragment's heading
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

R=${R:-3} W=${W:-6} KEEP=${KEEP:-0}
TITLE=${TITLE:-9. Virtual threads at the switch-out}

die() { echo "bench-vthreads: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF): sudo $0"
for n in R W; do [[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"; done
[ -x bin/jschedlat ] || die "bin/jschedlat missing: run make build"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin

# feature: the major version of the JDK at $1 (0 if none).
feature() {
	"$1/bin/java" -version 2>&1 | sed -nE '1s/.*version "([0-9]+)(\.[0-9.]+)?.*/\1/p' | grep . || echo 0
}
if [ -z "${JDKS:-}" ]; then
	JDKS=""
	for h in /usr/lib/jvm/temurin-25-jdk-amd64 /opt/jdk21 /opt/jdk25; do
		[ -x "$h/bin/java" ] && [ "$(feature "$h")" -ge 21 ] && JDKS+="$h "
	done
fi
[ -n "${JDKS// /}" ] || die "no JDK 21+ found (Temurin 25, /opt/jdk21, /opt/jdk25; scripts/fetch-test-jdks.sh fetches them): set JDKS"
# One compiler for all (the JDKs from scripts/fetch-test-jdks.sh have only
# a java): a javac of 21 or later, for release 21.
JAVAC=""
for h in $JDKS /usr/lib/jvm/*; do
	[ -x "$h/bin/javac" ] && [ "$(feature "$h")" -ge 21 ] && { JAVAC=$h/bin/javac; break; }
done
[ -n "$JAVAC" ] || die "no javac of JDK 21 or later found"

work=$(mktemp -d /tmp/bench-vthreads.XXXXXX)
jvm=""
cleanup() {
	[ -z "$jvm" ] || { kill "$jvm" 2>/dev/null || true; wait "$jvm" 2>/dev/null || true; }
	if [ "$KEEP" = 1 ]; then echo "bench-vthreads: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/vtcheck" ./bench/vtcheck
"$JAVAC" --release 21 -d "$work/classes" testdata/java/VWorkload.java
md_begin "$TITLE"
echo "machine: $(md_machine)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $(md_commit)   R=$R W=${W}s JDKS=$JDKS"
cmds=$work/cmds
: >"$cmds"
modes=(defaults dumps)
declare -A waits before known right share wrong unknown label
jdk_ids=()
for home in $JDKS; do
	id=$(basename "$home")
	jdk_ids+=("$id")
	label[$id]="$("$home/bin/java" -version 2>&1 | head -1 | sed 's/"//g') (\`$home\`)"
	mkdir -p "$work/$id"
	for r in $(seq "$R"); do
		order=("${modes[@]}")
		[ $((r % 2)) = 0 ] && order=(dumps defaults)
		truth=$work/$id/truth-$r.txt
		# Long enough for both variants and their start-up; its truth is
		# written when it exits.
		"$home/bin/java" -cp "$work/classes" VWorkload --seconds $((2 * W + 8)) --truth "$truth" \
			>"$work/$id/jvm-$r.out" 2>&1 &
		jvm=$!
		echo "$home/bin/java -cp CLASSES VWorkload --seconds $((2 * W + 8)) --truth TRUTH    # $id round $r, pid $jvm" >>"$cmds"
		for _ in $(seq 600); do grep -q '^ready' "$work/$id/jvm-$r.out" 2>/dev/null && break; sleep 0.1; done
		grep -q '^ready' "$work/$id/jvm-$r.out" || die "VWorkload did not start ($id): $(tail -3 "$work/$id/jvm-$r.out")"
		for m in "${order[@]}"; do
			args=(attach "$jvm" --min-latency 0 --duration "${W}s" -o "$work/$id/$m-$r.csv")
			[ "$m" = dumps ] && args+=(--dumps only --dump-interval 100ms --dump-budget 100%)
			echo "bin/jschedlat ${args[*]}" >>"$cmds"
			bin/jschedlat "${args[@]}" 2>"$work/$id/$m-$r.log" || die "attach failed ($id, $m, round $r): $(tail -3 "$work/$id/$m-$r.log")"
		done
		wait "$jvm" || die "VWorkload failed ($id, round $r): $(tail -3 "$work/$id/jvm-$r.out")"
		jvm=""
		for m in "${modes[@]}"; do
			line=$("$work/vtcheck" -truth "$truth" "$work/$id/$m-$r.csv" 2>"$work/$id/$m-$r.check") ||
				die "vtcheck failed ($id, $m, round $r): $(tail -3 "$work/$id/$m-$r.check")"
			kv() { sed -nE "s/.* $1=([0-9]+).*/\1/p" <<<"$line"; }
			waits[$id.$m]+="$(kv carrier_waits) " before[$id.$m]+="$(kv before_tracing) " known[$id.$m]+="$(kv provable) " right[$id.$m]+="$(kv right) "
			wrong[$id.$m]+="$(kv wrong) " unknown[$id.$m]+="$(kv unknown) "
			share[$id.$m]+="$(awk -v a="$(kv right)" -v b="$(kv provable)" 'BEGIN { printf "%.2f", (b > 0 ? 100 * a / b : 0) }') "
			echo "$id round $r $m: $line"
			sed 's/^/  /' "$work/$id/$m-$r.check" | head -5
		done
	done
done

header="| JDK | variant | carrier waits | of them begun before tracing | with a virtual thread known mounted, begun after | named right | % of known named right | named wrong | named, not checkable |"
rows=()
verdicts=()
met=1
for id in "${jdk_ids[@]}"; do
	for m in "${modes[@]}"; do
		k=$id.$m
		# shellcheck disable=SC2086
		rows+=("| $id | $m | $(cell %.0f ${waits[$k]}) | $(cell %.0f ${before[$k]}) | $(cell %.0f ${known[$k]}) | $(cell %.0f ${right[$k]}) | $(cell %.2f ${share[$k]}) | $(cell %.0f ${wrong[$k]}) | $(cell %.0f ${unknown[$k]}) |")
	done
	# shellcheck disable=SC2086
	lo=$(printf '%s\n' ${share[$id.defaults]} | sort -g | head -1)
	# shellcheck disable=SC2086
	bad=$(printf '%s\n' ${wrong[$id.defaults]} | sort -n | tail -1)
	awk -v s="$lo" 'BEGIN { exit !(s >= 99) }' && [ "$bad" = 0 ] || met=0
	verdicts+=("$id: lowest ${lo}% right, at most $bad wrong;")
done
verdict=$([ "$met" = 1 ] && echo met || echo missed)
echo
printf '%s\n' "$header" "${rows[@]}"
echo
echo "target: >= 99% of carrier waits with a known virtual thread named right, 0 wrong (defaults, every round): $verdict (${verdicts[*]})"

[ -n "${MD:-}" ] || exit 0
jdk_lines=()
for id in "${jdk_ids[@]}"; do jdk_lines+=("- $id: ${label[$id]}"); done
md "Per JDK, $R rounds each start \`testdata/java/VWorkload.java\` (busy platform threads saturate the CPUs while" \
	"virtual threads run short chunks of CPU and unmount all the time) and trace it, in turn (reversed every other" \
	"round), $W s with \`--min-latency 0\` each: with the defaults (the kernel side reads the virtual thread mounted" \
	"on a carrier at its switch-out) and, the anchor, \`--dumps only --dump-interval 100ms --dump-budget 100%\` (the" \
	"virtual thread a thread dump saw mounted, a dump every 100 ms: what earlier versions did). Ground truth: every" \
	"virtual thread writes \`<wall ns> <id> <carrier TID> <mark>\` as it is mounted, between chunks and before it may" \
	"unmount; a carrier's wait has a known virtual thread when the carrier's last line before the wait began is a" \
	"mount or a chunk. \`bench/vtcheck\` checks every virtual_thread written (\`internal/vtruth\`, as the integration" \
	"test does). The waits that began before tracing did (their switch-out was not seen; the start of the run in" \
	"FILE.runs.jsonl) are counted apart: a memory read of the JVM names some of them, and none may be wrong, but the" \
	"share right is over the waits that began after. Cells: median [min–max] over the rounds." "" "${jdk_lines[@]}" "" \
	"$header" "|---|---|---|---|---|---|---|---|---|" "${rows[@]}" "" \
	"Target: ≥ 99% of carrier waits of a JDK 21/25 virtual-thread workload named right, 0 wrong (defaults, every round): $verdict (${verdicts[*]})" ""
md_cmds "$cmds"
