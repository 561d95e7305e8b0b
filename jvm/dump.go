// Package jvm reads HotSpot thread dumps and takes them from live JVMs, so
// that native thread ids seen by the kernel can be given their Java names.
package jvm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Thread is one thread of a HotSpot thread dump.
type Thread struct {
	Name     string // exact Java name (may contain quotes, commas, tabs, newlines, any bytes)
	JavaID   int64  // the "#N" Java thread id; -1 when absent (VM-internal threads, JDK 7)
	Tid      int    // native OS thread id: "[tid]" after #N on JDK 19+, else nid= (hex up to 17, decimal from 18); 0 when unknown
	Daemon   bool
	Internal bool   // VM-internal thread (GC Thread#0, VM Thread, ...): no #N, no stack, no state line
	State    string // "RUNNABLE" from "java.lang.Thread.State: RUNNABLE"; "" for internal threads and carriers
	// StateDetail is the parenthesised part of the state line: "sleeping" for
	// "TIMED_WAITING (sleeping)"; "" when there is none.
	StateDetail string
	Carrying    int64    // Java id of the virtual thread a carrier has mounted; -1 when none
	Stack       []string // frames without the leading whitespace and "at "; lock lines excluded
	// VirtualStack holds the frames printed after "Mounted virtual thread #N"
	// (JDK 24+): the mounted virtual thread's own code. Stack keeps the
	// carrier's frames (Continuation.run ... ForkJoinWorkerThread.run).
	VirtualStack []string
	Line         int // 1-based line number of the first line of the thread's header
	// From JSON dumps only: Virtual marks a virtual thread; Carrier is the
	// Java id of the carrier it was mounted on (0 when none or unknown);
	// Sampled is when this thread was sampled (JDK 25+; zero otherwise).
	Virtual bool
	Carrier int64
	Sampled time.Time
}

// Dump is one thread dump.
type Dump struct {
	Time    time.Time // from the timestamp line before "Full thread dump"; zero when absent
	VM      string    // text between "Full thread dump " and the final ":"
	Threads []Thread
	Line    int // 1-based line number of the "Full thread dump" line (JSON: of the object's start)
	// JSON is set for a JSON thread dump: no native TIDs, no VM threads;
	// Time then has ns precision. Pid is its processId (0 when absent).
	JSON bool
	// Pid is the process the dump is of, when it says: a JSON dump's
	// processId, or jcmd's first line ("<pid>:") before a text dump; 0
	// when unknown.
	Pid int
	// Partial marks a damaged dump of which only the trustworthy threads
	// are listed (ParseOptions.Partial).
	Partial bool
}

// ParseError is a problem found at one line of the input.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

const (
	maxLine       = 1 << 20 // longest line kept; a thread name can be long, but not megabytes
	maxNameLines  = 64      // physical lines one header may span (newlines in a name)
	maxNameBytes  = 1 << 20 // bytes one header may span
	maxErrors     = 100     // errors reported per input; the rest are counted
	timestampSize = len("2006-01-02 15:04:05")
)

var (
	pfxFullDump = []byte("Full thread dump ")
	pfxJNI      = []byte("JNI global ref") // "references: N" (<= 8) and "refs: N, weak refs: M" (>= 9)
	pfxDeadlock = []byte("Found one Java-level deadlock:")
	pfxFound    = []byte("Found ")
	pfxState    = []byte("java.lang.Thread.State: ")
	pfxAt       = []byte("at ")
	pfxCarrying = []byte("Carrying virtual thread #")
	pfxMounted  = []byte("Mounted virtual thread #")
	lineHeap    = []byte("Heap")
)

// ParseOptions says how ParseDumpsWith reads its input.
type ParseOptions struct {
	// Loc interprets the timestamp lines (nil means time.Local).
	Loc *time.Location
	// Partial keeps what can be trusted of a damaged dump instead of
	// dropping it: its complete threads (see ParseDumpsWith). Such a dump
	// has Partial set.
	Partial bool
	// LogPrefixes takes off the prefixes that journald, syslog, the
	// Kubernetes (CRI) and docker json-file logs put before every line of
	// the JVM's stdout, and joins the pieces of lines they split.
	LogPrefixes bool
}

// ParseDumps reads every HotSpot thread dump in r: jstack (also -l, -e), jcmd
// Thread.print, kill -3 output among application log lines, several dumps in
// one stream, CRLF or LF line ends. loc interprets the timestamp lines (nil
// means time.Local).
//
// Text before, between and after dumps is skipped. A dump counts as good when
// it ends with its "JNI global refs" footer, every thread header in it
// parsed and no TID is listed twice; only good dumps are returned. Every
// other dump (malformed header, binary data, cut off before its footer) is
// left out and reported in the returned error, which joins one *ParseError
// per problem. ParseDumps never panics.
func ParseDumps(r io.Reader, loc *time.Location) ([]Dump, error) {
	return ParseDumpsWith(r, ParseOptions{Loc: loc})
}

// ParseDumpsWith is ParseDumps with options. With o.Partial, a damaged dump
// keeps the threads that can be trusted and comes back with Partial set:
//   - a dump cut off (input ends, the next dump begins, binary data or a
//     heap summary comes before its footer) keeps the threads that are
//     complete: those that another thread's header followed. The thread
//     being printed where it was cut is not used, even when its header
//     line is whole: the cut may have fallen inside that line.
//   - a thread header that does not parse (or is longer than the line
//     limit) loses that thread, with its state and frames.
//
// A TID listed for several threads of one dump is reported and taken off
// all of them (Tid 0: unknown), and so is the TID of a header that goes on
// on the next line (wrapped by a log system); a strict parse drops such a
// dump.
func ParseDumpsWith(r io.Reader, o ParseOptions) ([]Dump, error) {
	if o.Loc == nil {
		o.Loc = time.Local
	}
	p := parser{
		lr:     lineReader{br: bufio.NewReaderSize(r, 64<<10), prefixes: o.LogPrefixes},
		opts:   o,
		intern: make(map[string]string),
	}
	p.run()
	if p.readErr != nil {
		p.errs = append(p.errs, fmt.Errorf("reading thread dumps after line %d: %w", p.lr.phys, p.readErr))
	}
	if p.dropped > 0 {
		p.errs = append(p.errs, fmt.Errorf("%d more problems not listed", p.dropped))
	}
	return p.dumps, errors.Join(p.errs...)
}

type parser struct {
	lr      lineReader
	opts    ParseOptions
	dumps   []Dump
	errs    []error
	dropped int
	readErr error

	// intern shares the strings of frames that recur across threads
	// (Thread.run, pool loops): big dumps repeat most of their frames.
	intern map[string]string

	// The last timestamp line seen, kept to date the dump that may follow,
	// and the last "<pid>:" line (jcmd's first line).
	ts        [timestampSize]byte
	tsLine    int
	pid       int
	pidLine   int
	lastStart int // line of the previous "Full thread dump"

	// Current dump.
	in      bool // between "Full thread dump" and its footer
	bad     bool // skip to the end of the current dump
	orphan  bool // the current thread's header did not parse: its lines are not used
	wrapped int  // index+1 of a thread whose header stops at an attribute: a next line at column 0 continues it
	openAt  int  // length in characters of the last line, a frame cut before its ")"; 0 when it was none
	// A log system that wraps long lines at a width shows it where a
	// header or frame goes on at column 0: wrapWidth is the shortest such
	// line (0: no sign of wrapping). joined lists the threads whose header
	// spanned lines (a name holding a newline, or wrapped).
	wrapWidth int
	wrapLine  int
	joined    []joinedHeader
	// headerWidth is the length of the header line that ended early.
	headerWidth int
	crlf        bool // current dump's lines end in CRLF
	deadlock    bool // inside a "Found one Java-level deadlock:" section
	mounted     bool // current thread printed "Mounted virtual thread": frames are the virtual thread's
	dump        Dump
	frames      []string // frames of the current section, copied out at its end: one exact allocation per stack
	hbuf        []byte   // header being assembled
	tids        []int    // scratch for the duplicate check
	look        []backLine
}

func (p *parser) fail(line int, format string, args ...any) {
	if len(p.errs) >= maxErrors {
		p.dropped++
		return
	}
	p.errs = append(p.errs, &ParseError{Line: line, Msg: fmt.Sprintf(format, args...)})
}

// damage reports a problem of the current dump. A strict parse drops the
// dump and skips the rest of it, since later lines are no longer
// trustworthy; a partial one marks it and goes on as the caller decides.
func (p *parser) damage(line int, format string, args ...any) {
	if p.bad && !p.opts.Partial {
		return
	}
	p.dump.Partial = true
	if !p.opts.Partial {
		p.bad = true
	}
	p.fail(line, "thread dump from line %d: "+format, append([]any{p.dump.Line}, args...)...)
}

// cut ends the usable part of the current dump at line: the thread being
// printed there is dropped (see ParseDumpsWith) and the rest of the dump
// skipped.
func (p *parser) cut(line int, why string) {
	if p.bad {
		return
	}
	p.closeFrames()
	if n := len(p.dump.Threads); p.opts.Partial && !p.orphan && n > 0 {
		why += fmt.Sprintf("; the thread being printed there (line %d) is not used", p.dump.Threads[n-1].Line)
		p.dump.Threads = p.dump.Threads[:n-1]
	}
	p.damage(line, "%s", why)
	p.bad = true
}

func (p *parser) run() {
	for {
		raw, ok := p.lr.next()
		if !ok {
			break
		}
		p.line(raw)
	}
	p.finish()
}

// line handles one physical line of the input.
func (p *parser) line(raw rawLine) {
	line := trimEOL(raw.b)
	if len(line) >= 3 && line[0] == 0xEF && line[1] == 0xBB && line[2] == 0xBF {
		line = line[3:] // a UTF-8 byte-order mark (also of files joined with cat)
	}
	if p.wrapped > 0 || p.openAt > 0 {
		p.continuation(line)
	}
	if tl := trimBlanks(line); len(tl) == timestampSize && isTimestamp(tl) {
		// Also inside a dump: a cut-off dump may be followed directly by
		// the timestamp of the next one.
		copy(p.ts[:], tl)
		p.tsLine = p.lr.n
		return
	}
	if !p.in {
		if bytes.HasPrefix(line, pfxFullDump) {
			p.startDump(line, raw)
		} else if pid, ok := pidLine(line); ok {
			p.pid, p.pidLine = pid, p.lr.n
		}
		return
	}
	p.dumpLine(line, raw)
}

// continuation settles the previous line's open end (a header stopped at an
// attribute, or a frame cut before its ")") now that the next line shows
// whether a log system wrapped it.
func (p *parser) continuation(line []byte) {
	w, o := p.wrapped, p.openAt
	p.wrapped, p.openAt = 0, 0
	if !continuesHeader(line) {
		if w > 0 {
			p.noTid(w - 1)
		}
		return
	}
	if w > 0 {
		th := &p.dump.Threads[w-1]
		if th.Tid > 0 {
			p.damage(p.lr.n, "thread header at line %d is continued on this line (wrapped by a log system?): the TID %d read from it may be cut short and is not used", th.Line, th.Tid)
		} else {
			p.damage(p.lr.n, "thread header at line %d is continued on this line (wrapped by a log system?): its TID is not in the part read", th.Line)
		}
		th.Tid = 0
		o = p.headerWidth
	}
	p.wrapSign(o, p.lr.n)
}

// dumpLine handles a line between "Full thread dump" and its footer.
func (p *parser) dumpLine(line []byte, raw rawLine) {
	if bytes.HasPrefix(line, pfxFullDump) {
		p.cut(p.lr.n, "cut off by the next dump before its \"JNI global refs\" footer")
		p.endDump()
		p.startDump(line, raw)
		return
	}
	if bytes.HasPrefix(line, pfxJNI) {
		p.endDump()
		return
	}
	if p.bad {
		return
	}
	if raw.long {
		if len(line) > 0 && line[0] == '"' {
			p.closeFrames()
			p.orphan = true
			p.damage(p.lr.n, "thread header longer than %d bytes: thread not used", maxLine)
		} else {
			p.damage(p.lr.n, "line longer than %d bytes: ignored", maxLine)
		}
		return
	}
	if p.deadlock {
		// The section repeats thread names as `"name":` lines; they are
		// not threads. It ends with "Found N deadlock(s)."
		if bytes.HasPrefix(line, pfxFound) && (bytes.HasSuffix(line, []byte("deadlock.")) || bytes.HasSuffix(line, []byte("deadlocks."))) {
			p.deadlock = false
		}
		return
	}
	if len(line) == 0 {
		return
	}
	// A thread name may hold NUL (the attach socket sends it as C0 80,
	// which decodes to NUL); anywhere else NUL means binary data.
	if line[0] != '"' && bytes.IndexByte(line, 0) >= 0 {
		p.cut(p.lr.n, "binary data (NUL byte)")
		return
	}
	switch line[0] {
	case '"':
		p.header(raw)
	case ' ', '\t':
		if !p.orphan {
			p.body(line)
		}
	default:
		switch {
		case bytes.HasPrefix(line, pfxDeadlock):
			p.deadlock = true
		case bytes.Equal(line, lineHeap):
			// kill -3 prints the heap summary after the footer.
			p.cut(p.lr.n, "heap summary before the \"JNI global refs\" footer")
		}
		// Anything else ("Threads class SMR info:" and its address
		// list, stray log lines) carries no thread data.
	}
}

// finish records a read error and closes a dump the input ended inside.
func (p *parser) finish() {
	if p.lr.err != nil && p.lr.err != io.EOF {
		p.readErr = p.lr.err
	}
	if p.in {
		if p.lr.cut {
			p.cut(p.lr.n, "input ends in the middle of a line (truncated)")
		} else {
			p.cut(p.lr.n, "input ends before the \"JNI global refs\" footer (truncated)")
		}
		p.endDump()
	}
}

// maxTsGap is how many lines may come between a timestamp line and the
// "Full thread dump" it dates: application log lines printed meanwhile.
const maxTsGap = 16

func (p *parser) startDump(line []byte, raw rawLine) {
	p.in, p.bad, p.orphan, p.deadlock, p.mounted, p.wrapped, p.openAt = true, false, false, false, false, 0, 0
	p.wrapWidth, p.wrapLine, p.joined = 0, 0, p.joined[:0]
	p.crlf = raw.crlf
	p.dump = Dump{Line: p.lr.n}
	p.frames = p.frames[:0]
	vm := line[len(pfxFullDump):]
	if i := bytes.LastIndexByte(vm, ':'); i >= 0 {
		vm = vm[:i]
	}
	p.dump.VM = string(vm)
	tsUsed := false
	if p.tsLine > p.lastStart && p.lr.n-p.tsLine <= maxTsGap {
		if t, err := time.ParseInLocation(time.DateTime, string(p.ts[:]), p.opts.Loc); err == nil {
			p.dump.Time = t
			tsUsed = true
		}
	}
	// jcmd prints "<pid>:" first, then the timestamp line.
	if p.pidLine > p.lastStart && (p.pidLine == p.lr.n-1 || tsUsed && p.pidLine == p.tsLine-1) {
		p.dump.Pid = p.pid
	}
	p.lastStart = p.lr.n
	p.lr.enterDump()
}

func (p *parser) endDump() {
	p.closeFrames()
	if p.in {
		p.checkWrappedNames()
		p.checkTids()
		if !p.dump.Partial || p.opts.Partial && len(p.dump.Threads) > 0 {
			p.dumps = append(p.dumps, p.dump)
		}
	}
	p.in, p.bad, p.orphan, p.deadlock, p.mounted, p.wrapped, p.openAt = false, false, false, false, false, 0, 0
	p.dump = Dump{}
	p.lr.leaveDump()
}

// checkTids takes a TID listed for several threads off all of them: which
// one it belongs to cannot be told.
func (p *parser) checkTids() {
	th := p.dump.Threads
	if cap(p.tids) < len(th) {
		p.tids = make([]int, 0, len(th))
	}
	p.tids = p.tids[:0]
	for i := range th {
		if th[i].Tid > 0 {
			p.tids = append(p.tids, th[i].Tid)
		}
	}
	slices.Sort(p.tids)
	dup := false
	for i := 1; i < len(p.tids); i++ {
		if p.tids[i] == p.tids[i-1] {
			dup = true
			break
		}
	}
	if !dup {
		return
	}
	// Rare: find each repeated TID's threads, in dump order.
	seen := map[int][]int{}
	for i := range th {
		if th[i].Tid > 0 {
			seen[th[i].Tid] = append(seen[th[i].Tid], i)
		}
	}
	for i := range th {
		idx := seen[th[i].Tid]
		if len(idx) < 2 || idx[0] != i {
			continue
		}
		lines := make([]string, len(idx))
		for k, j := range idx {
			lines[k] = strconv.Itoa(th[j].Line)
		}
		p.damage(th[i].Line, "TID %d is listed for %d threads (lines %s): it names none of them", th[i].Tid, len(idx), strings.Join(lines, ", "))
		for _, j := range idx {
			th[j].Tid = 0
		}
	}
}

func (p *parser) cur() *Thread {
	if n := len(p.dump.Threads); n > 0 {
		return &p.dump.Threads[n-1]
	}
	return nil
}

// body handles an indented line: the state line, a frame, a lock line, or
// the carrier lines of JDK 21+.
func (p *parser) body(line []byte) {
	t := p.cur()
	if t == nil {
		return
	}
	s := trimIndent(line)
	switch {
	case bytes.HasPrefix(s, pfxAt):
		f := s[len(pfxAt):]
		fs, ok := p.intern[string(f)]
		if !ok {
			fs = string(f)
			p.intern[fs] = fs
		}
		p.frames = append(p.frames, fs)
		t.Internal = false
		if len(f) == 0 || f[len(f)-1] != ')' {
			// Frames end in ")": this one may go on on the next line.
			p.openAt = utf8.RuneCount(line)
		}
	case bytes.HasPrefix(s, pfxState):
		st := bytes.TrimRight(s[len(pfxState):], " ")
		detail := []byte(nil)
		if i := bytes.IndexByte(st, ' '); i >= 0 {
			detail = bytes.Trim(st[i+1:], " ()")
			st = st[:i]
		}
		t.State = p.str(st)
		t.StateDetail = p.str(detail)
		t.Internal = false
	case bytes.HasPrefix(s, pfxCarrying):
		if id, ok := parseInt(bytes.TrimRight(s[len(pfxCarrying):], " "), 10); ok {
			t.Carrying = id
		}
		t.Internal = false
	case bytes.HasPrefix(s, pfxMounted):
		// JDK 24+: the frames that follow are the virtual thread's.
		if id, ok := parseInt(bytes.TrimRight(s[len(pfxMounted):], " "), 10); ok && t.Carrying < 0 {
			t.Carrying = id
		}
		p.closeFrames()
		p.mounted = true
		t.Internal = false
	}
	// "- locked <...>", "Locked ownable synchronizers:", "No compile task"
	// and the like say nothing about the thread's identity.
}

// closeFrames hands the frames gathered since the last call to the current
// thread: its Stack, or its VirtualStack after "Mounted virtual thread".
func (p *parser) closeFrames() {
	if t := p.cur(); t != nil && len(p.frames) > 0 {
		seg := make([]string, len(p.frames))
		copy(seg, p.frames)
		// Each section is gathered in one run: a thread's frames are
		// contiguous, and "Mounted virtual thread" comes once.
		if p.mounted {
			t.VirtualStack = seg
		} else {
			t.Stack = seg
		}
	}
	p.frames = p.frames[:0]
}

// str returns b as a string, shared with earlier equal strings.
func (p *parser) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := p.intern[string(b)]; ok {
		return s
	}
	s := string(b)
	p.intern[s] = s
	return s
}

// header parses a thread header that starts with raw. A newline in a thread
// name splits the header over several physical lines, so when the first line
// does not end in the attributes (tid=, nid=, ...), more lines are joined
// until it does; lines read in vain are given back.
func (p *parser) header(first rawLine) {
	start := p.lr.n
	p.closeFrames()
	p.mounted = false
	p.hbuf = append(p.hbuf[:0], p.trimHeaderEOL(first)...)
	if t, ok := parseHeader(p.hbuf); ok {
		p.addThread(t, start)
		return
	}
	p.look = p.look[:0]
	for n := 1; n < maxNameLines && len(p.hbuf) < maxNameBytes; n++ {
		next, ok := p.lr.next()
		if !ok {
			break
		}
		// Keep a copy: the reader reuses its buffer.
		next.b = append([]byte(nil), next.b...)
		p.look = append(p.look, backLine{l: next, n: p.lr.n, prefixed: p.lr.prefixed, src: append([]byte(nil), p.lr.src...)})
		l := trimEOL(next.b)
		if stopsHeader(l) || next.long {
			break
		}
		piece := p.trimHeaderEOL(next)
		p.hbuf = append(p.hbuf, '\n')
		p.hbuf = append(p.hbuf, piece...)
		if bytes.IndexByte(piece, '"') < 0 {
			continue // the name's closing quote and the attributes share a line
		}
		if t, ok := parseHeader(p.hbuf); ok {
			// The longest line but the last: a wrapped name filled its
			// lines up to the wrap width.
			width, from := 0, 0
			for i := 0; i <= len(p.hbuf); i++ {
				if i == len(p.hbuf) || p.hbuf[i] == '\n' {
					if i < len(p.hbuf) {
						width = max(width, utf8.RuneCount(p.hbuf[from:i]))
					}
					from = i + 1
				}
			}
			p.addThread(t, start)
			p.joined = append(p.joined, joinedHeader{idx: len(p.dump.Threads) - 1, width: width})
			return
		}
	}
	p.lr.unread(p.look)
	first1 := p.hbuf
	if i := bytes.IndexByte(first1, '\n'); i >= 0 {
		first1 = first1[:i]
	}
	p.orphan = true
	p.damage(start, "cannot parse thread header %q: thread not used", clip(first1, 80))
}

func (p *parser) addThread(t Thread, line int) {
	t.Line = line
	p.orphan = false
	p.dump.Threads = append(p.dump.Threads, t)
	if headerEndsEarly(p.hbuf) {
		p.wrapped = len(p.dump.Threads)
		last := p.hbuf[bytes.LastIndexByte(p.hbuf, '\n')+1:]
		p.headerWidth = utf8.RuneCount(last)
	} else {
		p.noTid(len(p.dump.Threads) - 1)
	}
}

// noTid says why a thread without a native id goes unnamed: HotSpot prints
// one in every header (nid=, and [tid] from JDK 19), so a header without
// it was cut short.
func (p *parser) noTid(i int) {
	if th := &p.dump.Threads[i]; th.Tid == 0 {
		p.fail(th.Line, "thread dump from line %d: thread header has no native thread id (nid=): %q is not named", p.dump.Line, clip([]byte(th.Name), 80))
	}
}

type joinedHeader struct {
	idx   int // in the dump's threads
	width int // characters of its longest line but the last
}

// wrapSign notes a line of width characters that went on on line n.
func (p *parser) wrapSign(width, n int) {
	if width > 0 && (p.wrapWidth == 0 || width < p.wrapWidth) {
		p.wrapWidth, p.wrapLine = width, n
	}
}

// checkWrappedNames: in a dump whose lines were wrapped at a width, a
// header spread over lines that reach that width may be a name cut by the
// wrapping rather than a name holding a newline. Which it is cannot be
// told, so its TID names nothing.
func (p *parser) checkWrappedNames() {
	if p.wrapWidth == 0 {
		return
	}
	for _, j := range p.joined {
		if j.idx >= len(p.dump.Threads) {
			continue // dropped by a cut
		}
		th := &p.dump.Threads[j.idx]
		if j.width >= p.wrapWidth && th.Tid > 0 {
			p.damage(th.Line, "lines of this dump were wrapped at %d characters (line %d), and the thread name here spans lines that long: it may be cut by the wrapping, so its TID %d is not used",
				p.wrapWidth, p.wrapLine, th.Tid)
			th.Tid = 0
		}
	}
}

// headerEndsEarly reports whether a parsed header stops at one of its
// attributes (nid=, tid=, ...) rather than at its state text or stack
// range: a log system that wraps long lines may have moved the rest,
// and part of the TID with it, to the next line.
func headerEndsEarly(h []byte) bool {
	h = bytes.TrimRight(h, " \t\r")
	last := h[bytes.LastIndexByte(h, ' ')+1:]
	if len(last) == 0 {
		return false
	}
	if last[0] == '[' {
		return last[len(last)-1] != ']'
	}
	return bytes.IndexByte(last, '=') >= 0 || last[0] == '#' || string(last) == "daemon"
}

// continuesHeader reports whether the line after a header that ends
// early is the rest of it: a line at column 0 that is nothing a dump
// prints there.
func continuesHeader(l []byte) bool {
	if len(l) == 0 {
		return false
	}
	switch l[0] {
	case ' ', '\t', '"':
		return false
	}
	return !bytes.HasPrefix(l, pfxJNI) && !bytes.HasPrefix(l, pfxFullDump) && !bytes.HasPrefix(l, pfxFound) && !bytes.Equal(l, lineHeap)
}

// trimHeaderEOL strips the line end of a header line. In a CRLF dump the CR
// belongs to the line end; in an LF dump a CR before the LF can only come from
// the thread name itself, so it is kept when the header continues.
func (p *parser) trimHeaderEOL(l rawLine) []byte {
	b := l.b
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if p.crlf {
		if n := len(b); n > 0 && b[n-1] == '\r' {
			b = b[:n-1]
		}
	}
	return b
}

// stopsHeader reports whether a line cannot be the continuation of a thread
// name: it is the start of the next thread or the end of the dump. Names can
// hold anything, but these lines mean the header being joined is broken.
func stopsHeader(l []byte) bool {
	if len(l) == 0 {
		return false
	}
	switch l[0] {
	case '"':
		_, ok := parseHeader(l)
		return ok
	case 'J':
		return bytes.HasPrefix(l, pfxJNI)
	case 'F':
		return bytes.HasPrefix(l, pfxFullDump)
	case ' ', '\t':
		s := trimIndent(l)
		return bytes.HasPrefix(s, pfxState) || bytes.HasPrefix(s, pfxAt)
	}
	return false
}

// parseHeader parses a complete thread header (physical lines joined by
// "\n"), e.g.
//
//	"name" #3 [5545] daemon prio=5 os_prio=0 cpu=1.2ms elapsed=3s tid=0x7f.. nid=5545 runnable  [0x7f..]
//	"VM Thread" os_prio=0 cpu=1.31ms elapsed=7.14s tid=0x00007fd89c0f4430 nid=0x1267 runnable
//	"name" prio=10 tid=0x67c00800 nid=0x7e94 waiting on condition [0x00000000]   (JDK 7)
//
// Names are printed raw, quotes included, and nothing after the name contains
// a quote, so the name ends at the last quote of the header.
func parseHeader(h []byte) (Thread, bool) {
	t := Thread{JavaID: -1, Carrying: -1}
	if len(h) < 2 || h[0] != '"' {
		return t, false
	}
	q := bytes.LastIndexByte(h, '"')
	if q <= 0 {
		return t, false
	}
	tail := h[q+1:]
	if len(tail) < 2 || tail[0] != ' ' || bytes.IndexByte(tail, '\n') >= 0 {
		return t, false
	}
	f, ok := scanHeaderTail(bytes.TrimRight(tail, " \t\r"))
	if !ok || (!f.sawTid && !f.sawNid) {
		return t, false
	}
	t.Name = string(h[1:q])
	t.JavaID = f.javaID
	t.Daemon = f.daemon
	switch {
	case f.bracket > 0:
		t.Tid = f.bracket
	case f.nid > 0:
		t.Tid = f.nid
	}
	// Java threads end with their stack range "[0x...]" and, since JDK 8,
	// carry "#N"; VM-internal threads have neither. A state line or frame
	// later clears Internal for Java threads whose header was cut short.
	last := f.lastTok
	hasSP := len(last) > 3 && last[0] == '[' && last[len(last)-1] == ']' && bytes.HasPrefix(last, []byte("[0x"))
	t.Internal = t.JavaID < 0 && !hasSP
	return t, true
}

// headerFields is what parseHeader reads after a thread's name.
type headerFields struct {
	javaID  int64 // "#N"; -1 if absent
	daemon  bool
	sawTid  bool
	sawNid  bool
	bracket int // "[tid]" after "#N" (JDK 19+); -1 if absent
	nid     int // nid=, hex or decimal; -1 if absent
	lastTok []byte
	// keywords is false once nid= is passed: the rest is the state text.
	keywords bool
}

// scanHeaderTail reads the space-separated tokens after a thread's name;
// it fails when the first token is not one a header starts with.
func scanHeaderTail(tail []byte) (headerFields, bool) {
	f := headerFields{javaID: -1, bracket: -1, nid: -1, keywords: true}
	first := true
	for i := 0; i < len(tail); {
		for i < len(tail) && tail[i] == ' ' {
			i++
		}
		j := i
		for j < len(tail) && tail[j] != ' ' {
			j++
		}
		tok := tail[i:j]
		i = j
		if len(tok) == 0 {
			continue
		}
		f.lastTok = tok
		if first {
			// The first token decides whether this quote really ended the
			// name, as opposed to a quote inside a name cut by a newline.
			first = false
			if !knownFirstToken(tok) {
				return f, false
			}
		}
		if f.keywords {
			f.token(tok)
		}
	}
	return f, true
}

// token reads one header token before nid=.
func (f *headerFields) token(tok []byte) {
	switch {
	case tok[0] == '#' && f.javaID < 0 && !f.sawTid:
		if id, ok := parseInt(tok[1:], 10); ok {
			f.javaID = id
		}
	case tok[0] == '[' && f.javaID >= 0 && f.bracket < 0 && !f.sawTid && tok[len(tok)-1] == ']':
		// JDK 19+: "#N [tid]"; the only OS id of a carrier thread.
		if v, ok := parseInt(tok[1:len(tok)-1], 10); ok {
			f.bracket = int(v)
		}
	case string(tok) == "daemon":
		f.daemon = true
	case bytes.HasPrefix(tok, []byte("tid=")):
		f.sawTid = true
	case bytes.HasPrefix(tok, []byte("nid=")):
		f.sawNid = true
		f.keywords = false
		v := tok[4:]
		if len(v) > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X') {
			if n, ok := parseInt(v[2:], 16); ok {
				f.nid = int(n)
			}
		} else if n, ok := parseInt(v, 10); ok {
			f.nid = int(n)
		}
	}
}

func knownFirstToken(tok []byte) bool {
	if tok[0] == '#' {
		return len(tok) > 1 && tok[1] >= '0' && tok[1] <= '9'
	}
	for _, k := range [...]string{"daemon", "prio=", "os_prio=", "cpu=", "elapsed=", "tid=", "nid="} {
		if bytes.HasPrefix(tok, []byte(k)) {
			return true
		}
	}
	return false
}

// parseInt parses a non-negative integer without allocating; it fails on
// empty input, foreign bytes and overflow.
func parseInt(b []byte, base int64) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var v int64
	for _, c := range b {
		var d int64
		switch {
		case c >= '0' && c <= '9':
			d = int64(c - '0')
		case base == 16 && c >= 'a' && c <= 'f':
			d = int64(c-'a') + 10
		case base == 16 && c >= 'A' && c <= 'F':
			d = int64(c-'A') + 10
		default:
			return 0, false
		}
		v = v*base + d
	}
	return v, true
}

// pidLine matches jcmd's first line, "4703:".
func pidLine(l []byte) (int, bool) {
	l = trimBlanks(l)
	if len(l) < 2 || len(l) > 11 || l[len(l)-1] != ':' {
		return 0, false
	}
	v, ok := parseInt(l[:len(l)-1], 10)
	return int(v), ok && v > 0
}

// trimBlanks drops the blanks a line may end with.
func trimBlanks(b []byte) []byte {
	for n := len(b); n > 0 && (b[n-1] == ' ' || b[n-1] == '\t'); n-- {
		b = b[:n-1]
	}
	return b
}

// isTimestamp matches "2026-11-25 13:37:36".
func isTimestamp(b []byte) bool {
	for i, c := range b {
		switch i {
		case 4, 7:
			if c != '-' {
				return false
			}
		case 10:
			if c != ' ' {
				return false
			}
		case 13, 16:
			if c != ':' {
				return false
			}
		default:
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}

func trimIndent(b []byte) []byte {
	i := 0
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return b[i:]
}

func trimEOL(b []byte) []byte {
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == '\r' {
		b = b[:n-1]
	}
	return b
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n]) + "..."
	}
	return string(b)
}

// rawLine is one line including its "\n" (absent on a last line without
// one).
type rawLine struct {
	b    []byte
	crlf bool // ends in "\r\n"
	long bool // longer than maxLine; b holds its start
}

// backLine is a line given back, with what the reader knew of it.
type backLine struct {
	l        rawLine
	n        int
	prefixed bool
	src      []byte
}

// lineReader yields lines with 1-based numbers and can take lines back,
// which the header parser needs after a failed look-ahead. With prefixes,
// it takes the log collector's prefix off each line (see logprefix.go).
type lineReader struct {
	br   *bufio.Reader
	n    int        // number of the line last returned (of its first physical line)
	phys int        // physical lines read
	back []backLine // lines given back, returned before reading on
	long []byte
	err  error
	cut  bool // the last line read had no "\n"

	prefixes bool
	// Whether the line last returned had a prefix, and its source.
	prefixed bool
	src      []byte
	// In a dump whose "Full thread dump" line had a prefix, only lines of
	// the same source are its lines; in a dump without one, no line is
	// touched: a thread name may look like anything, prefixes included.
	mode    int // 0: outside dumps, 1: in a prefixed dump, 2: in a plain dump
	want    []byte
	scratch []byte
	out     []byte    // a line rebuilt without its prefix
	pending []pending // pieces of split lines, per source
}

type pending struct {
	src []byte
	b   []byte
	n   int
}

const (
	modeOutside = iota
	modePrefixed
	modePlain
)

// enterDump is called with the "Full thread dump" line last returned.
func (lr *lineReader) enterDump() {
	if !lr.prefixes {
		return
	}
	if lr.prefixed {
		lr.mode, lr.want = modePrefixed, append(lr.want[:0], lr.src...)
	} else {
		lr.mode = modePlain
	}
}

func (lr *lineReader) leaveDump() { lr.mode = modeOutside }

// next returns the next line; its bytes are valid until the following call.
func (lr *lineReader) next() (rawLine, bool) {
	if len(lr.back) > 0 {
		bl := lr.back[0]
		lr.back = lr.back[1:]
		lr.prefixed, lr.src, lr.n = bl.prefixed, bl.src, bl.n
		return bl.l, true
	}
	for {
		l, ok := lr.physical()
		if !ok {
			return l, false
		}
		lr.n = lr.phys
		if !lr.prefixes {
			return l, true
		}
		lr.prefixed, lr.src = false, nil
		if lr.mode == modePlain || l.long {
			return l, true
		}
		if l, ok = lr.unprefix(l); ok {
			return l, true
		}
	}
}

// unprefix takes the prefix off l; false when the line is to be skipped:
// another source's line inside a dump, or a piece of a longer line.
func (lr *lineReader) unprefix(l rawLine) (rawLine, bool) {
	body := trimEOL(l.b)
	ll, scratch, ok := splitLogPrefix(body, lr.scratch)
	lr.scratch = scratch
	if !ok {
		return l, true
	}
	if lr.mode == modePrefixed && !bytes.Equal(ll.src, lr.want) {
		return l, false
	}
	// Pieces of a split line: join them, numbered by the first.
	var pc *pending
	for i := range lr.pending {
		if bytes.Equal(lr.pending[i].src, ll.src) {
			pc = &lr.pending[i]
		}
	}
	if ll.partial || (pc != nil && len(pc.b) > 0) {
		if pc == nil {
			lr.pending = append(lr.pending, pending{src: append([]byte(nil), ll.src...)})
			pc = &lr.pending[len(lr.pending)-1]
		}
		if len(pc.b) == 0 {
			pc.n = lr.phys
		}
		if len(pc.b) < maxLine {
			pc.b = append(pc.b, ll.msg...)
		}
		if ll.partial {
			return l, false
		}
		lr.out = append(lr.out[:0], pc.b...)
		lr.n = pc.n
		pc.b = pc.b[:0]
		if len(lr.out) > maxLine {
			lr.out, l.long = lr.out[:maxLine], true
		}
	} else {
		lr.out = append(lr.out[:0], ll.msg...)
	}
	if l.crlf || bytes.HasSuffix(lr.out, []byte("\r")) {
		l.crlf = true
		if !bytes.HasSuffix(lr.out, []byte("\r")) {
			lr.out = append(lr.out, '\r')
		}
	}
	lr.out = append(lr.out, '\n')
	l.b, lr.prefixed, lr.src = lr.out, true, ll.src
	return l, true
}

// physical returns the next physical line.
func (lr *lineReader) physical() (rawLine, bool) {
	if lr.err != nil {
		return rawLine{}, false
	}
	b, err := lr.br.ReadSlice('\n')
	long := false
	if err == bufio.ErrBufferFull {
		// A line longer than the buffer: gather up to maxLine of it and
		// drop the rest.
		lr.long = append(lr.long[:0], b...)
		for err == bufio.ErrBufferFull {
			b, err = lr.br.ReadSlice('\n')
			if len(lr.long) < maxLine {
				lr.long = append(lr.long, b...)
			} else {
				long = true
			}
		}
		if len(lr.long) > maxLine {
			lr.long, long = lr.long[:maxLine], true
		}
		b = lr.long
	}
	if err != nil {
		lr.err = err
		if len(b) == 0 {
			return rawLine{}, false
		}
	}
	lr.phys++
	lr.cut = b[len(b)-1] != '\n'
	n := len(b)
	return rawLine{b: b, crlf: n >= 2 && b[n-2] == '\r' && b[n-1] == '\n', long: long}, true
}

// unread gives lines back (in their original order) to be returned again.
func (lr *lineReader) unread(lines []backLine) {
	if len(lines) == 0 {
		return
	}
	back := make([]backLine, 0, len(lines)+len(lr.back))
	back = append(back, lines...)
	lr.back = append(back, lr.back...)
	lr.n = lines[0].n - 1
}
