package sched

import (
	"bytes"
	"math/rand"
	"strings"
	"testing"
)

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		KindWakeup: "wakeup", KindWakeupNew: "wakeup_new", KindPreempt: "preempt",
		KindYield: "yield", KindExit: "exit", KindVMOpBegin: "vmop_begin", KindVMOpEnd: "vmop_end", KindThreadStart: "thread_start", KindThreadName: "thread_name", 0: "kind(0)", 12: "kind(12)",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", uint8(k), got, want)
		}
	}
}

func TestParseKinds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want KindMask
		err  bool
	}{
		{in: "all", want: KindsAll},
		{in: "wakeup", want: MaskOf(KindWakeup, KindWakeupNew)},
		{in: "wakeup_new", want: MaskOf(KindWakeupNew)},
		{in: "preempt", want: MaskOf(KindPreempt)},
		{in: "wakeup,preempt,yield", want: KindsAll},
		{in: " Preempt , yield ", want: MaskOf(KindPreempt, KindYield)},
		{in: "yield,", want: MaskOf(KindYield)},
		{in: "", err: true},
		{in: ",", err: true},
		{in: "exit", err: true},
		{in: "wakeup,sleep", err: true},
	} {
		got, err := ParseKinds(tc.in)
		if tc.err {
			if err == nil {
				t.Errorf("ParseKinds(%q) = %v, want error", tc.in, got)
			} else if !strings.Contains(err.Error(), ValidKindNames) {
				t.Errorf("ParseKinds(%q) error %q does not list the valid names", tc.in, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseKinds(%q) = %#x, %v; want %#x", tc.in, uint8(got), err, uint8(tc.want))
		}
	}
}

func TestKindMask(t *testing.T) {
	var zero KindMask
	for k := KindWakeup; k <= KindYield; k++ {
		if !zero.Has(k) || !KindsAll.Has(k) {
			t.Errorf("zero mask and KindsAll must select %v", k)
		}
	}
	m := MaskOf(KindPreempt)
	if m.Has(KindWakeup) || !m.Has(KindPreempt) {
		t.Errorf("MaskOf(preempt) = %#x selects the wrong kinds", uint8(m))
	}
	if got := MaskOf(KindWakeup, KindYield).String(); got != "wakeup,yield" {
		t.Errorf("String() = %q", got)
	}
	if got := zero.String(); got != "all" {
		t.Errorf("zero String() = %q", got)
	}
}

func TestCommString(t *testing.T) {
	var c [16]byte
	copy(c[:], "C2 CompilerThre")
	if got := CommString(c); got != "C2 CompilerThre" {
		t.Errorf("got %q", got)
	}
	copy(c[:], "java\x00junk")
	if got := CommString(c); got != "java" {
		t.Errorf("got %q", got)
	}
	for i := range c {
		c[i] = 'x'
	}
	if got := CommString(c); got != strings.Repeat("x", 16) {
		t.Errorf("unterminated: got %q", got)
	}
}

// TestCommStringCache: names are kept and handed out again (no allocation),
// and one name never stands for another, whatever shares its slot: names
// differing in one byte, after the NUL, or not at all but for padding.
func TestCommStringCache(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	var names [][16]byte
	for range 20000 { // far more names than slots
		var c [16]byte
		n := rng.Intn(17)
		for i := range n {
			c[i] = byte(1 + rng.Intn(255))
		}
		if n < 15 && rng.Intn(4) == 0 {
			c[n+1] = byte(rng.Intn(256)) // junk after the NUL
		}
		names = append(names, c)
		if rng.Intn(2) == 0 {
			d := c
			d[rng.Intn(16)] ^= 1 << rng.Intn(8)
			names = append(names, d)
		}
	}
	for round := range 3 {
		for _, c := range names {
			want := string(c[:])
			if i := bytes.IndexByte(c[:], 0); i >= 0 {
				want = string(c[:i])
			}
			if got := CommString(c); got != want {
				t.Fatalf("round %d: CommString(%q) = %q, want %q", round, c, got, want)
			}
		}
	}
	var c [16]byte
	copy(c[:], "http-nio-8080-e")
	CommString(c)
	if n := testing.AllocsPerRun(100, func() { CommString(c) }); n != 0 {
		t.Errorf("%v allocations per call for a name seen before", n)
	}
}

// TestEventLayout ties the hand-written decoder to the C struct, through the

func FuzzParseKinds(f *testing.F) {
	for _, s := range []string{"all", "wakeup,preempt", "wakeup_new", "", "x,,y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseKinds(s)
		if err == nil && (m == 0 || m&^KindsAll != 0) {
			t.Errorf("ParseKinds(%q) = %#x without error", s, uint8(m))
		}
	})
}

// TestValidCommString: a kernel name is any bytes; the valid form replaces
// what is not UTF-8 as strings.ToValidUTF8 does, also when cached.
func TestValidCommString(t *testing.T) {
	for _, raw := range []string{"java", "caf\xc3\xa9-worker", "bad\xff\xfename", "cut\xe2\x82", "x\x80"} {
		var c [16]byte
		copy(c[:], raw)
		want := strings.ToValidUTF8(raw, "\uFFFD")
		for round := 0; round < 2; round++ {
			if got := ValidCommString(c); got != want {
				t.Errorf("round %d: ValidCommString(%q) = %q, want %q", round, raw, got, want)
			}
			if got := CommString(c); got != raw {
				t.Errorf("round %d: CommString(%q) = %q", round, raw, got)
			}
		}
	}
}
