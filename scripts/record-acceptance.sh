#!/usr/bin/env bash
# Records the acceptance data set into testdata/acceptance/ (checked by
# TestAcceptanceRecorded): the toy request server testdata/java/AppWorkload.java,
# whose handlers http-nio-8080-exec-1 and http-nio-8080-exec-2 share CPU 1 with bursts of
# batch-cruncher-1..3, traced 6 s by `jschedlat attach --min-latency 0`.
# Writes records.csv.gz, app.csv.gz (the app's request log with the
# kernel's own run-queue time per request: the ground truth), dumps/ and
# README.txt. Needs root (BPF), a JDK and >= 2 CPUs. Run it on a quiet
# machine: other work slows the requests down too (the test says so).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "record-acceptance.sh needs root: it loads an eBPF program (try: sudo $0)" >&2
	exit 1
fi
for t in java javac taskset renice gzip; do
	command -v "$t" >/dev/null || { echo "record-acceptance.sh needs $t" >&2; exit 1; }
done
if [ "$(nproc)" -lt 2 ]; then
	echo "record-acceptance.sh needs >= 2 CPUs (the contention is injected on CPU 1 only); this machine has $(nproc)" >&2
	exit 1
fi

# Keep in step with cmd/jschedlat/acceptance_test.go (acceptanceWorkUs,
# and the SLO, 3x the work).
WORK_US=2000
TRACE=6s
out=testdata/acceptance

make build
tmp=$(mktemp -d)
jvm=
delayacct=$(cat /proc/sys/kernel/task_delayacct)
cleanup() {
	if [ -n "$jvm" ]; then
		kill "$jvm" 2>/dev/null || true
	fi
	echo "$delayacct" >/proc/sys/kernel/task_delayacct
	rm -rf "$tmp"
}
trap cleanup EXIT
# The ground truth (schedstat's run-queue time) needs delay accounting on
# kernels without CONFIG_SCHEDSTATS.
echo 1 >/proc/sys/kernel/task_delayacct

javac -d "$tmp/classes" testdata/java/AppWorkload.java
# --nice -10 for handlers and crunchers alike: the contention between them
# is the same, other work on the machine disturbs them less.
java_args=(-Xmx128m -cp "$tmp/classes" AppWorkload --seconds 60 --app-log "$tmp/app.csv" --ready "$tmp/ready" --work-us "$WORK_US" --nice -10)
java "${java_args[@]}" &
jvm=$!
pid=$jvm
for _ in $(seq 300); do
	[ -f "$tmp/ready" ] && break
	kill -0 "$jvm" 2>/dev/null || { echo "AppWorkload exited before it was ready" >&2; exit 1; }
	sleep 0.1
done
[ -f "$tmp/ready" ] || { echo "AppWorkload not ready after 30 s" >&2; exit 1; }

attach_args=(attach "$jvm" --min-latency 0 --duration "$TRACE" -o "$tmp/records.csv" --save-dumps "$tmp/dumps")
./bin/jschedlat "${attach_args[@]}" 2>"$tmp/attach.txt"
cat "$tmp/attach.txt" >&2
# SIGTERM: the workload writes its app log and exits.
kill -TERM "$jvm"
wait "$jvm" || true
jvm=

rm -rf "$out"
mkdir -p "$out"
gzip -9n <"$tmp/records.csv" >"$out/records.csv.gz"
gzip -9n <"$tmp/app.csv" >"$out/app.csv.gz"
cp -r "$tmp/dumps" "$out/dumps"
{
	echo "Acceptance data set for jschedlat (checked by TestAcceptanceRecorded in cmd/jschedlat/acceptance_test.go)."
	echo
	echo "Recorded $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/record-acceptance.sh"
	echo "Kernel:  $(uname -srm), $(nproc) CPUs"
	echo "JDK:     $(java -version 2>&1 | head -1)"
	echo "jschedlat: $(git describe --always --dirty 2>/dev/null || echo unknown)"
	echo
	echo "Workload: java ${java_args[*]}" | sed "s#$tmp/#TMP/#g"
	echo "  http-nio-8080-exec-1, http-nio-8080-exec-2 (victims) pinned to CPU 1, with batch-cruncher-1..3 spinning"
	echo "  500 ms of every 1000 ms; http-nio-8080-exec-3, http-nio-8080-exec-4 pinned to CPU 0. A request is"
	echo "  ${WORK_US} us of CPU; think time 10-20 ms. Stopped with SIGTERM after the trace."
	echo "Tracer:   bin/jschedlat ${attach_args[*]}" | sed "s#$tmp/#TMP/#g; s#attach $pid #attach PID #"
	echo
	echo "Files:"
	echo "  records.csv.gz  the records attach wrote (gzip; report reads it as is)"
	echo "  app.csv.gz      the app log: id,thread,start,end (epoch ns, Instant.now()),duration_ms,"
	echo "                  runq_ns (ground truth: growth of the thread's own schedstat run-queue"
	echo "                  time inside the request),victim"
	echo "  dumps/          the thread dumps attach took (--save-dumps)"
	echo
	echo "Summary of the run (attach's stderr):"
	sed 's/^/  /' "$tmp/attach.txt"
	echo
	echo "Try: bin/jschedlat report $out/records.csv.gz --app-log $out/app.csv.gz --slo 6ms --app-out /tmp/requests.csv"
} >"$out/README.txt"
du -ah "$out"
echo "recorded into $out; check with: go test -count=1 -run TestAcceptanceRecorded -v ./cmd/jschedlat"
