// Package report turns annotated records into answers: per thread, pool,
// kind, CPU and time, who held the CPU, with latency percentiles, in bounded
// memory however many records are read.
package report

import (
	"math"
	"math/bits"
)

// subBits sets the histogram's precision: each power of two is split into
// 2^subBits buckets, so a value is known to within 1/2^subBits (0.8%).
const subBits = 7

// Hist is a log-linear latency histogram (the HdrHistogram layout): exact
// count, sum, min and max, percentiles to within 0.8%. Its size depends on
// the range of values seen, not on how many: at most 64·128 buckets.
type Hist struct {
	Count    uint64
	Sum      uint64
	Min, Max uint64
	buckets  []uint64
}

// bucketOf returns v's bucket index.
func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	exp := bits.Len64(v) - 1 - subBits // >= 0
	return (exp+1)<<subBits + int(v>>uint(exp)) - 1<<subBits
}

// bucketRange returns the smallest and largest value of bucket i.
func bucketRange(i int) (lo, hi uint64) {
	if i < 1<<subBits {
		return uint64(i), uint64(i)
	}
	exp := i>>subBits - 1
	mant := uint64(i&(1<<subBits-1)) + 1<<subBits
	lo = mant << uint(exp)
	return lo, lo + (1 << uint(exp)) - 1
}

// Add records one value.
func (h *Hist) Add(v uint64) {
	if h.Count == 0 || v < h.Min {
		h.Min = v
	}
	if v > h.Max {
		h.Max = v
	}
	h.Count++
	h.Sum += v
	i := bucketOf(v)
	if i >= len(h.buckets) {
		n := make([]uint64, i+1)
		copy(n, h.buckets)
		h.buckets = n
	}
	h.buckets[i]++
}

// Merge adds o into h.
func (h *Hist) Merge(o *Hist) {
	if o.Count == 0 {
		return
	}
	if h.Count == 0 || o.Min < h.Min {
		h.Min = o.Min
	}
	if o.Max > h.Max {
		h.Max = o.Max
	}
	h.Count += o.Count
	h.Sum += o.Sum
	if len(o.buckets) > len(h.buckets) {
		n := make([]uint64, len(o.buckets))
		copy(n, h.buckets)
		h.buckets = n
	}
	for i, c := range o.buckets {
		h.buckets[i] += c
	}
}

// Quantile returns the value at quantile q (0..1): the highest value of the
// bucket holding the rank ceil(q·Count), clamped to [Min, Max]. It is never
// below the exact quantile and at most 0.8% above it.
func (h *Hist) Quantile(q float64) uint64 {
	if h.Count == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.Count)))
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.buckets {
		seen += c
		if seen >= rank {
			_, hi := bucketRange(i)
			return min(max(hi, h.Min), h.Max)
		}
	}
	return h.Max
}

// Mean returns the average value.
func (h *Hist) Mean() float64 {
	if h.Count == 0 {
		return 0
	}
	return float64(h.Sum) / float64(h.Count)
}

// Buckets calls fn for every non-empty bucket with its range and count, in
// increasing order (for histograms drawn elsewhere).
func (h *Hist) Buckets(fn func(lo, hi, count uint64)) {
	for i, c := range h.buckets {
		if c > 0 {
			lo, hi := bucketRange(i)
			fn(lo, hi, c)
		}
	}
}
