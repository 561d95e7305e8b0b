#!/usr/bin/env bash
# bench-ingest: the ingest ceiling of jschedlat.
#
# Runs the context-switch storm (bench/storm: pairs of OS threads ping-pong
# through pipes) and traces every task on the host with every wait recorded:
#   bin/jschedlat attach --all --min-latency 0 --kind all --ring-size B --format F --duration D -o /dev/null
# for each ring size, output format and storm load. Reports the events/s
# delivered and the lost events (from jschedlat's stderr summary, "N events
# ... M lost"), the system's context switches/s meanwhile, and jschedlat's
# CPU (user+sys of the whole process, from bash's time) as % of one CPU, per
# 100k events/s, and per event. Target: zero lost at >= TARGET_EVPS events/s.
#
# Usage (root): scripts/bench-ingest.sh
# Environment (defaults in brackets; the defaults take about 3 minutes):
#   D [10] tracing seconds per run     R [1] repetitions
#   RINGS ["256K 1M 4M"] ring sizes (K/M suffix or bytes)
#   FORMATS ["csv jsonl"]  output formats (-o /dev/null)
#   LOADS ["250000 max"] storm round trips/s (paced; a round trip is two
#         wakeups, so 250000 asks for ~500k events/s; the storm gets less
#         once tracing takes its share of the 2 CPUs); max = as fast as it goes
#   PAIRS [4] storm thread pairs   PIN [1] pin each pair to one CPU
#   LEAD [1] storm seconds before tracing starts   COOLDOWN [1] s
#   TARGET_EVPS [400000]   KEEP [0] 1 = keep the work dir
set -euo pipefail
cd "$(dirname "$0")/.."

D=${D:-10} R=${R:-1} RINGS=${RINGS:-256K 1M 4M} FORMATS=${FORMATS:-csv jsonl}
LOADS=${LOADS:-250000 max} PAIRS=${PAIRS:-4} PIN=${PIN:-1} LEAD=${LEAD:-1} COOLDOWN=${COOLDOWN:-1}
TARGET_EVPS=${TARGET_EVPS:-400000} KEEP=${KEEP:-0}

die() { echo "bench-ingest: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF): sudo $0"
[ -x bin/jschedlat ] || die "bin/jschedlat missing: run make build"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found: needed to build the helper bench/storm"
for n in D R PAIRS LEAD COOLDOWN TARGET_EVPS; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
[ "$D" -ge 1 ] && [ "$R" -ge 1 ] && [ "$PAIRS" -ge 1 ] || die "D, R and PAIRS must be >= 1"
ringbytes() {
	case $1 in
	*[Kk]) echo $((${1%[Kk]} * 1024)) ;;
	*[Mm]) echo $((${1%[Mm]} * 1024 * 1024)) ;;
	*[!0-9]* | "") die "ring size $1: a number of bytes, or with K or M" ;;
	*) echo "$1" ;;
	esac
}
for r in $RINGS; do ringbytes "$r" >/dev/null; done
for l in $LOADS; do [[ $l =~ ^([0-9]+|max)$ ]] || die "load $l: round trips/s or max"; done
for f in $FORMATS; do case $f in csv | jsonl) ;; *) die "format $f: csv or jsonl" ;; esac; done

work=$(mktemp -d /tmp/bench-ingest.XXXXXX)
storm=""
# The storm is not our child (see below): kill it by PID and wait until it
# is gone.
stop_storm() {
	[ -n "$storm" ] || return 0
	kill "$storm" 2>/dev/null || true
	local i
	for i in $(seq 50); do kill -0 "$storm" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$storm" 2>/dev/null || true
	storm=""
}
cleanup() {
	stop_storm
	if [ "$KEEP" = 1 ]; then echo "bench-ingest: logs kept in $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

go build -o "$work/storm" ./bench/storm

ctxt() { awk '$1 == "ctxt" { print $2 }' /proc/stat; }
# Go duration (1m2.5s, 12.003s, 950ms) in seconds.
dur_s() { awk -v d="$1" 'BEGIN {
	s = 0
	while (match(d, /^[0-9.]+(h|ms|m|s|us|µs|ns)/)) {
		t = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
		match(t, /[a-zµ]+$/); u = substr(t, RSTART); v = substr(t, 1, RSTART - 1) + 0
		s += v * (u == "h" ? 3600 : u == "m" ? 60 : u == "s" ? 1 : u == "ms" ? 1e-3 : u == "ns" ? 1e-9 : 1e-6)
	}
	printf "%.6f", s }'; }

echo "== bench-ingest: events/s jschedlat takes in with every wait of every task recorded"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc), kernel $(uname -r)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git status --porcelain 2>/dev/null | grep -q . && echo ' (uncommitted changes)')"
echo "settings: D=${D}s R=$R RINGS='$RINGS' FORMATS='$FORMATS' LOADS='$LOADS' PAIRS=$PAIRS PIN=$PIN target: 0 lost at >= $TARGET_EVPS events/s"
echo

results=$work/results.tsv
: >"$results"
read -r -a rings <<<"$RINGS"
read -r -a formats <<<"$FORMATS"
read -r -a loads <<<"$LOADS"
nruns=$((R * ${#rings[@]} * ${#formats[@]} * ${#loads[@]}))
run=0
pin=$([ "$PIN" = 1 ] && echo true || echo false)

for rep in $(seq "$R"); do
	for load in "${loads[@]}"; do
		for ring in "${rings[@]}"; do
			for fmt in "${formats[@]}"; do
				run=$((run + 1))
				rate=$([ "$load" = max ] && echo 0 || echo "$load")
				scmd=("$work/storm" -pairs "$PAIRS" -pin="$pin" -rate "$rate" -duration "$((LEAD + D + 5))s")
				jcmd=(bin/jschedlat attach --all --min-latency 0 --kind all --ring-size "$(ringbytes "$ring")" --format "$fmt" --duration "${D}s" -o /dev/null)
				jlog=$work/js-$run.err tfile=$work/time-$run
				echo "run $run/$nruns rep $rep load $load ring $ring format $fmt   load avg $(cut -d' ' -f1-3 /proc/loadavg)"
				echo "  \$ ${scmd[*]} &"
				echo "  \$ ${jcmd[*]}"
				# Started from a subshell that exits at once: the storm is not
				# this shell's child, so its CPU never lands in the rusage of
				# children that bash's time reports for jschedlat.
				("${scmd[@]}" >"$work/storm-$run.out" 2>&1 & echo $! >"$work/storm.pid")
				storm=$(cat "$work/storm.pid")
				sleep "$LEAD"
				kill -0 "$storm" 2>/dev/null || { cat "$work/storm-$run.out" >&2; die "the storm exited early"; }
				c0=$(ctxt) t0=$(date +%s.%N) rc=0
				TIMEFORMAT='%R %U %S'
				{ time "${jcmd[@]}" 2>"$jlog"; } 2>"$tfile" || rc=$?
				c1=$(ctxt) t1=$(date +%s.%N)
				alive=1
				kill "$storm" 2>/dev/null || alive=0
				stop_storm
				[ "$rc" = 0 ] || { cat "$jlog" >&2; die "jschedlat failed (exit $rc, run $run)"; }
				sum=$(grep -m1 ' traced: ' "$jlog") || { cat "$jlog" >&2; die "no summary line from jschedlat"; }
				echo "  jschedlat: ${sum#jschedlat: }"
				read -r real _ <"$tfile"
				echo "  jschedlat CPU: $(cut -d' ' -f2- "$tfile" | awk '{ printf "user %ss sys %ss", $1, $2 }') in ${real}s wall"
				d=$(dur_s "$(sed -E 's/^jschedlat: ([^ ]+) traced:.*/\1/' <<<"$sum")")
				if awk -v d="$d" -v want="$D" 'BEGIN { exit !(d > want + 2) }'; then
					echo "  warning: jschedlat ran ${d}s for --duration ${D}s: it did not stop on time under the storm (the storm ran $((LEAD + D + 5))s$([ "$alive" = 0 ] && echo ' and had ended'))"
				fi
				ev=$(sed -nE 's/.* traced: ([0-9]+) events.*/\1/p' <<<"$sum")
				lost=$(sed -nE 's/.*, ([0-9]+) lost.*/\1/p' <<<"$sum")
				[ -n "$ev" ] && [ -n "$lost" ] || die "cannot read events/lost from: $sum"
				read -r _ usr sys <"$tfile"
				# rep load ring fmt events/s lost lost% ctxt/s cpu% cpu%/100k ns/event
				awk -v rep="$rep" -v load="$load" -v ring="$ring" -v fmt="$fmt" -v ev="$ev" -v lost="$lost" -v d="$d" \
					-v c0="$c0" -v c1="$c1" -v t0="$t0" -v t1="$t1" -v usr="$usr" -v sys="$sys" 'BEGIN {
					evps = ev / d; cpu = (usr + sys) / d * 100
					printf "%s\t%s\t%s\t%s\t%.0f\t%d\t%.3f\t%.0f\t%.1f\t%.2f\t%.0f\n", rep, load, ring, fmt, evps, lost,
						(ev + lost > 0 ? lost / (ev + lost) * 100 : 0), (c1 - c0) / (t1 - t0), cpu,
						(evps > 0 ? cpu / (evps / 1e5) : 0), (ev > 0 ? (usr + sys) * 1e9 / ev : 0)
				}' >>"$results"
				sleep "$COOLDOWN"
			done
		done
	done
done

echo
echo "== results (one row per run); cpu = jschedlat user+sys over its run, % of one CPU; target: 0 lost at >= $TARGET_EVPS events/s"
awk -F'\t' -v tgt="$TARGET_EVPS" 'BEGIN {
	printf "%-6s %-6s %-6s %3s  %10s %10s %8s %10s %7s %14s %9s  %s\n", "load", "ring", "format", "rep", "events/s", "lost", "lost%", "ctxt/s", "cpu%", "cpu%/100kev/s", "ns/event", "target"
}
{
	verdict = ($6 == 0 && $5 >= tgt) ? "PASS" : "MISS"
	if (verdict == "MISS") verdict = verdict " (" ($6 > 0 ? "lost" : "") ($6 > 0 && $5 < tgt ? ", " : "") ($5 < tgt ? "< " tgt "/s" : "") ")"
	printf "%-6s %-6s %-6s %3s  %10s %10s %8s %10s %7s %14s %9s  %s\n", $2, $3, $4, $1, $5, $6, $7, $8, $9, $10, $11, verdict
}' "$results"
echo "load: storm round trips/s asked for (max = unpaced); events/s and lost from jschedlat's summary; ctxt/s: whole system while jschedlat ran"
echo
echo "== ceiling: highest events/s delivered with 0 lost, per ring size and format"
awk -F'\t' '{ k = $3 " " $4; if (!(k in best)) { best[k] = -1; order[++n] = k }
	if ($6 == 0 && $5 > best[k]) best[k] = $5 }
END { for (i = 1; i <= n; i++) { split(order[i], a, " "); printf "ring %-6s format %-6s %s\n", a[1], a[2], (best[order[i]] < 0 ? "every run lost events" : best[order[i]] " events/s") } }' "$results"
