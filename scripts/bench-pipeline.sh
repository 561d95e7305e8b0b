#!/usr/bin/env bash
# bench-pipeline: user-space cost per event of the live path (decode-side
# conversion, join, encode, write to a file), from BenchmarkPipelinePerEvent
# (session/pipeline_bench_test.go), against the target of 250 ns.
#
# Runs the benchmark R times (-count) over N events each and reports, per
# format, ns/event (wall), user and system CPU per event (getrusage) and
# allocations per event: median [min–max] over the runs.
# With MD set (scripts/bench.sh), also appends the markdown fragment.
#
# Usage: scripts/bench-pipeline.sh   Environment: R [6]  N [300000]  TITLE
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
R=${R:-6} N=${N:-300000} TITLE=${TITLE:-8. User-space cost per event}
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
for n in R N; do [[ ${!n} =~ ^[0-9]+$ ]] || { echo "bench-pipeline: $n must be a whole number" >&2; exit 1; }; done

cmd="go test -run ^\$ -bench PipelinePerEvent/all -benchmem -count $R -benchtime ${N}x ./session/"
out=$($cmd 2>&1) || { echo "$out" >&2; exit 1; }
md_begin "$TITLE"
echo "== bench-pipeline: user-space cost per event (target <= 250 ns)"
header="| format | ns/event | user ns/event | sys ns/event | allocs/event |"
rows=()
declare -A cpu allocs
for f in csv jsonl; do
	lines=$(grep "PipelinePerEvent/all/$f" <<<"$out")
	col() { awk -v k="$1" '{ for (i = 2; i < NF; i++) if ($(i + 1) == k) print $i }' <<<"$lines"; }
	# shellcheck disable=SC2046
	rows+=("| $f | $(cell %.0f $(col ns/event)) | $(cell %.0f $(col user-ns/event)) | $(cell %.0f $(col sys-ns/event)) | $(cell %.0f $(col allocs/op)) |")
	# The target counts the process's CPU, user and system, per event:
	# the median of user+sys over the runs, and allocations in any run.
	cpu[$f]=$(paste <(col user-ns/event) <(col sys-ns/event) | awk '{ print $1 + $2 }' | sort -n |
		awk '{ v[NR] = $1 } END { printf "%.0f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }')
	allocs[$f]=$(col allocs/op | sort -n | tail -1)
done
verdict=met
for f in csv jsonl; do
	if [ "${cpu[$f]}" -gt 250 ] || [ "$(printf '%.0f' "${allocs[$f]}")" -gt 0 ]; then verdict=missed; fi
done
verdict="$verdict (user+sys CPU per event, median: csv ${cpu[csv]} ns, jsonl ${cpu[jsonl]} ns; allocations per event at most ${allocs[csv]} and ${allocs[jsonl]})"
printf '%s\n' "$header" "${rows[@]}"
[ -n "${MD:-}" ] || exit 0
md "\`BenchmarkPipelinePerEvent\` drives one session as \`Session.Run\` does: per event \`bpf.Event.Convert\` and" \
	"\`Session.add\` (join), after each drain (every second, as for a JVM whose threads name themselves once its probes are in) \`emit\` (encode, write to a file through \`sink\`) — over a" \
	"synthetic JVM run (200k waits of ~200 named threads, births, exits, renames, VM operations). CPU per event" \
	"from getrusage; cells median [min–max] over $R runs of $N events. Ring-buffer decoding (3.5 ns/event," \
	"\`go test -bench Decode ./bpf/\`) is not in it." "" "$header" "|---|---|---|---|---|" "${rows[@]}" "" \
	"Target: user-space CPU ≤ 250 ns per event with no allocation: $verdict" "" \
	"Command: \`$cmd\`" ""
