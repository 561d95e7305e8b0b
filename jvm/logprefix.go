package jvm

import (
	"bytes"
	"encoding/json"
)

// Thread dumps printed by kill -3 go to the JVM's stdout, and so into
// whatever collects it, which puts its own prefix before each line:
//
//	Dec 07 10:15:32 host java[1234]: "main" #1 prio=5 ...           journalctl (short), syslog
//	Dec 07 10:15:32.123456 host java[1234]: ...                     journalctl -o short-precise
//	2026-12-07T10:15:32+0100 host java[1234]: ...                   journalctl -o short-iso (-precise)
//	Mon 2026-12-07 10:15:32 CET host java[1234]: ...                journalctl -o short-full
//	[ 5312.123456] host java[1234]: ...                             journalctl -o short-monotonic
//	2026-12-07T10:15:32.123456789Z stdout F "main" #1 ...           Kubernetes (CRI) container log
//	{"log":"\"main\" #1 ...\n","stream":"stdout","time":"..."}      docker json-file log
//
// CRI splits long lines into partial pieces ("P") ended by a full one
// ("F"); docker marks a piece by a log without its final newline.

// logLine is one line with its collector's prefix taken off.
type logLine struct {
	msg     []byte // the line as the JVM printed it, without line end
	src     []byte // who printed it: "host ident[pid]" (journald), the stream (CRI, docker)
	partial bool   // a piece of a longer line: the rest follows from the same source
}

// splitLogPrefix recognises the prefixes above; ok is false for a line
// without one. scratch holds decoded docker text (msg may point into it).
func splitLogPrefix(line, scratch []byte) (l logLine, buf []byte, ok bool) {
	if len(line) < 8 {
		return l, scratch, false
	}
	switch c := line[0]; {
	case c == '{':
		return splitDocker(line, scratch)
	case c >= '0' && c <= '9':
		if rest, ok := skipISOTime(line); ok {
			if l, ok := splitCRI(rest); ok {
				return l, scratch, true
			}
			l, ok := splitHostIdent(rest)
			return l, scratch, ok
		}
		if rest, ok := skipUnixTime(line); ok {
			l, ok := splitHostIdent(rest)
			return l, scratch, ok
		}
	case c >= 'A' && c <= 'Z':
		rest, ok := skipSyslogTime(line)
		if !ok {
			rest, ok = skipFullTime(line)
		}
		if ok {
			l, ok := splitHostIdent(rest)
			return l, scratch, ok
		}
	case c == '[':
		if i := bytes.IndexByte(line, ']'); i > 1 && i < 24 && i+1 < len(line) && line[i+1] == ' ' && isMonotonic(line[1:i]) {
			l, ok := splitHostIdent(line[i+2:])
			return l, scratch, ok
		}
	}
	return l, scratch, false
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// digits reports whether b[i:j] are all digits.
func digits(b []byte, i, j int) bool {
	if j > len(b) || i >= j {
		return false
	}
	for _, c := range b[i:j] {
		if !isDigit(c) {
			return false
		}
	}
	return true
}

// skipFrac skips ".123456" at b[i:] and returns the index after it.
func skipFrac(b []byte, i int) int {
	if i < len(b) && b[i] == '.' && i+1 < len(b) && isDigit(b[i+1]) {
		i++
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	return i
}

// isClock matches "hh:mm:ss" at b[i:].
func isClock(b []byte, i int) bool {
	return digits(b, i, i+2) && i+8 <= len(b) && b[i+2] == ':' && digits(b, i+3, i+5) && b[i+5] == ':' && digits(b, i+6, i+8)
}

// skipISOTime skips "2026-12-07T10:15:32[.frac](Z|+0100|+01:00) ".
func skipISOTime(b []byte) ([]byte, bool) {
	if len(b) < 21 || !digits(b, 0, 4) || b[4] != '-' || !digits(b, 5, 7) || b[7] != '-' || !digits(b, 8, 10) || b[10] != 'T' || !isClock(b, 11) {
		return nil, false
	}
	i := skipFrac(b, 19)
	switch {
	case i < len(b) && b[i] == 'Z':
		i++
	case i < len(b) && (b[i] == '+' || b[i] == '-') && digits(b, i+1, i+3):
		i += 3
		if i < len(b) && b[i] == ':' {
			i++
		}
		if !digits(b, i, i+2) {
			return nil, false
		}
		i += 2
	default:
		return nil, false
	}
	if i >= len(b) || b[i] != ' ' {
		return nil, false
	}
	return b[i+1:], true
}

// skipUnixTime skips "1733566532.123456 " (journalctl -o short-unix).
func skipUnixTime(b []byte) ([]byte, bool) {
	i := 0
	for i < len(b) && isDigit(b[i]) {
		i++
	}
	if i < 9 || i >= len(b) || b[i] != '.' {
		return nil, false
	}
	j := skipFrac(b, i)
	if j == i || j >= len(b) || b[j] != ' ' {
		return nil, false
	}
	return b[j+1:], true
}

var months = [...]string{"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"}

// skipSyslogTime skips "Dec 07 10:15:32[.123456] " (also "Dec  7", as
// syslog pads the day).
func skipSyslogTime(b []byte) ([]byte, bool) {
	if len(b) < 16 || b[3] != ' ' {
		return nil, false
	}
	month := false
	for _, m := range months {
		if string(b[:3]) == m {
			month = true
			break
		}
	}
	if !month || !(isDigit(b[4]) || b[4] == ' ') || !isDigit(b[5]) || b[6] != ' ' || !isClock(b, 7) {
		return nil, false
	}
	i := skipFrac(b, 15)
	if i >= len(b) || b[i] != ' ' {
		return nil, false
	}
	return b[i+1:], true
}

var weekdays = [...]string{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}

// skipFullTime skips "Mon 2026-12-07 10:15:32[.frac] CET " (short-full).
func skipFullTime(b []byte) ([]byte, bool) {
	if len(b) < 25 || b[3] != ' ' {
		return nil, false
	}
	day := false
	for _, d := range weekdays {
		if string(b[:3]) == d {
			day = true
			break
		}
	}
	if !day || !digits(b, 4, 8) || b[8] != '-' || !digits(b, 9, 11) || b[11] != '-' || !digits(b, 12, 14) || b[14] != ' ' || !isClock(b, 15) {
		return nil, false
	}
	i := skipFrac(b, 23)
	if i >= len(b) || b[i] != ' ' {
		return nil, false
	}
	// The zone: a name or an offset, no blank inside.
	j := bytes.IndexByte(b[i+1:], ' ')
	if j <= 0 || j > 32 {
		return nil, false
	}
	return b[i+1+j+1:], true
}

func isMonotonic(b []byte) bool {
	b = bytes.TrimLeft(b, " ")
	dot := bytes.IndexByte(b, '.')
	return dot > 0 && digits(b, 0, dot) && digits(b, dot+1, len(b))
}

// splitHostIdent takes "host ident[pid]: message" apart. The identifier
// holds no blank and ends with ':' and a blank (or the line end, for an
// empty message).
func splitHostIdent(b []byte) (logLine, bool) {
	h := bytes.IndexByte(b, ' ')
	if h <= 0 || h > 255 {
		return logLine{}, false
	}
	rest := b[h+1:]
	e := 0
	for e < len(rest) && e < 256 && rest[e] != ' ' {
		e++
	}
	if e < 2 || rest[e-1] != ':' {
		return logLine{}, false
	}
	msg := rest[e:]
	if len(msg) > 0 {
		msg = msg[1:] // the blank after "ident:"
	}
	return logLine{msg: msg, src: b[:h+e]}, true
}

// splitCRI takes "stdout F message" apart (the time already skipped).
func splitCRI(b []byte) (logLine, bool) {
	if len(b) < 8 || (string(b[:7]) != "stdout " && string(b[:7]) != "stderr ") {
		return logLine{}, false
	}
	tag := b[7]
	if tag != 'F' && tag != 'P' {
		return logLine{}, false
	}
	msg := b[8:]
	if len(msg) > 0 {
		if msg[0] != ' ' {
			return logLine{}, false
		}
		msg = msg[1:]
	}
	return logLine{msg: msg, src: b[:6], partial: tag == 'P'}, true
}

type dockerLine struct {
	Log    *string `json:"log"`
	Stream string  `json:"stream"`
}

// splitDocker reads one line of docker's json-file log.
func splitDocker(line, scratch []byte) (logLine, []byte, bool) {
	if !bytes.HasPrefix(line, []byte(`{"log":`)) {
		return logLine{}, scratch, false
	}
	var d dockerLine
	if err := json.Unmarshal(line, &d); err != nil || d.Log == nil {
		return logLine{}, scratch, false
	}
	msg := append(scratch[:0], *d.Log...)
	partial := true
	if n := len(msg); n > 0 && msg[n-1] == '\n' {
		msg, partial = msg[:n-1], false
		if n := len(msg); n > 0 && msg[n-1] == '\r' {
			msg = msg[:n-1]
		}
	}
	src := []byte("stdout")
	if d.Stream == "stderr" {
		src = []byte("stderr")
	}
	return logLine{msg: msg, src: src, partial: partial}, msg[:0], true
}
