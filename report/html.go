package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"math"
	"sort"
	"sync"
	"time"
)

//go:embed html.tmpl
var htmlPage string

// pageTmpl is parsed when a page is first written, not at start-up: every
// command (attach too) would otherwise pay for it (2,000 allocations).
var pageTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("page").Funcs(template.FuncMap{
		"ms":   ms,
		"pct":  func(a, b uint64) string { return fmt.Sprintf("%.1f%%", 100*float64(a)/float64(max(b, 1))) },
		"q":    func(h *Hist, q float64) string { return ms(h.Quantile(q)) },
		"time": func(t time.Time) string { return t.Format("2006-01-02 15:04:05.000000000 UTC") },
		"ts":   func(ns int64) string { return time.Unix(0, ns).UTC().Format("15:04:05.000000") },
		"dur":  func(ns int64) string { return fmt.Sprintf("%.3f", float64(ns)/1e6) },
		"share": func(r Request) string {
			return fmt.Sprintf("%.1f%%", 100*r.Share())
		},
	}).Parse(htmlPage))
})

// HTMLInput is what the HTML page shows.
type HTMLInput struct {
	Summary  *Summary
	Timeline *Timeline
	Requests []Request // joined with the records; nil without an app log
	SLO      time.Duration
	Files    []string
	Top      int // rows per table (0 = 50)
	// Generated is the page's creation time (zero: now).
	Generated time.Time
}

// Drawing limits: the page draws at most this many timeline rows and
// request points, so it opens fast whatever the number of records; the
// tables and the numbers in tooltips stay exact.
const (
	htmlPoolRows      = 30
	htmlThreadRows    = 60
	htmlRequestDots   = 20000
	htmlRequestBins   = 2000
	htmlHistPerDecade = 10
)

type htmlCell [4]float64 // bin index, wait µs, waits ended, longest wait µs

type htmlRow struct {
	Name    string     `json:"name"`
	Pool    string     `json:"pool,omitempty"`
	Threads int        `json:"threads"`
	TotalNs uint64     `json:"total_ns"`
	Waits   uint64     `json:"waits"`
	Cells   []htmlCell `json:"cells"`
}

type htmlHist struct {
	Name  string      `json:"name"`
	Count uint64      `json:"count"`
	Zero  uint64      `json:"zero"` // waits of 0 ns (no room on a log axis)
	Bins  [][3]uint64 `json:"bins"` // lo ns, hi ns, count
}

type htmlRequests struct {
	Total    int          `json:"total"`
	Shown    int          `json:"shown"`
	SLOMs    float64      `json:"slo_ms"`
	Threads  []string     `json:"threads"`
	Points   [][5]float64 `json:"points"` // end ms (from t0), duration ms, runq wait ms (-1: not traced), thread index, request index
	IDs      []string     `json:"ids"`
	BinMs    float64      `json:"bin_ms"`
	MaxByBin [][3]float64 `json:"max_by_bin"` // bin start ms (from t0), longest duration ms, requests ended
}

type htmlData struct {
	T0Ms     float64       `json:"t0_ms"` // epoch ms of bin 0
	WidthMs  float64       `json:"width_ms"`
	NBins    int           `json:"nbins"`
	All      []htmlCell    `json:"all"`
	Pools    []htmlRow     `json:"pools"`
	Threads  []htmlRow     `json:"threads"`
	NPools   int           `json:"npools"`
	NThreads int           `json:"nthreads"`
	Hists    []htmlHist    `json:"hists"`
	Requests *htmlRequests `json:"requests,omitempty"`
}

func cells(bins []Bin) []htmlCell {
	var out []htmlCell
	for i, b := range bins {
		if b.WaitNs == 0 && b.Ended == 0 {
			continue
		}
		out = append(out, htmlCell{float64(i), math.Round(float64(b.WaitNs) / 1e3), float64(b.Ended), math.Round(float64(b.MaxNs) / 1e3)})
	}
	return out
}

// logHist regroups a histogram into htmlHistPerDecade buckets per decade
// for drawing (a bucket of Hist is at most 0.8% wide, so it falls in one
// drawn bucket but for the few that straddle an edge, counted by their
// low end).
func logHist(name string, h *Hist) htmlHist {
	out := htmlHist{Name: name, Count: h.Count}
	byIdx := map[int]uint64{}
	h.Buckets(func(lo, hi, c uint64) {
		if lo == 0 {
			out.Zero += c
			return
		}
		byIdx[int(math.Floor(math.Log10(float64(lo))*htmlHistPerDecade+1e-9))] += c
	})
	var idx []int
	for i := range byIdx {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	for _, i := range idx {
		lo := math.Pow(10, float64(i)/htmlHistPerDecade)
		hi := math.Pow(10, float64(i+1)/htmlHistPerDecade)
		out.Bins = append(out.Bins, [3]uint64{uint64(math.Ceil(lo)), uint64(math.Ceil(hi)) - 1, byIdx[i]})
	}
	return out
}

func (in *HTMLInput) data() htmlData {
	s, tl := in.Summary, in.Timeline
	d := htmlData{NPools: len(s.Pools), NThreads: len(s.Threads)}
	lo, hi, ok := tl.Range()
	width := tl.Width()
	d.WidthMs = float64(width) / 1e6
	if ok {
		d.T0Ms = float64(lo*width) / 1e6
		d.NBins = int(hi - lo + 1)
		d.All = cells(tl.Row(tl.Labels()...))
	}
	members := map[string][]string{}
	for _, t := range s.Threads {
		members[t.Pool] = append(members[t.Pool], t.Name)
	}
	for _, p := range s.Pools[:min(len(s.Pools), htmlPoolRows)] {
		d.Pools = append(d.Pools, htmlRow{Name: p.Name, Threads: len(members[p.Name]), TotalNs: p.Hist.Sum, Waits: p.Hist.Count, Cells: cells(tl.Row(members[p.Name]...))})
	}
	for _, t := range s.Threads[:min(len(s.Threads), htmlThreadRows)] {
		d.Threads = append(d.Threads, htmlRow{Name: t.Name, Pool: t.Pool, Threads: 1, TotalNs: t.Hist.Sum, Waits: t.Hist.Count, Cells: cells(tl.Row(t.Name))})
	}
	d.Hists = append(d.Hists, logHist("all waits", s.All.Hist))
	for _, k := range kinds(s.All.ByKind) {
		d.Hists = append(d.Hists, logHist("kind "+k, s.All.ByKind[k]))
	}
	for _, p := range s.Pools[:min(len(s.Pools), 4)] {
		d.Hists = append(d.Hists, logHist("pool "+p.Name, p.Hist))
	}
	if in.Requests != nil {
		d.Requests = in.requestData(d.T0Ms, width)
	}
	return d
}

// requestData picks the request dots (all of them up to htmlRequestDots;
// beyond, the slowest and the longest-waiting first, then an even sample)
// and the exact longest request per bin.
func (in *HTMLInput) requestData(t0Ms float64, width int64) *htmlRequests {
	reqs := in.Requests
	out := &htmlRequests{Total: len(reqs), SLOMs: float64(in.SLO) / 1e6}
	pick, n := pickRequests(reqs)
	out.Shown = n
	thread := map[string]int{}
	for i := range reqs {
		if !pick[i] {
			continue
		}
		r := &reqs[i]
		ti, ok := thread[r.Thread]
		if !ok {
			ti = len(out.Threads)
			thread[r.Thread] = ti
			out.Threads = append(out.Threads, r.Thread)
		}
		wait := float64(r.WaitMinNs) / 1e6
		if r.Traced == TracedNot {
			wait = -1 // unknown, drawn apart
		}
		out.Points = append(out.Points, [5]float64{float64(r.End)/1e6 - t0Ms, float64(r.End-r.Start) / 1e6, wait, float64(ti), float64(len(out.IDs))})
		out.IDs = append(out.IDs, r.ID)
	}
	out.maxByBin(reqs, t0Ms, width)
	return out
}

// pickRequests chooses the requests drawn as dots, and how many.
func pickRequests(reqs []Request) ([]bool, int) {
	pick := make([]bool, len(reqs))
	if len(reqs) <= htmlRequestDots {
		for i := range pick {
			pick[i] = true
		}
		return pick, len(reqs)
	}
	n := 0
	idx := make([]int, len(reqs))
	for i := range idx {
		idx[i] = i
	}
	take := func(limit int) {
		for _, i := range idx {
			if n >= limit {
				return
			}
			if !pick[i] {
				pick[i] = true
				n++
			}
		}
	}
	sort.Slice(idx, func(a, b int) bool { return reqs[idx[a]].End-reqs[idx[a]].Start > reqs[idx[b]].End-reqs[idx[b]].Start })
	take(htmlRequestDots / 4)
	sort.Slice(idx, func(a, b int) bool { return reqs[idx[a]].WaitMinNs > reqs[idx[b]].WaitMinNs })
	take(htmlRequestDots / 2)
	var rest []int
	for i := range reqs {
		if !pick[i] {
			rest = append(rest, i)
		}
	}
	want := htmlRequestDots - n
	stride := float64(len(rest)) / float64(want)
	for k := 0; k < want; k++ {
		pick[rest[int(float64(k)*stride)]] = true
		n++
	}
	return pick, n
}

// maxByBin sets the longest request per bin, exact over all requests; the
// bins are the timeline's, widened if the log spans much more time than
// the records.
func (out *htmlRequests) maxByBin(reqs []Request, t0Ms float64, width int64) {
	w := width
	for {
		bins := map[int64]bool{}
		for i := range reqs {
			bins[reqs[i].End/w] = true
			if len(bins) > htmlRequestBins {
				break
			}
		}
		if len(bins) <= htmlRequestBins {
			break
		}
		w *= 2
	}
	type agg struct {
		max   int64
		count int
	}
	byBin := map[int64]*agg{}
	for i := range reqs {
		r := &reqs[i]
		a := byBin[r.End/w]
		if a == nil {
			a = &agg{}
			byBin[r.End/w] = a
		}
		a.max = max(a.max, r.End-r.Start)
		a.count++
	}
	var keys []int64
	for k := range byBin {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(a, b int) bool { return keys[a] < keys[b] })
	out.BinMs = float64(w) / 1e6
	for _, k := range keys {
		out.MaxByBin = append(out.MaxByBin, [3]float64{float64(k*w)/1e6 - t0Ms, float64(byBin[k].max) / 1e6, float64(byBin[k].count)})
	}
}

type pageRow struct {
	Row
	Threads int
}

// WriteHTML writes one self-contained page: no external scripts, styles or
// fonts, so it opens offline and can be attached to a ticket.
func WriteHTML(w io.Writer, in HTMLInput) error {
	if in.Top <= 0 {
		in.Top = 50
	}
	if in.Generated.IsZero() {
		in.Generated = time.Now()
	}
	s := in.Summary
	data, err := json.Marshal(in.data())
	if err != nil {
		return err
	}
	threads := map[string]int{}
	for _, t := range s.Threads {
		threads[t.Pool]++
	}
	var pools []pageRow
	for _, p := range s.Pools[:min(len(s.Pools), in.Top)] {
		pools = append(pools, pageRow{p, threads[p.Name]})
	}
	var rs *RequestSummary
	if in.Requests != nil {
		rs = s.Requests
	}
	return pageTmpl().Execute(w, map[string]any{
		"S":         s,
		"Kinds":     kinds(s.All.ByKind),
		"Pools":     pools,
		"Threads":   s.Threads[:min(len(s.Threads), in.Top)],
		"Holders":   s.Holders[:min(len(s.Holders), in.Top)],
		"CPUs":      s.CPUs,
		"Files":     in.Files,
		"Generated": in.Generated.UTC(),
		"Req":       rs,
		"Top":       in.Top,
		"Data":      template.JS(data),
	})
}
