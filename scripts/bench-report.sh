#!/usr/bin/env bash
# bench-report: how fast `jschedlat report` reads records, and that its
# memory does not grow with their number.
#
# For each N, writes N synthetic records (bench/genrecords: CSV as attach
# writes them, THREADS threads in 10 pools) to a file once, then times
# `bin/jschedlat report FILE -o /dev/null` with /usr/bin/time: wall
# time, records/s and peak resident memory (max RSS).
#
# Usage: scripts/bench-report.sh
# Environment (defaults in brackets):
#   NS ["1000000 10000000"] record counts   THREADS [200]   R [3] runs per N
#   KEEP [0] 1 = keep the record files (about 190 bytes per record)
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS:-1000000 10000000} THREADS=${THREADS:-200} R=${R:-3} KEEP=${KEEP:-0}
die() { echo "bench-report: $*" >&2; exit 1; }
[ -x bin/jschedlat ] || die "bin/jschedlat missing: run make build"
[ -x /usr/bin/time ] || die "/usr/bin/time missing (apt-get install time)"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
work=$(mktemp -d /tmp/bench-report.XXXXXX)
cleanup() { [ "$KEEP" = 1 ] && echo "kept $work" || rm -rf "$work"; }
trap cleanup EXIT
go build -o "$work/genrecords" ./bench/genrecords
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -r); $(date -u +%FT%TZ)"
results=()
for n in $NS; do
	f="$work/records-$n.csv"
	"$work/genrecords" -n "$n" -threads "$THREADS" >"$f"
	size=$(stat -c %s "$f")
	for r in $(seq "$R"); do
		/usr/bin/time -f "%e %M" -o "$work/time" bin/jschedlat report "$f" -o /dev/null
		read -r secs kb <"$work/time"
		rate=$(awk -v n="$n" -v s="$secs" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }')
		echo "  N=$n run $r: ${secs} s, ${rate} records/s, max RSS ${kb} KiB"
		results+=("$n $size $r $secs $rate $kb")
	done
	rm -f "$f"
done
echo
echo "== results (file read from the page cache after the first run)"
printf "%12s %10s %4s %8s %12s %12s\n" records "file MiB" run "wall s" "records/s" "max RSS MiB"
for l in "${results[@]}"; do
	read -r n size r secs rate kb <<<"$l"
	printf "%12d %10.0f %4d %8.2f %12d %12.1f\n" "$n" "$(awk -v s="$size" 'BEGIN{print s/1048576}')" "$r" "$secs" "$rate" "$(awk -v k="$kb" 'BEGIN{print k/1024}')"
done
