#!/usr/bin/env bash
# soak: does `jschedlat attach` keep its memory and CPU bounded over a long
# run against a JVM whose threads churn?
#
# Builds jschedlat and two helpers, starts testdata/java/ChurnWorkload.java
# (50 new threads/s with never-repeating names, self-renaming threads, a
# thread renamed by another, a stable pool, spinners for run-queue waits;
# TIDs wrap around kernel.pid_max and are reused), and attaches:
#   jschedlat attach PID -o WORK/records.csv --rotate-size 20MB
#     --rotate-keep 3 --rotate-compress --min-latency 0 --dump-interval 30s
#     --metrics-addr 127.0.0.1:PORT
# Every INTERVAL seconds it samples jschedlat's VmRSS and VmHWM
# (/proc/PID/status), its CPU (utime+stime of /proc/PID/stat, as % of one
# CPU over the interval), Go heap in use, goroutines, records written and
# thread dumps taken (its Prometheus metrics; the GC goal is twice the heap
# still live after the last collection, steadier than heap in use, which
# swings with the GC cycle), and the workload's thread
# births; prints a markdown table. At the end it fits a line to RSS, heap
# in use and the GC goal over each half of the samples after WARMUP and
# prints the slopes and a verdict: bounded when the second half's GC goal
# slope (heap in use without it) stays under MAX_MIB_H MiB/hour (the first
# half may still be warming up).
#
# On exit (also on Ctrl-C) it stops jschedlat (SIGTERM) and the JVM, and
# checks that none of the BPF programs jschedlat held is still loaded.
#
# Usage (root): scripts/soak.sh [MINUTES]   (default 30)
# Environment (defaults in brackets):
#   INTERVAL [60] s between samples   WARMUP [120] s left out of the slopes
#   MAX_MIB_H [2] MiB/hour of GC goal growth in the second half still "bounded"
#   PORT [19464] metrics port   BIRTHS [50] threads/s   SPINNERS [3]
#   JAVA [java]  JAVAC [javac]  JAVA_OPTS [""]   KEEP [0] 1 = keep the work dir
#   BIN [build to WORK/jschedlat] a jschedlat binary to use instead
#   EXTRA [""] more attach flags   OUT [""] also write the table to this file
set -euo pipefail
cd "$(dirname "$0")/.."

# All of it is parsed before it runs: editing this file during a soak is safe.
main() {

MINUTES=${1:-30}
INTERVAL=${INTERVAL:-60} WARMUP=${WARMUP:-120} MAX_MIB_H=${MAX_MIB_H:-2}
PORT=${PORT:-19464} BIRTHS=${BIRTHS:-50} SPINNERS=${SPINNERS:-3}
JAVA=${JAVA:-java} JAVAC=${JAVAC:-javac} JAVA_OPTS=${JAVA_OPTS:-} KEEP=${KEEP:-0}
BIN=${BIN:-} EXTRA=${EXTRA:-} OUT=${OUT:-}

die() { echo "soak: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF): sudo $0"
for n in MINUTES INTERVAL WARMUP PORT BIRTHS SPINNERS; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
[ "$MINUTES" -ge 1 ] && [ "$INTERVAL" -ge 1 ] || die "MINUTES and INTERVAL must be >= 1"
for t in "$JAVA" "$JAVAC" curl; do
	command -v "$t" >/dev/null || die "$t not found"
done
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found"

work=$(mktemp -d /tmp/soak.XXXXXX)
jvm="" js="" progs=""
cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	if [ -n "$js" ] && kill -0 "$js" 2>/dev/null; then
		kill -TERM "$js" 2>/dev/null || true
		for _ in $(seq 1 100); do kill -0 "$js" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$js" 2>/dev/null || true
	fi
	[ -n "$js" ] && { wait "$js" 2>/dev/null || true; }
	for p in $jvm; do kill "$p" 2>/dev/null || true; done
	for p in $jvm; do wait "$p" 2>/dev/null || true; done
	if [ -n "$progs" ]; then
		# shellcheck disable=SC2086
		if left=$("$work/bpfleft" left -wait 3s $progs); then
			echo "soak: BPF programs held by jschedlat ($(echo $progs | wc -w)): none left loaded"
		else
			echo "soak: ERROR: BPF programs still loaded after jschedlat exited: $left" >&2
			rc=1
		fi
	fi
	if [ "$KEEP" = 1 ]; then
		echo "soak: work dir kept: $work" >&2
	else
		rm -rf "$work"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "soak: building into $work" >&2
if [ -z "$BIN" ]; then
	go build -o "$work/jschedlat" ./cmd/jschedlat
	BIN=$work/jschedlat
fi
go build -o "$work/bpfleft" ./bench/bpfleft
mkdir -p "$work/classes"
"$JAVAC" -d "$work/classes" testdata/java/ChurnWorkload.java

# shellcheck disable=SC2086
"$JAVA" $JAVA_OPTS -cp "$work/classes" ChurnWorkload --births-per-sec "$BIRTHS" --spinners "$SPINNERS" --stats-every 5 >"$work/workload.log" 2>&1 &
jvm=$!
for _ in $(seq 1 100); do
	grep -q '^ready' "$work/workload.log" && break
	kill -0 "$jvm" 2>/dev/null || die "workload exited: $(cat "$work/workload.log")"
	sleep 0.1
done
grep -q '^ready' "$work/workload.log" || die "workload not ready after 10 s"

cmdline=("$BIN" attach "$jvm" -o "$work/records.csv" --rotate-size 20MB --rotate-keep 3 --rotate-compress
	--min-latency 0 --dump-interval 30s --metrics-addr "127.0.0.1:$PORT")
# shellcheck disable=SC2206
cmdline+=($EXTRA)
echo "soak: ${cmdline[*]}" >&2
"${cmdline[@]}" 2>"$work/attach.log" &
js=$!
metric() { awk -v m="$1" '$1 == m { printf "%.0f", $2; found=1 } END { if (!found) printf "-" }' <<<"$2"; }
metrics() { curl -fsS --max-time 5 "http://127.0.0.1:$PORT/metrics" 2>/dev/null || true; }
for _ in $(seq 1 150); do
	metrics | grep -q '^jschedlat_records_total' && break
	kill -0 "$js" 2>/dev/null || die "attach exited: $(cat "$work/attach.log")"
	sleep 0.2
done
# The metrics server is up before the BPF programs are loaded.
for _ in $(seq 1 150); do
	progs=$("$work/bpfleft" held "$js" | tr '\n' ' ')
	[ -n "$progs" ] && [ "$(metric jschedlat_records_total "$(metrics)")" != 0 ] && break
	sleep 0.2
done
[ -n "$progs" ] || echo "soak: WARNING: no BPF program found in jschedlat's file descriptors" >&2

clk=$(getconf CLK_TCK)
pidmax=$(cat /proc/sys/kernel/pid_max)
cputicks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$js/stat"; }
status() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$js/status"; }
births() { awk '/^stats / { sub(/births=/, "", $2); b = $2 } END { print b + 0 }' "$work/workload.log"; }

{
	echo "machine: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo), kernel $(uname -r), $("$JAVA" -version 2>&1 | head -1)"
	echo "date: $(date -u +%Y-%m-%dT%H:%MZ)   pid_max: $pidmax   jschedlat $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet -- . 2>/dev/null || echo '+dirty')"
	echo "command: ${cmdline[*]}"
	echo
	echo "| t (s) | RSS MiB | HWM MiB | CPU % | heap inuse MiB | GC goal MiB | goroutines | records | dumps | births | TIDs wrapped |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
} | tee "$work/table.md"

start=$(date +%s)
end=$((start + MINUTES * 60))
prev_ticks=$(cputicks) prev_t=$start
samples=$work/samples.tsv
: >"$samples"
while :; do
	now=$(date +%s)
	next=$((prev_t + INTERVAL))
	[ "$next" -gt "$end" ] && next=$end
	[ "$now" -lt "$next" ] && sleep $((next - now))
	kill -0 "$js" 2>/dev/null || die "attach exited early: $(tail -5 "$work/attach.log")"
	kill -0 "$jvm" 2>/dev/null || die "workload exited early"
	now=$(date +%s)
	ticks=$(cputicks)
	m=$(metrics)
	rss=$(status VmRSS) hwm=$(status VmHWM)
	heap=$(metric go_memstats_heap_inuse_bytes "$m")
	goal=$(metric go_memstats_next_gc_bytes "$m")
	gor=$(metric go_goroutines "$m")
	recs=$(metric jschedlat_records_total "$m")
	dumps=$(metric jschedlat_thread_dumps_total "$m")
	b=$(births)
	dt=$((now - prev_t))
	cpu=$(awk -v d=$((ticks - prev_ticks)) -v hz="$clk" -v s="$dt" 'BEGIN { printf "%.1f", (s > 0 ? 100 * d / hz / s : 0) }')
	mib() { awk -v h="$1" 'BEGIN { if (h == "-") print "-"; else printf "%.1f", h / 1048576 }'; }
	t=$((now - start))
	printf '| %d | %.1f | %.1f | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$t" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')" \
		"$(awk -v k="$hwm" 'BEGIN { print k / 1024 }')" "$cpu" "$(mib "$heap")" "$(mib "$goal")" "$gor" "$recs" "$dumps" "$b" \
		"$(awk -v b="$b" -v p="$pidmax" 'BEGIN { printf "%.1fx", b / p }')" | tee -a "$work/table.md"
	printf '%d\t%d\t%s\t%s\t%s\n' "$t" "$rss" "$heap" "$cpu" "$goal" >>"$samples"
	prev_ticks=$ticks prev_t=$now
	[ "$now" -ge "$end" ] && break
done

# Least-squares slope (MiB/hour) of column c over the samples of each half
# after the warm-up, and the growth between the first and last of them.
awk -v warm="$WARMUP" -v max="$MAX_MIB_H" -F'\t' '
function slope(c, lo, hi,   i, n, sx, sy, sxx, sxy, x, y) {
	n = 0; sx = sy = sxx = sxy = 0
	for (i = lo; i <= hi; i++) {
		if (v[i, c] == "-") continue
		x = t[i] / 3600; y = v[i, c] / 1048576
		n++; sx += x; sy += y; sxx += x * x; sxy += x * y
	}
	if (n < 2 || n * sxx - sx * sx == 0) return "n/a"
	return sprintf("%.2f", (n * sxy - sx * sy) / (n * sxx - sx * sx))
}
function report(c, label,   a, b, first, last, hours, s1, s2) {
	first = v[a0, c]; last = v[k, c]
	if (first == "-" || last == "-" || first == 0) { printf "%s: not measured\n", label; return "n/a" }
	hours = (t[k] - t[a0]) / 3600
	s1 = slope(c, a0, mid); s2 = slope(c, mid, k)
	printf "%s: first sample after warm-up %.1f MiB, last %.1f MiB, growth %.1f%%/hour; slope %s MiB/h in the first half, %s MiB/h in the second\n", \
		label, first / 1048576, last / 1048576, (hours > 0 ? 100 * (last - first) / first / hours : 0), s1, s2
	return s2
}
{ k++; t[k] = $1; v[k, "rss"] = ($2 == "" ? "-" : $2 * 1024); v[k, "heap"] = $3; v[k, "goal"] = $5 }
END {
	for (a0 = 1; a0 <= k && t[a0] < warm; a0++) ;
	if (k - a0 < 3) { print "verdict: too few samples after the warm-up (raise MINUTES or lower INTERVAL/WARMUP)"; exit }
	mid = int((a0 + k) / 2)
	report("rss", "RSS")
	s2 = report("heap", "heap in use")
	g2 = report("goal", "GC goal (twice the heap live after the last GC)")
	what = "GC goal"
	if (g2 == "n/a") { g2 = s2; what = "heap in use" }
	if (g2 == "n/a") print "verdict: heap not measured"
	else if (g2 + 0 <= max + 0) printf "verdict: BOUNDED (%s grows %s MiB/h in the second half, limit %s MiB/h)\n", what, g2, max
	else printf "verdict: GROWING (%s grows %s MiB/h in the second half, limit %s MiB/h)\n", what, g2, max
}' "$samples" | tee -a "$work/table.md"
kill -TERM "$js" 2>/dev/null || true
wait "$js" 2>/dev/null || true
js=""
echo | tee -a "$work/table.md"
grep '^jschedlat:' "$work/attach.log" | tee -a "$work/table.md" || true
echo "record files: $(cd "$work" && ls -s --block-size=K records* | tr '\n' ' ')" | tee -a "$work/table.md"
[ -z "$OUT" ] || cp "$work/table.md" "$OUT"
}

main "$@"; exit
