package main

import (
	"fmt"
	"strconv"
	"strings"
)

// sizeValue is a byte size flag: 1048576, 64KB, 100MB, 1GiB (KB/MB/GB
// are powers of 1000, KiB/MiB/GiB of 1024).
type sizeValue struct{ p *int64 }

func newSizeValue(p *int64) *sizeValue { return &sizeValue{p} }

func (v *sizeValue) String() string {
	if v.p == nil || *v.p == 0 {
		return "0"
	}
	return strconv.FormatInt(*v.p, 10)
}

func (v *sizeValue) Type() string { return "SIZE" }

var sizeUnits = []struct {
	suffix string
	mult   int64
}{
	{"kib", 1 << 10}, {"mib", 1 << 20}, {"gib", 1 << 30}, {"tib", 1 << 40},
	{"kb", 1e3}, {"mb", 1e6}, {"gb", 1e9}, {"tb", 1e12},
	{"k", 1 << 10}, {"m", 1 << 20}, {"g", 1 << 30}, {"b", 1},
}

func (v *sizeValue) Set(s string) error {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return fmt.Errorf("size %q: a number of bytes, or with KB, MB, GB, KiB, MiB, GiB", s)
	}
	*v.p = int64(f * float64(mult))
	return nil
}
