package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/jvm/hsmem"
)

func newThreadsCmd() *cobra.Command {
	var timeout = 10
	var dump bool
	c := &cobra.Command{
		Use:   "threads PID",
		Short: "Print the native TID to Java thread name table of a JVM",
		Long: `Reads the JVM's threads once, from its memory (no safepoint; a thread dump
where memory cannot be read, or with --dump), and prints, per thread, the
host TID (what records carry), the TID the JVM itself prints (differs in a
container), the Java thread id and state (dumps only), the kernel name and
the exact Java name.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := strconv.Atoi(args[0])
			if err != nil || pid <= 0 {
				return fmt.Errorf("invalid PID %q", args[0])
			}
			if ok, err := jvm.IsJVM(pid); err != nil {
				return err
			} else if !ok {
				return fmt.Errorf("process %d is not a JVM", pid)
			}
			src, err := threadsSource(pid, dump, time.Duration(timeout)*time.Second)
			if err != nil {
				return err
			}
			about, err := jvm.WriteThreadTable(cmd.Context(), os.Stdout, pid, src)
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "jschedlat: "+about)
			return nil
		},
	}
	c.Flags().IntVar(&timeout, "timeout", timeout, "seconds to wait for a thread dump")
	c.Flags().BoolVar(&dump, "dump", false, "take a thread dump (stops the JVM at safepoints; shows states) instead of reading its memory")
	return c
}

// threadsSource reads pid's memory unless a dump is asked for or memory
// cannot be read (said on stderr).
func threadsSource(pid int, dump bool, timeout time.Duration) (jvm.Source, error) {
	if !dump {
		mem := &hsmem.Source{Pid: pid}
		err := mem.Open()
		if err == nil {
			return mem, nil
		}
		fmt.Fprintf(os.Stderr, "jschedlat: cannot read the JVM's memory (%v): taking a thread dump\n", err)
	}
	return jvm.NewSource(pid, timeout)
}
