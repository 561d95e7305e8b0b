package jvm

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// WriteThreadTable reads the threads of the JVM pid once from src (its memory, or a thread
// dump) and writes, per
// thread, the host TID (what records carry), the TID the JVM itself prints
// (they differ in a container), the Java id and state, the kernel name and
// the exact Java name. It returns a line saying where the dump came from
// and what it cost the JVM.
func WriteThreadTable(ctx context.Context, w io.Writer, pid int, src Source) (string, error) {
	if ok, err := IsJVM(pid); err != nil {
		return "", err
	} else if !ok {
		return "", fmt.Errorf("process %d is not a JVM", pid)
	}
	c, err := src.Capture(ctx)
	if err != nil {
		return "", err
	}
	hostTid, err := hostTidOf(pid)
	if err != nil {
		return "", err
	}
	comms, _ := Comms(pid)
	ths := c.Dump.Threads
	sort.SliceStable(ths, func(i, j int) bool { return ths[i].Tid < ths[j].Tid })
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
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
		return "", err
	}
	cost := "the JVM's safepoint counters could not be read (-XX:-UsePerfData, or hsperfdata not readable)"
	if c.StopKnown {
		cost = fmt.Sprintf("the JVM was stopped %s in %d safepoints", c.Stopped.Round(10*time.Microsecond), c.Safepoints)
	}
	return fmt.Sprintf("%d threads from %s in %s; %s", len(ths), c.Source, c.End.Sub(c.Start).Round(100_000), cost), nil
}

// hostTidOf maps the TIDs a dump prints to host TIDs: records carry host
// TIDs, also for a JVM in its own PID namespace (whose dump prints its own).
func hostTidOf(pid int) (func(int) int, error) {
	if !InOwnPIDNamespace(pid) {
		return func(tid int) int { return tid }, nil
	}
	m, err := HostTids(pid)
	if err != nil {
		return nil, fmt.Errorf("reading the JVM's namespace TIDs: %w", err)
	}
	return func(tid int) int {
		if h, ok := m[tid]; ok {
			return int(h)
		}
		return 0
	}, nil
}

// printable quotes names that would break a table row (tabs, newlines,
// other control characters); others are printed as they are.
func printable(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		return strconv.Quote(s)
	}
	return s
}
