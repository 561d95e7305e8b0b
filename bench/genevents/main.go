// Command genevents writes a synthetic saved event log (as attach
// --save-events writes it) and the matching --save-dumps directory, for
// measuring `jschedlat replay` (scripts/bench-offline.sh).
//
// One JVM of ~200 threads in pools (HTTP workers, executors, a fork-join
// pool, batch workers that rename themselves per job, cached pools whose
// threads come and go) waits in the run queue -n times (wakeups,
// preemptions, a few yields and first runs), after a JVM thread, another
// process or an idle CPU. A dump every 30 s of trace time names the
// threads; HotSpot's probes name those born or renamed in between. Replay
// writes one row per wait, each with a Java name.
//
//	genevents -n 10000000 -events events.jsonl -dumps dumps/
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/jschedlat/jschedlat/internal/eventgen/jvmrun"
)

func main() {
	c := jvmrun.DefaultConfig()
	flag.IntVar(&c.Waits, "n", c.Waits, "wait events (rows replay writes); births, renames, exits, probes and VM operations come on top")
	flag.IntVar(&c.Threads, "threads", c.Threads, "threads alive when the trace begins (JVM threads and 10 pools)")
	flag.IntVar(&c.CPUs, "cpus", c.CPUs, "CPUs")
	flag.Float64Var(&c.Rate, "rate", c.Rate, "wait events per second of trace time")
	flag.Int64Var(&c.Seed, "seed", c.Seed, "random seed")
	pid := flag.Uint("pid", uint(c.Pid), "PID of the JVM")
	flag.DurationVar(&c.DumpEvery, "dump-every", c.DumpEvery, "a thread dump this often (trace time)")
	flag.DurationVar(&c.BirthEvery, "birth-every", c.BirthEvery, "mean gap between new short-lived threads")
	flag.DurationVar(&c.LifeMean, "life", c.LifeMean, "their mean life")
	flag.DurationVar(&c.RenameSelf, "rename-every", c.RenameSelf, "mean gap between self-renames")
	flag.DurationVar(&c.GCEvery, "gc-every", c.GCEvery, "mean gap between GC pauses")
	events := flag.String("events", "", "write the event log to FILE (required)")
	dumps := flag.String("dumps", "", "write the dumps and their index into DIR, which must not hold a capture yet (required)")
	flag.Parse()
	c.Pid = uint32(*pid)
	if *events == "" || *dumps == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: genevents -n N -events FILE -dumps DIR [flags]")
		os.Exit(2)
	}
	if err := run(c, *events, *dumps); err != nil {
		fmt.Fprintln(os.Stderr, "genevents:", err)
		os.Exit(1)
	}
}

func run(c jvmrun.Config, events, dumps string) error {
	f, err := os.Create(events)
	if err != nil {
		return err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	sum, err := jvmrun.Generate(c, bw, dumps)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "genevents:", sum)
	return nil
}
