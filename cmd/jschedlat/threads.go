package main

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
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
			ok, err := jvm.IsJVM(pid)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("process %d is not a JVM", pid)
			}
			src, err := jvm.NewSource(pid, secondsDur(timeout))
			if err != nil {
				return err
			}
			c, err := src.Capture(cmd.Context())
			if err != nil {
				return err
			}
			comms, _ := jvm.Comms(pid)
			// Records carry host TIDs: show those, also for a JVM in its
			// own PID namespace (whose dump prints its own TIDs).
			hostTid := func(tid int) int { return tid }
			if jvm.InOwnPIDNamespace(pid) {
				m, err := jvm.HostTids(pid)
				if err != nil {
					return fmt.Errorf("reading the JVM's namespace TIDs: %w", err)
				}
				hostTid = func(tid int) int {
					if h, ok := m[tid]; ok {
						return int(h)
					}
					return 0
				}
			}
			ths := c.Dump.Threads
			sort.SliceStable(ths, func(i, j int) bool { return ths[i].Tid < ths[j].Tid })
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TID\tJVM_TID\tJAVA_ID\tSTATE\tCOMM\tJAVA_THREAD")
			for _, t := range ths {
				id := "-"
				if t.JavaID >= 0 {
					id = "#" + strconv.FormatInt(t.JavaID, 10)
				}
				state := t.State
				if t.Internal {
					state = "(VM)"
				} else if state == "" {
					state = "-"
				}
				h := hostTid(t.Tid)
				fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%s\n", h, t.Tid, id, state, printable(comms[h]), printable(t.Name))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			cost := "the JVM's safepoint counters could not be read (-XX:-UsePerfData, or hsperfdata not readable)"
			if c.StopKnown {
				cost = fmt.Sprintf("the JVM was stopped %s in %d safepoints", c.Stopped.Round(10*time.Microsecond), c.Safepoints)
			}
			fmt.Fprintf(os.Stderr, "jschedlat: %d threads from %s in %s; %s\n", len(ths), c.Source, c.End.Sub(c.Start).Round(100_000), cost)
			return nil
		},
	}
	c.Flags().IntVar(&timeout, "timeout", timeout, "seconds to wait for the thread dump")
	return c
}

// printable quotes names that would break a table row (tabs, newlines,
// other control characters); others are printed as they are.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}

func secondsDur(s int) time.Duration { return time.Duration(s) * time.Second }
