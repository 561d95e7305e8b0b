package runmeta

import (
	"strings"
	"testing"
	"time"
)

func TestParseIntervals(t *testing.T) {
	got, err := ParseIntervals([]string{
		"2026-11-26T00:10:00Z,2026-11-26T00:20:00Z",
		" 2026-11-26T00:15:00.5Z , 2026-11-26T00:30:00Z",
		"2026-11-26T02:00:00+01:00,2026-11-26T01:00:00Z", // one instant, zones differ
	})
	if err != nil {
		t.Fatal(err)
	}
	ns := func(s string) int64 {
		tm, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm.UnixNano()
	}
	want := []Interval{
		{From: ns("2026-11-26T00:10:00Z"), To: ns("2026-11-26T00:30:00Z")},
		{From: ns("2026-11-26T01:00:00Z"), To: ns("2026-11-26T01:00:00Z")},
	}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{
		"2026-11-26T00:10:00Z",                      // no TO
		"2026-11-26T00:20:00Z,2026-11-26T00:10:00Z", // TO before FROM
		"yesterday,today",
		"2026-11-26 00:10:00,2026-11-26 00:20:00", // not RFC 3339
	} {
		if _, err := ParseIntervals([]string{bad}); err == nil || !strings.Contains(err.Error(), "want FROM,TO in RFC 3339") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}

func FuzzParseIntervals(f *testing.F) {
	for _, s := range []string{"2026-11-26T00:10:00Z,2026-11-26T00:20:00Z", "2026-11-26T00:10:00.123456789+05:30,2026-11-26T00:20:00Z", ",", "a,b", "2026-11-26T00:20:00Z,2026-11-26T00:10:00Z", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		iv, err := ParseIntervals([]string{s})
		if err != nil {
			return
		}
		if len(iv) != 1 || iv[0].To < iv[0].From {
			t.Fatalf("%q: %v", s, iv)
		}
	})
}
