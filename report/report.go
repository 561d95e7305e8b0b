package report

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

// PoolRule folds thread names into pool names: a name that Re matches
// becomes Re.ReplaceAllString(name, Template).
type PoolRule struct {
	Re       *regexp.Regexp
	Template string
}

// ParsePoolRule parses "REGEXP=>TEMPLATE" (Go regexp syntax; $1 etc. in
// TEMPLATE).
func ParsePoolRule(s string) (PoolRule, error) {
	i := strings.LastIndex(s, "=>")
	if i < 0 {
		return PoolRule{}, fmt.Errorf("pool rule %q: want REGEXP=>TEMPLATE", s)
	}
	re, err := regexp.Compile(s[:i])
	if err != nil {
		return PoolRule{}, fmt.Errorf("pool rule %q: %v", s, err)
	}
	return PoolRule{Re: re, Template: s[i+2:]}, nil
}

// trailingNumber is the default rule: a number that ends the name is the
// part that varies between the threads of a pool (http-nio-8080-exec-12 →
// http-nio-8080-exec-*, ForkJoinPool-1-worker-3 → ForkJoinPool-1-worker-*,
// GC Thread#0 → GC Thread#*); other numbers stay (G1 Service).
var trailingNumber = regexp.MustCompile(`^(.*?)[0-9]+$`)

// Pool returns the pool of a thread name under rules (the first that
// matches), else the default rule.
func Pool(name string, rules []PoolRule) string {
	for _, r := range rules {
		if r.Re.MatchString(name) {
			return r.Re.ReplaceAllString(name, r.Template)
		}
	}
	return trailingNumber.ReplaceAllString(name, "${1}*")
}

// Config tunes a Report.
type Config struct {
	Pools    []PoolRule
	Interval time.Duration // width of the latency-over-time buckets (0 = 1 s)
}

// Stat is the latency distribution of one group of waits.
type Stat struct {
	Hist
	ByKind map[string]*Hist
}

func newStat() *Stat { return &Stat{ByKind: map[string]*Hist{}} }

func (s *Stat) add(kind string, v uint64) {
	s.Hist.Add(v)
	h := s.ByKind[kind]
	if h == nil {
		h = &Hist{}
		s.ByKind[kind] = h
	}
	h.Add(v)
}

func (s *Stat) merge(o *Stat) {
	s.Hist.Merge(&o.Hist)
	for k, h := range o.ByKind {
		m := s.ByKind[k]
		if m == nil {
			m = &Hist{}
			s.ByKind[k] = m
		}
		m.Merge(h)
	}
}

// Slot is one interval of latency over time.
type Slot struct {
	Start      int64 // wall ns
	Count      uint64
	Sum, Max   uint64
	Migrations uint64
}

// Report aggregates records. Its memory grows with the number of distinct
// threads, CPUs, CPU holders and intervals, never with the records.
type Report struct {
	cfg        Config
	threads    map[string]*Stat // by thread label
	threadPool map[string]string
	holders    map[string]*Hist // previous task on the CPU -> waits it ended
	cpus       map[uint32]*Hist
	slots      map[int64]*Slot
	all        Stat
	migrated   uint64
	first      int64
	last       int64
	files      int
}

// New returns an empty report.
func New(cfg Config) *Report {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	return &Report{
		cfg: cfg, threads: map[string]*Stat{}, threadPool: map[string]string{},
		holders: map[string]*Hist{}, cpus: map[uint32]*Hist{}, slots: map[int64]*Slot{},
		all: *newStat(),
	}
}

// ThreadLabel is how a record's thread is shown: its Java name, or its
// kernel name in brackets when it has none (not a JVM thread, or unnamed).
func ThreadLabel(r *record.Record) string {
	if r.JavaThread != "" {
		return r.JavaThread
	}
	return "[" + r.Comm + "]"
}

// HolderLabel is how the task that had the CPU before the waiting thread
// is shown: its Java name when it is a thread of the JVM, else its kernel
// name in brackets; "(unknown)" when the kernel did not report it.
func HolderLabel(r *record.Record) string {
	switch {
	case r.PrevJavaThread != "":
		return r.PrevJavaThread
	case r.PrevComm != "":
		return "[" + r.PrevComm + "]"
	}
	return "(unknown)"
}

// Add takes one record.
func (rp *Report) Add(r *record.Record) {
	v := r.LatencyNs
	label := ThreadLabel(r)
	st := rp.threads[label]
	if st == nil {
		st = newStat()
		rp.threads[label] = st
		pool := label
		if r.JavaThread != "" {
			pool = Pool(r.JavaThread, rp.cfg.Pools)
		}
		rp.threadPool[label] = pool
	}
	st.add(r.Kind, v)
	rp.all.add(r.Kind, v)
	holder := HolderLabel(r)
	h := rp.holders[holder]
	if h == nil {
		h = &Hist{}
		rp.holders[holder] = h
	}
	h.Add(v)
	c := rp.cpus[r.CPU]
	if c == nil {
		c = &Hist{}
		rp.cpus[r.CPU] = c
	}
	c.Add(v)
	migrated := r.CPU != r.QueuedCPU
	if migrated {
		rp.migrated++
	}
	if rp.all.Count == 1 || r.Time < rp.first {
		rp.first = r.Time
	}
	if r.Time > rp.last {
		rp.last = r.Time
	}
	iv := int64(rp.cfg.Interval)
	k := r.Time - ((r.Time%iv)+iv)%iv
	s := rp.slots[k]
	if s == nil {
		s = &Slot{Start: k}
		rp.slots[k] = s
	}
	s.Count++
	s.Sum += v
	s.Max = max(s.Max, v)
	if migrated {
		s.Migrations++
	}
}

// Row is one line of a table: a name and its distribution.
type Row struct {
	Name   string
	Pool   string `json:",omitempty"`
	Hist   *Hist
	ByKind map[string]*Hist `json:",omitempty"`
}

// Summary is what a report says, ready to print.
type Summary struct {
	Records    uint64
	First      time.Time
	Last       time.Time
	All        Row
	Migrated   uint64 // waits that ended on another CPU than they were queued on
	Threads    []Row  // by total wait, largest first
	Pools      []Row
	Holders    []Row
	CPUs       []Row
	Slots      []Slot // in time order
	IntervalNs int64
	// Requests, when an application log was joined.
	Requests *RequestSummary
}

func sortRows(rows []Row) {
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Hist.Sum != rows[j].Hist.Sum {
			return rows[i].Hist.Sum > rows[j].Hist.Sum
		}
		return rows[i].Name < rows[j].Name
	})
}

// Summary computes the tables.
func (rp *Report) Summary() *Summary {
	s := &Summary{Records: rp.all.Count, Migrated: rp.migrated, IntervalNs: int64(rp.cfg.Interval)}
	if rp.all.Count > 0 {
		s.First, s.Last = time.Unix(0, rp.first).UTC(), time.Unix(0, rp.last).UTC()
	}
	all := rp.all
	s.All = Row{Name: "all", Hist: &all.Hist, ByKind: all.ByKind}
	pools := map[string]*Stat{}
	for name, st := range rp.threads {
		pool := rp.threadPool[name]
		s.Threads = append(s.Threads, Row{Name: name, Pool: pool, Hist: &st.Hist, ByKind: st.ByKind})
		p := pools[pool]
		if p == nil {
			p = newStat()
			pools[pool] = p
		}
		p.merge(st)
	}
	for name, st := range pools {
		s.Pools = append(s.Pools, Row{Name: name, Hist: &st.Hist, ByKind: st.ByKind})
	}
	for name, h := range rp.holders {
		s.Holders = append(s.Holders, Row{Name: name, Hist: h})
	}
	for cpu, h := range rp.cpus {
		s.CPUs = append(s.CPUs, Row{Name: fmt.Sprint(cpu), Hist: h})
	}
	sortRows(s.Threads)
	sortRows(s.Pools)
	sortRows(s.Holders)
	sort.Slice(s.CPUs, func(i, j int) bool {
		if len(s.CPUs[i].Name) != len(s.CPUs[j].Name) {
			return len(s.CPUs[i].Name) < len(s.CPUs[j].Name)
		}
		return s.CPUs[i].Name < s.CPUs[j].Name
	})
	for _, sl := range rp.slots {
		s.Slots = append(s.Slots, *sl)
	}
	sort.Slice(s.Slots, func(i, j int) bool { return s.Slots[i].Start < s.Slots[j].Start })
	return s
}
