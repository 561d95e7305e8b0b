package jvm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
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
// each TITLE section). loc interprets 1TIDATETIME, which is local time. A
// thread listed twice (the current thread also has its own section) is
// kept once. Dumps without a single thread are reported, not returned.
func ParseJavacores(r io.Reader, loc *time.Location) ([]Dump, error) {
	if loc == nil {
		loc = time.Local
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		dumps []Dump
		errs  []error
		cur   *Dump
		th    *Thread
		seen  map[string]bool
		n     int
	)
	finish := func() {
		if cur == nil {
			return
		}
		if len(cur.Threads) == 0 {
			errs = append(errs, &ParseError{Line: cur.Line, Msg: "javacore without threads"})
		} else {
			dumps = append(dumps, *cur)
		}
		cur, th = nil, nil
	}
	start := func(line int) {
		finish()
		cur = &Dump{Line: line, VM: "OpenJ9"}
		seen = map[string]bool{}
	}
	for {
		raw, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// An absurdly long line: skip the rest of it.
			for err == bufio.ErrBufferFull {
				_, err = br.ReadSlice('\n')
			}
			n++
			continue
		}
		if len(raw) == 0 && err != nil {
			break
		}
		n++
		line := strings.TrimRight(string(raw), "\r\n")
		tag, rest, _ := strings.Cut(strings.TrimLeft(line, " \t"), " ")
		rest = strings.TrimLeft(rest, " \t")
		switch tag {
		case "0SECTION":
			if strings.HasPrefix(rest, "TITLE") {
				start(n)
			}
		case "1TIDATETIME":
			if cur == nil {
				start(n)
			}
			// Stamped when the dump begins; the threads are listed
			// while the file is written, within the second that
			// callers allow every dump.
			if t, ok := parseJ9Time(rest, loc); ok {
				cur.Time = t
			} else {
				errs = append(errs, &ParseError{Line: n, Msg: fmt.Sprintf("unreadable javacore date %q", rest)})
			}
		case "1CIJAVAVERSION":
			if cur != nil {
				cur.VM = "OpenJ9 " + rest
			}
		case "3XMTHREADINFO":
			th = nil
			if cur == nil {
				start(n)
			}
			name, key, state, ok := parseJ9Header(rest)
			if !ok {
				// "Anonymous native thread" and the like: no Java thread.
				continue
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			cur.Threads = append(cur.Threads, Thread{Name: name, JavaID: -1, Carrying: -1, Internal: true,
				State: j9States[state], StateDetail: state, Line: n})
			th = &cur.Threads[len(cur.Threads)-1]
		case "3XMJAVALTHREAD":
			if th != nil {
				if v, ok := j9Field(rest, "getId:"); ok {
					if id, ok := parseJ9Int(v); ok {
						th.JavaID, th.Internal = id, false
					}
				}
				if v, ok := j9Field(rest, "isDaemon:"); ok {
					th.Daemon = v == "true"
				}
			}
		case "3XMTHREADINFO1":
			if th != nil {
				if v, ok := j9Field(rest, "native thread ID:"); ok {
					if id, ok := parseJ9Int(v); ok && id > 0 {
						th.Tid = int(id)
					}
				}
			}
		case "4XESTACKTRACE":
			if th != nil {
				if f, ok := strings.CutPrefix(rest, "at "); ok {
					th.Stack = append(th.Stack, j9Frame(f))
				}
			}
		}
		if err != nil {
			break
		}
	}
	finish()
	// Threads whose native id is missing cannot be joined to the kernel's.
	for i := range dumps {
		ths := dumps[i].Threads[:0]
		for _, t := range dumps[i].Threads {
			if t.Tid > 0 {
				ths = append(ths, t)
			}
		}
		dumps[i].Threads = ths
	}
	return dumps, errors.Join(errs...)
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
	if j := strings.IndexAny(v, ",)"); j >= 0 {
		v = v[:j]
	}
	return strings.TrimSpace(v), true
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
// Java 8 SR2) or "Date:    2009/02/09 at 15:48:30".
func parseJ9Time(s string, loc *time.Location) (time.Time, bool) {
	s = strings.TrimSpace(strings.TrimPrefix(s, "Date:"))
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
