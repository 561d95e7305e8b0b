#!/usr/bin/env bash
# bench-dumpcost: what one thread dump costs, direct attach against jcmd.
#
# For each JDK and each thread count starts a ManyThreads JVM
# (testdata/java/ManyThreads.java: N live platform threads, most parked or
# sleeping, BUSY of them running) with -Xlog:safepoint to a file, takes one
# warm-up dump each way (not counted), then R dumps each way, alternating
#   direct  bin/jschedlat threads PID     (HotSpot attach, no JVM started)
#   jcmd    jcmd PID Thread.print         (the same JDK's jcmd)
# the order reversed every other repetition, and measures per dump:
#   wall     wall time of the whole command, ms (bash time)
#   cpu      user+sys CPU of the command and its children, ms (bash time)
#   stop     how long the target JVM was stopped: the "Total: N ns" of the
#            dump's safepoints in the target's safepoint log, summed over the
#            log lines the dump added (ops PrintThreads, PrintJNI,
#            FindDeadlocks; other safepoints in the bracket, e.g. a GC, are
#            counted apart in "other")
#   ttsp     of which time to reach the safepoints ("Reaching safepoint")
#   sp       number of dump safepoints
#   tool     direct only: the dump's own wall time and the stop time
#            jschedlat itself reports (hsperfdata sun.rt.safepointTime +
#            sun.rt.safepointSyncTime), as a cross-check of stop
#   thr      threads in the dump (jschedlat's count; jcmd: entries starting
#            with a quote); bytes, lines: size of jcmd's output
# and prints median and [min-max] per JDK, thread count and method. With MD
# set (scripts/bench.sh), also appends experiment 4's markdown fragment to
# $MD: the table, the target (the dump stops the JVM <= 10 ms at 200
# threads, per JDK and method, judged on the median) and every command.
#
# Usage (root): scripts/bench-dumpcost.sh
# Environment (defaults in brackets; the defaults take about 30 s on an idle machine):
#   JDKS ["17 25"] labels of the JDKs to measure; for a label L, JAVA_L is
#     its java and JCMD_L its jcmd: JAVA_17 [java] JCMD_17 [jcmd on PATH],
#     JAVA_25 [/usr/lib/jvm/temurin-25-jdk-amd64/bin/java],
#     JCMD_25 [jcmd next to JAVA_25]; other labels need both set. A JDK
#     whose java or jcmd is missing is skipped (and the skip recorded)
#   THREADS ["200 2000"] ManyThreads --threads   R [5] dumps per method
#   BUSY [2] running threads   DEPTH [8] extra stack frames per thread
#   GAP [0.3] s after each dump (the log is read after it)
#   SETTLE [1] s after the JVM is ready   TIMEOUT [60] s per dump command
#   JAVAC [javac]  JAVA_OPTS [""] more options for the target JVMs
#   BIN [bin/jschedlat]   KEEP [0] 1 = keep the work dir (logs, dumps)
#   MD [unset] markdown fragment to append to (see scripts/bench-lib.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

JDKS=${JDKS:-17 25} THREADS=${THREADS:-200 2000} R=${R:-5}
BUSY=${BUSY:-2} DEPTH=${DEPTH:-8} GAP=${GAP:-0.3} SETTLE=${SETTLE:-1} TIMEOUT=${TIMEOUT:-60}
JAVAC=${JAVAC:-javac} JAVA_OPTS=${JAVA_OPTS:-} BIN=${BIN:-bin/jschedlat} KEEP=${KEEP:-0}
JAVA_17=${JAVA_17:-java} JCMD_17=${JCMD_17:-jcmd}
JAVA_25=${JAVA_25:-/usr/lib/jvm/temurin-25-jdk-amd64/bin/java}
JCMD_25=${JCMD_25:-$(dirname "$JAVA_25")/jcmd}

die() { echo "bench-dumpcost: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (attaches to the JVMs it starts, like the other benches): sudo $0"
[ -x "$BIN" ] || die "$BIN missing: run make build"
command -v "$JAVAC" >/dev/null || die "$JAVAC not found: install a JDK (apt-get install openjdk-17-jdk-headless)"
command -v timeout >/dev/null || die "timeout (coreutils) not found"
for n in R BUSY DEPTH TIMEOUT; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
for n in GAP SETTLE; do
	[[ ${!n} =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$n=${!n}: must be a number of seconds"
done
if [ "$R" -lt 1 ] || [ "$TIMEOUT" -lt 1 ]; then die "R and TIMEOUT must be >= 1"; fi
for t in $THREADS; do [[ $t =~ ^[1-9][0-9]*$ ]] || die "thread count $t: must be a whole number >= 1"; done
read -r -a wanted <<<"$JDKS"
read -r -a counts <<<"$THREADS"
if [ "${#wanted[@]}" = 0 ] || [ "${#counts[@]}" = 0 ]; then die "JDKS and THREADS must not be empty"; fi
jdks=() skipped=()
for j in "${wanted[@]}"; do
	[[ $j =~ ^[A-Za-z0-9_]+$ ]] || die "JDK label $j: letters, digits and _ only (it names JAVA_$j and JCMD_$j)"
	jv=JAVA_$j jc=JCMD_$j
	[ -n "${!jv:-}" ] || die "JDK $j: set $jv to its java"
	[ -n "${!jc:-}" ] || die "JDK $j: set $jc to its jcmd"
	# A JDK that is not installed is a recorded skip, not a failure: the
	# suite runs on machines with one JDK too.
	if ! command -v "${!jv}" >/dev/null; then
		skipped+=("JDK $j: ${!jv} not found (set $jv)")
	elif ! command -v "${!jc}" >/dev/null; then
		skipped+=("JDK $j: ${!jc} not found (set $jc)")
	else
		jdks+=("$j")
	fi
done
for s in "${skipped[@]}"; do echo "bench-dumpcost: skipped $s" >&2; done
JDKS=${jdks[*]}

title="4. Thread identity cost"
if [ "${#jdks[@]}" = 0 ]; then
	md_begin "$title"
	md "**Skipped**: no JDK to measure." "" "${skipped[@]/#/- }" "" \
		"Target: dump pause ≤ 10 ms at 200 threads: not measured (no JDK)" ""
	exit 0
fi

work=$(mktemp -d /tmp/bench-dumpcost.XXXXXX)
jvm=""
cleanup() {
	if [ -n "$jvm" ]; then
		kill "$jvm" 2>/dev/null || true
		wait "$jvm" 2>/dev/null || true
	fi
	if [ "$KEEP" = 1 ]; then echo "bench-dumpcost: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$work/classes"
cmds=$work/commands.txt
"$JAVAC" --release 11 -d "$work/classes" testdata/java/ManyThreads.java
echo "$JAVAC --release 11 -d $work/classes testdata/java/ManyThreads.java" >"$cmds"
# A private copy: make build in the same tree cannot swap it mid-run.
cp "$BIN" "$work/jschedlat"
bin=$work/jschedlat

echo "== bench-dumpcost: cost of one thread dump, direct attach (jschedlat threads) vs jcmd Thread.print"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc), kernel $(uname -r)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git status --porcelain 2>/dev/null | grep -q . && echo ' (uncommitted changes)')"
for j in "${jdks[@]}"; do
	jv=JAVA_$j jc=JCMD_$j
	echo "JDK $j:  ${!jv} ($("${!jv}" -version 2>&1 | head -1)), ${!jc}"
done
echo "settings: THREADS='$THREADS' R=$R BUSY=$BUSY DEPTH=$DEPTH GAP=${GAP}s SETTLE=${SETTLE}s TIMEOUT=${TIMEOUT}s${JAVA_OPTS:+ JAVA_OPTS=\"$JAVA_OPTS\"}"
echo

# Go duration (1m2.5s, 12.003s, 950ms, 40µs) in milliseconds.
dur_ms() { awk -v s="$(dur_s "$1")" 'BEGIN { printf "%.3f", s * 1000 }'; }

lines_of() { if [ -e "$1" ]; then wc -l <"$1"; else echo 0; fi; }

# Safepoints in lines from+1..to of a safepoint log (JDK 17 and 25 format:
# Safepoint "Op", Time since last: N ns, Reaching safepoint: N ns, ...,
# Total: N ns[, Threads: ...]) as "stop_ms ttsp_ms n other names".
safepoints() { # log from to
	awk -v from="$2" -v to="$3" '
	NR > from && NR <= to && /Safepoint "/ {
		op = $0; sub(/^[^"]*"/, "", op); sub(/".*/, "", op)
		tot = $0; sub(/.*Total: /, "", tot); sub(/ ns.*/, "", tot)
		re = $0; if (sub(/.*Reaching safepoint: /, "", re)) sub(/ ns.*/, "", re); else re = 0
		if (op ~ /^(PrintThreads|PrintJNI|FindDeadlocks|ThreadDump)$/) {
			n++; stop += tot; ttsp += re; names = names (names == "" ? "" : "+") op
		} else other++
	}
	END { printf "%.3f %.3f %d %d %s\n", stop / 1e6, ttsp / 1e6, n, other, (names == "" ? "-" : names) }' "$1"
}

results=$work/results.tsv
: >"$results"
nruns=$((${#jdks[@]} * ${#counts[@]}))
run=0
dumpno=0

# One dump of PID by METHOD; appends a row to the results unless rep is 0
# (warm-up). Sets nothing global but dumpno.
dump_one() { # jdk threads method rep pid jcmd splog
	local jdk=$1 n=$2 method=$3 rep=$4 pid=$5 jcmdbin=$6 splog=$7
	local out err tf from to rc=0 wall cpu sp tool tdump=- tstop=- tsp=- thr bytes=- lines=-
	dumpno=$((dumpno + 1))
	out=$work/dump-$dumpno.out err=$work/dump-$dumpno.err tf=$work/dump-$dumpno.time
	local cmd=()
	case $method in
	direct) cmd=("$bin" threads "$pid" --timeout "$TIMEOUT") ;;
	jcmd) cmd=(timeout "$TIMEOUT" "$jcmdbin" "$pid" Thread.print) ;;
	esac
	echo "${cmd[*]}$([ "$rep" != 0 ] || echo '    # warm-up, not counted')" >>"$cmds"
	from=$(lines_of "$splog")
	local TIMEFORMAT='%3R %3U %3S'
	{ time "${cmd[@]}" >"$out" 2>"$err"; } 2>"$tf" || rc=$?
	sleep "$GAP"
	to=$(lines_of "$splog")
	if [ "$rc" != 0 ]; then
		cat "$err" >&2
		die "JDK $jdk, $n threads: $method dump failed (exit $rc): ${cmd[*]}"
	fi
	read -r wall cpu <<<"$(awk '{ printf "%.1f %.1f", $1 * 1000, ($2 + $3) * 1000 }' "$tf")"
	sp=$(safepoints "$splog" "$from" "$to")
	if [ "$method" = direct ]; then
		tool=$(grep -m1 '^jschedlat: .* threads from ' "$err" || true)
		[ -n "$tool" ] || { cat "$err" >&2; die "no cost line from jschedlat threads"; }
		thr=$(sed -nE 's/^jschedlat: ([0-9]+) threads from .*/\1/p' <<<"$tool")
		tdump=$(dur_ms "$(sed -nE 's/.* threads from [^ ]+ in ([^;]+);.*/\1/p' <<<"$tool")")
		if [[ $tool =~ stopped\ ([^ ]+)\ in\ ([0-9]+)\ safepoints ]]; then
			tstop=$(dur_ms "${BASH_REMATCH[1]}") tsp=${BASH_REMATCH[2]}
		fi
	else
		thr=$(grep -c '^"' "$out" || true)
		bytes=$(wc -c <"$out") lines=$(wc -l <"$out")
	fi
	local stop ttsp nsp other names
	read -r stop ttsp nsp other names <<<"$sp"
	if [ "$rep" = 0 ]; then
		printf '  warm-up %-6s wall %7.1f ms  cpu %7.1f ms  stop %7.3f ms in %d safepoint(s) %s\n' "$method" "$wall" "$cpu" "$stop" "$nsp" "$names"
		return 0
	fi
	printf '  rep %d %-6s wall %7.1f ms  cpu %7.1f ms  stop %7.3f ms (ttsp %.3f) in %d safepoint(s) %s%s%s\n' \
		"$rep" "$method" "$wall" "$cpu" "$stop" "$ttsp" "$nsp" "$names" \
		"$([ "$other" = 0 ] || echo " +$other other")" \
		"$([ "$method" = direct ] && echo "   tool: dump $tdump ms, stopped $tstop ms in $tsp")"
	# jdk threads method rep wall cpu stop ttsp nsp other tdump tstop tsp thr bytes lines names
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
		"$jdk" "$n" "$method" "$rep" "$wall" "$cpu" "$stop" "$ttsp" "$nsp" "$other" "$tdump" "$tstop" "$tsp" "$thr" "$bytes" "$lines" "$names" >>"$results"
}

for jdk in "${jdks[@]}"; do
	jv=JAVA_$jdk jc=JCMD_$jdk
	javabin=${!jv} jcmdbin=${!jc}
	for n in "${counts[@]}"; do
		run=$((run + 1))
		splog=$work/sp-$jdk-$n.log
		jlog=$work/jvm-$jdk-$n.out
		jargs=(-Xlog:safepoint:file="$splog")
		# shellcheck disable=SC2206 # JAVA_OPTS is a list of options
		[ -n "$JAVA_OPTS" ] && jargs+=($JAVA_OPTS)
		jargs+=(-cp "$work/classes" ManyThreads --threads "$n" --busy "$BUSY" --depth "$DEPTH")
		echo "run $run/$nruns JDK $jdk, $n threads   load $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "  \$ $javabin ${jargs[*]} &"
		echo "$javabin ${jargs[*]} &    # target JVM of the dumps below, killed after them" >>"$cmds"
		t0=$EPOCHREALTIME
		"$javabin" "${jargs[@]}" >"$jlog" 2>&1 &
		jvm=$!
		for _ in $(seq 1200); do # wait for "ready" (up to 120 s)
			grep -q '^ready' "$jlog" 2>/dev/null && break
			kill -0 "$jvm" 2>/dev/null || break
			sleep 0.1
		done
		grep -q '^ready' "$jlog" || { cat "$jlog" >&2; die "ManyThreads ($n threads, JDK $jdk) did not get ready"; }
		echo "  pid $jvm ready in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }') s: $(grep -m1 '^ready' "$jlog")"
		sleep "$SETTLE"
		echo "  \$ $bin threads $jvm --timeout $TIMEOUT     \$ timeout $TIMEOUT $jcmdbin $jvm Thread.print"
		dump_one "$jdk" "$n" direct 0 "$jvm" "$jcmdbin" "$splog"
		dump_one "$jdk" "$n" jcmd 0 "$jvm" "$jcmdbin" "$splog"
		for rep in $(seq "$R"); do
			if [ $((rep % 2)) = 1 ]; then order=(direct jcmd); else order=(jcmd direct); fi
			for m in "${order[@]}"; do dump_one "$jdk" "$n" "$m" "$rep" "$jvm" "$jcmdbin" "$splog"; done
		done
		kill -0 "$jvm" 2>/dev/null || { cat "$jlog" >&2; die "the ManyThreads JVM died during the dumps"; }
		kill "$jvm" 2>/dev/null || true
		wait "$jvm" 2>/dev/null || true
		jvm=""
	done
done

echo
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shows up as outliers in wall and stopped)"
echo
echo "== results: per dump, median [min-max] over $R dump(s) per row; after one warm-up dump each way"
awk -F'\t' -v jdks="$JDKS" -v counts="$THREADS" '
function stats(key, col,    n, a, i, j, t) {
	n = cnt[key]
	for (i = 1; i <= n; i++) a[i] = val[key, col, i]
	for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
	lo = a[1]; hi = a[n]
	return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
function med(key, col) { return (val[key, col, 1] == "-") ? "-" : stats(key, col) }
function f(v, fmt) { return (v == "-") ? "-" : sprintf(fmt, v) }
{
	k = $1 SUBSEP $2 SUBSEP $3; c = ++cnt[k]; for (i = 5; i <= 16; i++) val[k, i, c] = $i
	o = $1 SUBSEP $3
	if (!((o, $17) in nm)) ops[o, ++nops[o]] = $17
	nm[o, $17]++
}
END {
	printf "%-4s %7s %-6s %4s  %-22s %8s  %-24s %7s %4s %5s  %-21s %7s  %5s %8s %6s\n", "JDK", "threads", "method", "runs",
		"wall ms [min-max]", "cpu ms", "stopped ms [min-max]", "ttsp ms", "sp", "other", "tool dump / stop ms", "tool sp", "thr", "bytes", "lines"
	nj = split(jdks, J, " "); nc = split(counts, C, " ")
	for (a = 1; a <= nj; a++) for (b = 1; b <= nc; b++) for (m = 1; m <= 2; m++) {
		meth = (m == 1) ? "direct" : "jcmd"
		k = J[a] SUBSEP C[b] SUBSEP meth
		if (!(k in cnt)) continue
		w = stats(k, 5); wl = lo; wh = hi
		cpu = stats(k, 6)
		s = stats(k, 7); sl = lo; sh = hi
		tt = stats(k, 8); nsp = stats(k, 9); oth = 0
		for (i = 1; i <= cnt[k]; i++) oth += val[k, 10, i]
		td = med(k, 11); ts = med(k, 12); tsp = med(k, 13)
		thr = stats(k, 14); by = med(k, 15); li = med(k, 16)
		printf "%-4s %7s %-6s %4d  %-22s %8.1f  %-24s %7.3f %4g %5d  %-21s %7s  %5d %8s %6s\n", J[a], C[b], meth, cnt[k],
			sprintf("%.1f [%.1f-%.1f]", w, wl, wh), cpu, sprintf("%.3f [%.3f-%.3f]", s, sl, sh), tt, nsp, oth,
			(td == "-") ? "-" : sprintf("%.1f / %.3f", td, ts), f(tsp, "%g"), thr, f(by, "%d"), f(li, "%d")
	}
	print ""
	print "wall: the whole command; cpu: its user+sys incl. children (jcmd starts a JVM); stopped: sum of the \"Total\" of the dump safepoints in"
	print "the target JVM'"'"'s -Xlog:safepoint, ttsp: of which reaching them; sp: dump safepoints per dump (median); other: non-dump safepoints"
	print "in the brackets (all dumps); tool: what jschedlat threads reports (dump wall time / stop time and safepoints from hsperfdata);"
	print "thr: threads in the dump (incl. VM threads); bytes, lines: size of jcmd'"'"'s output (jschedlat prints a table, not the dump)"
	print ""
	print "safepoint ops per dump, by JDK and method (dumps):"
	for (a = 1; a <= nj; a++) for (m = 1; m <= 2; m++) {
		meth = (m == 1) ? "direct" : "jcmd"
		o = J[a] SUBSEP meth
		for (i = 1; i <= nops[o]; i++) printf "  JDK %s %-6s %s (%d)\n", J[a], meth, ops[o, i], nm[o, ops[o, i]]
	}
}' "$results"

# The markdown fragment (MD set): a table of median [min–max] per JDK,
# thread count and method, the target and every command.
[ -n "${MD:-}" ] || exit 0
col() { awk -F'\t' -v j="$1" -v n="$2" -v m="$3" -v c="$4" '$1 == j && $2 == n && $3 == m { print $c }' "$results"; }
cell() { # FMT VALUES... -> "median [min–max]" in FMT
	local fmt=$1 m lo hi
	shift
	read -r m lo hi <<<"$(stats "$@")"
	# shellcheck disable=SC2059 # the format is the caller's
	if [ "$m" = NA ]; then echo "–"; else printf "$fmt [$fmt–$fmt]" "$m" "$lo" "$hi"; fi
}
cellcol() { # FMT JDK THREADS METHOD COLUMN
	local v
	mapfile -t v < <(col "$2" "$3" "$4" "$5")
	cell "$1" "${v[@]}"
}
md_begin "$title"
md "What one thread dump, the source of Java thread names, costs the JVM and the machine: taken the way" \
	"jschedlat takes it (direct attach, \`jschedlat threads PID\`: HotSpot's attach protocol, no JVM started)" \
	"against \`jcmd PID Thread.print\`. The target JVM (\`testdata/java/ManyThreads.java\`) holds N live" \
	"platform threads, $BUSY of them running, the rest parked or sleeping, each $DEPTH frames deeper than its" \
	"loop. After one warm-up dump each way, $R dumps each way alternate, the order reversed every other" \
	"repetition, ${GAP} s apart. *Wall* and *CPU* (user + system, children included: jcmd starts a JVM) are" \
	"the whole command's; *JVM stopped* is the sum of the \"Total\" of the dump's safepoints in the target's" \
	"own \`-Xlog:safepoint\`, and *safepoints* how many there were." \
	"" \
	"Settings: R=$R, THREADS=\"$THREADS\", BUSY=$BUSY, DEPTH=$DEPTH, GAP=${GAP}s, SETTLE=${SETTLE}s${JAVA_OPTS:+, JAVA_OPTS=\"$JAVA_OPTS\"}; jschedlat is a copy of $BIN." \
	""
for j in "${jdks[@]}"; do
	jv=JAVA_$j jc=JCMD_$j
	md "- JDK $j: \`${!jv}\` ($("${!jv}" -version 2>&1 | head -1)), \`${!jc}\`"
done
for s in "${skipped[@]}"; do md "- **Skipped** $s"; done
md "" \
	"| JDK | threads | method | wall ms | CPU ms | JVM stopped ms | safepoints | threads in the dump | target: stopped ≤ 10 ms at 200 threads |" \
	"|---|---|---|---|---|---|---|---|---|"
targets=() others=0
for j in "${jdks[@]}"; do
	for n in "${counts[@]}"; do
		for m in direct jcmd; do
			[ "$m" = direct ] && label="direct attach" || label="\`jcmd Thread.print\`"
			mapfile -t stop < <(col "$j" "$n" "$m" 7)
			verdict="–"
			if [ "$n" = 200 ]; then
				read -r med _ hi <<<"$(stats "${stop[@]}")"
				verdict=$(awk -v m="$med" 'BEGIN { print (m <= 10 ? "met" : "missed") }')
				targets+=("Target: dump pause ≤ 10 ms at 200 threads, JDK $j, $label: $verdict (median $(printf '%.1f' "$med") ms, max $(printf '%.1f' "$hi") ms)")
			fi
			md "| $j | $n | $label | $(cellcol %.0f "$j" "$n" "$m" 5) | $(cellcol %.0f "$j" "$n" "$m" 6) | $(cell %.1f "${stop[@]}") | $(cellcol %g "$j" "$n" "$m" 9) | $(cellcol %.0f "$j" "$n" "$m" 14) | $verdict |"
			others=$((others + $(col "$j" "$n" "$m" 10 | awk '{ s += $1 } END { print s + 0 }')))
		done
	done
done
ops=()
for j in "${jdks[@]}"; do
	ops+=("JDK $j: $(awk -F'\t' -v j="$j" '$1 == j { print $17 }' "$results" | sort -u | paste -sd/ | sed 's/+/, /g')")
done
md "" "Safepoint operations of a dump, by JDK: $(printf '%s; ' "${ops[@]}" | sed 's/; $//')." \
	"Load average $(cut -d' ' -f1-3 /proc/loadavg) at the end; other work on the machine shows up as outliers in wall and stopped."
[ "$others" = 0 ] || md "$others other safepoints (a GC, a periodic cleanup) fell inside the dumps' brackets and are not counted."
md ""
[ "${#targets[@]}" -gt 0 ] || targets=("Target: dump pause ≤ 10 ms at 200 threads: not measured (THREADS has no 200)")
md "${targets[@]}" ""
md_cmds "$cmds"
