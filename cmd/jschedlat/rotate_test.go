package main

import "testing"

func TestSizeValue(t *testing.T) {
	for in, want := range map[string]int64{"1048576": 1 << 20, "64KB": 64000, "64k": 64 << 10, "100MB": 100e6, "1GiB": 1 << 30, "1.5 MiB": 3 << 19, "0": 0} {
		var v int64
		if err := newSizeValue(&v).Set(in); err != nil || v != want {
			t.Errorf("size %q: %d, %v; want %d", in, v, err, want)
		}
	}
	for _, bad := range []string{"", "MB", "-1", "ten", "1XB"} {
		var v int64
		if err := newSizeValue(&v).Set(bad); err == nil {
			t.Errorf("size %q accepted as %d", bad, v)
		}
	}
}
