package vtruth

import "testing"

func TestWorstCarrier(t *testing.T) {
	c := Counts{PerCarrier: map[uint32]*[2]int{
		1: {100, 99},
		2: {40, 0}, // born late, never registered
		3: {10, 0}, // too few to tell
		4: {50, 50},
	}}
	tid, right, provable, ok := c.WorstCarrier(30)
	if !ok || tid != 2 || right != 0 || provable != 40 {
		t.Errorf("WorstCarrier(30) = %d %d/%d %v, want 2 0/40 true", tid, right, provable, ok)
	}
	if _, _, _, ok := c.WorstCarrier(1000); ok {
		t.Error("WorstCarrier(1000) found one")
	}
}
