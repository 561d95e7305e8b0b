package record

import (
	"bufio"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
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
	b = append(b, c.prefix...)
	b = append(b, '.')
	// Nine digits, as TimeLayout's fixed fraction.
	var d [9]byte
	for i := 8; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	b = append(b, d[:]...)
	return append(b, 'Z')
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
	b = c.times.append(b, r.Time) // digits, '-', ':', '.': never quoted
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.CPU), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.QueuedCPU), 10)
	b = append(b, ',')
	b = appendCSVField(b, r.Kind)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.LatencyNs, 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Pid), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.Tid), 10)
	b = append(b, ',')
	b = appendCSVField(b, r.Comm)
	b = append(b, ',')
	b = appendCSVField(b, r.JavaThread)
	b = append(b, ',')
	b = appendCSVField(b, r.NameSource)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.PrevPid), 10)
	b = append(b, ',')
	b = strconv.AppendUint(b, uint64(r.PrevTid), 10)
	b = append(b, ',')
	b = appendCSVField(b, r.PrevComm)
	b = append(b, ',')
	b = appendCSVField(b, r.PrevJavaThread)
	b = append(b, ',')
	b = strconv.AppendUint(b, r.KTime, 10)
	b = append(b, ',')
	b = appendCSVField(b, r.VirtualThread)
	b = append(b, ',')
	b = appendCSVField(b, r.Cgroup)
	b = append(b, ',')
	b = appendCSVField(b, r.Container)
	return append(b, '\n')
}

// appendJSONRecord appends r as json.Encoder.Encode writes it (HTML
// escaping on), newline included, with the time text of r.Time
// (FormatTime's: nothing in it is escaped).
func (j *jsonWriter) appendRecord(b []byte, r *Record) []byte {
	b = append(b, `{"time":"`...)
	b = j.times.append(b, r.Time)
	b = append(b, `","ktime_ns":`...)
	b = strconv.AppendUint(b, r.KTime, 10)
	b = append(b, `,"cpu":`...)
	b = strconv.AppendUint(b, uint64(r.CPU), 10)
	b = append(b, `,"queued_cpu":`...)
	b = strconv.AppendUint(b, uint64(r.QueuedCPU), 10)
	b = append(b, `,"kind":`...)
	b = appendJSONText(b, r.Kind)
	b = append(b, `,"latency_ns":`...)
	b = strconv.AppendUint(b, r.LatencyNs, 10)
	b = append(b, `,"pid":`...)
	b = strconv.AppendUint(b, uint64(r.Pid), 10)
	b = append(b, `,"tid":`...)
	b = strconv.AppendUint(b, uint64(r.Tid), 10)
	b = append(b, `,"comm":`...)
	b = appendJSONText(b, r.Comm)
	b = append(b, `,"java_thread":`...)
	b = appendJSONText(b, r.JavaThread)
	b = append(b, `,"name_source":`...)
	b = appendJSONText(b, r.NameSource)
	b = append(b, `,"prev_pid":`...)
	b = strconv.AppendUint(b, uint64(r.PrevPid), 10)
	b = append(b, `,"prev_tid":`...)
	b = strconv.AppendUint(b, uint64(r.PrevTid), 10)
	b = append(b, `,"prev_comm":`...)
	b = appendJSONText(b, r.PrevComm)
	b = append(b, `,"prev_java_thread":`...)
	b = appendJSONText(b, r.PrevJavaThread)
	b = append(b, `,"virtual_thread":`...)
	b = appendJSONText(b, r.VirtualThread)
	b = append(b, `,"cgroup":`...)
	b = appendJSONText(b, r.Cgroup)
	b = append(b, `,"container":`...)
	b = appendJSONText(b, r.Container)
	return append(b, "}\n"...)
}

// appendJSONText is encoding/json's string encoding with HTML escaping:
// invalid UTF-8 becomes \ufffd; U+2028 and U+2029 are escaped.
func appendJSONText(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
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
