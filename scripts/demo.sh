#!/usr/bin/env bash
# Demo: start the bundled Java workload (named threads under CPU
# contention), trace it live with jschedlat for 10 s, show what came out.
# Needs root (BPF) and a JDK (javac, java).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "make demo needs root: it loads an eBPF program (try: sudo make demo)" >&2
	exit 1
fi
for t in java javac; do
	command -v "$t" >/dev/null || { echo "make demo needs a JDK: $t not found (apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }
done
out=demo-out
rm -rf "$out" && mkdir -p "$out/classes"
javac -d "$out/classes" testdata/java/Workload.java
java -cp "$out/classes" Workload --seconds 14 --truth "$out/truth.txt" &
jvm=$!
trap 'kill $jvm 2>/dev/null || true' EXIT
sleep 1.5
echo "== tracing JVM $jvm for 10 s (all waits >= 100us)"
# The demo JVM saturates both CPUs, starts a thread every 700 ms and has
# threads that rename themselves: HotSpot's own probes name them as they
# start and as they rename, so the default --dump-budget (0.1% of wall
# time, one dump in this run) is enough.
./bin/jschedlat attach "$jvm" --duration 10s --min-latency 100us \
	-o "$out/records.csv" --save-events "$out/events.jsonl" --save-dumps "$out/dumps"
wait $jvm || true
trap - EXIT

echo
echo "== first records ($out/records.csv)"
head -n 8 "$out/records.csv" | cut -d, -f1-10 | column -s, -t
echo
echo "== run-queue wait per Java thread (from the CSV)"
python3 - "$out/records.csv" <<'PY' 2>/dev/null || awk -F, 'NR>1 && $9!="" {s[$9]+=$5; n[$9]++} END {for (k in s) printf "%-40s %6d waits %10.1f ms\n", k, n[k], s[k]/1e6}' "$out/records.csv" | sort -k4 -rn | head -15
import csv, sys, collections
tot = collections.Counter(); cnt = collections.Counter(); mx = collections.Counter(); holders = collections.Counter()
for r in csv.DictReader(open(sys.argv[1], newline="")):
    name = r["java_thread"] or "(" + r["comm"] + ")"
    lat = int(r["latency_ns"])
    tot[name] += lat; cnt[name] += 1; mx[name] = max(mx[name], lat)
    holders[r["prev_java_thread"] or "(" + r["prev_comm"] + ")"] += lat
print(f"{'java_thread':40} {'waits':>7} {'total ms':>10} {'max ms':>8}")
for name, t in tot.most_common(12):
    print(f"{name:40} {cnt[name]:7d} {t/1e6:10.1f} {mx[name]/1e6:8.2f}")
print()
print(f"{'who held the CPU meanwhile':40} {'waited ms':>10}")
for name, t in holders.most_common(6):
    print(f"{name:40} {t/1e6:10.1f}")
PY
echo
echo "Replay the run offline: ./bin/jschedlat replay --events $out/events.jsonl --dumps $out/dumps"
