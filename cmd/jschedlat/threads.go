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
		Long: `Reads the JVM's threads once, from its memory (no safepoint; a thread dump with
--dump or where memory cannot be read), and prints per thread the host TID, the
TID the JVM prints (differs in a container), the Java id and state (dumps), the
kernel name and the exact Java name.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := strconv.Atoi(args[0])
			if err != nil || pid <= 0 {
				return fmt.Errorf("invalid PID %q", args[0])
			}
			newDump := func() (jvm.Source, error) { return jvm.NewSource(pid, time.Duration(timeout)*time.Second) }
			var src jvm.Source
			var why error
			if dump {
				src, err = newDump()
			} else if src, why, err = hsmem.OrDump(pid, newDump); why != nil {
				fmt.Fprintf(os.Stderr, "jschedlat: cannot read the JVM's memory (%v): taking a thread dump\n", why)
			}
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
