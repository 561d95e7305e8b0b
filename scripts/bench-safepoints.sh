#!/usr/bin/env bash
# bench-safepoints: what attaching costs the JVM in safepoints, and what
# start-up costs in CPU, side by side with thread dumps in the same run.
#
# One JVM (testdata/java/ManyThreads.java --threads THREADS --busy 2, with
# -XX:GuaranteedSafepointInterval=0 so that it makes no periodic safepoints)
# runs for the whole experiment. R rounds each run these variants in turn
# (the order reversed every other round), each `attach PID --duration W`:
#   off        no tracer: a window of W s (the JVM's own safepoints)
#   defaults   bin/jschedlat attach PID (names from the JVM's memory)
#   dumps      bin/jschedlat attach PID --dumps only (thread dumps, default
#              budget: what earlier versions did)
#   dumps-100  bin/jschedlat attach PID --dumps only --dump-budget 100%
# Per run: the JVM's safepoints and stop time over the window (its own
# counters, bench/safepoints), and the tracer's start-up CPU (startup_cpu
# on its "tracing" line: user + system CPU from exec to tracing) and wall
# time from exec to that line.
# With MD set (scripts/bench.sh), also appends the markdown fragment.
#
# Usage (root): scripts/bench-safepoints.sh
# Environment (defaults in brackets): R [5] rounds  W [4] s  THREADS [200]
#   JAVA [java] JAVAC [javac]  KEEP [0]  TITLE the fragment's heading
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

R=${R:-5} W=${W:-4} THREADS=${THREADS:-200}
JAVA=${JAVA:-java} JAVAC=${JAVAC:-javac} KEEP=${KEEP:-0}
TITLE=${TITLE:-7. Safepoints and start-up}

die() { echo "bench-safepoints: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF): sudo $0"
for n in R W THREADS; do [[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"; done
[ -x bin/jschedlat ] || die "bin/jschedlat missing: run make build"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin

work=$(mktemp -d /tmp/bench-safepoints.XXXXXX)
jvm=""
cleanup() {
	[ -z "$jvm" ] || { kill "$jvm" 2>/dev/null || true; wait "$jvm" 2>/dev/null || true; }
	if [ "$KEEP" = 1 ]; then echo "bench-safepoints: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/safepoints" ./bench/safepoints
mkdir -p "$work/classes"
"$JAVAC" -d "$work/classes" testdata/java/ManyThreads.java
"$JAVA" -Xms128m -Xmx128m -XX:+UnlockDiagnosticVMOptions -XX:GuaranteedSafepointInterval=0 -cp "$work/classes" \
	ManyThreads --threads "$THREADS" --busy 2 --spin-us 500 >"$work/jvm.out" 2>&1 &
jvm=$!
for _ in $(seq 600); do grep -q '^ready' "$work/jvm.out" 2>/dev/null && break; sleep 0.1; done
grep -q '^ready' "$work/jvm.out" || die "the JVM did not start: $(tail -3 "$work/jvm.out")"
for _ in $(seq 100); do "$work/safepoints" "$jvm" >/dev/null 2>&1 && break; sleep 0.1; done
"$work/safepoints" "$jvm" >/dev/null || die "cannot read the JVM's safepoint counters"

md_begin "$TITLE"
echo "== bench-safepoints: safepoints the tool causes, and its start-up CPU"
echo "machine: $(md_machine)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $(md_commit)   java: $("$JAVA" -version 2>&1 | head -1)   R=$R W=${W}s THREADS=$THREADS"
cmds=$work/cmds
: >"$cmds"
modes=(off defaults dumps dumps-100)
declare -A sp st cpu wall full
for r in $(seq "$R"); do
	order=("${modes[@]}")
	[ $((r % 2)) = 0 ] && order=(dumps-100 dumps defaults off)
	for m in "${order[@]}"; do
		read -r c0 t0 < <("$work/safepoints" "$jvm")
		case $m in
		off) sleep "$W" ;;
		*)
			args=(attach "$jvm" --duration "${W}s" -o "$work/$m.csv")
			case $m in dumps) args+=(--dumps only) ;; dumps-100) args+=(--dumps only --dump-budget 100%) ;; esac
			echo "bin/jschedlat ${args[*]}" >>"$cmds"
			s0=$(date +%s%N)
			bin/jschedlat "${args[@]}" 2>"$work/$m.$r.log" || die "attach failed: $(tail -3 "$work/$m.$r.log")"
			line=$(grep -m1 'msg=tracing' "$work/$m.$r.log")
			t_line=$(sed -n 's/^time=\([^ ]*\).*/\1/p' <<<"$line")
			cpu[$m]+="$(sed -n 's/.*startup_cpu=\([0-9.]*\)ms.*/\1/p' <<<"$line") "
			# All of start-up: the probes attached after tracing began.
			full[$m]+="$(grep -m1 'msg=started' "$work/$m.$r.log" | sed -n 's/.*startup_cpu=\([0-9.]*\)ms.*/\1/p') "
			wall[$m]+="$(awk -v a="$s0" -v b="$(date -d "$t_line" +%s%N)" 'BEGIN { printf "%.0f", (b - a) / 1e6 }') "
			;;
		esac
		read -r c1 t1 < <("$work/safepoints" "$jvm")
		sp[$m]+="$((c1 - c0)) "
		st[$m]+="$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }') "
		echo "round $r $m: safepoints $((c1 - c0)), stopped $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) / 1e6 }') ms"
	done
done

header="| variant | JVM safepoints per run | JVM stopped ms per run | start-up CPU ms | exec to tracing ms | CPU until started ms |"
rows=()
for m in "${modes[@]}"; do
	# shellcheck disable=SC2086
	rows+=("| $m | $(cell %.0f ${sp[$m]}) | $(cell %.1f ${st[$m]}) | $(cell %.0f ${cpu[$m]:-}) | $(cell %.0f ${wall[$m]:-}) | $(cell %.0f ${full[$m]:-}) |")
done
echo
printf '%s\n' "$header" "${rows[@]}"
# shellcheck disable=SC2086
read -r def_max < <(printf '%s\n' ${sp[defaults]} | sort -n | tail -1)
# shellcheck disable=SC2086
read -r off_max < <(printf '%s\n' ${sp[off]} | sort -n | tail -1)
t_sp=$([ "$def_max" = 0 ] && echo "met (0 in every run)" || { [ "$off_max" = 0 ] && echo "missed (up to $def_max)" || echo "inconclusive: the JVM made safepoints of its own"; })
# shellcheck disable=SC2086
read -r cpu_med _ < <(stats ${cpu[defaults]})
t_cpu=$(awk -v c="$cpu_med" 'BEGIN { printf "%s (median %.0f ms)", (c <= 150 ? "met" : "missed"), c }')
echo
echo "target: zero safepoints with the defaults: $t_sp"
echo "target: start-up CPU <= 150 ms: $t_cpu"

[ -n "${MD:-}" ] || exit 0
md "One JVM (\`testdata/java/ManyThreads.java --threads $THREADS --busy 2\`, \`-XX:GuaranteedSafepointInterval=0\`: no" \
	"periodic safepoints of its own) runs throughout; $R rounds each run, in turn (reversed every other round), an" \
	"untraced window (off), \`attach PID --duration ${W}s\` with the defaults, with \`--dumps only\` (thread dumps" \
	"under the default budget, as before names came from memory) and with \`--dumps only --dump-budget 100%\`." \
	"Safepoints and stop time are the JVM's own counters (\`sun.rt.safepoints\`, hsperfdata, \`bench/safepoints\`) over" \
	"each run; start-up CPU is \`startup_cpu\` on the tracer's \`tracing\` line (user + system CPU from exec);" \
	"exec to tracing is wall time. CPU until started is \`startup_cpu\` on the \`started\` line: all of start-up," \
	"the HotSpot probes attached after tracing began included (the target counts exec to tracing)." \
	"Cells: median [min–max] over the rounds." "" \
	"$header" "|---|---|---|---|---|---|" "${rows[@]}" "" \
	"Target: zero safepoints with the defaults: $t_sp" "" \
	"Target: start-up CPU ≤ 150 ms on this VM: $t_cpu" ""
md_cmds "$cmds"
