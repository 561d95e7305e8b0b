#!/usr/bin/env bash
# bench-offline: how fast jschedlat works offline, and that its memory does
# not grow with the input: `replay` (the join re-run from a saved event log
# and its dumps) and `report` (reading records).
#
# For each N, writes once:
#   - a saved event log of N run-queue waits and its --save-dumps directory
#     (bench/genevents: one JVM of ~THREADS threads in 10 pools on 8 CPUs,
#     10k waits per second of trace time, a dump every 30 s, threads born,
#     ended and renamed in between, GC pauses), which replay turns into N
#     rows, each with a Java name;
#   - N synthetic records (bench/genrecords: CSV as attach writes them,
#     THREADS threads in 10 pools);
# then R repetitions, each running both, alternately (the order reversed
# every other repetition):
#   replay  BIN replay --events EVENTS --dumps DUMPS -o /dev/null
#   report  BIN report RECORDS -o /dev/null
# under /usr/bin/time: wall time, rows/s, CPU time and peak resident
# memory (max RSS). The files are read once before the runs, so that every
# run reads them from the page cache. Each replay must write N rows.
# First, a check replays CHECK_N generated waits to a file and counts the
# rows that got a Java name (all should).
#
# With MD set (scripts/bench.sh), appends experiment 5's markdown fragment
# to $MD: the table (median [min–max] over the R runs), the target (replay
# >= 1 M rows/s on the largest N, judged on the median) and every command.
#
# Usage: scripts/bench-offline.sh
# Environment (defaults in brackets; the defaults take about 5 min on an
# idle 2-CPU machine, most of it the 10 M replays):
#   NS ["1000000 10000000"] sizes: waits (replay) and records (report)
#   THREADS [200]   R [3] runs per tool and size
#   CHECK_N [100000] waits replayed by the name check (0 = no check)
#   BIN [bin/jschedlat]   KEEP [0] 1 = keep the work dir (its logs; the
#     generated files of each size are deleted after its runs either way)
#   TMPDIR [/tmp] where the files go: about 400 bytes per N of the largest N
#   MD [unset] markdown fragment to append to (see scripts/bench-lib.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

NS=${NS:-1000000 10000000} THREADS=${THREADS:-200} R=${R:-3} CHECK_N=${CHECK_N:-100000}
BIN=${BIN:-bin/jschedlat} KEEP=${KEEP:-0}
die() { echo "bench-offline: $*" >&2; exit 1; }
[ -x "$BIN" ] || die "$BIN missing: run make build"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found (it builds the generators)"
for n in R THREADS CHECK_N; do
	[[ ${!n} =~ ^[0-9]+$ ]] || die "$n=${!n}: must be a whole number"
done
[ "$R" -ge 1 ] || die "R must be >= 1"
read -r -a sizes <<<"$NS"
[ "${#sizes[@]}" -gt 0 ] || die "NS must not be empty"
maxn=0
for n in "${sizes[@]}"; do
	[[ $n =~ ^[1-9][0-9]*$ ]] || die "size $n: must be a whole number >= 1"
	[ "$n" -le "$maxn" ] || maxn=$n
done

work=$(mktemp -d "${TMPDIR:-/tmp}/bench-offline.XXXXXX")
cleanup() {
	if [ "$KEEP" = 1 ]; then
		echo "bench-offline: logs kept in $work" >&2
		rm -rf "$work"/data
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The largest size's files live together: ~235 bytes per wait in the event
# log, ~150 per CSV record, plus margin.
need=$((maxn * 400 + (1 << 28)))
avail=$(df --output=avail -B1 "$work" | tail -1)
[ "$avail" -ge "$need" ] || die "needs $((need >> 20)) MiB in $work's file system, $((avail >> 20)) MiB free (set TMPDIR or NS)"

go build -o "$work/genevents" ./bench/genevents
go build -o "$work/genrecords" ./bench/genrecords
# A private copy: make build in the same tree cannot swap it mid-run.
cp "$BIN" "$work/jschedlat"
cmds=$work/commands.txt
: >"$cmds"
mkdir -p "$work/data"
# The runs happen in the work directory: short, exact commands.
repo=$PWD commit=$(md_commit)
cd "$work"
bin=./jschedlat

commas() { sed -E ':a;s/([0-9])([0-9]{3})($|[^0-9])/\1,\2\3/;ta' <<<"$1"; }
label() { # 10000000 -> "10 M"
	local n=$1
	if [ $((n % 1000000)) = 0 ]; then echo "$((n / 1000000)) M"
	elif [ $((n % 1000)) = 0 ]; then echo "$((n / 1000)) k"
	else commas "$n"; fi
}
pl() { if [ "$1" = 1 ]; then echo "1 $2"; else echo "$(commas "$1") $2s"; fi; }
mib() { awk -v b="$1" 'BEGIN { printf "%.0f", b / 1048576 }'; }
# "median [min–max]" of the values in FMT; awk throughout (bench-lib's
# stats prints through awk's %.6g, which would cut rows/s).
cell() { # FMT VALUES...
	local fmt=$1
	shift
	printf '%s\n' "$@" | sort -g | awk -v f="$fmt" '{ v[NR] = $1 } END {
		if (NR == 0) { print "–"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		printf f " [" f "–" f "]\n", m, v[1], v[NR] }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.6f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "== bench-offline: replay and report throughput and memory"
echo "machine: $(md_machine); $(date -u +%FT%TZ); load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "jschedlat: $commit   settings: NS='$NS' THREADS=$THREADS R=$R CHECK_N=$CHECK_N"
echo

# The name check: replay to a file, count rows, Java names and sources.
check=""
if [ "$CHECK_N" -gt 0 ]; then
	d=data/check
	mkdir -p "$d"
	./genevents -n "$CHECK_N" -threads "$THREADS" -events "$d/events.jsonl" -dumps "$d/dumps" 2>check-gen.log
	echo "./genevents -n $CHECK_N -threads $THREADS -events $d/events.jsonl -dumps $d/dumps    # name check" >>"$cmds"
	"$bin" replay --events "$d/events.jsonl" --dumps "$d/dumps" -o "$d/rows.csv" 2>check-replay.log ||
		{ cat check-replay.log >&2; die "replay failed in the name check"; }
	echo "$bin replay --events $d/events.jsonl --dumps $d/dumps -o $d/rows.csv    # name check" >>"$cmds"
	# The generated names hold no comma or quote: a plain split is exact.
	read -r rows unnamed prevjvm prevunnamed sources <<<"$(awk -F, '
		NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
		{ rows++; if ($c["java_thread"] == "") unnamed++; src[$c["name_source"]]++
		  if ($c["prev_pid"] == $c["pid"]) { prev++; if ($c["prev_java_thread"] == "") prevun++ } }
		END { s = ""; for (k in src) s = s (s == "" ? "" : ";") k "=" src[k]
		      printf "%d %d %d %d %s\n", rows, unnamed, prev, prevun, s }' "$d/rows.csv")"
	[ "$rows" = "$CHECK_N" ] || die "name check: replay wrote $rows rows of $CHECK_N waits"
	srcs=$(tr ';' '\n' <<<"$sources" | sort | awk -F= -v n="$rows" '{ printf "%s%s %.1f%%", (NR > 1 ? ", " : ""), $1, 100 * $2 / n }')
	check="replaying $(commas "$CHECK_N") generated waits wrote $(commas "$rows") rows; java_thread is empty in $unnamed of them, prev_java_thread in $prevunnamed of the $(commas "$prevjvm") whose CPU holder was a thread of the JVM; name sources: $srcs"
	echo "check: $check"
	rm -rf "$d"
fi

results=$work/results.tsv # n tool rep wall cpu rss_kib rows
: >"$results"
declare -A input gensum
for n in "${sizes[@]}"; do
	d=data/$n
	mkdir -p "$d"
	echo "N=$n: generating"
	./genevents -n "$n" -threads "$THREADS" -events "$d/events.jsonl" -dumps "$d/dumps" 2>"gen-$n.log" ||
		{ cat "gen-$n.log" >&2; die "genevents failed"; }
	echo "./genevents -n $n -threads $THREADS -events $d/events.jsonl -dumps $d/dumps" >>"$cmds"
	gensum[$n]=$(sed -n 's/^genevents: //p' "gen-$n.log")
	./genrecords -n "$n" -threads "$THREADS" >"$d/records.csv"
	echo "./genrecords -n $n -threads $THREADS >$d/records.csv" >>"$cmds"
	ndumps=$(grep -c . "$d/dumps/index.jsonl")
	input[$n:replay]="event log $(mib "$(stat -c %s "$d/events.jsonl")") MiB, $ndumps dump$([ "$ndumps" = 1 ] || echo s) $(awk -v b="$(du -sb "$d/dumps" | cut -f1)" 'BEGIN { printf "%.1f", b / 1048576 }') MiB"
	input[$n:report]="CSV $(mib "$(stat -c %s "$d/records.csv")") MiB"
	echo "  ${gensum[$n]}"
	echo "  replay input: ${input[$n:replay]}; report input: ${input[$n:report]}"
	cat "$d/events.jsonl" "$d/dumps"/* "$d/records.csv" >/dev/null # into the page cache
	for rep in $(seq "$R"); do
		if [ $((rep % 2)) = 1 ]; then order=(replay report); else order=(report replay); fi
		for tool in "${order[@]}"; do
			case $tool in
			replay) cmd=("$bin" replay --events "$d/events.jsonl" --dumps "$d/dumps" -o /dev/null) ;;
			report) cmd=("$bin" report "$d/records.csv" -o /dev/null) ;;
			esac
			tf=time-$n-$rep-$tool
			echo "/usr/bin/time -f '%U %S %M' -o $tf ${cmd[*]}" >>"$cmds"
			t0=$EPOCHREALTIME
			/usr/bin/time -f '%U %S %M' -o "$tf" "${cmd[@]}" 2>"$tool-$n-$rep.log" >/dev/null ||
				{ cat "$tool-$n-$rep.log" >&2; die "$tool failed (N=$n, run $rep): ${cmd[*]}"; }
			t1=$EPOCHREALTIME
			read -r us sy kib < <(tail -1 "$tf")
			rows=$n
			if [ "$tool" = replay ]; then
				rows=$(sed -nE 's/^jschedlat: ([0-9]+) records written .*/\1/p' "$tool-$n-$rep.log")
				[ "$rows" = "$n" ] || die "replay wrote ${rows:-no count of} rows of $n waits (run $rep)"
			fi
			read -r wall cpu <<<"$(awk -v a="$t0" -v b="$t1" -v u="$us" -v s="$sy" 'BEGIN { printf "%.3f %.2f", b - a, u + s }')"
			printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$n" "$tool" "$rep" "$wall" "$cpu" "$kib" "$rows" >>"$results"
			printf '  run %d %-6s %8.2f s  %10.0f rows/s  cpu %7.2f s  max RSS %7.1f MiB\n' "$rep" "$tool" "$wall" \
				"$(awk -v n="$rows" -v w="$wall" 'BEGIN { print n / w }')" "$cpu" "$(awk -v k="$kib" 'BEGIN { print k / 1024 }')"
		done
	done
	rm -rf "$d"
done

col() { awk -F'\t' -v n="$1" -v t="$2" -v c="$3" '$1 == n && $2 == t { print $c }' "$results"; }
rates() { awk -F'\t' -v n="$1" -v t="$2" '$1 == n && $2 == t { printf "%.0f\n", $7 / $4 }' "$results"; }
rssmib() { awk -F'\t' -v n="$1" -v t="$2" '$1 == n && $2 == t { printf "%.1f\n", $6 / 1024 }' "$results"; }
# measures SIZE TOOL: its runs' wall s (w), CPU s (c), rows/s (rs), max RSS MiB (m).
measures() {
	mapfile -t w < <(col "$1" "$2" 4)
	mapfile -t c < <(col "$1" "$2" 5)
	mapfile -t rs < <(rates "$1" "$2")
	mapfile -t m < <(rssmib "$1" "$2")
}

echo
echo "== results: median [min-max] over $R runs; load at end $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %-7s %-36s %-22s %-28s %-22s %s\n' size tool input "wall s" "rows/s" "cpu s" "max RSS MiB"
for n in "${sizes[@]}"; do
	for tool in replay report; do
		measures "$n" "$tool"
		printf '%-8s %-7s %-36s %-22s %-28s %-22s %s\n' "$(label "$n")" "$tool" "${input[$n:$tool]}" \
			"$(cell %.2f "${w[@]}")" "$(cell %.0f "${rs[@]}")" "$(cell %.2f "${c[@]}")" "$(cell %.1f "${m[@]}")"
	done
done

[ -n "${MD:-}" ] || exit 0
cd "$repo" # md_begin reads the commit
md_begin "5. Offline throughput"
md "How fast jschedlat works on saved data, and whether its memory grows with it. \`replay\` re-runs the" \
	"join offline from an event log saved by \`attach --save-events\` and the dumps saved by \`--save-dumps\`:" \
	"here a synthetic log (\`bench/genevents\`) of one JVM with ~$THREADS threads in 10 pools on 8 CPUs," \
	"10,000 waits per second of trace time (wakeups, preemptions, a few yields and first runs, after a" \
	"thread of the JVM, another process or an idle CPU), a thread dump every 30 s, short-lived threads" \
	"born and ended, batch threads renaming themselves and GC pauses in between, as HotSpot's probes report" \
	"them; every wait becomes one row with a Java name. \`report\` reads N synthetic CSV records" \
	"(\`bench/genrecords\`, $THREADS threads in 10 pools). Each size's files are written once and read" \
	"once before the runs, so every run reads them from the page cache; output goes to /dev/null." \
	"$R runs of each tool per size, alternated (replay first in odd runs, report first in even ones), each" \
	"under \`/usr/bin/time\`: wall time (rows/s = rows / wall), CPU time (user + system) and max RSS." \
	"" "Settings: NS=\"$NS\", THREADS=$THREADS, R=$R, CHECK_N=$CHECK_N. The commands run in a work directory" \
	"under ${TMPDIR:-/tmp}, where \`./jschedlat\` is a copy of $BIN." ""
for n in "${sizes[@]}"; do
	declare -A g=()
	for kv in ${gensum[$n]}; do g[${kv%%=*}]=${kv#*=}; done
	md "- $(label "$n") event log: $(commas "${g[events]}") events over $(commas "${g[trace_seconds]%.*}") s of trace time:" \
		"  $(pl "${g[waits]}" wait), $(pl "${g[dumps]}" dump), $(pl "${g[births]}" thread) born (named by" \
		"  HotSpot's thread start probe) and $(commas "${g[exits]}") ended, $(pl "${g[thread_names]}" self-rename)," \
		"  $(pl "${g[vmops]}" "VM operation event"); up to ${g[max_live_threads]} threads alive."
done
[ -z "$check" ] || md "- Name check: $check."
md "" "| size | tool | input | wall s | rows/s | CPU s | max RSS MiB | target: replay ≥ 1 M rows/s |" \
	"|---|---|---|---|---|---|---|---|"
for n in "${sizes[@]}"; do
	for tool in replay report; do
		measures "$n" "$tool"
		verdict="–"
		if [ "$tool" = replay ]; then
			verdict=$(awk -v r="$(median "${rs[@]}")" 'BEGIN { print (r >= 1e6 ? "met" : "missed") }')
		fi
		md "| $(label "$n") | \`$tool\` | ${input[$n:$tool]} | $(cell %.2f "${w[@]}") | $(commas "$(cell %.0f "${rs[@]}")") | $(cell %.2f "${c[@]}") | $(cell %.1f "${m[@]}") | $verdict |"
	done
done
first=${sizes[0]}
mapfile -t rs < <(rates "$maxn" replay)
med=$(median "${rs[@]}")
verdict=$(awk -v r="$med" 'BEGIN { print (r >= 1e6 ? "met" : "missed") }')
rss_med() { local v; mapfile -t v < <(rssmib "$1" "$2"); cell %.1f "${v[@]}" | cut -d' ' -f1; }
md ""
[ "$first" = "$maxn" ] ||
	md "Medians of max RSS from $(label "$first") to $(label "$maxn"): replay $(rss_med "$first" replay) → $(rss_med "$maxn" replay) MiB, report $(rss_med "$first" report) → $(rss_med "$maxn" report) MiB."
md "Load average $(cut -d' ' -f1-3 /proc/loadavg) at the end." "" \
	"Target: replay ≥ 1 M rows/s ($(label "$maxn") events): $verdict (median $(commas "$(printf '%.0f' "$med")") rows/s)" ""
md_cmds "$cmds"
