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
# 100k events/s, and per event. Each repetition runs every combination of
# load, ring size and format, in the reverse order every other repetition;
# the summary gives median [min-max] over the repetitions, the smallest ring
# size that lost nothing in any run, per load, and the verdict. Target: zero
# lost at >= TARGET_EVPS events/s.
#
# Usage (root): scripts/bench-ingest.sh
#   With MD=FILE set (scripts/bench.sh does), it also appends its markdown
#   fragment to FILE.
# Environment (defaults in brackets; the defaults take about 3.5 minutes):
#   D [8] tracing seconds per run     R [3] repetitions
#   RINGS ["256K 1M 4M"] ring sizes (K/M suffix or bytes)
#   FORMATS ["csv"]  output formats (-o /dev/null): csv, jsonl
#   LOADS ["250000 max"] storm round trips/s (paced; a round trip is two
#         wakeups, so 250000 asks for ~500k events/s; the storm gets less
#         once tracing takes its share of the 2 CPUs); max = as fast as it goes
#   PAIRS [4] storm thread pairs   PIN [1] pin each pair to one CPU
#   LEAD [1] storm seconds before tracing starts   COOLDOWN [1] s
#   TARGET_EVPS [400000]   KEEP [0] 1 = keep the work dir
#   TITLE ["3. Ingest ceiling"] heading of the markdown fragment
# shellcheck disable=SC2016 # backquotes in single quotes are markdown
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

D=${D:-8} R=${R:-3} RINGS=${RINGS:-256K 1M 4M} FORMATS=${FORMATS:-csv}
LOADS=${LOADS:-250000 max} PAIRS=${PAIRS:-4} PIN=${PIN:-1} LEAD=${LEAD:-1} COOLDOWN=${COOLDOWN:-1}
TARGET_EVPS=${TARGET_EVPS:-400000} KEEP=${KEEP:-0} TITLE=${TITLE:-3. Ingest ceiling}

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
[ -n "$RINGS" ] && [ -n "$FORMATS" ] && [ -n "$LOADS" ] || die "RINGS, FORMATS and LOADS must not be empty"

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

started=$(date +%s)
# The fragment's heading notes the time and load at the start.
MD=${MD:+$work/head.md} md_begin "$TITLE"
settings="D=${D}s R=$R RINGS='$RINGS' FORMATS='$FORMATS' LOADS='$LOADS' PAIRS=$PAIRS PIN=$PIN LEAD=${LEAD}s COOLDOWN=${COOLDOWN}s"
echo "== bench-ingest: events/s jschedlat takes in with every wait of every task recorded"
echo "machine: $(md_machine)"
echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)   load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $(md_commit)"
echo "settings: $settings target: 0 lost at >= $TARGET_EVPS events/s"
echo
cmds=$work/commands.txt
: >"$cmds"

results=$work/results.tsv
: >"$results"
read -r -a rings <<<"$RINGS"
read -r -a formats <<<"$FORMATS"
read -r -a loads <<<"$LOADS"
nruns=$((R * ${#rings[@]} * ${#formats[@]} * ${#loads[@]}))
run=0
pin=$([ "$PIN" = 1 ] && echo true || echo false)

# Every combination, in this order in odd repetitions and reversed in even
# ones: the ring sizes alternate within each load.
combos=()
for load in "${loads[@]}"; do
	for ring in "${rings[@]}"; do
		for fmt in "${formats[@]}"; do combos+=("$load $ring $fmt"); done
	done
done

for rep in $(seq "$R"); do
	order=("${combos[@]}")
	if [ $((rep % 2)) = 0 ]; then order=(); for ((i = ${#combos[@]} - 1; i >= 0; i--)); do order+=("${combos[i]}"); done; fi
	for combo in "${order[@]}"; do
		read -r load ring fmt <<<"$combo"
		run=$((run + 1))
		rate=$([ "$load" = max ] && echo 0 || echo "$load")
		scmd=("$work/storm" -pairs "$PAIRS" -pin="$pin" -rate "$rate" -duration "$((LEAD + D + 5))s")
		jcmd=(bin/jschedlat attach --all --min-latency 0 --kind all --ring-size "$(ringbytes "$ring")" --format "$fmt" --duration "${D}s" -o /dev/null)
		jlog=$work/js-$run.err tfile=$work/time-$run
		echo "run $run/$nruns rep $rep load $load ring $ring format $fmt   load avg $(cut -d' ' -f1-3 /proc/loadavg)"
		echo "  \$ ${scmd[*]} &"
		echo "  \$ ${jcmd[*]}"
		printf '%s &\ntime %s 2>%s\n' "${scmd[*]}" "${jcmd[*]}" "$jlog" >>"$cmds"
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
		sum=$(grep -m1 '^jschedlat: traced=' "$jlog") || { cat "$jlog" >&2; die "no summary line from jschedlat"; }
		echo "  jschedlat: ${sum#jschedlat: }"
		read -r real _ <"$tfile"
		echo "  jschedlat CPU: $(cut -d' ' -f2- "$tfile" | awk '{ printf "user %ss sys %ss", $1, $2 }') in ${real}s wall"
		d=$(dur_s "$(sed -E 's/^jschedlat: traced=([0-9.]+s):.*/\1/' <<<"$sum")")
		if awk -v d="$d" -v want="$D" 'BEGIN { exit !(d > want + 2) }'; then
			echo "  warning: jschedlat ran ${d}s for --duration ${D}s: it did not stop on time under the storm (the storm ran $((LEAD + D + 5))s$([ "$alive" = 0 ] && echo ' and had ended'))"
		fi
		ev=$(sed -nE 's/^jschedlat: traced=[0-9.]+s: ([0-9]+) events.*/\1/p' <<<"$sum")
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
elapsed=$(($(date +%s) - started))

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

# ---- markdown fragment: medians over the repetitions ----
# col LOAD RING FORMAT COLUMN: that column of the runs of one combination.
col() { awk -F'\t' -v l="$1" -v r="$2" -v f="$3" -v c="$4" '$2 == l && $3 == r && $4 == f { print $c }' "$results"; }
median() { stats "$@" | cut -d' ' -f1; }
loadname() { if [ "$1" = max ]; then printf 'unpaced'; else num %d "$1"; fi; }

frag=$work/fragment.md
{
	printf '%s\n\n' "How many events per second jschedlat takes in when it records every wait of every task (\`attach --all --min-latency 0 --kind all\`, records to /dev/null) during a context-switch storm: \`bench/storm\`, ${PAIRS} thread pairs$([ "$PIN" = 1 ] && echo ', each pinned to one CPU,') ping-ponging a byte through pipes (every round trip is two wakeups, so two waits), paced to the load given (round trips/s) or unpaced. Each run starts the storm, waits ${LEAD} s, traces for ${D} s with one ring buffer size and format; every combination once per repetition, in the reverse order every other repetition (the ring sizes alternate). Events/s delivered and lost (failed ring-buffer reservations, counted by the kernel side) are jschedlat's own summary; its CPU is user+sys of the whole process over its run (bash's \`time\`, loading the BPF programs included), as % of one CPU."
	printf 'Settings: `%s`; %s s in all.\n\n' "$settings" "$elapsed"
	printf '| storm load, round trips/s | ring buffer | format | events/s delivered | lost, %% of events | system switches/s | jschedlat CPU, %% of one CPU | CPU per 100k events/s, %% of one CPU | ns of CPU per event | target (≥ %s events/s, 0 lost) |\n' "$(num %d "$TARGET_EVPS")"
	printf '|---|---|---|---|---|---|---|---|---|---|\n'
	best=-1 bestwhere="" verdict=missed
	for load in "${loads[@]}"; do
		for ring in "${rings[@]}"; do
			for fmt in "${formats[@]}"; do
				mapfile -t evps < <(col "$load" "$ring" "$fmt" 5)
				mapfile -t lost < <(col "$load" "$ring" "$fmt" 6)
				mapfile -t lostpct < <(col "$load" "$ring" "$fmt" 7)
				mapfile -t cs < <(col "$load" "$ring" "$fmt" 8)
				mapfile -t cpu < <(col "$load" "$ring" "$fmt" 9)
				mapfile -t per100k < <(col "$load" "$ring" "$fmt" 10)
				mapfile -t nsev < <(col "$load" "$ring" "$fmt" 11)
				nlost=$(printf '%s\n' "${lost[@]}" | awk '$1 > 0 { n++ } END { print n + 0 }')
				med=$(median "${evps[@]}")
				if [ "$nlost" = 0 ]; then lc="0 in all runs"; else lc="$(cell %.3f "${lostpct[@]}") ($nlost of ${#lost[@]} runs lost)"; fi
				low=$(awk -v m="$med" -v t="$TARGET_EVPS" 'BEGIN { print (m < t) }')
				if [ "$nlost" = 0 ] && [ "$low" = 0 ]; then
					t=met verdict=met
				else
					why=()
					[ "$nlost" = 0 ] || why+=(lost)
					[ "$low" = 0 ] || why+=("fewer events/s")
					t="missed ($(printf '%s, ' "${why[@]}" | sed 's/, $//'))"
				fi
				if [ "$nlost" = 0 ] && awk -v m="$med" -v b="$best" 'BEGIN { exit !(m > b) }'; then
					best=$med bestwhere="load $(loadname "$load"), ring $ring, $fmt"
				fi
				printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(loadname "$load")" "$ring" "$fmt" "$(cell %.0f "${evps[@]}")" "$lc" \
					"$(cell %.0f "${cs[@]}")" "$(cell %.1f "${cpu[@]}")" "$(cell %.2f "${per100k[@]}")" "$(cell %.0f "${nsev[@]}")" "$t"
			done
		done
	done
	printf '\n'
	# The smallest ring size that lost nothing in any run, per load (and format).
	byteorder=$(for r in "${rings[@]}"; do printf '%s %s\n' "$(ringbytes "$r")" "$r"; done | sort -n | cut -d' ' -f2)
	for load in "${loads[@]}"; do
		for fmt in "${formats[@]}"; do
			need=""
			for ring in $byteorder; do
				if [ "$(col "$load" "$ring" "$fmt" 6 | awk '$1 > 0 { n++ } END { print n + 0 }')" = 0 ]; then need=$ring; break; fi
			done
			tried=$(tr '\n' ' ' <<<"$byteorder" | sed 's/ $//; s/ /, /g')
			if [ -n "$need" ]; then
				printf -- '- Ring buffer needed at load %s, %s: %s (the smallest of the sizes tried, %s, with 0 lost in all its runs).\n' "$(loadname "$load")" "$fmt" "$need" "$tried"
			else
				printf -- '- Ring buffer needed at load %s, %s: more than tried (every size tried, %s, lost events in some run).\n' "$(loadname "$load")" "$fmt" "$tried"
			fi
		done
	done
	if [ "$best" != -1 ]; then
		printf -- '- Highest median events/s delivered with 0 lost in every run: %s (%s).\n' "$(num %.0f "$best")" "$bestwhere"
	else
		printf -- '- Every combination lost events in some run.\n'
	fi
	mapfile -t ok100k < <(awk -F'\t' '$6 == 0 { print $10 }' "$results")
	mapfile -t okns < <(awk -F'\t' '$6 == 0 { print $11 }' "$results")
	[ ${#ok100k[@]} -eq 0 ] || printf -- '- User space, over the %s runs without loss: %s %% of one CPU per 100k events/s, %s ns of CPU per event.\n' \
		"${#ok100k[@]}" "$(cell %.2f "${ok100k[@]}")" "$(cell %.0f "${okns[@]}")"
	# The line scripts/bench.sh collects into the summary of targets.
	printf '\nTarget: ≥ %s events/s delivered (median) with 0 lost in every run, at some ring size: %s%s\n\n' "$(num %d "$TARGET_EVPS")" "$verdict" \
		"$([ "$best" != -1 ] && printf ' (best without loss: %s events/s, %s)' "$(num %.0f "$best")" "$bestwhere")"
	printf 'Cells: median [min–max] over %s runs per combination.\n\n' "$R"
} >"$frag"

echo
echo "== summary"
cat "$frag"
if [ -n "${MD:-}" ]; then
	cat "$work/head.md" "$frag" >>"$MD"
	md_cmds "$cmds"
fi
