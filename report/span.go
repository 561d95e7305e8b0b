package report

import (
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/runmeta"
)

// Coverage is the span the records cover, where it came from, and the
// largest --min-latency of the runs (-1: not known).
type Coverage struct {
	Span       []runmeta.Interval
	Source     SpanSource
	MinLatency time.Duration
}

// CoveredSpan works out the traced span of the record files: traced when
// given; else, for the files whose run metadata (FILE.runs.jsonl beside
// the path attach wrote) is there, the runs' spans as the files given
// cover them; for the others, from their first to their last record, with
// a warning: a quiet stretch at either end (no wait above --min-latency)
// was traced too, but cannot be told from one that was not.
func CoveredSpan(files []*runmeta.File, traced []runmeta.Interval) Coverage {
	c := Coverage{MinLatency: -1}
	if len(traced) > 0 {
		c.Span, c.Source = traced, SpanFromFlag
		return c
	}
	byBase := map[string][]*runmeta.File{}
	var bases []string
	for _, f := range files {
		b, _, _, _ := runmeta.Base(f.Path)
		if byBase[b] == nil {
			bases = append(bases, b)
		}
		byBase[b] = append(byBase[b], f)
	}
	var span []runmeta.Interval
	var g guess
	for _, b := range bases {
		s, ok := c.fromRuns(b, byBase[b])
		if !ok {
			g.add(byBase[b])
			continue
		}
		span = append(span, s...)
	}
	c.Source = SpanFromRuns
	if len(g.files) > 0 {
		if g.any {
			span = append(span, runmeta.Interval{From: g.first, To: g.last})
		}
		c.Source = SpanFromRecords
		slog.Warn("NO RUN METADATA: the traced span is GUESSED as from the first to the last record; requests near its edges may be misjudged as traced or not. attach writes FILE.runs.jsonl beside -o FILE (not for stdout); else give the span with --traced FROM,TO (RFC 3339)",
			"files", strings.Join(g.files, " "), "from", record.FormatTime(g.first), "to", record.FormatTime(g.last))
	}
	c.Span = runmeta.Merge(span)
	return c
}

// fromRuns is the span the files of one record path cover by the path's
// run metadata, raising MinLatency to its runs'; false: no run metadata.
func (c *Coverage) fromRuns(base string, files []*runmeta.File) ([]runmeta.Interval, bool) {
	runs, warns, err := runmeta.Read(base + runmeta.Suffix)
	for _, w := range warns {
		slog.Warn(w)
	}
	if err != nil || len(runs) == 0 {
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			slog.Warn("run metadata unreadable", "file", base+runmeta.Suffix, "err", err)
		}
		return nil, false
	}
	for _, r := range runs {
		c.MinLatency = max(c.MinLatency, time.Duration(r.MinLatencyNs))
		if !r.Stopped() {
			slog.Warn("a run has no stop line in its run metadata (killed, or still running): its span is taken to end at its last record", "file", base+runmeta.Suffix, "started", record.FormatTime(r.Start))
		}
	}
	var names []string
	if ents, err := os.ReadDir(dirOf(base)); err == nil {
		for _, e := range ents {
			names = append(names, e.Name())
		}
	}
	return runmeta.Covered(base, runs, files, names), true
}

// guess is the span of the files without run metadata: from their first
// to their last record.
type guess struct {
	files       []string
	first, last int64
	any         bool
}

func (g *guess) add(files []*runmeta.File) {
	for _, f := range files {
		g.files = append(g.files, f.Path)
		if f.Records > 0 {
			if !g.any || f.First < g.first {
				g.first = f.First
			}
			g.last = max(g.last, f.Last)
			g.any = true
		}
	}
}

func dirOf(path string) string {
	d := filepath.Dir(path)
	if d == "" {
		return "."
	}
	return d
}
