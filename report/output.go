package report

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Quantiles are the percentiles every table shows.
var Quantiles = []float64{0.5, 0.9, 0.99, 0.999}

func ms(ns uint64) string { return fmt.Sprintf("%.3f", float64(ns)/1e6) }

func kinds(byKind map[string]*Hist) []string {
	var ks []string
	for k := range byKind {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

func distCols(h *Hist) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d\t%s", h.Count, ms(h.Sum))
	for _, q := range Quantiles {
		fmt.Fprintf(&b, "\t%s", ms(h.Quantile(q)))
	}
	fmt.Fprintf(&b, "\t%s", ms(h.Max))
	return b.String()
}

const distHead = "waits\ttotal ms\tp50 ms\tp90 ms\tp99 ms\tp99.9 ms\tmax ms"

// WriteText prints the tables for a terminal; top bounds the thread,
// pool and holder tables (0 = all).
func (s *Summary) WriteText(w io.Writer, top int) error {
	span := s.Last.Sub(s.First)
	fmt.Fprintf(w, "jschedlat report: %d waits", s.Records)
	if s.Records > 0 {
		fmt.Fprintf(w, " from %s to %s (%s)", s.First.Format(time.RFC3339Nano), s.Last.Format(time.RFC3339Nano), span.Round(time.Millisecond))
		fmt.Fprintf(w, "; %.1f%% ended on another CPU than the one they were queued on", 100*float64(s.Migrated)/float64(s.Records))
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "(waits, totals and max exact; percentiles at most 0.8% above the exact value)")
	if s.Records == 0 {
		return nil
	}
	tw := newTable(w)
	section := func(title string) {
		tw.Flush()
		fmt.Fprintf(w, "\n== %s\n", title)
	}
	limit := func(n int) int {
		if top > 0 && n > top {
			return top
		}
		return n
	}
	withKinds := func(r Row) {
		if len(r.ByKind) < 2 {
			return
		}
		for _, k := range kinds(r.ByKind) {
			fmt.Fprintf(tw, "  %s\t\t%s\t\n", k, distCols(r.ByKind[k]))
		}
	}

	section("all waits, by kind")
	fmt.Fprintf(tw, "kind\t\t%s\t\n", distHead)
	fmt.Fprintf(tw, "all\t\t%s\t\n", distCols(s.All.Hist))
	withKinds(s.All)

	section(fmt.Sprintf("per thread pool (%d; numeric part of thread names folded)", len(s.Pools)))
	fmt.Fprintf(tw, "pool\tthreads\t%s\t\n", distHead)
	threads := map[string]int{}
	for _, t := range s.Threads {
		threads[t.Pool]++
	}
	for _, r := range s.Pools[:limit(len(s.Pools))] {
		fmt.Fprintf(tw, "%s\t%d\t%s\t\n", r.Name, threads[r.Name], distCols(r.Hist))
		withKinds(r)
	}

	section(fmt.Sprintf("per thread (%d; [kernel name] when it has no Java name)", len(s.Threads)))
	fmt.Fprintf(tw, "thread\t\t%s\t\n", distHead)
	for _, r := range s.Threads[:limit(len(s.Threads))] {
		fmt.Fprintf(tw, "%s\t\t%s\t\n", r.Name, distCols(r.Hist))
		withKinds(r)
	}

	section("running when the wait ended")
	fmt.Fprintln(w, "(the task the CPU switched from to the waiting thread: it was running then, not necessarily the cause of the wait;")
	fmt.Fprintln(w, " a task that kept a thread waiting may rank low here when others ran just before each wait ended)")
	fmt.Fprintf(tw, "previous task\t\t%s\t\n", distHead)
	for _, r := range s.Holders[:limit(len(s.Holders))] {
		fmt.Fprintf(tw, "%s\t\t%s\t\n", r.Name, distCols(r.Hist))
	}

	section("per CPU (the CPU the wait ended on)")
	fmt.Fprintf(tw, "cpu\t\t%s\t\n", distHead)
	for _, r := range s.CPUs {
		fmt.Fprintf(tw, "%s\t\t%s\t\n", r.Name, distCols(r.Hist))
	}

	section(fmt.Sprintf("over time (%s per line)", time.Duration(s.IntervalNs)))
	fmt.Fprintf(tw, "start\twaits\ttotal ms\tmean ms\tmax ms\tother CPU\t\n")
	for _, sl := range s.Slots {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%.3f\t%s\t%.1f%%\t\n", time.Unix(0, sl.Start).UTC().Format("15:04:05.000"),
			sl.Count, ms(sl.Sum), float64(sl.Sum)/float64(sl.Count)/1e6, ms(sl.Max), 100*float64(sl.Migrations)/float64(sl.Count))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if s.Requests != nil {
		return s.Requests.WriteText(w)
	}
	return nil
}

// jsonDist is a distribution in JSON (ns).
type jsonDist struct {
	Count   uint64              `json:"count"`
	TotalNs uint64              `json:"total_ns"`
	P50Ns   uint64              `json:"p50_ns"`
	P90Ns   uint64              `json:"p90_ns"`
	P99Ns   uint64              `json:"p99_ns"`
	P999Ns  uint64              `json:"p99_9_ns"`
	MaxNs   uint64              `json:"max_ns"`
	ByKind  map[string]jsonDist `json:"by_kind,omitempty"`
}

func toJSON(h *Hist, byKind map[string]*Hist) jsonDist {
	d := jsonDist{Count: h.Count, TotalNs: h.Sum, P50Ns: h.Quantile(0.5), P90Ns: h.Quantile(0.9),
		P99Ns: h.Quantile(0.99), P999Ns: h.Quantile(0.999), MaxNs: h.Max}
	if len(byKind) > 0 {
		d.ByKind = map[string]jsonDist{}
		for k, kh := range byKind {
			d.ByKind[k] = toJSON(kh, nil)
		}
	}
	return d
}

type jsonRow struct {
	Name    string `json:"name"`
	Pool    string `json:"pool,omitempty"`
	Threads int    `json:"threads,omitempty"` // pools: its threads that waited
	jsonDist
}

// rowsJSON renders rows; threads (nil: none) gives a pool's thread count.
func rowsJSON(rows []Row, threads map[string]int) []jsonRow {
	out := make([]jsonRow, 0, len(rows))
	for _, r := range rows {
		out = append(out, jsonRow{Name: r.Name, Pool: r.Pool, Threads: threads[r.Name], jsonDist: toJSON(r.Hist, r.ByKind)})
	}
	return out
}

// PoolThreads returns the number of threads of each pool.
func (s *Summary) PoolThreads() map[string]int {
	n := map[string]int{}
	for _, t := range s.Threads {
		n[t.Pool]++
	}
	return n
}

// WriteJSON prints the whole summary as one JSON object (ns throughout).
func (s *Summary) WriteJSON(w io.Writer) error {
	type slot struct {
		Start      string `json:"start"`
		Count      uint64 `json:"count"`
		TotalNs    uint64 `json:"total_ns"`
		MaxNs      uint64 `json:"max_ns"`
		Migrations uint64 `json:"other_cpu"`
	}
	var slots []slot
	for _, sl := range s.Slots {
		slots = append(slots, slot{time.Unix(0, sl.Start).UTC().Format(time.RFC3339Nano), sl.Count, sl.Sum, sl.Max, sl.Migrations})
	}
	out := struct {
		Records    uint64    `json:"records"`
		First      time.Time `json:"first"`
		Last       time.Time `json:"last"`
		OtherCPU   uint64    `json:"ended_on_other_cpu"`
		Precision  string    `json:"percentile_precision"`
		All        jsonDist  `json:"all"`
		Pools      []jsonRow `json:"pools"`
		Threads    []jsonRow `json:"threads"`
		Holders    []jsonRow `json:"previous_tasks"` // running when the wait ended
		CPUs       []jsonRow `json:"cpus"`
		IntervalNs int64     `json:"interval_ns"`
		Slots      []slot    `json:"over_time"`
		Requests   any       `json:"requests,omitempty"`
	}{s.Records, s.First, s.Last, s.Migrated, "percentiles at most 0.8% above the exact value", toJSON(s.All.Hist, s.All.ByKind),
		rowsJSON(s.Pools, s.PoolThreads()), rowsJSON(s.Threads, nil), rowsJSON(s.Holders, nil), rowsJSON(s.CPUs, nil), s.IntervalNs, slots, nil}
	if rq := s.Requests; rq != nil {
		out.Requests = rq.jsonValue()
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

func newTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
}

func (rq *RequestSummary) jsonValue() any {
	type req struct {
		ID       string  `json:"id"`
		Thread   string  `json:"thread"`
		Start    string  `json:"start"`
		Duration int64   `json:"duration_ns"`
		Traced   string  `json:"traced"`
		Wait     *uint64 `json:"runq_wait_ns,omitempty"` // exact times only
		WaitMin  uint64  `json:"runq_wait_min_ns"`
		WaitMax  uint64  `json:"runq_wait_max_ns"`
		Share    float64 `json:"runq_share"`
		Waits    uint64  `json:"runq_waits"`
	}
	type interval struct {
		From string `json:"from"`
		To   string `json:"to"`
	}
	top := []req{}
	for i := range rq.Top {
		r := &rq.Top[i]
		j := req{ID: r.ID, Thread: r.Thread, Start: time.Unix(0, r.Start).UTC().Format(time.RFC3339Nano), Duration: r.End - r.Start,
			Traced: r.Traced.String(), WaitMin: r.WaitMinNs, WaitMax: r.WaitMaxNs, Share: r.Share(), Waits: r.Waits}
		if r.Coarse == 0 {
			j.Wait = &r.WaitNs
		}
		top = append(top, j)
	}
	span := []interval{}
	for _, iv := range rq.Span {
		span = append(span, interval{time.Unix(0, iv.From).UTC().Format(time.RFC3339Nano), time.Unix(0, iv.To).UTC().Format(time.RFC3339Nano)})
	}
	var minLat *int64
	if rq.MinLatency >= 0 {
		v := int64(rq.MinLatency)
		minLat = &v
	}
	return struct {
		Requests       int        `json:"requests"`
		Threads        int        `json:"threads"`
		MatchedThreads int        `json:"threads_in_records"`
		Span           []interval `json:"traced_span"`
		SpanSource     string     `json:"traced_span_from"`
		SpanGuessed    bool       `json:"traced_span_guessed"`
		MinLatencyNs   *int64     `json:"min_latency_ns"` // null: unknown
		Traced         int        `json:"traced"`
		Partly         int        `json:"partly_traced"`
		NotTraced      int        `json:"not_traced"`
		Coarse         int        `json:"traced_with_times_to_the_second"`
		SLONs          int64      `json:"slo_ns,omitempty"`
		ThresholdNs    int64      `json:"threshold_ns"`
		// Of the requests traced wholly.
		OverSLO          int   `json:"over_slo"`
		OverSLOWaited    int   `json:"over_slo_with_runq_wait"`
		OverSLONotWaited int   `json:"over_slo_without_runq_wait"`
		OverSLOUndecided int   `json:"over_slo_undecided"`
		OverSLOPartly    int   `json:"over_slo_partly_traced"`
		OverSLONotTraced int   `json:"over_slo_not_traced"`
		Top              []req `json:"top_by_runq_wait"`
	}{rq.Requests, rq.Threads, rq.MatchedThreads, span, string(rq.SpanSource), rq.SpanSource == SpanFromRecords, minLat,
		rq.Traced, rq.Partly, rq.NotTraced, rq.Coarse, int64(rq.SLO), int64(rq.Threshold),
		rq.OverSLO, rq.OverSLOWaited, rq.OverSLONotWaited, rq.OverSLOUndecided, rq.OverSLOPartly, rq.OverSLONotTraced, top}
}
