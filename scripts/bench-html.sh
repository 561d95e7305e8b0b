#!/usr/bin/env bash
# bench-html: how big the `report --html` page is and how fast it opens,
# as the number of records grows.
#
# For each N, writes N synthetic records and N/10 requests
# (bench/genrecords), times `bin/jschedlat report --html` (wall, max RSS),
# then opens the page in headless Chromium R times: the page's own
# script time (parse the data, draw everything: data-render-ms) and
# Chromium's wall time for --dump-dom, against an empty page's.
#
# Usage: scripts/bench-html.sh
# Environment: NS ["100000 1000000 10000000"] record counts, R [3] opens per page
set -euo pipefail
cd "$(dirname "$0")/.."
NS=${NS:-100000 1000000 10000000} R=${R:-3}
die() { echo "bench-html: $*" >&2; exit 1; }
[ -x bin/jschedlat ] || die "bin/jschedlat missing: run make build"
command -v chromium >/dev/null || die "chromium missing (apt-get install -y chromium)"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
work=$(mktemp -d /tmp/bench-html.XXXXXX)
trap 'rm -rf "$work"' EXIT
go build -o "$work/genrecords" ./bench/genrecords
open_page() { # file -> "wall_s render_ms"
	local s e dom
	s=$(date +%s.%N)
	dom=$(chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
		--disable-component-update --disable-sync --user-data-dir="$work/profile" --window-size=1400,2400 \
		--dump-dom "file://$1" 2>/dev/null)
	e=$(date +%s.%N)
	local ms
	ms=$(grep -o 'data-render-ms="[0-9.]*"' <<<"$dom" | grep -o '[0-9.]*' || echo "-")
	grep -q 'data-rendered="ok"' <<<"$dom" || [ "$ms" = "-" ] || die "$1 did not render"
	echo "$(awk -v s="$s" -v e="$e" 'BEGIN { printf "%.2f", e - s }') $ms"
}
echo '<html><body></body></html>' >"$work/empty.html"
open_page "$work/empty.html" >/dev/null # first start warms the profile
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), $(uname -r); $(chromium --version 2>/dev/null | head -1); $(date -u +%FT%TZ)"
read -r empty_wall _ < <(open_page "$work/empty.html")
echo "empty page: Chromium wall ${empty_wall} s"
printf '%-9s %-12s %-10s %-11s %-12s %-s\n' records "report s" "max RSS" "page bytes" "render ms" "Chromium wall s (empty: $empty_wall)"
for n in $NS; do
	"$work/genrecords" -n "$n" -app-log "$work/app.csv" >"$work/r.csv"
	/usr/bin/time -f "%e %M" -o "$work/time" bin/jschedlat report "$work/r.csv" -o /dev/null --html "$work/p.html" \
		--app-log "$work/app.csv" --app-out "$work/app.out.csv" --slo 10ms 2>/dev/null
	read -r secs kb <"$work/time"
	renders=() walls=()
	for r in $(seq "$R"); do
		read -r wall ms < <(open_page "$work/p.html")
		walls+=("$wall") renders+=("$ms")
	done
	printf '%-9s %-12s %-10s %-11s %-12s %-s\n' "$n" "$secs" "$((kb / 1024)) MiB" "$(stat -c %s "$work/p.html")" "${renders[*]}" "${walls[*]}"
	rm -f "$work/r.csv" "$work/app.csv"
done
