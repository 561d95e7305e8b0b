package correlate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/record"
)

// DumpIndexFile is the index that --save-dumps writes beside the dumps.
const DumpIndexFile = "index.jsonl"

// DumpMeta describes one saved dump: one line of index.jsonl.
type DumpMeta struct {
	File    string  `json:"file"`
	Pid     int     `json:"pid"`
	Start   string  `json:"start"` // RFC 3339 ns, wall clock before the request
	End     string  `json:"end"`   // after the last byte was read
	StartNs int64   `json:"start_ns"`
	EndNs   int64   `json:"end_ns"`
	Source  string  `json:"source"`
	Threads int     `json:"threads"`
	WallMs  float64 `json:"wall_ms"`
	// StoppedMs is how long the JVM was at safepoints during the dump and
	// Safepoints how many it took (its own counters); absent when the JVM
	// publishes none.
	StoppedMs  *float64 `json:"stopped_ms,omitempty"`
	Safepoints *int64   `json:"safepoints,omitempty"`
	Reason     string   `json:"reason,omitempty"`
	// HostTids maps the TIDs printed in the dump to host TIDs when the
	// JVM runs in its own PID namespace (a container); null otherwise.
	HostTids map[int]uint32 `json:"host_tids"`
}

// DumpStore saves live captures so that a replay can use exactly what the
// live run used.
type DumpStore struct {
	mu    sync.Mutex
	dir   string
	index *os.File
	seq   int
}

// NewDumpStore creates dir (if needed) and its index. It refuses a directory
// that already holds a capture rather than mixing two runs.
func NewDumpStore(dir string) (*DumpStore, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("creating dump directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, DumpIndexFile), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("dump directory %s already holds a capture (%s): choose an empty one", dir, DumpIndexFile)
		}
		return nil, fmt.Errorf("creating dump index: %w", err)
	}
	return &DumpStore{dir: dir, index: f}, nil
}

// Save writes the raw dump and appends its metadata to the index.
func (s *DumpStore) Save(c *jvm.Capture, reason string, hostTids map[int]uint32) (DumpMeta, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	m := DumpMeta{
		File:     fmt.Sprintf("dump-%06d.txt", s.seq),
		Pid:      c.Pid,
		Start:    record.FormatTime(c.Start.UnixNano()),
		End:      record.FormatTime(c.End.UnixNano()),
		StartNs:  c.Start.UnixNano(),
		EndNs:    c.End.UnixNano(),
		Source:   c.Source,
		Threads:  len(c.Dump.Threads),
		WallMs:   float64(c.End.Sub(c.Start).Microseconds()) / 1000,
		Reason:   reason,
		HostTids: hostTids,
	}
	if c.StopKnown {
		ms := float64(c.Stopped.Microseconds()) / 1000
		n := c.Safepoints
		m.StoppedMs, m.Safepoints = &ms, &n
	}
	if err := os.WriteFile(filepath.Join(s.dir, m.File), c.Raw, 0o644); err != nil {
		return m, fmt.Errorf("saving dump: %w", err)
	}
	b, _ := json.Marshal(m)
	if _, err := s.index.Write(append(b, '\n')); err != nil {
		return m, fmt.Errorf("saving dump index: %w", err)
	}
	return m, nil
}

// Close closes the index.
func (s *DumpStore) Close() error { return s.index.Close() }

// TimedDump is a dump placed in time.
type TimedDump struct {
	Start, End int64 // wall ns
	Dump       jvm.Dump
	Origin     string         // file (and line) it came from
	Pid        int            // 0 when unknown
	HostTids   map[int]uint32 // dump TID -> host TID; nil: the same namespace
}

// TidMap returns the translation of the dump's TIDs to host TIDs.
func (d *TimedDump) TidMap() TidMap {
	if d.HostTids == nil {
		return nil
	}
	return func(tid int) (uint32, bool) {
		h, ok := d.HostTids[tid]
		return h, ok
	}
}

// LoadOptions says how LoadDumpsWith places dumps in time.
type LoadOptions struct {
	// Loc is the zone of local-time timestamp lines (HotSpot's, and a
	// javacore's 1TIDATETIME when it has no 1TIDATETIMEUTC); nil means
	// time.Local.
	Loc *time.Location
	// At gives the instant a dump file was taken, for a file whose dump
	// has no timestamp line (or a wrong one). Keys are paths as given or
	// as found in a directory, or base names.
	At map[string]time.Time
}

// LoadDumps is LoadDumpsWith without instants given.
func LoadDumps(paths []string, loc *time.Location) ([]TimedDump, []string, error) {
	return LoadDumpsWith(paths, LoadOptions{Loc: loc})
}

// LoadDumpsWith reads dumps for an offline join from each path: a directory
// written by --save-dumps (exact capture times from its index), any other
// directory (every regular file in it), or a file (jstack / jcmd
// Thread.print output, an application or system log with kill -3 dumps, an
// OpenJ9 javacore, a JSON thread dump; times come from the dumps' own
// timestamp lines, read in o.Loc). Files may be gzipped, UTF-16 or carry
// journald, CRI or docker line prefixes (see jvm.DecodeInput,
// jvm.ParseOptions).
//
// Problems that leave the rest usable come back as warnings naming file and
// line: a damaged dump gives its complete threads, a file in a directory
// that cannot be read is skipped. A path that cannot be read is an error.
func LoadDumpsWith(paths []string, o LoadOptions) ([]TimedDump, []string, error) {
	if o.Loc == nil {
		o.Loc = time.Local
	}
	var out []TimedDump
	var warns []string
	used := map[string]bool{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, warns, fmt.Errorf("dumps: %w", err)
		}
		if !st.IsDir() {
			d, w, err := loadDumpFile(p, o, used)
			if err != nil {
				return nil, warns, fmt.Errorf("dumps: %w", err)
			}
			out, warns = append(out, d...), append(warns, w...)
			continue
		}
		idx := filepath.Join(p, DumpIndexFile)
		if _, err := os.Stat(idx); err == nil {
			d, w, err := loadCaptureDir(p, idx)
			if err != nil {
				return nil, warns, err
			}
			out, warns = append(out, d...), append(warns, w...)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, warns, fmt.Errorf("dumps: %w", err)
		}
		for _, e := range ents {
			path := filepath.Join(p, e.Name())
			if e.Type()&fs.ModeSymlink != 0 {
				st, err := os.Stat(path)
				if err != nil {
					warns = append(warns, fmt.Sprintf("%s: %v: skipped", path, err))
					continue
				}
				if !st.Mode().IsRegular() {
					continue
				}
			} else if !e.Type().IsRegular() {
				continue
			}
			// One unreadable file does not end the run.
			d, w, err := loadDumpFile(path, o, used)
			if err != nil {
				warns = append(warns, fmt.Sprintf("%v: skipped", err))
			}
			out, warns = append(out, d...), append(warns, w...)
		}
	}
	for k := range o.At {
		if !used[k] {
			return nil, warns, fmt.Errorf("dump time given for %s, which is no dump file read", k)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	warns = append(warns, resolveJSON(out)...)
	return out, warns, nil
}

// givenTime finds the instant o.At gives for path.
func givenTime(path string, o LoadOptions, used map[string]bool) (time.Time, bool) {
	for k, t := range o.At {
		if filepath.Clean(k) == filepath.Clean(path) || (!strings.ContainsRune(k, filepath.Separator) && k == filepath.Base(path)) {
			used[k] = true
			return t, true
		}
	}
	return time.Time{}, false
}

// fileWarnings turns a parser's error into one warning per problem:
// "file:line: what".
func fileWarnings(path string, err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		var pe *jvm.ParseError
		if errors.As(e, &pe) && pe == e {
			out = append(out, fmt.Sprintf("%s:%d: %s", path, pe.Line, pe.Msg))
			return
		}
		out = append(out, fmt.Sprintf("%s: %v", path, e))
	}
	if err != nil {
		walk(err)
	}
	return out
}

func loadDumpFile(path string, o LoadOptions, used map[string]bool) ([]TimedDump, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	text, steps, gzTime, err := jvm.DecodeInput(f)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	var warns []string
	if len(steps) > 0 && (len(steps) > 1 || steps[0] != "UTF-8 with BOM") {
		slog.Debug("dump file decoded", "file", path, "as", strings.Join(steps, ", "))
	}
	br := bufio.NewReaderSize(text, 64<<10)
	head, _ := br.Peek(64 << 10)
	var (
		dumps []jvm.Dump
		perr  error
		kind  = "dump"
	)
	switch {
	case jvm.IsJSONDump(head):
		return loadJSONDumpFile(path, br)
	case jvm.IsJavacore(head):
		kind = "javacore"
		dumps, perr = jvm.ParseJavacores(br, o.Loc)
	default:
		dumps, perr = jvm.ParseDumpsWith(br, jvm.ParseOptions{Loc: o.Loc, Partial: true, LogPrefixes: true})
	}
	var ie *jvm.InputError
	if errors.As(perr, &ie) && ie.Corrupt {
		// Corrupt compressed data may have delivered wrong bytes before
		// the error showed (they look like dump lines, with wrong names
		// and TIDs): nothing from it can be trusted, and what the parser
		// made of it is noise.
		return nil, []string{fmt.Sprintf("%s: %v: nothing in it is used", path, ie)}, nil
	}
	warns = append(warns, fileWarnings(path, perr)...)
	if len(dumps) == 0 {
		if perr == nil {
			warns = append(warns, fmt.Sprintf("%s: no thread dump found", path))
		}
		return nil, warns, nil
	}

	// Where the file's timestamp lines do not say when, the user may, or
	// the file's modification time (the end of writing it) for a file of
	// one dump.
	at, given := givenTime(path, o, used)
	if given && len(dumps) > 1 {
		warns = append(warns, fmt.Sprintf("%s: holds %d dumps: the dump time given for it is not used", path, len(dumps)))
		given = false
	}
	mod, what := st.ModTime(), "the file's modification time"
	if !gzTime.IsZero() {
		mod, what = gzTime, "the modification time its gzip header keeps"
	}
	out, pw := placeDumps(path, kind, dumps, at, given, mod, what)
	return out, append(warns, pw...), nil
}

// placeDumps places a file's dumps in time: at the time given for the file,
// else at their timestamp lines, else (a file of one dump) at the file's
// modification time mod, which what names.
func placeDumps(path, kind string, dumps []jvm.Dump, at time.Time, given bool, mod time.Time, what string) ([]TimedDump, []string) {
	var out []TimedDump
	var warns []string
	for _, d := range dumps {
		origin := fmt.Sprintf("%s:%d", path, d.Line)
		var s, e int64
		switch {
		case given:
			if !d.Time.IsZero() && (d.Time.Sub(at) >= time.Second || at.Sub(d.Time) >= time.Second) {
				warns = append(warns, fmt.Sprintf("%s: placed at the time given, %s, not at its own timestamp %s",
					origin, record.FormatTime(at.UnixNano()), record.FormatTime(d.Time.UnixNano())))
			}
			s = at.UnixNano()
			e = s + int64(time.Second) - 1
		case !d.Time.IsZero():
			// The timestamp line has second resolution (a javacore's is
			// stamped as its dump begins): the threads were listed within
			// that second.
			s = d.Time.UnixNano()
			e = s + int64(time.Second) - 1
		case len(dumps) == 1:
			e = mod.UnixNano()
			s = e - int64(time.Second) + 1
			warns = append(warns, fmt.Sprintf("%s: %s has no timestamp line: placed at %s, %s (replay --dump-time %s=TIME places it otherwise)",
				origin, kind, what, record.FormatTime(e), path))
		default:
			warns = append(warns, fmt.Sprintf("%s: %s has no timestamp line, and the file holds %d dumps: cannot place it in time: skipped", origin, kind, len(dumps)))
			continue
		}
		out = append(out, TimedDump{Start: s, End: e, Dump: d, Origin: origin, Pid: d.Pid})
	}
	return out, warns
}

// loadJSONDumpFile places JSON thread dumps in time: they are stamped to
// the ns in UTC, the dump as a whole and (JDK 25+) each thread.
func loadJSONDumpFile(path string, r io.Reader) ([]TimedDump, []string, error) {
	dumps, perr := jvm.ParseJSONDumps(r)
	warns := fileWarnings(path, perr)
	var out []TimedDump
	for _, d := range dumps {
		start, end := d.Time, d.Time
		for _, th := range d.Threads {
			if t := th.Sampled; !t.IsZero() {
				if start.IsZero() || t.Before(start) {
					start = t
				}
				if t.After(end) {
					end = t
				}
			}
		}
		if start.IsZero() {
			warns = append(warns, fmt.Sprintf("%s:%d: JSON dump has no time, cannot place it in time: skipped", path, d.Line))
			continue
		}
		out = append(out, TimedDump{Start: start.UnixNano(), End: end.UnixNano(), Dump: d, Origin: fmt.Sprintf("%s:%d", path, d.Line), Pid: d.Pid})
	}
	return out, warns, nil
}

// resolveJSON gives the threads of JSON dumps the host TIDs that the text
// dumps of the same JVM show for their Java ids (a Java id is never reused
// within one JVM, and a platform thread keeps its native thread for life).
// A Java id seen with two TIDs (dumps of two JVMs mixed) is left unresolved.
func resolveJSON(dumps []TimedDump) []string {
	var warns []string
	for i := range dumps {
		jd := &dumps[i]
		if !jd.Dump.JSON {
			continue
		}
		host := map[int64]uint32{}
		bad := map[int64]bool{}
		for k := range dumps {
			td := &dumps[k]
			if td.Dump.JSON || (td.Pid != 0 && jd.Pid != 0 && td.Pid != jd.Pid) {
				continue
			}
			m := td.TidMap()
			for _, th := range td.Dump.Threads {
				h, ok := m.Host(th.Tid)
				if th.JavaID <= 0 || !ok {
					continue
				}
				if old, ok := host[th.JavaID]; ok && old != h {
					bad[th.JavaID] = true
				}
				host[th.JavaID] = h
			}
		}
		resolved := 0
		for t := range jd.Dump.Threads {
			th := &jd.Dump.Threads[t]
			if h, ok := host[th.JavaID]; ok && !bad[th.JavaID] && !th.Virtual {
				th.Tid = int(h)
				resolved++
			}
		}
		if len(bad) > 0 {
			warns = append(warns, fmt.Sprintf("%s: %d Java ids have different native TIDs in the text dumps (dumps of several JVMs?): left unresolved", jd.Origin, len(bad)))
		}
		if resolved == 0 {
			warns = append(warns, fmt.Sprintf("%s: a JSON dump has no native TIDs and no text dump of the same JVM gives them: it names no thread", jd.Origin))
		}
	}
	return warns
}

func loadCaptureDir(dir, idx string) ([]TimedDump, []string, error) {
	b, err := os.ReadFile(idx)
	if err != nil {
		return nil, nil, fmt.Errorf("dumps: %w", err)
	}
	var out []TimedDump
	var warns []string
	for i, line := range bytes.Split(b, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var m DumpMeta
		if err := json.Unmarshal(line, &m); err != nil {
			warns = append(warns, fmt.Sprintf("%s:%d: %v: skipped", idx, i+1, err))
			continue
		}
		path := filepath.Join(dir, filepath.Base(m.File))
		raw, err := os.ReadFile(path)
		if err != nil {
			warns = append(warns, fmt.Sprintf("%s: %v: skipped", path, err))
			continue
		}
		dumps, perr := jvm.ParseDumpsWith(bytes.NewReader(raw), jvm.ParseOptions{Loc: time.UTC, Partial: true})
		warns = append(warns, fileWarnings(path, perr)...)
		if len(dumps) == 0 {
			warns = append(warns, fmt.Sprintf("%s: no thread dump found: skipped", path))
			continue
		}
		out = append(out, TimedDump{Start: m.StartNs, End: m.EndNs, Dump: dumps[0], Origin: path, Pid: m.Pid, HostTids: m.HostTids})
	}
	return out, warns, nil
}
