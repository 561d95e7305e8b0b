package eventlog

import (
	"encoding/json"
	"fmt"
	"math"
	"math/bits"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/jschedlat/jschedlat/sched"
)

// eventDecoder reads event lines. Replay reads millions of them, and
// encoding/json spends most of its time on reflection: lines exactly as
// Writer writes them (fields in its order, no spaces) are parsed
// by hand; any other line (hand-edited, older, malformed) goes through
// encoding/json, so that it is read as before and fails with the same
// error. The hand parser accepts a line only if encoding/json would decode
// it without error into the same sched.Event (FuzzDecodeEventLine checks it).
type eventDecoder struct {
	strs    stringCache
	scratch []byte // unescaped string content
}

// decode fills e from line (which may end in '\n'). With skip set, a line
// in the writer's form whose kind skip accepts is checked as strictly but
// its strings are not made: skipped is then true, and e only half filled.
func (d *eventDecoder) decode(line []byte, e *sched.Event, skip func(sched.Kind) bool) (skipped bool, err error) {
	switch d.fast(line, e, skip) {
	case fastDecoded:
		return false, nil
	case fastSkipped:
		return true, nil
	}
	*e, err = decodeEventJSON(line)
	return false, err
}

// decodeEventJSON is the general reader of one event line.
func decodeEventJSON(line []byte) (sched.Event, error) {
	var l eventLine
	if err := json.Unmarshal(line, &l); err != nil {
		return sched.Event{}, err
	}
	k, ok := kindByName[l.Kind]
	if !ok {
		return sched.Event{}, fmt.Errorf("unknown kind %q", l.Kind)
	}
	return sched.Event{
		KTime: l.KTime, Time: l.Time, Latency: l.Latency, Kind: k, CPU: l.CPU,
		QueuedCPU: l.QueuedCPU, Pid: l.Pid, Tid: l.Tid, Comm: l.Comm,
		PrevPid: l.PrevPid, PrevTid: l.PrevTid, PrevComm: l.PrevComm, OffCPU: l.OffCPU,
		VThread: l.VThread, Name: l.Name, NameCut: l.NameCut,
	}, nil
}

// The keys of a line, in the writer's order.
var (
	keyOpen        = mkKey(`{"ktime":`)
	keyTime        = mkKey(`,"time":`)
	keyKind        = mkKey(`,"kind":`)
	keyLatency     = mkKey(`,"latency":`)
	keyCPU         = mkKey(`,"cpu":`)
	keyQueuedCPU   = mkKey(`,"queued_cpu":`)
	keyPid         = mkKey(`,"pid":`)
	keyTid         = mkKey(`,"tid":`)
	keyComm        = mkKey(`,"comm":`)
	keyPrevPid     = mkKey(`,"prev_pid":`)
	keyPrevTid     = mkKey(`,"prev_tid":`)
	keyPrevComm    = mkKey(`,"prev_comm":`)
	keyOffCPU      = mkKey(`,"off_cpu":`)
	keyVThread     = mkKey(`,"vthread":`)
	keyName        = mkKey(`,"name":`)
	keyNameCut     = mkKey(`,"name_cut":`)
	keyNameCutTrue = mkKey(`,"name_cut":true`)
	keyClose       = mkKey("}")
	keyNone        = mkKey("") // a value without a key
)

type fastResult uint8

const (
	fastNo fastResult = iota // not in the writer's exact form: use encoding/json
	fastDecoded
	fastSkipped
)

// parser walks one line; ok turns false at the first byte out of form, and
// every later step is then a no-op.
type parser struct {
	b   []byte
	i   int
	ok  bool
	dec *eventDecoder
}

// lit consumes k. (Once ok is false, where i goes no longer matters.)
func (p *parser) lit(k *key) {
	if k.at(p.b, p.i) {
		p.i += len(k.s)
	} else {
		p.ok = false
	}
}

// uint reads key k, then a JSON integer that strconv.ParseUint takes and
// that is at most max (encoding/json rejects a larger one for the field).
// The key is read here rather than by lit: one call less per field.
func (p *parser) uint(k *key, max uint64) uint64 {
	if !p.ok || !k.at(p.b, p.i) {
		p.ok = false
		return 0
	}
	b, i := p.b, p.i+len(k.s)
	p.i = i
	j := i
	var v uint64
	// One by one: faster than eight at a time (SWAR) for these numbers,
	// most of which are short.
	for ; j < len(b); j++ {
		d := b[j] - '0'
		if d > 9 {
			break
		}
		v = v*10 + uint64(d)
	}
	// 19 digits cannot overflow; JSON has no leading zeros ("0" stands
	// alone).
	if n := j - i; n == 0 || n > 19 || n > 1 && b[i] == '0' || v > max {
		if n == 20 && b[i] != '0' {
			return p.uint20(max)
		}
		p.ok = false
		return 0
	}
	p.i = j
	return v
}

// uint20 reads a 20-digit integer, which may overflow 64 bits.
func (p *parser) uint20(max uint64) uint64 {
	var v uint64
	for _, c := range p.b[p.i : p.i+20] {
		d := uint64(c - '0')
		if v > (math.MaxUint64-d)/10 {
			p.ok = false
			return 0
		}
		v = v*10 + d
	}
	if v > max {
		p.ok = false
		return 0
	}
	p.i += 20
	return v
}

// int64 reads key k, then an integer that strconv.ParseInt takes.
func (p *parser) int64(k *key) int64 {
	if !p.ok || !k.at(p.b, p.i) {
		p.ok = false
		return 0
	}
	p.i += len(k.s)
	neg := p.i < len(p.b) && p.b[p.i] == '-'
	if neg {
		p.i++
	}
	u := p.uint(&keyNone, math.MaxInt64+1)
	if neg {
		return -int64(u) // MaxInt64+1 wraps to MinInt64, as it should
	}
	if u > math.MaxInt64 {
		p.ok = false
		return 0
	}
	return int64(u)
}

// str reads key k, then a JSON string, and returns its content, unescaped,
// as encoding/json would: the bytes are valid only until the next str. Forms
// it does not handle (invalid UTF-8, which encoding/json replaces; UTF-16
// surrogates) end the fast path.
func (p *parser) str(k *key) []byte {
	if !p.ok || !k.at(p.b, p.i) {
		p.ok = false
		return nil
	}
	p.i += len(k.s)
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		p.ok = false
		return nil
	}
	b := p.b
	start := p.i + 1
	i := start
	var high uint64 // high bits of the bytes passed: not all ASCII
	for len(b)-i >= 8 {
		w := le64(b[i:])
		if stop := strStops(w); stop != 0 {
			k := leading(stop)
			high |= w & (1<<(8*k) - 1)
			i += k
			goto found
		}
		high |= w
		i += 8
	}
	for ; i < len(b); i++ {
		c := b[i]
		if c == '"' || c == '\\' || c < 0x20 {
			break
		}
		high |= uint64(c)
	}
found:
	ascii := high&highBits == 0
	if i < len(b) && b[i] == '"' {
		// The common case: no escapes, content as is.
		s := b[start:i]
		if !ascii && !utf8.Valid(s) {
			p.ok = false
			return nil
		}
		p.i = i + 1
		return s
	}
	return p.strEscaped(b, start, i, ascii)
}

// strEscaped is str's slow path: the string from start holds escapes at
// i (or is not closed); the bytes before i are ASCII if ascii.
func (p *parser) strEscaped(b []byte, start, i int, ascii bool) []byte {
	out := append(p.dec.scratch[:0], b[start:i]...)
	if !ascii && !utf8.Valid(out) {
		p.ok = false
		return nil
	}
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			p.dec.scratch = out
			p.i = i + 1
			return out
		case c < 0x20:
			p.ok = false // control characters must be escaped
			return nil
		case c == '\\':
			if i+1 >= len(b) {
				p.ok = false
				return nil
			}
			switch b[i+1] {
			case '"', '\\', '/':
				out = append(out, b[i+1])
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				r, ok := hex4(b[i+2:])
				if !ok || utf16.IsSurrogate(r) {
					p.ok = false
					return nil
				}
				out = utf8.AppendRune(out, r)
				i += 4
			default:
				p.ok = false
				return nil
			}
			i += 2
		case c < utf8.RuneSelf:
			out = append(out, c)
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				p.ok = false
				return nil
			}
			out = append(out, b[i:i+n]...)
			i += n
		}
	}
	p.ok = false // no closing quote
	return nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// fast parses the exact form Writer.Write gives a line.
func (d *eventDecoder) fast(line []byte, e *sched.Event, skip func(sched.Kind) bool) fastResult {
	p := parser{b: line, ok: true, dec: d}
	// Straight into e: on failure, the caller overwrites it all.
	ev := e
	ev.KTime = p.uint(&keyOpen, math.MaxUint64)
	ev.Time = p.int64(&keyTime)
	kind := p.str(&keyKind)
	if !p.ok {
		return fastNo
	}
	k, known := kindOf(kind)
	if !known {
		return fastNo // encoding/json reads it, and Read reports the kind
	}
	ev.Kind = k
	build := skip == nil || !skip(k)
	ev.Latency = p.uint(&keyLatency, math.MaxUint64)
	ev.CPU = uint32(p.uint(&keyCPU, math.MaxUint32))
	ev.QueuedCPU = uint32(p.uint(&keyQueuedCPU, math.MaxUint32))
	ev.Pid = uint32(p.uint(&keyPid, math.MaxUint32))
	ev.Tid = uint32(p.uint(&keyTid, math.MaxUint32))
	if s := p.str(&keyComm); build && p.ok {
		ev.Comm = d.strs.get(s)
	}
	ev.PrevPid = uint32(p.uint(&keyPrevPid, math.MaxUint32))
	ev.PrevTid = uint32(p.uint(&keyPrevTid, math.MaxUint32))
	if s := p.str(&keyPrevComm); build && p.ok {
		ev.PrevComm = d.strs.get(s)
	}
	ev.OffCPU, ev.VThread, ev.Name, ev.NameCut = 0, 0, "", false
	if keyOffCPU.at(line, p.i) {
		ev.OffCPU = p.uint(&keyOffCPU, math.MaxUint64)
	}
	if keyVThread.at(line, p.i) {
		ev.VThread = p.uint(&keyVThread, math.MaxUint64)
	}
	if keyName.at(line, p.i) {
		if s := p.str(&keyName); build && p.ok {
			ev.Name = d.strs.get(s)
		}
	}
	if keyNameCut.at(line, p.i) {
		p.lit(&keyNameCutTrue)
		ev.NameCut = true
	}
	p.lit(&keyClose)
	// encoding/json allows trailing white space; the writer ends in "\n".
	if !p.ok || !(p.i == len(line) || p.i == len(line)-1 && line[p.i] == '\n') {
		return fastNo
	}
	if !build {
		return fastSkipped
	}
	return fastDecoded
}

// kindOf is kindByName without hashing: a few length checks.
func kindOf(name []byte) (sched.Kind, bool) {
	for k, n := range kindNameList {
		if n != "" && string(name) == n {
			return sched.Kind(k), true
		}
	}
	return 0, false
}

// stringCache hands out one string per distinct content among recent
// ones: the same few dozen comms come back on every line, and replay then
// allocates none for them. It is direct-mapped, so its size is fixed.
type stringCache struct {
	slots [1 << stringCacheBits]string
}

const stringCacheBits = 10

func (c *stringCache) get(b []byte) string {
	n := len(b)
	var h uint64
	switch {
	case n == 0:
		return ""
	case n >= 8:
		// Comms have at most 15 bytes: two words hold them whole.
		h = le64(b) ^ bits.RotateLeft64(le64(b[n-8:]), 31)
	default:
		for _, x := range b {
			h = h<<8 | uint64(x)
		}
	}
	h = (h ^ uint64(n)) * 0x9e3779b97f4a7c15
	s := &c.slots[h>>(64-stringCacheBits)]
	if *s != string(b) {
		*s = string(b)
	}
	return *s
}
