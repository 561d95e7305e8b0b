#!/usr/bin/env bash
# bench: the whole benchmark suite, written to docs/results/benchmarks.md.
#
# Runs each experiment script with MD set to a fragment file, then writes
# OUT: a header (machine, date, commit, how long it took), a summary of the
# targets and the fragments in order. An experiment that fails keeps its
# place in the document with the tail of its log, and the suite exits
# non-zero after writing the document.
#
#   1  cost to the traced JVM    scripts/bench-observer.sh
#   1b the same at a high context-switch rate (requests of ~30 µs of CPU
#      and 100 µs parked: ~35k switches/s on 2 CPUs; perf's cost grows with
#      the rate); jschedlat at defaults and perf only
#   2 kernel-side cost           scripts/bench-bpfcost.sh
#   3 ingest ceiling             scripts/bench-ingest.sh
#   4 thread identity cost       scripts/bench-dumpcost.sh
#   5 offline throughput         scripts/bench-offline.sh
#   6 host CPU of every wait against perf sched record, side by side
#                                scripts/bench-hostcpu.sh
#   7 safepoints the tool causes (with and without thread dumps) and its
#     start-up CPU               scripts/bench-safepoints.sh
#   8 user-space cost per event  scripts/bench-pipeline.sh
#   9 virtual threads at the switch-out  scripts/bench-vthreads.sh
#
# Each script documents its own settings (environment variables); they are
# passed through, so `R=3 make bench` shortens the repeated experiments.
#
# Usage (root): make bench   or   scripts/bench.sh
# Environment (defaults in brackets):
#   EXPERIMENTS ["1 1b 2 3 4 5 6 7 8 9"]   OUT [docs/results/benchmarks.md]
#   INSTALL [1] apt-get install the compared tools when missing (linux-perf,
#     libbpf-tools, bpfcc-tools) and /usr/bin/time; 0 = use what is there
#   KEEP [0] 1 = keep the logs of every experiment
#   UPDATE [0] 1 = rerun only EXPERIMENTS and keep the other experiments'
#     sections of the existing OUT (each section names its own date and
#     commit); the targets summary is rebuilt from all of them
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

EXPERIMENTS=${EXPERIMENTS:-1 1b 2 3 4 5 6 7 8 9} OUT=${OUT:-docs/results/benchmarks.md}
INSTALL=${INSTALL:-1} KEEP=${KEEP:-0} UPDATE=${UPDATE:-0}
ALL="1 1b 2 3 4 5 6 7 8 9"

die() { echo "bench: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (loads eBPF, sets sysctls, runs perf): sudo make bench"
command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
command -v go >/dev/null || die "go not found"

declare -A title=([1]="cost to the traced JVM" [1b]="cost to the traced JVM, high switch rate" [2]="kernel-side cost" [3]="ingest ceiling"
	[4]="thread identity cost" [5]="offline throughput" [6]="host CPU side by side with perf" [7]="safepoints and start-up" [8]="user-space cost per event" [9]="virtual threads at the switch-out")
declare -A script=([1]=scripts/bench-observer.sh [1b]=scripts/bench-observer.sh [2]=scripts/bench-bpfcost.sh [3]=scripts/bench-ingest.sh
	[4]=scripts/bench-dumpcost.sh [5]=scripts/bench-offline.sh [6]=scripts/bench-hostcpu.sh [7]=scripts/bench-safepoints.sh [8]=scripts/bench-pipeline.sh [9]=scripts/bench-vthreads.sh)
# Settings of an experiment that reuses another's script (the user's own
# environment still wins: they are defaults).
declare -A settings=([1b]="TITLE=1b.|Cost|to|the|traced|JVM|at|a|high|context-switch|rate WORK=30 THINK_US=100 MODES=off|on-defaults|perf-sched")
for e in $EXPERIMENTS; do
	[ -n "${script[$e]:-}" ] || die "EXPERIMENTS: no experiment $e (1 1b 2 3 4 5 6 7 8 9)"
done

if [ "$INSTALL" = 1 ]; then
	# The compared tools; an experiment records a skip when one is still missing.
	missing=()
	command -v perf >/dev/null || missing+=(linux-perf)
	[ -x /usr/sbin/runqslower ] || missing+=(libbpf-tools)
	[ -x /usr/sbin/runqslower-bpfcc ] || missing+=(bpfcc-tools)
	[ -x /usr/bin/time ] || missing+=(time)
	command -v javac >/dev/null || missing+=(openjdk-17-jdk-headless)
	if [ "${#missing[@]}" -gt 0 ]; then
		echo "bench: installing ${missing[*]}" >&2
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"; } >&2 ||
			echo "bench: WARNING: could not install ${missing[*]}; the experiments that need them record a skip" >&2
	fi
fi

work=$(mktemp -d /tmp/bench.XXXXXX)
cleanup() { if [ "$KEEP" = 1 ]; then echo "bench: logs kept in $work" >&2; else rm -rf "$work"; fi; }
trap cleanup EXIT

make -s build >&2
others=$(pgrep -x jschedlat | tr '\n' ' ' || true)
[ -z "$others" ] || echo "bench: WARNING: other jschedlat processes are running ($others): they load the machine and the numbers" >&2

# UPDATE=1: the sections of the experiments not rerun, from the existing OUT.
kept=()
if [ "$UPDATE" = 1 ]; then
	[ -f "$OUT" ] || die "UPDATE=1: $OUT does not exist: run the whole suite first"
	for e in $ALL; do
		[[ " $EXPERIMENTS " == *" $e "* ]] && continue
		awk -v id="$e" '/^## [0-9]+[a-z]*\. / { on = index($0, "## " id ". ") == 1 } on' "$OUT" >"$work/$e.md"
		if [ -s "$work/$e.md" ]; then kept+=("$e"); else rm -f "$work/$e.md"; fi
	done
fi

start=$(date +%s) started=$(date -u +%Y-%m-%dT%H:%M:%SZ) failed=()
for e in $EXPERIMENTS; do
	frag=$work/$e.md log=$work/$e.log
	: >"$frag"
	echo "bench: experiment $e (${title[$e]}): ${script[$e]}   $(date -u +%H:%M:%S)" >&2
	s=$(date +%s)
	envs=()
	for kv in ${settings[$e]:-}; do
		k=${kv%%=*}
		[ -n "${!k:-}" ] || envs+=("${kv//|/ }")
	done
	if env "${envs[@]}" MD="$frag" bash "${script[$e]}" >"$log" 2>&1; then
		echo "bench: experiment $e done in $(($(date +%s) - s)) s" >&2
	else
		rc=$?
		failed+=("$e")
		echo "bench: experiment $e FAILED (exit $rc) after $(($(date +%s) - s)) s; last lines of its log:" >&2
		tail -n 15 "$log" >&2
		{
			[ -s "$frag" ] || printf '## %s. %s\n\n' "$e" "${title[$e]}"
			printf '**This experiment failed** (`%s` exited %d). The last lines of its log:\n\n```\n' "${script[$e]}" "$rc"
			tail -n 15 "$log"
			printf '```\n\n'
		} >>"$frag"
	fi
done
secs=$(($(date +%s) - start))

{
	printf '# Benchmarks\n\n'
	printf 'Written by `sudo make bench` (scripts/bench.sh) on %s, %s, jschedlat %s; the suite took %d min %d s.\n' \
		"$(md_machine)" "$started" "$(md_commit)" $((secs / 60)) $((secs % 60))
	[ "${#kept[@]}" -eq 0 ] || printf 'This run (`UPDATE=1 EXPERIMENTS="%s"`) redid experiments %s; the sections of experiments %s are kept from the run before, each with its own date and commit.\n' \
		"$EXPERIMENTS" "$EXPERIMENTS" "${kept[*]}"
	printf 'JDKs: %s; %s.\n\n' "$(java -version 2>&1 | head -1)" \
		"$(/usr/lib/jvm/temurin-25-jdk-amd64/bin/java -version 2>&1 | head -1 || echo 'no Temurin 25')"
	printf 'Every table gives the median and [min–max] of repeated runs, alternated between the variants '
	printf 'compared (the order reversed every other repetition), and lists the exact command of every run. '
	printf 'Rerun one experiment with `EXPERIMENTS=N make bench`; each script documents its settings '
	printf '(environment variables) in its header. The numbers depend on the machine and on what else runs on it: '
	printf 'this is a 2-vCPU VM, so each run'"'"'s load average is printed in the logs and the spread shows the noise.\n\n'
	if [ "${#failed[@]}" -gt 0 ]; then
		printf '**Failed experiments: %s** (see their sections).\n\n' "${failed[*]}"
	fi
	printf '## Targets\n\n| experiment | target | result |\n|---|---|---|\n'
	order=()
	for e in $ALL; do [ -f "$work/$e.md" ] && order+=("$e"); done
	for e in "${order[@]}"; do
		# A fragment states its targets on lines "Target: WHAT: met|missed (...)".
		grep -h '^Target: ' "$work/$e.md" | sed -E "s/^Target: ([^:]*): (.*)$/| $e. ${title[$e]} | \1 | \2 |/" || true
	done
	printf '\n'
	for e in "${order[@]}"; do
		# A kept section already ends with its blank line.
		cat "$work/$e.md"
		[[ " ${kept[*]} " == *" $e "* ]] || printf '\n'
	done
} >"$work/out.md"
mkdir -p "$(dirname "$OUT")"
mv "$work/out.md" "$OUT"
echo "bench: wrote $OUT in $((secs / 60)) min $((secs % 60)) s" >&2
[ "${#failed[@]}" -eq 0 ] || die "experiments failed: ${failed[*]}"
