package report

import (
	"errors"
	"fmt"
	"time"
)

// AppLogOptions say how to read an application log, as the report
// command's --app-* options give them.
type AppLogOptions struct {
	Cols    AppColumns // CSV/JSON column names (without Pattern and Regex)
	Unit    string     // of plain-number durations: ns, us, ms, s; "" = ms (not given, for Pattern)
	TZ      string     // zone of times written without one ("" = such times are refused)
	Pattern string     // access-log pattern (Tomcat AccessLogValve codes)
	Regex   string     // a regular expression with named groups
	TimeIs  string     // what an access log's %t is: start or end
}

var durationUnits = map[string]time.Duration{"ns": time.Nanosecond, "us": time.Microsecond, "µs": time.Microsecond, "ms": time.Millisecond, "s": time.Second}

// ReadAppLogFile checks o and reads the application log at path.
func ReadAppLogFile(path string, o AppLogOptions, strict bool) ([]Request, error) {
	lines, cols, err := o.format()
	if err != nil {
		return nil, err
	}
	return ReadAppFile(path, cols, lines, strict)
}

// format is the log's line format (nil: CSV or JSON lines by the columns
// returned, with their unit and zone set).
func (o AppLogOptions) format() (*LineFormat, AppColumns, error) {
	cols := o.Cols
	unit := time.Millisecond
	if o.Unit != "" {
		var ok bool
		if unit, ok = durationUnits[o.Unit]; !ok {
			return nil, cols, fmt.Errorf("--app-duration-unit %q: one of ns, us, ms, s", o.Unit)
		}
	}
	cols.DurationUnit = unit
	if o.TZ != "" {
		loc, err := time.LoadLocation(o.TZ)
		if err != nil {
			return nil, cols, fmt.Errorf("--app-tz: %w", err)
		}
		cols.TZ = loc
	}
	var lines *LineFormat
	var err error
	switch {
	case o.Pattern != "" && o.Regex != "":
		return nil, cols, errors.New("--app-pattern and --app-regex exclude each other")
	case o.Pattern != "":
		if o.TimeIs != "start" && o.TimeIs != "end" {
			return nil, cols, fmt.Errorf("--app-time-is %q: start or end", o.TimeIs)
		}
		var given time.Duration
		if o.Unit != "" {
			given = unit
		}
		lines, err = CompileAccessPattern(o.Pattern, TimeIs(o.TimeIs), given, cols.TZ)
	case o.Regex != "":
		lines, err = CompileAppRegex(o.Regex, unit, cols.TZ)
	}
	if err != nil {
		return nil, cols, err
	}
	if lines != nil && (cols.Thread != "" || cols.Start != "" || cols.End != "" || cols.Duration != "" || cols.ID != "") {
		return nil, cols, errors.New("--app-thread, --app-start, --app-end, --app-duration and --app-id name CSV/JSON columns: with --app-pattern or --app-regex the fields come from the pattern")
	}
	return lines, cols, nil
}
