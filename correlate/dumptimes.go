package correlate

import (
	"fmt"
	"strings"
	"time"
)

// ParseDumpTimes reads replay's --dump-time FILE=TIME values: when each
// dump file without a timestamp line was taken (RFC 3339, or
// "2006-01-02 15:04:05" in loc).
func ParseDumpTimes(vals []string, loc *time.Location) (map[string]time.Time, error) {
	if len(vals) == 0 {
		return nil, nil
	}
	at := map[string]time.Time{}
	for _, v := range vals {
		i := strings.LastIndexByte(v, '=')
		if i <= 0 || i == len(v)-1 {
			return nil, fmt.Errorf("--dump-time %q: want FILE=TIME", v)
		}
		file, ts := v[:i], v[i+1:]
		t, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			var err2 error
			if t, err2 = time.ParseInLocation(time.DateTime, ts, loc); err2 != nil {
				return nil, fmt.Errorf("--dump-time %q: time is neither RFC 3339 nor \"2006-01-02 15:04:05\": %w", v, err)
			}
		}
		at[file] = t
	}
	return at, nil
}
