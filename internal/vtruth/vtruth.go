// Package vtruth checks the virtual_thread of records against what the
// virtual threads of testdata/java/VWorkload.java wrote about themselves:
// the ground truth of the virtual-thread test and benchmark.
package vtruth

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/jschedlat/jschedlat/correlate"
	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/runmeta"
)

// CarrierPrefix names the carrier threads of VWorkload's virtual threads
// (the default scheduler's pool).
const CarrierPrefix = "ForkJoinPool-1-worker-"

// line is one line of the truth file.
type line struct {
	t    int64 // wall ns
	vt   int64 // virtual thread id
	mark int   // 0 just mounted, 1 between chunks, 2 may unmount next
}

// Truth is what each carrier ran, by carrier TID, in time order.
type Truth map[uint32][]line

// Read parses a truth file: `<wall ns> <virtual thread id> <carrier TID> <mark>` per line.
func Read(path string) (Truth, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	tr := Truth{}
	for n, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 4 {
			return nil, fmt.Errorf("%s:%d: want 4 fields, got %q", path, n+1, l)
		}
		ts, e1 := strconv.ParseInt(f[0], 10, 64)
		vt, e2 := strconv.ParseInt(f[1], 10, 64)
		tid, e3 := strconv.ParseUint(f[2], 10, 32)
		mark, e4 := strconv.Atoi(f[3])
		if e1 != nil || e2 != nil || e3 != nil || e4 != nil {
			return nil, fmt.Errorf("%s:%d: bad line %q", path, n+1, l)
		}
		tr[uint32(tid)] = append(tr[uint32(tid)], line{ts, vt, mark})
	}
	for _, l := range tr {
		sort.Slice(l, func(i, k int) bool { return l[i].t < l[k].t })
	}
	return tr, nil
}

// Mounted is the virtual thread known to be mounted on carrier tid at
// wall time t: the last line before t, unless it announced a possible
// unmount; -1 when that cannot be told.
func (tr Truth) Mounted(tid uint32, t int64) int64 {
	lines := tr[tid]
	i := sort.Search(len(lines), func(i int) bool { return lines[i].t >= t })
	if i > 0 && lines[i-1].mark != 2 {
		return lines[i-1].vt
	}
	return -1
}

// Counts is the check of one record file.
type Counts struct {
	CarrierWaits int // waits of carrier threads
	// Before: of them, waits that began before tracing did (Check's
	// since): their switch-out was not seen, so nothing read the virtual
	// thread then; they are in no other count but Named, Unknown, Wrong.
	Before   int
	Provable int // with a virtual thread known mounted when the wait began
	Named    int // records with a virtual_thread
	Right    int // named with the virtual thread known mounted
	Unknown  int // named where the truth cannot tell
	Wrong    int // named with another virtual thread, or on a thread that is no carrier
	Errors   []string
	// PerCarrier: Provable and Right of each carrier (by TID): a carrier
	// never registered with the kernel side (one born while tracing) shows
	// here, however small its share of all waits.
	PerCarrier map[uint32]*[2]int
}

// WorstCarrier is the carrier with the lowest share of Right over Provable
// among those with at least min provable waits (ok false: none).
func (c Counts) WorstCarrier(min int) (tid uint32, right, provable int, ok bool) {
	for t, n := range c.PerCarrier {
		if n[0] < min {
			continue
		}
		// right/provable below the worst so far, or the same and a lower TID
		if !ok || n[1]*provable < right*n[0] || (n[1]*provable == right*n[0] && t < tid) {
			tid, right, provable, ok = t, n[1], n[0], true
		}
	}
	return tid, right, provable, ok
}

// Share is Right over Provable (0 when nothing is provable).
func (c Counts) Share() float64 {
	if c.Provable == 0 {
		return 0
	}
	return float64(c.Right) / float64(c.Provable)
}

// maxErrors bounds the examples kept.
const maxErrors = 20

// Check reads records (CSV or JSONL) and checks every virtual_thread;
// waits that began before since (wall ns; 0: none) are counted apart.
func Check(tr Truth, r io.Reader, since int64) (Counts, error) {
	c := Counts{PerCarrier: map[uint32]*[2]int{}}
	per := func(tid uint32) *[2]int {
		n := c.PerCarrier[tid]
		if n == nil {
			n = new([2]int)
			c.PerCarrier[tid] = n
		}
		return n
	}
	bad := func(format string, a ...any) {
		c.Wrong++
		if len(c.Errors) < maxErrors {
			c.Errors = append(c.Errors, fmt.Sprintf(format, a...))
		}
	}
	err := record.ReadRecords(r, func(r *record.Record) error {
		begin := r.Time - int64(r.LatencyNs)
		want := tr.Mounted(r.Tid, begin)
		carrier := strings.HasPrefix(r.JavaThread, CarrierPrefix)
		before := begin < since
		if carrier {
			c.CarrierWaits++
			switch {
			case before:
				c.Before++
			case want >= 0:
				c.Provable++
				per(r.Tid)[0]++
			}
		}
		if r.VirtualThread == "" {
			return nil
		}
		c.Named++
		switch {
		case !carrier:
			bad("%s: virtual_thread %q on %q, not a carrier", r.TimeText, r.VirtualThread, r.JavaThread)
		case want < 0:
			c.Unknown++
		case r.VirtualThread == correlate.VirtualName(want, ""):
			if !before {
				c.Right++
				per(r.Tid)[1]++
			}
		default:
			bad("%s tid %d: virtual_thread %q, but #%d was mounted", r.TimeText, r.Tid, r.VirtualThread, want)
		}
		return nil
	})
	return c, err
}

// CheckFile is Check of the file at path.
func CheckFile(tr Truth, path string, since int64) (Counts, error) {
	f, err := os.Open(path)
	if err != nil {
		return Counts{}, err
	}
	defer f.Close()
	return Check(tr, f, since)
}

// TracingBegan is when the run that wrote the record file at path began
// tracing, from its sidecar (runmeta; wall ns).
func TracingBegan(path string) (int64, error) {
	spans, _, err := runmeta.Read(runmeta.Sidecar(path))
	if err != nil {
		return 0, err
	}
	if len(spans) == 0 {
		return 0, fmt.Errorf("%s: no run", runmeta.Sidecar(path))
	}
	return spans[0].Start, nil
}
