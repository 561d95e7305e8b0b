package report

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/runmeta"
)

// maxRowWarnings bounds the malformed rows reported one by one per file.
const maxRowWarnings = 10

// Input says which record files a report reads and what it builds from
// them besides its own tables.
type Input struct {
	Files    []string
	Strict   bool           // the first malformed row is an error (else skipped with a warning)
	Match    *regexp.Regexp // only these threads' waits in the tables; nil: all
	Profile  *Profiler      // nil: no profile
	Requests []Request      // an application log's requests to judge; nil: none
	Traced   []runmeta.Interval
	RunqMin  time.Duration // a slow request's wait from which it counts as having waited
	Trace    *TraceWriter  // nil: no trace
	Timeline *Timeline     // nil: no timeline
}

// Result is what reading the files found besides the tables.
type Result struct {
	Join  *Join // the requests' waits; nil without requests
	Cover Coverage
}

// ReadFiles reads the record files one after the other (gzip or not, CSV
// or JSON lines) into the report and into what in asks for, then judges
// the requests against the span the files cover.
func (rp *Report) ReadFiles(in Input) (Result, error) {
	var res Result
	if in.Requests != nil {
		res.Join = NewJoin(in.Requests)
	}
	var pid uint32
	rd := reader{rp: rp, in: &in, join: res.Join, sink: func(r *record.Record) {
		if in.Timeline != nil {
			in.Timeline.Add(r)
		}
		if in.Trace != nil {
			in.Trace.Add(r)
			if pid == 0 {
				pid = r.Pid
			}
		}
	}}
	infos := make([]*runmeta.File, len(in.Files))
	for i, path := range in.Files {
		infos[i] = &runmeta.File{Path: path}
		if err := rd.file(infos[i]); err != nil {
			return res, err
		}
	}
	if res.Join == nil {
		return res, nil
	}
	res.Cover = CoveredSpan(infos, in.Traced)
	if res.Cover.MinLatency > in.RunqMin {
		slog.Warn("the records hold only waits of at least --min-latency, which is above --runq-threshold: a request that waited less than that in one wait counts as not waiting; the number of slow requests that waited is a lower bound (use --runq-threshold "+res.Cover.MinLatency.String()+", or trace with a lower --min-latency)",
			"min_latency", res.Cover.MinLatency, "runq_threshold", in.RunqMin)
	}
	Classify(in.Requests, res.Cover.Span)
	res.Join.Finish()
	if in.Trace != nil {
		in.Trace.Requests(pid, in.Requests)
	}
	return res, nil
}

// reader feeds one report's records to everything that wants them.
type reader struct {
	rp   *Report
	in   *Input
	join *Join
	sink func(*record.Record)
}

// file reads one record file, noting its first and last record in info.
func (rd *reader) file(info *runmeta.File) error {
	path := info.Path
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br, err := record.Gunzip(bufio.NewReaderSize(f, 64<<10))
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if head, _ := br.Peek(4096); isEventLog(head) {
		return fmt.Errorf("%s is an events file (--save-events), not records: name its threads with 'jschedlat replay --events %s --dumps DIR -o records.csv', then report the records", path, path)
	}
	bad := badRows{file: path, what: "malformed row skipped", more: "more malformed rows skipped", strict: rd.in.Strict}
	n, read := uint64(0), uint64(0)
	err = record.ReadRecordsLenient(br, func(r *record.Record) error {
		read++
		if info.Records == 0 || r.Time < info.First {
			info.First = r.Time
		}
		info.Last = max(info.Last, r.Time)
		info.Records++
		if rd.add(r) {
			n++
		}
		return nil
	}, bad.skip)
	if err != nil {
		return rowError(path, err)
	}
	bad.summarize()
	if read > 0 && n == 0 {
		slog.Warn("no thread matches --match", "file", path, "records", read, "match", rd.in.Match.String())
	}
	if read == 0 && bad.n == 0 {
		slog.Warn("no records", "file", path)
	}
	return nil
}

// add takes one record; false: --match left it out of the tables.
func (rd *reader) add(r *record.Record) bool {
	if rd.join != nil {
		// Every record: --match chooses the tables' threads, and a
		// request's wait must not read 0 because its thread is not among
		// them.
		rd.join.Add(r)
	}
	if m := rd.in.Match; m != nil && !m.MatchString(ThreadLabel(r)) {
		return false
	}
	rd.rp.Add(r)
	if rd.in.Profile != nil {
		rd.in.Profile.Add(r)
	}
	rd.sink(r)
	return true
}

// badRows reports a file's malformed rows: the first few one by one, then
// how many more.
type badRows struct {
	file, what, more string
	strict           bool
	n                uint64
}

func (b *badRows) skip(e *record.RowError) error {
	if b.strict {
		return e
	}
	b.n++
	if b.n <= maxRowWarnings {
		slog.Warn(b.what, "file", b.file, "line", e.Line, "err", e.Err)
	}
	return nil
}

func (b *badRows) summarize() {
	if b.n > maxRowWarnings {
		slog.Warn(b.more, "file", b.file, "rows", b.n-maxRowWarnings)
	}
}

// rowError names the file, and the line of a malformed row.
func rowError(path string, err error) error {
	var re *record.RowError
	if errors.As(err, &re) {
		return fmt.Errorf("%s:%d: %v", path, re.Line, re.Err)
	}
	return fmt.Errorf("%s: %w", path, err)
}

// isEventLog tells whether a file's first bytes are the header line of an
// events file (--save-events).
func isEventLog(head []byte) bool {
	line, _, _ := bytes.Cut(head, []byte("\n"))
	return bytes.HasPrefix(line, []byte("{")) && bytes.Contains(line, []byte(`"format":"jschedlat-events"`))
}

// ReadAppFile reads an application log's requests: lines of lf, or CSV or
// JSON lines by cols when lf is nil. Malformed rows are skipped with a
// warning (strict: the first is an error).
func ReadAppFile(path string, cols AppColumns, lf *LineFormat, strict bool) ([]Request, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--app-log: %w", err)
	}
	defer f.Close()
	bad := badRows{file: path, what: "app log row skipped", more: "more app log rows skipped", strict: strict}
	var reqs []Request
	if lf != nil {
		reqs, err = ReadAppLines(f, lf, bad.skip)
	} else {
		reqs, err = ReadAppLog(f, cols, bad.skip)
	}
	if err != nil {
		return nil, rowError(path, err)
	}
	bad.summarize()
	if len(reqs) == 0 {
		return nil, fmt.Errorf("%s: no usable request (%d rows skipped)", path, bad.n)
	}
	coarse := 0
	for i := range reqs {
		if reqs[i].Coarse > 0 {
			coarse++
		}
	}
	if coarse > 0 {
		slog.Warn("app log times are to the second only: such a request's run-queue wait is given as a range (the least and the most its window can hold); log milliseconds for exact waits (Tomcat: %{begin:msec}t, or %{yyyy-MM-dd HH:mm:ss.SSS}t)",
			"file", path, "requests", coarse, "of", len(reqs))
	}
	return reqs, nil
}
