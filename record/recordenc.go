package record

import (
	"bufio"
	"encoding/binary"
	"math/bits"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"
)

// The record writers format rows by hand into one reused buffer: replay
// writes millions of rows, and encoding/csv, encoding/json and time.Format
// cost more than the join. The bytes are those the standard packages give
// (see TestWritersMatchStandard and FuzzRecordWriters).

// timeText formats record times (FormatTime), reusing the date and clock
// of the last second formatted: rows come in time order.
type timeText struct {
	sec    int64
	prefix []byte // "2006-01-02T15:04:05" of sec; empty until first use
}

func (c *timeText) append(b []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 { // time.Unix rounds towards minus infinity too
		sec, frac = sec-1, frac+1e9
	}
	if len(c.prefix) == 0 || sec != c.sec {
		c.prefix = time.Unix(sec, 0).UTC().AppendFormat(c.prefix[:0], "2006-01-02T15:04:05")
		c.sec = sec
	}
	if len(c.prefix) == 19 { // years 0-9999: fixed sizes, no copy loop
		l := len(b)
		b = grow(b, 30)
		d := b[l : l+30]
		*(*[19]byte)(d) = [19]byte(c.prefix)
		d[19] = '.'
		hi := uint32(frac) / 1e8
		d[20] = byte('0' + hi)
		binary.LittleEndian.PutUint64(d[21:], eightDigits(uint32(frac)-hi*1e8)+zeros8)
		d[29] = 'Z'
		return b
	}
	b = append(b, c.prefix...)
	b = append(b, '.')
	b = append9(b, uint32(frac)) // TimeLayout's fixed fraction
	return append(b, 'Z')
}

// digitPairs is "00" to "99": numbers are formatted two digits a step.
const digitPairs = "00010203040506070809101112131415161718192021222324252627282930313233343536373839" +
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879" +
	"8081828384858687888990919293949596979899"

// appendUint is strconv.AppendUint(b, v, 10), which costs more per number:
// a row has eight. The digits go straight into b's spare room.
func appendUint(b []byte, v uint64) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	if v < 1e8 {
		// Eight digits, the leading zeros (low bytes) shifted out.
		x := eightDigits(uint32(v))
		z := bits.TrailingZeros64(x) / 8
		l := len(b)
		b = grow(b, 8)
		binary.LittleEndian.PutUint64(b[l:], x>>(8*z)+zeros8)
		return b[:l+8-z]
	}
	n := 9
	for n < len(pow10) && v >= pow10[n] {
		n++
	}
	l := len(b)
	b = grow(b, n)
	d := b[l : l+n]
	i := n
	for v >= 100 {
		q := v / 100
		r := (v - q*100) * 2
		i -= 2
		d[i], d[i+1] = digitPairs[r], digitPairs[r+1]
		v = q
	}
	if v >= 10 {
		d[0], d[1] = digitPairs[2*v], digitPairs[2*v+1]
	} else {
		d[0] = byte('0' + v)
	}
	return b
}

// appendSmall is appendUint, inlined for the usual single digit (CPUs).
func appendSmall(b []byte, v uint32) []byte {
	if v < 10 {
		return append(b, byte('0'+v))
	}
	return appendUint(b, uint64(v))
}

// pow10[n] is the smallest number of n+1 digits.
var pow10 = [...]uint64{1, 10, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
	1e15, 1e16, 1e17, 1e18, 1e19}

// grow returns b lengthened by n bytes (their content undefined).
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		b = append(b[:cap(b)], make([]byte, n-(cap(b)-len(b)))...)[:len(b)]
	}
	return b[:len(b)+n]
}

// append9 appends v (below 1e9) as nine digits, leading zeros included.
func append9(b []byte, v uint32) []byte {
	l := len(b)
	b = grow(b, 9)
	d := b[l : l+9]
	hi := v / 1e8
	d[0] = byte('0' + hi)
	binary.LittleEndian.PutUint64(d[1:], eightDigits(v-hi*1e8)+zeros8)
	return b
}

// zeros8 is eight '0's, a word's worth.
const zeros8 = 0x3030303030303030

// eightDigits returns the eight decimal digits of v (below 1e8), leading
// zeros included, as byte values 0-9 of a little-endian word (the first
// digit in the low byte), computed side by side in its lanes: halves of
// four digits, then pairs, then single digits, each lane divided by a
// multiplication and a shift (exact for these ranges).
func eightDigits(v uint32) uint64 {
	x := uint64(v/10000) | uint64(v%10000)<<32
	q := (x * 10486 >> 20) & 0x0000007F0000007F // lanes of 32 bits: a/100 for a < 10000
	x = q | (x-q*100)<<16
	q = (x * 103 >> 10) & 0x000F000F000F000F // lanes of 16 bits: a/10 for a < 100
	return q | (x-q*10)<<8
}

// rowState is what a writer keeps from row to row to format the next one
// faster.
type rowState struct {
	times timeText
	nums  numText
	plain plainCache
	// The last plain value of the CSV column kind (appendCSVLast).
	kind  string
	frags *csvFrags // a thread's rendered fields (threadFrag, jsonThreadFrag)
}

// plainCache remembers strings found plain (written as they are) by their
// identity, the address and length of their bytes: a row's names, comms,
// kind, name source and cgroup are the same few hundred strings over and
// over (the Namer's names, sched.CommString's comms, constants). Holding a
// string keeps its bytes from being reused for another one. A writer has
// one cache: CSV and JSON lines differ in what is plain. The JSON writer
// keeps it to strings of 8 bytes or more.
type plainCache [plainSlots]string

// plainSlots is the size of the cache: a JVM's few hundred names and comms
// rarely share a slot. (With 512 slots and the address's bits folded, one
// long field in ten missed in the pipeline's benchmark.)
const (
	plainSlotsLog2 = 11
	plainSlots     = 1 << plainSlotsLog2
)

func (c *plainCache) slot(s string) *string {
	p := uint64(uintptr(unsafe.Pointer(unsafe.StringData(s))))
	return &c[(p*0x9E3779B97F4A7C15)>>(64-plainSlotsLog2)]
}

func (c *plainCache) known(e *string, s string) bool {
	return len(*e) == len(s) && unsafe.StringData(*e) == unsafe.StringData(s)
}

// appendCSV is appendCSVField.
func (c *plainCache) appendCSV(b []byte, s string) []byte {
	if len(s) == 0 {
		return b
	}
	if e := c.slot(s); c.known(e, s) {
		return append(b, s...)
	} else if csvPlainASCII(s) {
		*e = s
		return append(b, s...)
	}
	return appendCSVField(b, s)
}

// appendCSVLast is appendCSV for a column that often repeats its last
// value (kind): *last is that value when it was plain.
func (c *plainCache) appendCSVLast(b []byte, s string, last *string) []byte {
	if len(s) == len(*last) && unsafe.StringData(s) == unsafe.StringData(*last) {
		return append(b, s...)
	}
	if len(s) == 0 {
		return b
	}
	if e := c.slot(s); c.known(e, s) || csvPlainASCII(s) {
		*e, *last = s, s
		return append(b, s...)
	}
	return appendCSVField(b, s)
}

// appendJSON is appendJSONText.
func (c *plainCache) appendJSON(b []byte, s string) []byte {
	if len(s) < 8 {
		return appendJSONText(b, s)
	}
	if e := c.slot(s); c.known(e, s) || jsonPlainASCII(s) {
		*e = s
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	return appendJSONText(b, s)
}

// numText formats the kernel time of rows, whose seconds change once a
// second.
type numText struct {
	ksec     uint64
	ksecN    int      // digits of ksec in ksecText; 0 until first use
	ksecText [16]byte // (at most 11: ksec is below 2^64/1e9)
}

// appendKTime appends v as appendUint does: its seconds, then nine digits.
func (n *numText) appendKTime(b []byte, v uint64) []byte {
	if v < 1e9 {
		return appendUint(b, v)
	}
	sec := v / 1e9
	if sec != n.ksec || n.ksecN == 0 {
		n.ksec, n.ksecN = sec, len(appendUint(n.ksecText[:0], sec))
	}
	// The seconds' digits copied whole (the bytes past them are
	// overwritten or cut), then the nine of the fraction.
	l := len(b)
	b = grow(b, 16+9)
	d := b[l : l+16+9]
	*(*[16]byte)(d) = n.ksecText
	k := n.ksecN
	frac := uint32(v - sec*1e9)
	hi := frac / 1e8
	d[k] = byte('0' + hi)
	binary.LittleEndian.PutUint64(d[k+1:], eightDigits(frac-hi*1e8)+zeros8)
	return b[:l+k+9]
}

// appendCSVField appends s as encoding/csv.Writer writes a field (comma
// separator, UseCRLF false), after making it valid UTF-8 as the JSON lines
// are: a thread name from a dump or the kernel may hold any bytes, and a
// CSV reader may refuse a file that is not UTF-8.
func appendCSVField(b []byte, s string) []byte {
	if csvPlainASCII(s) {
		return append(b, s...)
	}
	if !utf8.ValidString(s) {
		s = validUTF8(s)
	}
	if !csvNeedsQuotes(s) {
		return append(b, s...)
	}
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' {
			b = append(b, '"')
		}
		b = append(b, s[i])
	}
	return append(b, '"')
}

// validUTF8 replaces each byte that is not part of valid UTF-8 with
// U+FFFD, as encoding/json (and appendJSONText) do.
func validUTF8(s string) string {
	b := make([]byte, 0, len(s)+8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, "\uFFFD"...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return string(b)
}

// csvPlainASCII tells in one pass that s is written as it is: ASCII (so
// valid UTF-8) that csvNeedsQuotes would not quote. Nearly every field is
// (numbers' neighbours: kinds, comms, Java names, cgroups).
func csvPlainASCII(s string) bool {
	if s == "" {
		return true
	}
	if c := s[0]; c == ' ' || c >= '\t' && c <= '\r' || s == `\.` {
		return false
	}
	if len(s) >= 4 && len(s) < 8 {
		// Kinds, name sources: one word of two overlapping halves.
		w := shortWord(s)
		return w&highBits == 0 && csvStops(w) == 0
	}
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if c := s[i]; c >= utf8.RuneSelf || csvSpecial[c] {
				return false
			}
		}
		return true
	}
	// Words of 8, the last one overlapping the one before.
	for i := 0; ; i += 8 {
		i = min(i, len(s)-8)
		if w := leString(s[i:]); w&highBits != 0 || csvStops(w) != 0 {
			return false
		}
		if i == len(s)-8 {
			return true
		}
	}
}

var csvSpecial = [256]bool{'\n': true, '\r': true, '"': true, ',': true}

// jsonPlainASCII tells in one pass that appendJSONText writes s as it is
// between its quotes: ASCII from 0x20 but '"', '\\' and HTML's '<', '>',
// '&' (nearly every field).
func jsonPlainASCII(s string) bool {
	if len(s) >= 4 && len(s) < 8 {
		w := shortWord(s)
		return w&highBits == 0 && jsonStops(w) == 0
	}
	if len(s) < 8 {
		for i := 0; i < len(s); i++ {
			if !jsonPlain[s[i]] {
				return false
			}
		}
		return true
	}
	// Words of 8, the last one overlapping the one before.
	for i := 0; ; i += 8 {
		i = min(i, len(s)-8)
		if w := leString(s[i:]); w&highBits != 0 || jsonStops(w) != 0 {
			return false
		}
		if i == len(s)-8 {
			return true
		}
	}
}

var jsonPlain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// csvNeedsQuotes is encoding/csv.Writer's fieldNeedsQuotes for a comma.
func csvNeedsQuotes(s string) bool {
	if s == "" {
		return false
	}
	if s == `\.` {
		return true
	}
	i := 0
	for ; len(s)-i >= 8; i += 8 {
		if csvStops(leString(s[i:])) != 0 {
			return true
		}
	}
	for ; i < len(s); i++ {
		if csvSpecial[s[i]] {
			return true
		}
	}
	if c := s[0]; c < utf8.RuneSelf {
		return c == ' ' || c >= '\t' && c <= '\r'
	}
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.IsSpace(r)
}

// csvBufSize is the buffer encoding/csv.NewWriter puts before the file:
// the same size keeps the file's writes (and size-based rotation, which
// sees what reached the file) as they were.
const csvBufSize = 4096

// putChunked writes p to bw as a byte-by-byte writer would: bufio.Writer
// writes a long p straight to the file when its buffer is empty, which
// encoding/csv (writing field by field) never made it do.
func putChunked(bw *bufio.Writer, p []byte) error {
	for len(p) > bw.Available() {
		n := bw.Available()
		if n == 0 {
			if err := bw.Flush(); err != nil {
				return err
			}
			continue
		}
		if _, err := bw.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	_, err := bw.Write(p)
	return err
}

func (c *csvWriter) appendRow(b []byte, r *Record) []byte {
	return appendCSVRow(b, r, &c.rowState)
}

func appendCSVRow(b []byte, r *Record, st *rowState) []byte {
	times, nums, c := &st.times, &st.nums, &st.plain
	if st.frags == nil {
		st.frags = new(csvFrags)
	}
	f := st.frags
	b = times.append(b, r.Time) // digits, '-', ':', '.': never quoted
	b = append(b, ',')
	b = appendSmall(b, r.CPU)
	b = append(b, ',')
	b = appendSmall(b, r.QueuedCPU)
	b = append(b, ',')
	b = c.appendCSVLast(b, r.Kind, &st.kind)
	b = append(b, ',')
	b = appendUint(b, r.LatencyNs)
	b = append(b, ',')
	// pid,tid,comm,java_thread,name_source,
	b = append(b, c.threadFrag(&f.cur[r.Tid%csvFragSlots], r.Pid, r.Tid, r.Comm, r.JavaThread, r.NameSource, true)...)
	// prev_pid,prev_tid,prev_comm,prev_java_thread,
	b = append(b, c.threadFrag(&f.prev[r.PrevTid%csvFragSlots], r.PrevPid, r.PrevTid, r.PrevComm, r.PrevJavaThread, "", false)...)
	b = nums.appendKTime(b, r.KTime)
	b = append(b, ',')
	// virtual_thread,cgroup,container
	e := &f.tail
	if !e.holds(0, 0, r.VirtualThread, r.Cgroup, r.Container) {
		t := c.appendCSV(e.text[:0], r.VirtualThread)
		t = append(t, ',')
		t = c.appendCSV(t, r.Cgroup)
		t = append(t, ',')
		t = c.appendCSV(t, r.Container)
		*e = csvFrag{s: [3]string{r.VirtualThread, r.Cgroup, r.Container}, text: append(t, '\n')}
	}
	return append(b, e.text...)
}

// csvFrags holds rendered runs of a CSV row's columns that go together:
// a thread's PID, TID, comm, Java name and name source (and the same of
// the previous task) repeat from row to row of that thread, and the last
// columns (virtual thread, cgroup, container) from row to row. A run is
// reused while its values are the same, the strings by identity (held,
// as plainCache holds them). By TID, direct-mapped: a JVM's TIDs are
// mostly consecutive.
type csvFrags struct {
	cur, prev [csvFragSlots]csvFrag
	tail      csvFrag
}

const csvFragSlots = 256

type csvFrag struct {
	pid, tid uint32
	s        [3]string
	text     []byte
}

// threadFrag is the text of a thread's columns, "pid,tid,comm,java_thread,"
// and with source "name_source,", rendered into e unless e holds it.
func (c *plainCache) threadFrag(e *csvFrag, pid, tid uint32, comm, java, src string, source bool) []byte {
	if e.holds(pid, tid, comm, java, src) {
		return e.text
	}
	t := appendUint(e.text[:0], uint64(pid))
	t = append(t, ',')
	t = appendUint(t, uint64(tid))
	t = append(t, ',')
	t = c.appendCSV(t, comm)
	t = append(t, ',')
	t = c.appendCSV(t, java)
	if source {
		t = append(t, ',')
		t = c.appendCSV(t, src)
	}
	*e = csvFrag{pid: pid, tid: tid, s: [3]string{comm, java, src}, text: append(t, ',')}
	return e.text
}

func (f *csvFrag) holds(pid, tid uint32, a, b, c string) bool {
	return f.text != nil && f.tid == tid && f.pid == pid && same(f.s[0], a) && same(f.s[1], b) && same(f.s[2], c)
}

// same tells that x and y are the same string: the same bytes, or empty.
func same(x, y string) bool {
	return len(x) == len(y) && (len(x) == 0 || unsafe.StringData(x) == unsafe.StringData(y))
}

// appendRecord appends r as json.Encoder.Encode writes it (HTML
// escaping on), newline included, with the time text of r.Time
// (FormatTime's: nothing in it is escaped).
func (j *jsonWriter) appendRecord(b []byte, r *Record) []byte {
	return appendJSONRecord(b, r, &j.rowState)
}

func appendJSONRecord(b []byte, r *Record, st *rowState) []byte {
	times, nums, c := &st.times, &st.nums, &st.plain
	if st.frags == nil {
		st.frags = new(csvFrags)
	}
	f := st.frags
	b = append(b, `{"time":"`...)
	b = times.append(b, r.Time)
	b = append(b, `","ktime_ns":`...)
	b = nums.appendKTime(b, r.KTime)
	b = append(b, `,"cpu":`...)
	b = appendUint(b, uint64(r.CPU))
	b = append(b, `,"queued_cpu":`...)
	b = appendUint(b, uint64(r.QueuedCPU))
	b = append(b, `,"kind":`...)
	b = c.appendJSON(b, r.Kind)
	b = append(b, `,"latency_ns":`...)
	b = appendUint(b, r.LatencyNs)
	b = append(b, c.jsonThreadFrag(&f.cur[r.Tid%csvFragSlots], &jsonThreadKeys[0], r.Pid, r.Tid, r.Comm, r.JavaThread, r.NameSource)...)
	b = append(b, c.jsonThreadFrag(&f.prev[r.PrevTid%csvFragSlots], &jsonThreadKeys[1], r.PrevPid, r.PrevTid, r.PrevComm, r.PrevJavaThread, "")...)
	e := &f.tail
	if !e.holds(0, 0, r.VirtualThread, r.Cgroup, r.Container) {
		t := append(e.text[:0], `,"virtual_thread":`...)
		t = c.appendJSON(t, r.VirtualThread)
		t = append(t, `,"cgroup":`...)
		t = c.appendJSON(t, r.Cgroup)
		t = append(t, `,"container":`...)
		t = c.appendJSON(t, r.Container)
		*e = csvFrag{s: [3]string{r.VirtualThread, r.Cgroup, r.Container}, text: append(t, "}\n"...)}
	}
	return append(b, e.text...)
}

// jsonThreadKeys are the keys of a thread's JSON fields: the row's task
// (with its name source) and the previous task.
var jsonThreadKeys = [2][5]string{
	{`,"pid":`, `,"tid":`, `,"comm":`, `,"java_thread":`, `,"name_source":`},
	{`,"prev_pid":`, `,"prev_tid":`, `,"prev_comm":`, `,"prev_java_thread":`, ""},
}

// jsonThreadFrag is threadFrag for JSON lines: a thread's fields with
// their keys (the name source when keys has one), rendered into e unless
// e holds them.
func (c *plainCache) jsonThreadFrag(e *csvFrag, keys *[5]string, pid, tid uint32, comm, java, src string) []byte {
	if e.holds(pid, tid, comm, java, src) {
		return e.text
	}
	t := append(e.text[:0], keys[0]...)
	t = appendUint(t, uint64(pid))
	t = append(t, keys[1]...)
	t = appendUint(t, uint64(tid))
	t = append(t, keys[2]...)
	t = c.appendJSON(t, comm)
	t = append(t, keys[3]...)
	t = c.appendJSON(t, java)
	if keys[4] != "" {
		t = append(t, keys[4]...)
		t = c.appendJSON(t, src)
	}
	*e = csvFrag{pid: pid, tid: tid, s: [3]string{comm, java, src}, text: t}
	return e.text
}

// appendJSONText is encoding/json's string encoding with HTML escaping:
// invalid UTF-8 becomes \ufffd; U+2028 and U+2029 are escaped.
func appendJSONText(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	if jsonPlainASCII(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
