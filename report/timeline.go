package report

import (
	"github.com/jschedlat/jschedlat/record"
)

// Timeline bins run-queue waits over time, per thread, for drawing. The bin
// width doubles whenever the time span would need more than MaxBins bins,
// so memory is bounded by threads × MaxBins however many records are read.
// Each bin holds the exact run-queue time that fell inside it (a wait is
// split over the bins it spans), the waits that ended in it and the
// longest wait that overlapped it.
type Timeline struct {
	MaxBins int
	width   int64 // ns per bin
	lo, hi  int64 // bin indexes seen, [lo, hi]
	seen    bool
	rows    map[string]*tlRow
}

type tlRow struct {
	base int64 // bin index of bins[0]
	bins []Bin
}

// Bin is one interval of one timeline row.
type Bin struct {
	WaitNs uint64 // run-queue time inside the bin
	Ended  uint64 // waits that ended in the bin
	MaxNs  uint64 // longest wait overlapping the bin
}

func (b *Bin) merge(o Bin) {
	b.WaitNs += o.WaitNs
	b.Ended += o.Ended
	b.MaxNs = max(b.MaxNs, o.MaxNs)
}

// minBinWidth is the finest bin: 1 ms (finer than any screen shows for a
// run of a second or more).
const minBinWidth = int64(1e6)

// NewTimeline returns an empty timeline of at most maxBins bins per row.
func NewTimeline(maxBins int) *Timeline {
	if maxBins < 2 {
		maxBins = 2
	}
	return &Timeline{MaxBins: maxBins, width: minBinWidth, rows: map[string]*tlRow{}}
}

// Width returns the bin width in ns.
func (tl *Timeline) Width() int64 { return tl.width }

// Range returns the first and last bin index with data (in Width units).
func (tl *Timeline) Range() (lo, hi int64, ok bool) { return tl.lo, tl.hi, tl.seen }

// Add takes one record, on the row ThreadLabel(r).
func (tl *Timeline) Add(r *record.Record) {
	end := r.Time
	start := end - int64(r.LatencyNs)
	if start < 0 {
		start = 0
	}
	for {
		lo, hi := start/tl.width, end/tl.width
		if tl.seen {
			lo, hi = min(lo, tl.lo), max(hi, tl.hi)
		}
		if hi-lo < int64(tl.MaxBins) {
			tl.lo, tl.hi, tl.seen = lo, hi, true
			break
		}
		tl.coarsen()
	}
	label := ThreadLabel(r)
	row := tl.rows[label]
	if row == nil {
		row = &tlRow{base: end / tl.width}
		tl.rows[label] = row
	}
	first, last := start/tl.width, end/tl.width
	row.grow(first, last)
	for i := first; i <= last; i++ {
		bs, be := i*tl.width, (i+1)*tl.width
		b := &row.bins[i-row.base]
		b.WaitNs += uint64(min(end, be) - max(start, bs))
		b.MaxNs = max(b.MaxNs, r.LatencyNs)
	}
	row.bins[last-row.base].Ended++
}

// grow makes row hold bins first..last.
func (row *tlRow) grow(first, last int64) {
	if len(row.bins) == 0 {
		row.base = first
	}
	if first < row.base {
		n := make([]Bin, int64(len(row.bins))+row.base-first)
		copy(n[row.base-first:], row.bins)
		row.bins, row.base = n, first
	}
	if need := last - row.base + 1; need > int64(len(row.bins)) {
		if need <= int64(cap(row.bins)) {
			row.bins = row.bins[:need]
		} else {
			n := make([]Bin, need, need+need/2)
			copy(n, row.bins)
			row.bins = n
		}
	}
}

// coarsen doubles the bin width, merging pairs of bins.
func (tl *Timeline) coarsen() {
	tl.width *= 2
	tl.lo, tl.hi = tl.lo/2, tl.hi/2
	for _, row := range tl.rows {
		if len(row.bins) == 0 {
			continue
		}
		nb := row.base / 2
		last := (row.base + int64(len(row.bins)) - 1) / 2
		n := make([]Bin, last-nb+1)
		for i, b := range row.bins {
			n[(row.base+int64(i))/2-nb].merge(b)
		}
		row.base, row.bins = nb, n
	}
}

// Row returns the bins of the given thread labels merged, dense over the
// timeline's range (nil when none has data).
func (tl *Timeline) Row(labels ...string) []Bin {
	if !tl.seen {
		return nil
	}
	out := make([]Bin, tl.hi-tl.lo+1)
	any := false
	for _, l := range labels {
		row := tl.rows[l]
		if row == nil {
			continue
		}
		any = true
		for i, b := range row.bins {
			out[row.base+int64(i)-tl.lo].merge(b)
		}
	}
	if !any {
		return nil
	}
	return out
}

// Labels returns the thread labels with data.
func (tl *Timeline) Labels() []string {
	out := make([]string, 0, len(tl.rows))
	for l := range tl.rows {
		out = append(out, l)
	}
	return out
}
