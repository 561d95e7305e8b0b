package correlate

import (
	"testing"
	"time"
)

func TestParseDumpTimes(t *testing.T) {
	loc := time.FixedZone("X", 3600)
	got, err := ParseDumpTimes([]string{"a=b.txt=2026-12-07T10:00:00.5Z", "c.txt=2026-12-07 11:00:00"}, loc)
	if err != nil {
		t.Fatal(err)
	}
	if w := time.Date(2026, 12, 7, 10, 0, 0, 5e8, time.UTC); !got["a=b.txt"].Equal(w) {
		t.Errorf("a=b.txt at %v, want %v", got["a=b.txt"], w)
	}
	if w := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC); !got["c.txt"].Equal(w) {
		t.Errorf("c.txt at %v, want %v (11:00 in UTC+1)", got["c.txt"], w)
	}
	for _, bad := range []string{"nofile", "=2026-12-07T10:00:00Z", "x.txt=", "x.txt=yesterday"} {
		if _, err := ParseDumpTimes([]string{bad}, loc); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
