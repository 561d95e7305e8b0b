package sink

import "testing"

// A write cut short by a full disk keeps the whole records it wrote: a
// CSV record ends at a newline outside quotes, a JSON line at any newline.
func TestWholeRecords(t *testing.T) {
	for _, c := range []struct {
		format, in string
		end        int
		n          uint64
	}{
		{"csv", "a,b\nc,d\ne,", 8, 2},
		{"csv", "a,\"x\ny\",b\nc,\"half\n", 10, 1},
		{"csv", "a,\"say \"\"hi\"\"\",b\n", 17, 1},
		{"csv", "no newline yet", 0, 0},
		{"jsonl", "{\"a\":\"x\\ny\"}\n{\"a\":", 13, 1},
		{"jsonl", "", 0, 0},
	} {
		end, n := wholeRecords([]byte(c.in), c.format)
		if end != c.end || n != c.n {
			t.Errorf("%s %q: %d bytes in %d records, want %d in %d", c.format, c.in, end, n, c.end, c.n)
		}
	}
}
