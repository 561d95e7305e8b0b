// vtcheck checks the virtual_thread column of a record file against the
// ground truth VWorkload wrote (testdata/java/VWorkload.java --truth FILE)
// and prints one line of counts for the benchmark scripts.
//
// Usage: vtcheck -truth FILE RECORDS
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/jschedlat/jschedlat/internal/vtruth"
)

func main() {
	truth := flag.String("truth", "", "VWorkload's ground truth file")
	flag.Parse()
	if *truth == "" || flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: vtcheck -truth FILE RECORDS")
		os.Exit(2)
	}
	tr, err := vtruth.Read(*truth)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vtcheck:", err)
		os.Exit(1)
	}
	// Waits that began before tracing are counted apart: their
	// switch-out was not seen.
	since, err := vtruth.TracingBegan(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "vtcheck:", err)
		os.Exit(1)
	}
	c, err := vtruth.CheckFile(tr, flag.Arg(0), since)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vtcheck:", err)
		os.Exit(1)
	}
	for _, e := range c.Errors {
		fmt.Fprintln(os.Stderr, "vtcheck: wrong:", e)
	}
	worst := "none"
	if tid, right, provable, ok := c.WorstCarrier(30); ok {
		worst = fmt.Sprintf("%d:%d/%d", tid, right, provable)
	}
	fmt.Printf("vtcheck: carrier_waits=%d before_tracing=%d provable=%d named=%d right=%d unknown=%d wrong=%d carriers=%d worst_carrier=%s\n",
		c.CarrierWaits, c.Before, c.Provable, c.Named, c.Right, c.Unknown, c.Wrong, len(c.PerCarrier), worst)
}
