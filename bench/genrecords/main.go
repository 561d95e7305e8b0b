// Command genrecords writes synthetic annotated records (CSV, as attach
// writes them) to stdout, for measuring what reads them
// (scripts/bench-offline.sh, scripts/bench-html.sh).
//
//	genrecords -n 10000000 -threads 200
package main

import (
	"bufio"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

func main() {
	n := flag.Int("n", 1000000, "records")
	threads := flag.Int("threads", 200, "distinct threads (in 10 pools)")
	seed := flag.Int64("seed", 1, "random seed")
	appLog := flag.String("app-log", "", "also write an application request log (CSV: id,thread,start,duration_ms) to FILE")
	requests := flag.Int("requests", 0, "requests in -app-log (default: one per 10 records)")
	flag.Parse()
	bw := bufio.NewWriterSize(os.Stdout, 1<<20)
	w, err := record.NewWriter(bw, "csv")
	if err != nil {
		fmt.Fprintln(os.Stderr, "genrecords:", err)
		os.Exit(1)
	}
	rng := rand.New(rand.NewSource(*seed))
	names := make([]string, *threads)
	for i := range names {
		names[i] = fmt.Sprintf("pool-%d-worker-%d", i%10, i)
	}
	kinds := []string{"wakeup", "preempt", "yield"}
	t := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano()
	var r record.Record
	for i := 0; i < *n; i++ {
		t += int64(rng.Intn(200_000)) // ~10k records/s of trace time
		th := rng.Intn(*threads)
		r = record.Record{
			Time: t, KTime: uint64(t), CPU: uint32(rng.Intn(8)), QueuedCPU: uint32(rng.Intn(8)),
			Kind: kinds[rng.Intn(3)], LatencyNs: uint64(rng.ExpFloat64() * 2e6),
			Pid: 4242, Tid: uint32(5000 + th), Comm: "pool-worker", JavaThread: names[th], NameSource: "dump",
			PrevPid: 4242, PrevTid: uint32(5000 + rng.Intn(*threads)), PrevComm: "pool-worker",
			PrevJavaThread: names[rng.Intn(*threads)],
		}
		if err := w.Write(&r); err != nil {
			fmt.Fprintln(os.Stderr, "genrecords:", err)
			os.Exit(1)
		}
	}
	if err := w.Flush(); err == nil {
		err = bw.Flush()
	}
	if err == nil && *appLog != "" {
		if *requests == 0 {
			*requests = *n / 10
		}
		err = writeAppLog(*appLog, *requests, names, time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC).UnixNano(), t, rng)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genrecords:", err)
		os.Exit(1)
	}
}

// writeAppLog writes n requests spread over [t0, t1) on the given threads.
func writeAppLog(path string, n int, names []string, t0, t1 int64, rng *rand.Rand) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(bw, "id,thread,start,duration_ms")
	for i := 0; i < n; i++ {
		start := t0 + rng.Int63n(max(t1-t0, 1))
		fmt.Fprintf(bw, "req-%d,%s,%s,%.3f\n", i, names[rng.Intn(len(names))], time.Unix(0, start).UTC().Format(time.RFC3339Nano), 1+rng.ExpFloat64()*5)
	}
	if err := bw.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
