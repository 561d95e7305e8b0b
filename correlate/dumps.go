package correlate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
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
		Start:    FormatTime(c.Start.UnixNano()),
		End:      FormatTime(c.End.UnixNano()),
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

// LoadDumps reads dumps for an offline join from each path: a directory
// written by --save-dumps (exact capture times from its index), any other
// directory (every regular file in it), or a file (jstack / jcmd
// Thread.print output, or an application log with kill -3 dumps; times come
// from the dumps' own timestamp lines, read in loc). Problems that leave the
// rest usable come back as warnings; an unreadable path is an error.
func LoadDumps(paths []string, loc *time.Location) ([]TimedDump, []string, error) {
	var out []TimedDump
	var warns []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, warns, fmt.Errorf("dumps: %w", err)
		}
		if !st.IsDir() {
			d, w, err := loadDumpFile(p, loc)
			if err != nil {
				return nil, warns, err
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
			if !e.Type().IsRegular() {
				continue
			}
			d, w, err := loadDumpFile(filepath.Join(p, e.Name()), loc)
			if err != nil {
				return nil, warns, err
			}
			out, warns = append(out, d...), append(warns, w...)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Start < out[j].Start })
	warns = append(warns, resolveJSON(out)...)
	return out, warns, nil
}

func loadDumpFile(path string, loc *time.Location) ([]TimedDump, []string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("dumps: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	head, _ := br.Peek(64 << 10)
	if jvm.IsJSONDump(head) {
		return loadJSONDumpFile(path, br)
	}
	parse := jvm.ParseDumps
	if jvm.IsJavacore(head) {
		parse = jvm.ParseJavacores
	}
	dumps, perr := parse(br, loc)
	var warns []string
	if perr != nil {
		warns = append(warns, fmt.Sprintf("%s: %v", path, perr))
	}
	var out []TimedDump
	for _, d := range dumps {
		if d.Time.IsZero() {
			warns = append(warns, fmt.Sprintf("%s:%d: dump has no timestamp line, cannot place it in time: skipped", path, d.Line))
			continue
		}
		// The timestamp line has second resolution (a javacore's is
		// stamped as its dump begins): the threads were listed within
		// that second.
		s := d.Time.UnixNano()
		out = append(out, TimedDump{Start: s, End: s + int64(time.Second) - 1, Dump: d, Origin: fmt.Sprintf("%s:%d", path, d.Line)})
	}
	if len(dumps) == 0 && perr == nil {
		warns = append(warns, fmt.Sprintf("%s: no thread dump found", path))
	}
	return out, warns, nil
}

// loadJSONDumpFile places JSON thread dumps in time: they are stamped to
// the ns in UTC, the dump as a whole and (JDK 25+) each thread.
func loadJSONDumpFile(path string, r io.Reader) ([]TimedDump, []string, error) {
	dumps, perr := jvm.ParseJSONDumps(r)
	var warns []string
	if perr != nil {
		warns = append(warns, fmt.Sprintf("%s: %v", path, perr))
	}
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
		dumps, perr := jvm.ParseDumps(bytes.NewReader(raw), time.UTC)
		if perr != nil {
			warns = append(warns, fmt.Sprintf("%s: %v", path, perr))
		}
		if len(dumps) == 0 {
			warns = append(warns, fmt.Sprintf("%s: no thread dump found: skipped", path))
			continue
		}
		out = append(out, TimedDump{Start: m.StartNs, End: m.EndNs, Dump: dumps[0], Origin: path, Pid: m.Pid, HostTids: m.HostTids})
	}
	return out, warns, nil
}
