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
# threads that rename themselves: names come from the JVM's memory and
# from HotSpot's own probes as threads start and rename, with no thread
# dump (the summary says so).
./bin/jschedlat attach "$jvm" --duration 10s --min-latency 100us \
	-o "$out/records.csv" --save-events "$out/events.jsonl" --save-dumps "$out/dumps"
wait $jvm || true
trap - EXIT

echo
echo "== first records ($out/records.csv)"
head -n 8 "$out/records.csv" | cut -d, -f1-10 | column -s, -t
echo
echo "== the report: bin/jschedlat report $out/records.csv --top 8"
./bin/jschedlat report "$out/records.csv" --top 8 --html "$out/report.html" \
	--pprof "$out/waits.pb.gz" --dumps "$out/dumps"
echo
echo "The same as a page (timeline, histograms, tables): $out/report.html"
echo "As a profile with the threads' Java stacks: go tool pprof -http=: $out/waits.pb.gz"
echo
echo "Replay the run offline: ./bin/jschedlat replay --events $out/events.jsonl --dumps $out/dumps"
