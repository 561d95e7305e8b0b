package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/jschedlat/jschedlat/jvm"
)

func newThreadsCmd() *cobra.Command {
	var timeout = 10
	c := &cobra.Command{
		Use:   "threads PID",
		Short: "Print the native TID to Java thread name table of a JVM",
		Long: `Takes one thread dump of the JVM and prints, per thread, the host TID (what
records carry), the TID the JVM itself prints (differs in a container), the
Java thread id and state, the kernel name and the exact Java name.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pid, err := strconv.Atoi(args[0])
			if err != nil || pid <= 0 {
				return fmt.Errorf("invalid PID %q", args[0])
			}
			about, err := jvm.WriteThreadTable(cmd.Context(), os.Stdout, pid, time.Duration(timeout)*time.Second)
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "jschedlat: "+about)
			return nil
		},
	}
	c.Flags().IntVar(&timeout, "timeout", timeout, "seconds to wait for the thread dump")
	return c
}
