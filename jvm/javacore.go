package jvm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// OpenJ9 (and IBM J9) write thread dumps as "javacores": tagged lines, one
// dump per file, e.g.
//
//	0SECTION       TITLE subcomponent dump routine
//	1TIDATETIME    Date: 2022/04/12 at 09:56:36:266
//	3XMTHREADINFO      "main" J9VMThread:0x..., omrthread_t:0x..., java/lang/Thread:0x..., state:R, prio=5
//	3XMJAVALTHREAD            (java/lang/Thread getId:0x1, isDaemon:false)
//	3XMTHREADINFO1            (native thread ID:0x190, native priority:0x5, ...)
//	4XESTACKTRACE                at java/lang/Object.wait(Native Method)

// IsJavacore tells whether the start of a file looks like a javacore.
func IsJavacore(head []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(head, "\ufeff \t\r\n"), []byte("0SECTION")) ||
		bytes.Contains(head, []byte("\n1TISIGINFO")) || bytes.Contains(head, []byte("\n1TIDATETIME"))
}

// j9States maps javacore thread states to HotSpot's names.
var j9States = map[string]string{
	"R": "RUNNABLE", "CW": "WAITING", "P": "WAITING", "B": "BLOCKED", "S": "SUSPENDED",
	"Z": "TERMINATED", "D": "TERMINATED", "N": "NEW",
}

// ParseJavacores reads the javacores in r (usually one; a new one starts at
// each TITLE section). The dump's time comes from 1TIDATETIMEUTC when the
// javacore has it (OpenJ9 0.27+), else from 1TIDATETIME, local time read in
// loc. A thread listed twice (the current thread also has its own section)
// is kept once. Dumps without a single thread are reported, not returned.
//
// A javacore that ends before its "END OF DUMP" line is truncated: it is
// returned with Partial set and the threads complete before the cut (not
// the one being written there, nor a line cut in the middle), and
// reported. A native thread ID listed for two different threads is
// reported and names neither.
func ParseJavacores(r io.Reader, loc *time.Location) ([]Dump, error) {
	if loc == nil {
		loc = time.Local
	}
	p := &j9Parser{loc: loc, open: -1}
	p.read(bufio.NewReaderSize(r, 64<<10))
	p.finish()
	// Threads whose native id is missing cannot be joined to the kernel's.
	for i := range p.dumps {
		ths := p.dumps[i].Threads[:0]
		for _, t := range p.dumps[i].Threads {
			if t.Tid > 0 {
				ths = append(ths, t)
			}
		}
		p.dumps[i].Threads = ths
	}
	return p.dumps, errors.Join(p.errs...)
}

// j9Parser is the state of ParseJavacores.
type j9Parser struct {
	loc      *time.Location
	dumps    []Dump
	errs     []error
	cur      *Dump
	th       *Thread
	seen     map[string]bool
	n        int
	utc      bool // cur's time came from 1TIDATETIMEUTC
	complete bool // cur reached its END OF DUMP line
	inThr    bool // in cur's THREADS section
	open     int  // index of the thread being listed; -1: none of cur's
}

// read hands each complete line to line; a last line without its line end
// is used only if it is the END OF DUMP line.
func (p *j9Parser) read(br *bufio.Reader) {
	var rerr error
	for {
		raw, err := br.ReadSlice('\n')
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			rerr = err
		}
		if err == bufio.ErrBufferFull {
			// An absurdly long line: skip the rest of it.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			p.n++
			if err != nil {
				break
			}
			continue
		}
		if len(raw) == 0 && err != nil {
			break
		}
		p.n++
		line := strings.TrimRight(string(raw), "\r\n")
		if err != nil && !strings.Contains(line, "END OF DUMP") {
			// The last line has no line end: the file was cut, maybe
			// in the middle of a name or an ID.
			break
		}
		p.line(strings.TrimPrefix(line, "\ufeff"))
		if err != nil {
			break
		}
	}
	if rerr != nil {
		p.errs = append(p.errs, fmt.Errorf("reading javacore after line %d: %w", p.n, rerr))
	}
}

// finish ends the current javacore, keeping it if it has threads.
func (p *j9Parser) finish() {
	cur := p.cur
	if cur == nil {
		return
	}
	if !p.complete {
		msg := "javacore ends before its END OF DUMP line (truncated)"
		if p.inThr && p.open >= 0 {
			msg += fmt.Sprintf("; the thread being written there (line %d) is not used", cur.Threads[p.open].Line)
			cur.Threads = append(cur.Threads[:p.open], cur.Threads[p.open+1:]...)
		}
		cur.Partial = true
		p.errs = append(p.errs, &ParseError{Line: p.n, Msg: msg})
	}
	if ln := dupJ9Tids(cur); len(ln) > 0 {
		cur.Partial = true
		p.errs = append(p.errs, ln...)
	}
	if len(cur.Threads) == 0 {
		p.errs = append(p.errs, &ParseError{Line: cur.Line, Msg: "javacore without threads"})
	} else {
		p.dumps = append(p.dumps, *cur)
	}
	p.cur, p.th = nil, nil
}

// start begins a javacore at line, ending the current one.
func (p *j9Parser) start(line int) {
	p.finish()
	p.cur = &Dump{Line: line, VM: "OpenJ9"}
	p.seen = map[string]bool{}
	p.utc, p.complete, p.inThr, p.open = false, false, false, -1
}

// line handles one line by its tag.
func (p *j9Parser) line(line string) {
	tag, rest, _ := strings.Cut(strings.TrimLeft(line, " \t"), " ")
	rest = strings.TrimLeft(rest, " \t")
	switch tag {
	case "0SECTION":
		p.section(rest)
	case "NULL", "1TIDMPCOMPLETE":
		if p.cur != nil && (tag != "NULL" || strings.Contains(rest, "END OF DUMP")) {
			p.complete = true
		}
	case "1TIDATETIMEUTC", "1TIDATETIME":
		p.dateTime(tag, rest)
	case "1CIJAVAVERSION":
		if p.cur != nil {
			p.cur.VM = "OpenJ9 " + rest
		}
	case "1CIPROCESSID":
		p.processID(rest)
	case "3XMTHREADINFO":
		p.threadInfo(rest)
	case "3XMJAVALTHREAD":
		p.javaThread(rest)
	case "3XMTHREADINFO1":
		if p.th != nil {
			if v, ok := j9Field(rest, "native thread ID:"); ok {
				if id, ok := parseJ9Int(v); ok && id > 0 && id <= math.MaxInt32 {
					p.th.Tid = int(id)
				}
			}
		}
	case "4XESTACKTRACE":
		if p.th != nil {
			if f, ok := strings.CutPrefix(rest, "at "); ok {
				p.th.Stack = append(p.th.Stack, j9Frame(f))
			}
		}
	}
}

func (p *j9Parser) section(rest string) {
	if strings.HasPrefix(rest, "TITLE") {
		p.start(p.n)
	}
	if p.cur != nil {
		p.inThr = strings.HasPrefix(rest, "THREADS")
		p.open = -1
		if strings.HasPrefix(rest, "Javadump End") {
			p.complete = true
		}
	}
}

func (p *j9Parser) dateTime(tag, rest string) {
	if p.cur == nil {
		p.start(p.n)
	}
	if tag == "1TIDATETIME" && p.utc {
		return
	}
	l := p.loc
	if tag == "1TIDATETIMEUTC" {
		l = time.UTC
	}
	// Stamped when the dump begins; the threads are listed
	// while the file is written, within the second that
	// callers allow every dump.
	if t, ok := parseJ9Time(rest, l); ok {
		p.cur.Time, p.utc = t, tag == "1TIDATETIMEUTC"
	} else {
		p.errs = append(p.errs, &ParseError{Line: p.n, Msg: fmt.Sprintf("unreadable javacore date %q", rest)})
	}
}

// processID reads "Process ID: 4242 (0x1092)".
func (p *j9Parser) processID(rest string) {
	if p.cur == nil {
		return
	}
	if v, ok := strings.CutPrefix(rest, "Process ID:"); ok {
		f := strings.Fields(v)
		if len(f) > 0 {
			if id, err := strconv.Atoi(f[0]); err == nil && id > 0 {
				p.cur.Pid = id
			}
		}
	}
}

func (p *j9Parser) threadInfo(rest string) {
	p.th, p.open = nil, -1
	if p.cur == nil {
		p.start(p.n)
	}
	name, key, state, ok := parseJ9Header(rest)
	if !ok {
		// "Anonymous native thread" and the like: no Java thread.
		return
	}
	if p.seen[key] {
		return
	}
	p.seen[key] = true
	p.cur.Threads = append(p.cur.Threads, Thread{Name: name, JavaID: -1, Carrying: -1, Internal: true,
		State: j9States[state], StateDetail: state, Line: p.n})
	p.open = len(p.cur.Threads) - 1
	p.th = &p.cur.Threads[p.open]
}

func (p *j9Parser) javaThread(rest string) {
	if p.th == nil {
		return
	}
	if v, ok := j9Field(rest, "getId:"); ok {
		if id, ok := parseJ9Int(v); ok {
			p.th.JavaID, p.th.Internal = id, false
		}
	}
	if v, ok := j9Field(rest, "isDaemon:"); ok {
		p.th.Daemon = v == "true"
	}
}

// dupJ9Tids takes a native thread ID listed for two different threads off
// both (a corrupt file: which one it belongs to cannot be told).
func dupJ9Tids(d *Dump) []error {
	by := map[int][]int{}
	for i, t := range d.Threads {
		if t.Tid > 0 {
			by[t.Tid] = append(by[t.Tid], i)
		}
	}
	var errs []error
	for i := range d.Threads {
		idx := by[d.Threads[i].Tid]
		if len(idx) < 2 || idx[0] != i {
			continue
		}
		lines := make([]string, len(idx))
		for k, j := range idx {
			lines[k] = strconv.Itoa(d.Threads[j].Line)
		}
		errs = append(errs, &ParseError{Line: d.Threads[i].Line, Msg: fmt.Sprintf("javacore from line %d: native thread ID %d is listed for %d threads (lines %s): it names none of them",
			d.Line, d.Threads[i].Tid, len(idx), strings.Join(lines, ", "))})
		for _, j := range idx {
			d.Threads[j].Tid = 0
		}
	}
	return errs
}

// parseJ9Header reads `"name" J9VMThread:0x..., ..., state:R, prio=5`. The
// name is printed raw, quotes included: it ends at the last `" J9VMThread:`
// (`" j9thread_t:` or `" omrthread_t:` on VMs that print no J9VMThread).
// key identifies the thread within the dump (its J9VMThread address).
func parseJ9Header(s string) (name, key, state string, ok bool) {
	if !strings.HasPrefix(s, `"`) {
		return "", "", "", false
	}
	end := -1
	for _, sep := range []string{`" J9VMThread:`, `" j9thread_t:`, `" omrthread_t:`} {
		if i := strings.LastIndex(s, sep); i > 0 {
			end = i
			break
		}
	}
	if end < 0 {
		return "", "", "", false
	}
	name, attrs := s[1:end], s[end+2:]
	key = attrs
	if v, ok := j9Field(attrs, "J9VMThread:"); ok {
		key = v
	}
	state, _ = j9Field(attrs, "state:")
	return name, key, state, true
}

// j9Field returns the value after key up to the next comma or parenthesis.
func j9Field(s, key string) (string, bool) {
	i := strings.Index(s, key)
	if i < 0 {
		return "", false
	}
	v := s[i+len(key):]
	j := strings.IndexAny(v, ",)")
	if j < 0 {
		// Not ended: the line may have been cut inside the value.
		return "", false
	}
	return strings.TrimSpace(v[:j]), true
}

func parseJ9Int(s string) (int64, bool) {
	if h, ok := strings.CutPrefix(strings.ToLower(s), "0x"); ok {
		v, err := strconv.ParseInt(h, 16, 64)
		return v, err == nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

// j9Frame turns `java/lang/Object.wait(Native Method)` into HotSpot's
// spelling `java.lang.Object.wait(Native Method)`.
func j9Frame(f string) string {
	if i := strings.IndexByte(f, '('); i > 0 {
		return strings.ReplaceAll(f[:i], "/", ".") + f[i:]
	}
	return strings.ReplaceAll(f, "/", ".")
}

// parseJ9Time reads "Date: 2022/04/12 at 09:56:36:266" (milliseconds since
// Java 8 SR2), "Date:    2009/02/09 at 15:48:30" or, from 1TIDATETIMEUTC,
// "Date: 2021/04/23 at 18:02:44:017 (UTC)".
func parseJ9Time(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(s, "Date:"))
	s = strings.TrimSpace(strings.TrimSuffix(s, "(UTC)"))
	date, clock, ok := strings.Cut(s, " at ")
	if !ok {
		return time.Time{}, false
	}
	clock = strings.TrimSpace(clock)
	ms := 0
	if parts := strings.Split(clock, ":"); len(parts) == 4 {
		v, err := strconv.Atoi(parts[3])
		if err != nil || v < 0 || v > 999 || len(parts[3]) != 3 {
			return time.Time{}, false
		}
		ms, clock = v, strings.Join(parts[:3], ":")
	}
	t, err := time.ParseInLocation("2006/01/02 15:04:05", strings.TrimSpace(date)+" "+clock, loc)
	if err != nil {
		return time.Time{}, false
	}
	return t.Add(time.Duration(ms) * time.Millisecond), true
}
