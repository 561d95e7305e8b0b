// Command safepoints prints a JVM's own safepoint counters
// (sun.rt.safepoints and the time spent in them, from its hsperfdata file):
// "COUNT STOPPED_NS". Reading the file does not touch the JVM.
//
// Usage: safepoints PID
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/jschedlat/jschedlat/jvm"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: safepoints PID")
		os.Exit(2)
	}
	pid, err := strconv.Atoi(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "safepoints: bad PID:", os.Args[1])
		os.Exit(2)
	}
	m, err := jvm.OpenSafepointMeter(pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "safepoints:", err)
		os.Exit(1)
	}
	defer m.Close()
	s, err := m.Read()
	if err != nil {
		fmt.Fprintln(os.Stderr, "safepoints:", err)
		os.Exit(1)
	}
	fmt.Println(s.Count, s.Stopped.Nanoseconds())
}
