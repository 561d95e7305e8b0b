package runmeta

import (
	"fmt"
	"strings"
	"time"
)

// ParseIntervals reads spans given as FROM,TO in RFC 3339 (a user's
// --traced) and merges them.
func ParseIntervals(vals []string) ([]Interval, error) {
	var out []Interval
	for _, v := range vals {
		a, b, ok := strings.Cut(v, ",")
		from, err1 := time.Parse(time.RFC3339Nano, strings.TrimSpace(a))
		to, err2 := time.Parse(time.RFC3339Nano, strings.TrimSpace(b))
		if !ok || err1 != nil || err2 != nil || to.Before(from) {
			return nil, fmt.Errorf("%q: want FROM,TO in RFC 3339, FROM not after TO (e.g. 2026-11-26T00:08:00Z,2026-11-26T00:18:00Z)", v)
		}
		out = append(out, Interval{From: from.UnixNano(), To: to.UnixNano()})
	}
	return Merge(out), nil
}
