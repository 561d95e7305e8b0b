# bench-lib.sh: shared by the bench-*.sh scripts (source it). Writes the
# markdown fragment an experiment adds to docs/results/benchmarks.md when MD is set
# (scripts/bench.sh sets it); without MD the functions do nothing.
#
#   md_begin "TITLE"          starts the fragment: "## TITLE" and the line
#                             with the machine, the date and the commit
#   md "TEXT..."              appends lines (printf %s\n each argument)
#   md_cmds FILE              appends FILE (one command per line) as a
#                             collapsed list of the exact commands run
#   stats VALUES...           "median min max"
#   num FMT X...              the numbers formatted, thousands separated
#   cell FMT VALUES...        "median [min–max]" formatted, "—" if none
#
# Cells of the tables are "median [min–max]" over the repeated runs; the
# median of an even count is the mean of the two middle values.

md_machine() {
	printf '%s, %s CPUs, kernel %s' \
		"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" \
		"$(nproc)" "$(uname -r)"
}

md_commit() {
	printf '%s%s' "$(git rev-parse --short HEAD 2>/dev/null || echo '?')" \
		"$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo ' (uncommitted changes)')"
}

md_begin() {
	[ -n "${MD:-}" ] || return 0
	{
		printf '## %s\n\n' "$1"
		printf 'Machine: %s. Started %s, jschedlat %s, load average at start %s.\n\n' \
			"$(md_machine)" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$(md_commit)" "$(cut -d' ' -f1-3 /proc/loadavg)"
	} >>"$MD"
}

md() {
	[ -n "${MD:-}" ] || return 0
	printf '%s\n' "$@" >>"$MD"
}

md_cmds() {
	[ -n "${MD:-}" ] || return 0
	{
		printf '<details><summary>Commands of every run (%s)</summary>\n\n```\n' "$(grep -c . "$1")"
		cat "$1"
		printf '```\n</details>\n\n'
	} >>"$MD"
}

# stats VALUES... -> "median min max" (numbers, any order)
stats() {
	printf '%s\n' "$@" | sort -g | awk -v OFMT=%.10g '{ v[NR] = $1 } END {
		if (NR == 0) { print "NA NA NA"; exit }
		m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		print m, v[1], v[NR] }'
}

# num FMT X...: the numbers formatted, thousands separated by commas.
num() {
	local fmt=$1
	shift
	LC_ALL=C awk -v f="$fmt" 'function c(x,   s, i, fr, r) {
		s = sprintf(f, x); fr = ""; r = ""
		if ((i = index(s, ".")) > 0) { fr = substr(s, i); s = substr(s, 1, i - 1) }
		while (s ~ /^-?[0-9][0-9][0-9][0-9]/) { r = "," substr(s, length(s) - 2) r; s = substr(s, 1, length(s) - 3) }
		return s r fr }
	BEGIN { for (i = 1; i < ARGC; i++) printf "%s%s", (i > 1 ? " " : ""), c(ARGV[i]) }' "$@"
}
# cell FMT VALUES...: "median [min–max]" of the values, "—" without any.
cell() {
	local fmt=$1 m lo hi
	shift
	[ $# -gt 0 ] || { printf '—'; return; }
	read -r m lo hi <<<"$(stats "$@")"
	read -r m lo hi <<<"$(num "$fmt" "$m" "$lo" "$hi")"
	printf '%s [%s–%s]' "$m" "$lo" "$hi"
}

# Go duration (1m2.5s, 12.003s, 950ms) in seconds.
dur_s() { awk -v d="$1" 'BEGIN {
	s = 0
	while (match(d, /^[0-9.]+(h|ms|m|s|us|µs|ns)/)) {
		t = substr(d, 1, RLENGTH); d = substr(d, RLENGTH + 1)
		match(t, /[a-zµ]+$/); u = substr(t, RSTART); v = substr(t, 1, RSTART - 1) + 0
		s += v * (u == "h" ? 3600 : u == "m" ? 60 : u == "s" ? 1 : u == "ms" ? 1e-3 : u == "ns" ? 1e-9 : 1e-6)
	}
	printf "%.6f", s }'; }

# Run time (ns) of all threads of a process (schedstat field 1).
runtime() { { cat /proc/"$1"/task/*/schedstat 2>/dev/null || true; } | awk '{ s += $1 } END { printf "%.0f\n", s + 0 }'; }
now_ns() { date +%s%N; }
