package bpf

import (
	"path/filepath"
	"reflect"
	"testing"
)

func TestParseProbeArg(t *testing.T) {
	for _, c := range []struct {
		in   string
		want ProbeArg
	}{
		{"8@%r12", ProbeArg{Size: 8, Reg: RegR12}},
		{"-4@%r15d", ProbeArg{Size: 4, Signed: true, Reg: RegR15}},
		{"1@%al", ProbeArg{Size: 1, Reg: RegAX}},
		{"-4@-60(%rbp)", ProbeArg{Size: 4, Signed: true, Reg: RegBP, Mem: true, Disp: -60}},
		{"8@(%rax)", ProbeArg{Size: 8, Reg: RegAX, Mem: true}},
		{"8@0x10(%rsp)", ProbeArg{Size: 8, Reg: RegSP, Mem: true, Disp: 16}},
		{"4@$5", ProbeArg{Size: 4, Const: 5}},
	} {
		got, err := ParseProbeArg(c.in)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("ParseProbeArg(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "8", "@%rax", "3@%rax", "8@%xmm0", "8@(%rax,%rbx,8)", "8@foo", "8@$x", "8@1(%nope)"} {
		if _, err := ParseProbeArg(bad); err == nil {
			t.Errorf("ParseProbeArg(%q): no error", bad)
		}
	}
}

// HotSpot's own probes, as the installed JDKs carry them.
func TestReadProbesLibJVM(t *testing.T) {
	libs, _ := filepath.Glob("/usr/lib/jvm/*/lib/server/libjvm.so")
	if len(libs) == 0 {
		t.Skip("SKIPPED: no /usr/lib/jvm/*/lib/server/libjvm.so on this machine")
	}
	for _, lib := range libs {
		probes, err := ReadProbes(lib)
		if err != nil {
			t.Errorf("%s: %v", lib, err)
			continue
		}
		for _, name := range []string{"vmops__begin", "vmops__end"} {
			ps := FindProbes(probes, "hotspot", name)
			if len(ps) == 0 {
				t.Errorf("%s: no hotspot:%s among %d probes", lib, name, len(probes))
				continue
			}
			p := ps[0]
			// The first argument is the VM operation's name: a pointer.
			if len(p.Args) != 3 || p.Args[0].Size != 8 || p.Offset == 0 || p.Semaphore != 0 {
				t.Errorf("%s: %s:%s offset %#x semaphore %#x args %q", lib, p.Provider, p.Name, p.Offset, p.Semaphore, p.ArgSpec)
			}
			t.Logf("%s: %s:%s at file offset %#x, args %q", lib, p.Provider, p.Name, p.Offset, p.ArgSpec)
		}
	}
	if _, err := ReadProbes("/proc/self/exe"); err == nil {
		t.Error("a binary without probes: no error")
	}
}
