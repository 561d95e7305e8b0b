package report

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

// LineFormat reads a request log line by line with a regular expression
// whose named groups give the request: thread, and two of start, end and
// duration; id is optional. An access-log pattern compiles to one
// (CompileAccessPattern), or the user writes it (CompileAppRegex).
type LineFormat struct {
	Re *regexp.Regexp
	// Layout is the Go layout of the start/end groups ("" : any form
	// ParseAppTimeIn reads); Epoch > 0: they are epoch numbers in this
	// unit. A "frac" group holds the milliseconds of a time written
	// without them (Tomcat's %{msec_frac}t).
	Layout string
	Epoch  time.Duration
	// DurationUnit is the unit of the duration group.
	DurationUnit time.Duration
	// TZ is the zone of times written without one.
	TZ *time.Location
}

var groupNames = map[string]bool{"thread": true, "start": true, "end": true, "duration": true, "id": true, "frac": true}

// CompileAppRegex checks a user's expression: its named groups must be
// among thread, start, end, duration and id, with thread and two of the
// times.
func CompileAppRegex(expr string, unit time.Duration, tz *time.Location) (*LineFormat, error) {
	re, err := regexp.Compile(expr)
	if err != nil {
		return nil, fmt.Errorf("--app-regex: %v", err)
	}
	lf := &LineFormat{Re: re, DurationUnit: unit, TZ: tz}
	return lf, lf.check("--app-regex")
}

func (lf *LineFormat) check(what string) error {
	has := map[string]bool{}
	for _, n := range lf.Re.SubexpNames() {
		if n == "" {
			continue
		}
		if !groupNames[n] {
			return fmt.Errorf("%s: group %q: the groups are thread, start, end, duration, id", what, n)
		}
		has[n] = true
	}
	if !has["thread"] {
		return fmt.Errorf("%s: no group (?P<thread>...): the request's Java thread name is needed (Tomcat: %%I)", what)
	}
	n := 0
	for _, g := range []string{"start", "end", "duration"} {
		if has[g] {
			n++
		}
	}
	if n != 2 {
		return fmt.Errorf("%s: needs exactly two of the groups start, end, duration (has %d)", what, n)
	}
	if lf.DurationUnit <= 0 {
		lf.DurationUnit = time.Millisecond
	}
	return nil
}

// TimeIsEnd, for CompileAccessPattern: what the time of %t is.
type TimeIs string

const (
	TimeIsStart TimeIs = "start"
	TimeIsEnd   TimeIs = "end"
)

// CompileAccessPattern turns an access-log pattern as Tomcat's
// AccessLogValve or Jetty's CustomRequestLog take it into a LineFormat:
//
//	%I                 the request's thread name (Tomcat)
//	%t                 [dd/MMM/yyyy:HH:mm:ss Z], to the second
//	%{msec}t %{sec}t   epoch ms, s; %{msec_frac}t the milliseconds
//	%{FORMAT}t         a SimpleDateFormat time (Tomcat's begin:/end: prefix
//	                   says which; Jetty's {format|zone|locale} too)
//	%D                 time taken, unit per server version: unit required
//	%T                 time taken in seconds; %{ms}T %{us}T %{ns}T %{s}T
//	                   %{fracsec}T in that unit
//	%r %{X}i ...       any other code: any text up to what follows it
//
// timeIs says whether a time without begin:/end: is the request's start
// (Tomcat 7 and later, Jetty: the time the request was received) or end.
// unit is --app-duration-unit, 0 when not given.
func CompileAccessPattern(pattern string, timeIs TimeIs, unit time.Duration, tz *time.Location) (*LineFormat, error) {
	if timeIs == "" {
		timeIs = TimeIsStart
	}
	pb := &patternBuilder{lf: &LineFormat{TZ: tz}, timeIs: timeIs, unit: unit, used: map[string]bool{}}
	pb.b.WriteString("^")
	for i := 0; i < len(pattern); i++ {
		c := pattern[i]
		if c != '%' || i+1 == len(pattern) {
			pb.b.WriteString(regexp.QuoteMeta(string(c)))
			continue
		}
		i++
		param := ""
		if pattern[i] == '{' {
			j := strings.IndexByte(pattern[i:], '}')
			if j < 0 || i+j+1 >= len(pattern) {
				return nil, fmt.Errorf("--app-pattern: unclosed %%{ at %d", i)
			}
			param, i = pattern[i+1:i+j], i+j+1
		}
		// Apache's and Jetty's status modifiers (%>s, %!200s): skipped.
		for i < len(pattern)-1 && (pattern[i] == '>' || pattern[i] == '<' || pattern[i] == '!' || pattern[i] == ',' || (pattern[i] >= '0' && pattern[i] <= '9')) {
			i++
		}
		if err := pb.code(pattern[i], param); err != nil {
			return nil, err
		}
	}
	pb.b.WriteString("$")
	if pb.needUnit {
		return nil, errors.New("--app-pattern: %D is milliseconds on Tomcat 9 and earlier, microseconds on Tomcat 10.1 and later and on Apache httpd: say which with --app-duration-unit ms or us")
	}
	re, err := regexp.Compile(pb.b.String())
	if err != nil {
		return nil, fmt.Errorf("--app-pattern: %v", err)
	}
	lf := pb.lf
	lf.Re = re
	if lf.DurationUnit == 0 {
		lf.DurationUnit = unit
	}
	return lf, lf.check("--app-pattern")
}

// patternBuilder builds the regular expression of an access-log pattern.
type patternBuilder struct {
	lf       *LineFormat
	b        strings.Builder
	used     map[string]bool // named groups so far: a field's first one is captured
	timeIs   TimeIs
	unit     time.Duration // --app-duration-unit, 0: not given
	needUnit bool          // %D without a unit
}

// group appends expr, captured as name if it is that field's first.
func (pb *patternBuilder) group(name, expr string) {
	if pb.used[name] {
		pb.b.WriteString("(?:" + expr + ")")
		return
	}
	pb.used[name] = true
	pb.b.WriteString("(?P<" + name + ">" + expr + ")")
}

// code appends what one %-code (with its {param}) matches.
func (pb *patternBuilder) code(code byte, param string) error {
	switch code {
	case '%':
		pb.b.WriteString("%")
	case 'I':
		pb.group("thread", `.+?`)
	case 't':
		return pb.timeGroup(param)
	case 'D':
		if pb.unit == 0 {
			pb.needUnit = true
		}
		pb.durGroup(pb.unit)
	case 'T':
		u := time.Second
		switch param {
		case "", "s", "fracsec":
		case "ms":
			u = time.Millisecond
		case "us":
			u = time.Microsecond
		case "ns":
			u = time.Nanosecond
		default:
			return fmt.Errorf("--app-pattern: %%{%s}T: unit s, ms, us, ns or fracsec", param)
		}
		pb.durGroup(u)
	case 'r', 'i', 'o', 'c', 'q', 'U':
		// May hold spaces: up to what follows.
		pb.b.WriteString(`.*?`)
	default:
		pb.b.WriteString(`\S*?`)
	}
	return nil
}

// timeGroup appends a %t or %{param}t.
func (pb *patternBuilder) timeGroup(param string) error {
	name := string(pb.timeIs)
	if p, ok := strings.CutPrefix(param, "begin:"); ok {
		name, param = "start", p
	} else if p, ok := strings.CutPrefix(param, "end:"); ok {
		name, param = "end", p
	} else if param == "begin" || param == "end" {
		name, param = map[string]string{"begin": "start", "end": "end"}[param], ""
	}
	if i := strings.IndexByte(param, '|'); i >= 0 {
		param = param[:i] // Jetty: format|zone|locale; the zone is --app-tz
	}
	switch param {
	case "":
		// Common Log Format, brackets included: [07/Dec/2026:10:15:32 +0000]
		pb.b.WriteString(`\[`)
		pb.group(name, `[^\]]+`)
		pb.b.WriteString(`\]`)
	case "msec", "sec":
		if !pb.used[name] {
			pb.lf.Epoch = map[string]time.Duration{"msec": time.Millisecond, "sec": time.Second}[param]
		}
		pb.group(name, `[0-9]+`)
	case "msec_frac":
		pb.group("frac", `[0-9]{3}`)
	case "usec_frac":
		pb.group("frac", `[0-9]{6}`)
	default:
		layout, err := javaLayout(param)
		if err != nil {
			return err
		}
		if !pb.used[name] {
			pb.lf.Layout = layout
		}
		pb.group(name, `.+?`)
	}
	return nil
}

// durGroup appends a duration in unit u.
func (pb *patternBuilder) durGroup(u time.Duration) {
	if !pb.used["duration"] {
		pb.lf.DurationUnit = u
	}
	pb.group("duration", `[0-9]+(?:\.[0-9]+)?`)
}

// javaLayout converts a SimpleDateFormat / DateTimeFormatter pattern to a
// Go layout.
func javaLayout(f string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(f); {
		c := f[i]
		if c == '\'' {
			j := strings.IndexByte(f[i+1:], '\'')
			if j < 0 {
				return "", fmt.Errorf("--app-pattern: time format %q: unclosed quote", f)
			}
			b.WriteString(f[i+1 : i+1+j])
			i += j + 2
			continue
		}
		n := 1
		for i+n < len(f) && f[i+n] == c {
			n++
		}
		i += n
		r := ""
		switch c {
		case 'y', 'u':
			r = map[bool]string{true: "06", false: "2006"}[n == 2]
		case 'M':
			r = []string{"1", "01", "Jan", "January"}[min(n, 4)-1]
		case 'd':
			r = map[bool]string{true: "2", false: "02"}[n == 1]
		case 'H':
			r = "15"
		case 'h':
			r = map[bool]string{true: "3", false: "03"}[n == 1]
		case 'm':
			r = map[bool]string{true: "4", false: "04"}[n == 1]
		case 's':
			r = map[bool]string{true: "5", false: "05"}[n == 1]
		case 'S':
			r = strings.Repeat("0", n)
		case 'a':
			r = "PM"
		case 'E':
			r = map[bool]string{true: "Monday", false: "Mon"}[n >= 4]
		case 'Z':
			r = "-0700"
		case 'X', 'x':
			r = []string{"-07", "-0700", "-07:00"}[min(n, 3)-1]
			if c == 'X' {
				r = "Z" + r[1:]
			}
		case 'z':
			r = "MST"
		default:
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				return "", fmt.Errorf("--app-pattern: time format %q: letter %q not supported", f, c)
			}
			r = strings.Repeat(string(c), n)
		}
		b.WriteString(r)
	}
	return b.String(), nil
}

func (lf *LineFormat) parseTime(s, frac string) (int64, int64, error) {
	var ns, coarse int64
	var err error
	switch {
	case lf.Epoch > 0:
		n, perr := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if perr != nil {
			return 0, 0, fmt.Errorf("time %q: not an epoch number", s)
		}
		ns = n * int64(lf.Epoch)
		if lf.Epoch >= time.Second {
			coarse = int64(lf.Epoch)
		}
	case lf.Layout != "":
		hasZone := strings.ContainsAny(lf.Layout, "Z-") && (strings.Contains(lf.Layout, "0700") || strings.Contains(lf.Layout, "07:00") || strings.Contains(lf.Layout, "Z07")) || strings.Contains(lf.Layout, "MST")
		var t time.Time
		if hasZone {
			t, err = time.Parse(lf.Layout, s)
		} else if lf.TZ == nil {
			return 0, 0, fmt.Errorf("time %q has no zone: give its zone with --app-tz (e.g. UTC, Europe/Berlin, Local)", s)
		} else {
			t, err = time.ParseInLocation(lf.Layout, s, lf.TZ)
		}
		if err != nil {
			return 0, 0, fmt.Errorf("time %q: not of the pattern's form %s", s, lf.Layout)
		}
		ns, coarse = t.UnixNano(), coarseOf(s)
		if strings.Contains(lf.Layout, ".0") || strings.Contains(lf.Layout, ",0") {
			coarse = 0
		}
	default:
		if ns, coarse, err = ParseAppTimeIn(s, lf.TZ); err != nil {
			return 0, 0, err
		}
	}
	if frac != "" {
		f, _ := strconv.ParseInt(frac, 10, 64)
		scale := int64(time.Millisecond)
		if len(frac) == 6 {
			scale = int64(time.Microsecond)
		}
		ns += f * scale
		coarse = 0
	}
	return ns, coarse, nil
}

// ReadAppLines reads a request log of text lines with lf. A line that
// does not match, or cannot be used, goes to bad (and is skipped when bad
// returns nil).
func ReadAppLines(r io.Reader, lf *LineFormat, bad func(*record.RowError) error) ([]Request, error) {
	if bad == nil {
		bad = func(e *record.RowError) error { return e }
	}
	br, err := record.Gunzip(bufio.NewReaderSize(r, 64<<10))
	if err != nil {
		return nil, err
	}
	idx := map[string]int{}
	for i, n := range lf.Re.SubexpNames() {
		if n != "" {
			idx[n] = i
		}
	}
	cols := AppColumns{Thread: "thread", ID: "id", DurationUnit: lf.DurationUnit}
	for _, g := range []string{"start", "end", "duration"} {
		if _, ok := idx[g]; ok {
			switch g {
			case "start":
				cols.Start = g
			case "end":
				cols.End = g
			case "duration":
				cols.Duration = g
			}
		}
	}
	var out []Request
	sc := bufio.NewScanner(br)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), "\r")
		if strings.TrimSpace(text) == "" {
			continue
		}
		m := lf.Re.FindStringSubmatch(text)
		if m == nil {
			if err := bad(&record.RowError{Line: line, Err: errors.New("line does not match the pattern")}); err != nil {
				return out, err
			}
			continue
		}
		get := func(k string) (string, bool) {
			i, ok := idx[k]
			if !ok || m[i] == "" {
				return "", false
			}
			return m[i], true
		}
		frac, _ := get("frac")
		req, err := requestWith(get, cols, false, func(s string) (int64, int64, error) { return lf.parseTime(s, frac) })
		if err != nil {
			if err := bad(&record.RowError{Line: line, Err: err}); err != nil {
				return out, err
			}
			continue
		}
		req.Line = line
		out = append(out, req)
	}
	if err := sc.Err(); err != nil {
		return out, err
	}
	return out, nil
}
