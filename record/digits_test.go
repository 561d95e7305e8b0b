package record

import (
	"strconv"
	"testing"
)

// eightDigits for every value below 1e8, against a counter of digits.
func TestEightDigitsAll(t *testing.T) {
	var d [8]byte
	for v := uint32(0); v < 1e8; v++ {
		var want uint64
		for i := range d {
			want |= uint64(d[i]) << (8 * i)
		}
		if got := eightDigits(v); got != want {
			t.Fatalf("eightDigits(%d) = %#x, want %#x", v, got, want)
		}
		for i := 7; i >= 0; i-- { // v+1
			if d[i]++; d[i] < 10 {
				break
			}
			d[i] = 0
		}
	}
	for _, v := range []uint64{1e8 - 1, 1e7, 1e7 - 1, 10, 99, 100, 12345678, 1e8, 1e8 + 1} {
		if got, want := string(appendUint(nil, v)), strconv.FormatUint(v, 10); got != want {
			t.Errorf("appendUint(%d) = %s", v, got)
		}
	}
}
