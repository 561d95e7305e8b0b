package jvm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// JSON thread dumps (jcmd PID Thread.dump_to_file -format=json, JDK 21+)
// list platform and virtual threads by Java id, never with a native TID, and
// leave out the VM's own threads. JDK 25 adds, per thread, the instant it
// was sampled ("time"), its state, "virtual": true and, for a mounted
// virtual thread, its carrier's Java id ("carrier").

// maxJSONDump bounds what one JSON dump may take in memory.
const maxJSONDump = 1 << 30

// IsJSONDump tells whether head, the start of a file, looks like a JSON
// thread dump.
func IsJSONDump(head []byte) bool {
	s := bytes.TrimLeft(head, " \t\r\n\ufeff") // whitespace and a UTF-8 byte-order mark
	if len(s) == 0 || s[0] != '{' {
		return false
	}
	s = bytes.TrimLeft(s[1:], " \t\r\n")
	return bytes.HasPrefix(s, []byte(`"threadDump"`))
}

// jsonValue accepts a JSON string or number: the JDK writes ids as strings,
// other writers may not.
type jsonValue string

func (v *jsonValue) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*v = ""
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = jsonValue(s)
		return nil
	}
	var n json.Number
	if err := json.Unmarshal(b, &n); err != nil {
		return fmt.Errorf("want a string or a number, got %.20s", b)
	}
	*v = jsonValue(n.String())
	return nil
}

type jsonThread struct {
	Tid     jsonValue `json:"tid"`
	Time    string    `json:"time"`
	Name    *string   `json:"name"`
	State   string    `json:"state"`
	Virtual bool      `json:"virtual"`
	Carrier jsonValue `json:"carrier"`
	Stack   []string  `json:"stack"`
}

// ParseJSONDumps reads JSON thread dumps from r: one object, or several
// written one after another. Each thread has JavaID, Name, State, Stack,
// Virtual and, when the dump says so, Carrier (the Java id of the carrier a
// virtual thread is mounted on) and Sampled (when it was sampled). Tid is 0:
// such dumps carry no native ids.
//
// A dump cut off or broken part way (JDK 25 stops writing at a NUL in a
// thread name) keeps the threads read before the damage; the error names
// the line. ParseJSONDumps never panics.
func ParseJSONDumps(r io.Reader) ([]Dump, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxJSONDump+1))
	var readErr error
	if err != nil {
		var ie *InputError
		if !errors.As(err, &ie) || ie.Corrupt {
			return nil, fmt.Errorf("reading JSON thread dump: %w", err)
		}
		// Cut short: what came is what was written; the parser says
		// where it ends.
		readErr = fmt.Errorf("reading JSON thread dump: %w", err)
	}
	if len(data) > maxJSONDump {
		return nil, &ParseError{Line: 1, Msg: fmt.Sprintf("JSON thread dump larger than %d bytes", maxJSONDump)}
	}
	jp := jsonParser{data: data, dec: json.NewDecoder(bytes.NewReader(data))}
	var dumps []Dump
	var errs []error
	for {
		d, more, err := jp.dump()
		if d != nil && len(d.Threads) > 0 {
			finishJSONDump(d)
			dumps = append(dumps, *d)
		}
		if err != nil {
			errs = append(errs, err)
		}
		if !more {
			break
		}
	}
	if len(dumps) == 0 && len(errs) == 0 {
		errs = append(errs, &ParseError{Line: 1, Msg: "no JSON thread dump found"})
	}
	if readErr != nil {
		errs = append(errs, readErr)
	}
	return dumps, errors.Join(errs...)
}

type jsonParser struct {
	data []byte
	dec  *json.Decoder
}

// line returns the 1-based line of byte offset off.
func (p *jsonParser) line(off int64) int {
	if off > int64(len(p.data)) {
		off = int64(len(p.data))
	}
	if off < 0 {
		off = 0
	}
	return 1 + bytes.Count(p.data[:off], []byte("\n"))
}

// fail turns a decoding error into a ParseError at the best known line.
func (p *jsonParser) fail(err error, what string) error {
	at := p.dec.InputOffset()
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		at = se.Offset
	case errors.As(err, &te):
		at = te.Offset
	}
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		at, err = int64(len(p.data)), errors.New("input ends inside it")
	}
	return &ParseError{Line: p.line(at), Msg: fmt.Sprintf("JSON thread dump: %s: %v", what, err)}
}

// delim reads one token and checks that it is the delimiter want.
func (p *jsonParser) delim(want json.Delim, what string) error {
	tok, err := p.dec.Token()
	if err != nil {
		return p.fail(err, what)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return &ParseError{Line: p.line(p.dec.InputOffset()), Msg: fmt.Sprintf("JSON thread dump: %s: want %q, got %v", what, want, tok)}
	}
	return nil
}

// key reads an object key, or reports the end of the object.
func (p *jsonParser) key(what string) (string, bool, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return "", false, p.fail(err, what)
	}
	if d, ok := tok.(json.Delim); ok && d == '}' {
		return "", false, nil
	}
	k, ok := tok.(string)
	if !ok {
		return "", false, &ParseError{Line: p.line(p.dec.InputOffset()), Msg: fmt.Sprintf("JSON thread dump: %s: want a key, got %v", what, tok)}
	}
	return k, true, nil
}

// skip reads and drops one value.
func (p *jsonParser) skip(what string) error {
	var v json.RawMessage
	if err := p.dec.Decode(&v); err != nil {
		return p.fail(err, what)
	}
	return nil
}

// dump reads the next top-level object. It returns what it could read of
// it, whether the input may hold more, and the problem met, if any.
func (p *jsonParser) dump() (*Dump, bool, error) {
	if !p.dec.More() {
		// Trailing whitespace only, or a stray closing delimiter.
		if _, err := p.dec.Token(); err != io.EOF {
			return nil, false, &ParseError{Line: p.line(p.dec.InputOffset()), Msg: "JSON thread dump: unexpected data after the last dump"}
		}
		return nil, false, nil
	}
	startLine := p.line(p.dec.InputOffset() + int64(countSpace(p.data[p.dec.InputOffset():])))
	if err := p.delim('{', "start of dump"); err != nil {
		return nil, false, err
	}
	var d *Dump
	for {
		k, ok, err := p.key("dump")
		if err != nil {
			return d, false, err
		}
		if !ok {
			break
		}
		if k != "threadDump" {
			if err := p.skip(k); err != nil {
				return d, false, err
			}
			continue
		}
		d = &Dump{Line: startLine, JSON: true}
		if err := p.threadDump(d); err != nil {
			return d, false, err
		}
	}
	if d == nil {
		return nil, true, &ParseError{Line: startLine, Msg: `JSON object without "threadDump": not a thread dump`}
	}
	return d, true, nil
}

func countSpace(b []byte) int {
	n := 0
	for n < len(b) && (b[n] == ' ' || b[n] == '\t' || b[n] == '\r' || b[n] == '\n') {
		n++
	}
	return n
}

func (p *jsonParser) threadDump(d *Dump) error {
	if err := p.delim('{', "threadDump"); err != nil {
		return err
	}
	for {
		k, ok, err := p.key("threadDump")
		if err != nil || !ok {
			return err
		}
		switch k {
		case "processId":
			var v jsonValue
			if err := p.dec.Decode(&v); err != nil {
				return p.fail(err, k)
			}
			if v != "" {
				pid, err := strconv.Atoi(string(v))
				if err != nil || pid <= 0 {
					return &ParseError{Line: p.line(p.dec.InputOffset()), Msg: fmt.Sprintf("JSON thread dump: processId %q is not a process id", string(v))}
				}
				d.Pid = pid
			}
		case "time":
			var v string
			if err := p.dec.Decode(&v); err != nil {
				return p.fail(err, k)
			}
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				return &ParseError{Line: p.line(p.dec.InputOffset()), Msg: fmt.Sprintf("JSON thread dump: time %q: %v", v, err)}
			}
			d.Time = t
		case "runtimeVersion":
			if err := p.dec.Decode(&d.VM); err != nil {
				return p.fail(err, k)
			}
		case "threadContainers":
			if err := p.containers(d); err != nil {
				return err
			}
		default:
			if err := p.skip(k); err != nil {
				return err
			}
		}
	}
}

func (p *jsonParser) containers(d *Dump) error {
	if err := p.delim('[', "threadContainers"); err != nil {
		return err
	}
	seen := map[int64]bool{}
	for p.dec.More() {
		if err := p.delim('{', "thread container"); err != nil {
			return err
		}
		container := ""
		for {
			k, ok, err := p.key("thread container")
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			switch k {
			case "container":
				if err := p.dec.Decode(&container); err != nil {
					return p.fail(err, k)
				}
			case "threads":
				if err := p.threads(d, container, seen); err != nil {
					return err
				}
			default:
				if err := p.skip(k); err != nil {
					return err
				}
			}
		}
	}
	return p.delim(']', "threadContainers")
}

// threads reads one container's thread list; each complete thread is kept
// at once, so that damage further on loses only what follows it.
func (p *jsonParser) threads(d *Dump, container string, seen map[int64]bool) error {
	if err := p.delim('[', "threads"); err != nil {
		return err
	}
	for p.dec.More() {
		var jt jsonThread
		if err := p.dec.Decode(&jt); err != nil {
			return p.fail(err, fmt.Sprintf("thread after %d complete ones", len(d.Threads)))
		}
		line := p.line(p.dec.InputOffset())
		id, err := strconv.ParseInt(string(jt.Tid), 10, 64)
		if err != nil || id <= 0 {
			return &ParseError{Line: line, Msg: fmt.Sprintf("JSON thread dump: thread id %q in container %q", string(jt.Tid), container)}
		}
		// A thread may be listed under several containers: keep the
		// first listing.
		if seen[id] {
			continue
		}
		seen[id] = true
		th := Thread{JavaID: id, State: jt.State, Virtual: jt.Virtual, Carrying: -1, Stack: dropEmptyFrames(jt.Stack), Line: line}
		if jt.Name != nil {
			th.Name = *jt.Name
		}
		if jt.Carrier != "" {
			cid, err := strconv.ParseInt(string(jt.Carrier), 10, 64)
			if err != nil || cid <= 0 {
				return &ParseError{Line: line, Msg: fmt.Sprintf("JSON thread dump: carrier %q of thread #%d", string(jt.Carrier), id)}
			}
			th.Carrier = cid
		}
		if jt.Time != "" {
			t, err := time.Parse(time.RFC3339Nano, jt.Time)
			if err != nil {
				return &ParseError{Line: line, Msg: fmt.Sprintf("JSON thread dump: time %q of thread #%d: %v", jt.Time, id, err)}
			}
			th.Sampled = t
		}
		d.Threads = append(d.Threads, th)
	}
	return p.delim(']', "threads")
}

// finishJSONDump tells carriers what they carry, as a text dump does.
func finishJSONDump(d *Dump) {
	byID := make(map[int64]int, len(d.Threads))
	for i := range d.Threads {
		byID[d.Threads[i].JavaID] = i
	}
	for i := range d.Threads {
		if c := d.Threads[i].Carrier; c > 0 {
			if k, ok := byID[c]; ok && !d.Threads[k].Virtual {
				d.Threads[k].Carrying = d.Threads[i].JavaID
			}
		}
	}
}

// dropEmptyFrames leaves out blank stack entries.
func dropEmptyFrames(stack []string) []string {
	out := stack[:0]
	for _, f := range stack {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
