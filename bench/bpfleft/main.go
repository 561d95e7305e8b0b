// Command bpfleft tells which BPF programs a process holds and, after it
// has exited, whether any of them is still loaded (scripts/soak.sh), without
// bpftool:
//
//	bpfleft held PID        prints the IDs of the BPF programs PID holds
//	                        (program and link file descriptors), one a line
//	bpfleft left [-wait D] ID...
//	                        prints "id=N name=X" for each ID still loaded
//	                        after waiting up to D (default 3s) for the
//	                        kernel to free them; exit status 1 if any is
//
// Program IDs are allocated cyclically, so an ID freed is not handed to
// another program soon after.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/cilium/ebpf"

	"github.com/jschedlat/jschedlat/bench/internal/procstat"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "held":
		if len(os.Args) != 3 {
			usage()
		}
		pid, err := strconv.Atoi(os.Args[2])
		if err != nil {
			usage()
		}
		ids, err := procstat.HeldProgramIDs(pid)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bpfleft:", err)
			os.Exit(2)
		}
		for _, id := range ids {
			fmt.Println(id)
		}
	case "left":
		fs := flag.NewFlagSet("left", flag.ExitOnError)
		wait := fs.Duration("wait", 3*time.Second, "how long to wait for the kernel to free them")
		_ = fs.Parse(os.Args[2:])
		var ids []ebpf.ProgramID
		for _, a := range fs.Args() {
			n, err := strconv.ParseUint(a, 10, 32)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bpfleft: bad program id %q\n", a)
				os.Exit(2)
			}
			ids = append(ids, ebpf.ProgramID(n))
		}
		var left []string
		for deadline := time.Now().Add(*wait); ; {
			left = loaded(ids)
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		for _, l := range left {
			fmt.Println(l)
		}
		if len(left) > 0 {
			os.Exit(1)
		}
	default:
		usage()
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: bpfleft held PID | bpfleft left [-wait D] ID...")
	os.Exit(2)
}

// loaded returns the programs among ids that are still loaded.
func loaded(ids []ebpf.ProgramID) []string {
	var out []string
	for _, id := range ids {
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			if !errors.Is(err, os.ErrNotExist) {
				out = append(out, fmt.Sprintf("id=%d err=%v", id, err))
			}
			continue
		}
		name := "?"
		if info, err := p.Info(); err == nil {
			name = info.Name
		}
		p.Close()
		out = append(out, fmt.Sprintf("id=%d name=%s", id, name))
	}
	return out
}
