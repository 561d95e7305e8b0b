package bpf

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Probe is one USDT probe site of an ELF file: a SystemTap SDT note
// (.note.stapsdt), as HotSpot's libjvm.so carries them when built with
// DTrace support (Debian's and Temurin's builds are).
type Probe struct {
	Provider, Name string
	// Offset is the file offset of the probe's instruction: where a
	// uprobe goes.
	Offset uint64
	// Semaphore is the address of its semaphore, 0 when it has none
	// (then the probe always fires once a uprobe is attached).
	Semaphore uint64
	Args      []ProbeArg
	ArgSpec   string // as written in the note, e.g. "8@%r12 -4@-60(%rbp)"
}

// ProbeArg is one argument of a probe on x86-64: a register, memory at a
// register plus displacement, or a constant.
type ProbeArg struct {
	Size   int  // bytes: 1, 2, 4 or 8
	Signed bool // the spec's size was negative
	Reg    Reg  // register read (the base for memory); RegNone for a constant
	Mem    bool // the value is at Reg + Disp in the process's memory
	Disp   int64
	Const  int64 // the value of a constant argument
}

// Reg is an x86-64 general-purpose register.
type Reg uint32

const (
	RegNone Reg = iota
	RegAX
	RegBX
	RegCX
	RegDX
	RegSI
	RegDI
	RegBP
	RegSP
	RegR8
	RegR9
	RegR10
	RegR11
	RegR12
	RegR13
	RegR14
	RegR15
	RegIP
)

// PtRegsOffset returns where r is kept in the kernel's x86-64 struct
// pt_regs (arch/x86/include/asm/ptrace.h), the context of a uprobe.
func (r Reg) PtRegsOffset() (uint32, bool) {
	off, ok := map[Reg]uint32{
		RegR15: 0, RegR14: 8, RegR13: 16, RegR12: 24, RegBP: 32, RegBX: 40,
		RegR11: 48, RegR10: 56, RegR9: 64, RegR8: 72, RegAX: 80, RegCX: 88,
		RegDX: 96, RegSI: 104, RegDI: 112, RegIP: 128, RegSP: 152,
	}[r]
	return off, ok
}

// regNames maps every spelling of a register (64, 32, 16 and 8 bits) to
// its 64-bit register: a narrower read is the low bytes of it.
var regNames = func() map[string]Reg {
	m := map[string]Reg{}
	for r, names := range map[Reg][]string{
		RegAX: {"rax", "eax", "ax", "al"}, RegBX: {"rbx", "ebx", "bx", "bl"},
		RegCX: {"rcx", "ecx", "cx", "cl"}, RegDX: {"rdx", "edx", "dx", "dl"},
		RegSI: {"rsi", "esi", "si", "sil"}, RegDI: {"rdi", "edi", "di", "dil"},
		RegBP: {"rbp", "ebp", "bp", "bpl"}, RegSP: {"rsp", "esp", "sp", "spl"},
		RegIP: {"rip"},
	} {
		for _, n := range names {
			m[n] = r
		}
	}
	for i := 8; i <= 15; i++ {
		r := RegR8 + Reg(i-8)
		for _, suf := range []string{"", "d", "w", "b"} {
			m["r"+strconv.Itoa(i)+suf] = r
		}
	}
	return m
}()

// ReadProbes lists the USDT probes of the ELF file at path.
func ReadProbes(path string) ([]Probe, error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if f.Class != elf.ELFCLASS64 || f.Machine != elf.EM_X86_64 {
		return nil, fmt.Errorf("%s: USDT probes are read for x86-64 ELF files only", path)
	}
	notes := f.Section(".note.stapsdt")
	if notes == nil {
		return nil, fmt.Errorf("%s: no USDT probes (no .note.stapsdt section)", path)
	}
	data, err := notes.Data()
	if err != nil {
		return nil, fmt.Errorf("%s: reading .note.stapsdt: %w", path, err)
	}
	// Prelink and similar tools move the file after the notes were
	// written: the notes record where .stapsdt.base was, the section says
	// where it is.
	var baseNow uint64
	if b := f.Section(".stapsdt.base"); b != nil {
		baseNow = b.Addr
	}
	var out []Probe
	bo := f.ByteOrder
	for len(data) >= 12 {
		namesz, descsz, typ := uint64(bo.Uint32(data)), uint64(bo.Uint32(data[4:])), bo.Uint32(data[8:])
		descOff := 12 + align4(namesz)
		if descOff+descsz > uint64(len(data)) {
			return nil, fmt.Errorf("%s: truncated USDT note", path)
		}
		name := string(bytes.TrimRight(data[12:12+namesz], "\x00"))
		desc := data[descOff : descOff+descsz]
		next := descOff + align4(descsz)
		if next > uint64(len(data)) {
			next = uint64(len(data))
		}
		data = data[next:]
		if name != "stapsdt" || typ != 3 || len(desc) < 24 {
			continue
		}
		p, err := parseNote(desc, bo, baseNow)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		off, ok := fileOffset(f, p.Offset)
		if !ok {
			return nil, fmt.Errorf("%s: probe %s:%s at %#x is in no loadable segment", path, p.Provider, p.Name, p.Offset)
		}
		p.Offset = off
		out = append(out, p)
	}
	return out, nil
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// parseNote decodes a stapsdt note's description: pc, base, semaphore
// addresses, then provider, name and argument strings. Offset is left as
// the (relocated) virtual address.
func parseNote(desc []byte, bo binary.ByteOrder, baseNow uint64) (Probe, error) {
	pc, base, sem := bo.Uint64(desc), bo.Uint64(desc[8:]), bo.Uint64(desc[16:])
	strs := bytes.SplitN(desc[24:], []byte{0}, 4)
	if len(strs) < 3 {
		return Probe{}, errors.New("malformed USDT note")
	}
	p := Probe{Provider: string(strs[0]), Name: string(strs[1]), ArgSpec: string(strs[2])}
	if baseNow != 0 && base != 0 {
		pc += baseNow - base
		if sem != 0 {
			sem += baseNow - base
		}
	}
	p.Offset, p.Semaphore = pc, sem
	for _, a := range strings.Fields(p.ArgSpec) {
		arg, err := ParseProbeArg(a)
		if err != nil {
			return Probe{}, fmt.Errorf("probe %s:%s: %w", p.Provider, p.Name, err)
		}
		p.Args = append(p.Args, arg)
	}
	return p, nil
}

// fileOffset converts a virtual address into its offset in the file.
func fileOffset(f *elf.File, addr uint64) (uint64, bool) {
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_LOAD && prog.Flags&elf.PF_X != 0 && addr >= prog.Vaddr && addr < prog.Vaddr+prog.Memsz {
			return addr - prog.Vaddr + prog.Off, true
		}
	}
	return 0, false
}

// ParseProbeArg parses one x86-64 SDT argument: "8@%r12", "-4@-60(%rbp)",
// "8@(%rax)", "4@$5". Indexed memory operands ("8@(%rax,%rbx,8)") are
// reported as unsupported.
func ParseProbeArg(s string) (ProbeArg, error) {
	at := strings.IndexByte(s, '@')
	if at <= 0 {
		return ProbeArg{}, fmt.Errorf("argument %q: no size", s)
	}
	size, err := strconv.Atoi(s[:at])
	if err != nil {
		return ProbeArg{}, fmt.Errorf("argument %q: size: %v", s, err)
	}
	a := ProbeArg{Size: size, Signed: size < 0}
	if a.Signed {
		a.Size = -size
	}
	switch a.Size {
	case 1, 2, 4, 8:
	default:
		return ProbeArg{}, fmt.Errorf("argument %q: size %d", s, size)
	}
	op := s[at+1:]
	switch {
	case strings.HasPrefix(op, "$"):
		v, err := strconv.ParseInt(op[1:], 0, 64)
		if err != nil {
			return ProbeArg{}, fmt.Errorf("argument %q: constant: %v", s, err)
		}
		a.Const = v
		return a, nil
	case strings.HasPrefix(op, "%"):
		r, ok := regNames[op[1:]]
		if !ok {
			return ProbeArg{}, fmt.Errorf("argument %q: unknown register", s)
		}
		a.Reg = r
		return a, nil
	}
	open := strings.IndexByte(op, '(')
	if open < 0 || !strings.HasSuffix(op, ")") {
		return ProbeArg{}, fmt.Errorf("argument %q: unsupported operand", s)
	}
	inner := op[open+1 : len(op)-1]
	if !strings.HasPrefix(inner, "%") || strings.Contains(inner, ",") {
		return ProbeArg{}, fmt.Errorf("argument %q: unsupported memory operand", s)
	}
	r, ok := regNames[inner[1:]]
	if !ok {
		return ProbeArg{}, fmt.Errorf("argument %q: unknown register", s)
	}
	a.Reg, a.Mem = r, true
	if open > 0 {
		d, err := strconv.ParseInt(op[:open], 0, 64)
		if err != nil {
			return ProbeArg{}, fmt.Errorf("argument %q: displacement: %v", s, err)
		}
		a.Disp = d
	}
	return a, nil
}

// FindProbes returns the sites of provider:name among probes.
func FindProbes(probes []Probe, provider, name string) []Probe {
	var out []Probe
	for _, p := range probes {
		if p.Provider == provider && p.Name == name {
			out = append(out, p)
		}
	}
	return out
}
