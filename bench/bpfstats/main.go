// Command bpfstats measures the cost of loaded BPF programs per invocation
// without bpftool: it takes two snapshots of each program's kernel
// statistics (run_time_ns, run_cnt) some seconds apart and prints calls/s
// and ns/call. The kernel only counts while sysctl
// kernel.bpf_stats_enabled=1.
//
//	bpfstats [-pid PID] [-interval D] PREFIX...
//
// Only programs whose name starts with one of the prefixes are reported
// (kernel names are at most 15 characters; the full name is taken from the
// program's BTF when present). With -pid, only programs that process holds
// (through a program or link file descriptor) are reported, so that other
// tracers loaded on the same host do not mix in. One line per program:
//
//	bpfstats: id=42 name=runq_btf_switch type=Tracing calls=2345 calls_per_s=469.0 run_ns=812345 ns_per_call=346.4
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/cilium/ebpf"

	"github.com/jschedlat/jschedlat/bench/internal/procstat"
)

type prog struct {
	id   ebpf.ProgramID
	name string
	typ  ebpf.ProgramType
	p    *ebpf.Program
}

func main() {
	pid := flag.Int("pid", 0, "only programs held by this process (0 = any)")
	interval := flag.Duration("interval", 5*time.Second, "time between the two snapshots")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: bpfstats [-pid PID] [-interval D] PREFIX...")
		flag.PrintDefaults()
	}
	flag.Parse()
	prefixes := flag.Args()
	if len(prefixes) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if b, err := os.ReadFile("/proc/sys/kernel/bpf_stats_enabled"); err == nil && strings.TrimSpace(string(b)) != "1" {
		fmt.Fprintln(os.Stderr, "bpfstats: warning: kernel.bpf_stats_enabled is not 1: run_time_ns and run_cnt do not advance")
	}

	var held map[ebpf.ProgramID]bool
	if *pid != 0 {
		var err error
		if held, err = heldPrograms(*pid); err != nil {
			fatal("%v", err)
		}
	}
	progs, err := find(prefixes, held)
	if err != nil {
		fatal("%v", err)
	}
	if len(progs) == 0 {
		fatal("no loaded program matches %q (pid %d)", prefixes, *pid)
	}

	s0 := snapshot(progs)
	t0 := time.Now()
	time.Sleep(*interval)
	s1 := snapshot(progs)
	secs := time.Since(t0).Seconds()
	for i, p := range progs {
		if s0[i] == nil || s1[i] == nil {
			fmt.Printf("bpfstats: id=%d name=%s type=%s error=stats-unavailable\n", p.id, p.name, p.typ)
			continue
		}
		calls := s1[i].RunCount - s0[i].RunCount
		ns := uint64(s1[i].Runtime - s0[i].Runtime)
		perCall := 0.0
		if calls > 0 {
			perCall = float64(ns) / float64(calls)
		}
		fmt.Printf("bpfstats: id=%d name=%s type=%s calls=%d calls_per_s=%.1f run_ns=%d ns_per_call=%.1f recursion_misses=%d\n",
			p.id, p.name, p.typ, calls, float64(calls)/secs, ns, perCall, s1[i].RecursionMisses-s0[i].RecursionMisses)
	}
	for _, p := range progs {
		p.p.Close()
	}
}

// find opens every loaded program whose name matches a prefix (and, with
// held != nil, whose ID is in held), ordered by name.
func find(prefixes []string, held map[ebpf.ProgramID]bool) ([]prog, error) {
	var out []prog
	var id ebpf.ProgramID
	for {
		next, err := ebpf.ProgramGetNextID(id)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("listing programs: %w", err)
		}
		id = next
		if held != nil && !held[id] {
			continue
		}
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue // unloaded meanwhile
		}
		info, err := p.Info()
		if err != nil || !matches(info.Name, prefixes) {
			p.Close()
			continue
		}
		out = append(out, prog{id: id, name: info.Name, typ: info.Type, p: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func matches(name string, prefixes []string) bool {
	for _, pre := range prefixes {
		if strings.HasPrefix(name, pre) {
			return true
		}
	}
	return false
}

func snapshot(progs []prog) []*ebpf.ProgramStats {
	out := make([]*ebpf.ProgramStats, len(progs))
	for i, p := range progs {
		if st, err := p.p.Stats(); err == nil {
			out[i] = st
		}
	}
	return out
}

// heldPrograms returns the IDs of the programs that process pid holds open.
func heldPrograms(pid int) (map[ebpf.ProgramID]bool, error) {
	ids, err := procstat.HeldProgramIDs(pid)
	if err != nil {
		return nil, err
	}
	held := make(map[ebpf.ProgramID]bool, len(ids))
	for _, id := range ids {
		held[ebpf.ProgramID(id)] = true
	}
	return held, nil
}

func fatal(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bpfstats: "+format+"\n", a...)
	os.Exit(1)
}
