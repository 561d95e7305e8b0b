package hsmem

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ErrNotReady means the JVM has not finished initialising its
// serviceability tables (the stride companions are still 0): retry later.
var ErrNotReady = errors.New("HotSpot VM not initialised yet")

// ErrNotHotSpot means the process has no libjvm.so mapped.
var ErrNotHotSpot = errors.New("not a HotSpot JVM")

// libjvm is the mapped libjvm.so: a path to read it through and the load
// bias to turn its symbol values into addresses.
type libjvm struct {
	path string
	bias uint64
}

func findLibJVM(pid int) (libjvm, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return libjvm{}, fmt.Errorf("reading the mappings of process %d: %w", pid, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// address perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		path := strings.TrimSuffix(strings.Join(f[5:], " "), " (deleted)")
		if !strings.HasSuffix(path, "/libjvm.so") || f[2] != "00000000" && strings.Trim(f[2], "0") != "" {
			continue
		}
		start, _, _ := strings.Cut(f[0], "-")
		base, err := strconv.ParseUint(start, 16, 64)
		if err != nil {
			continue
		}
		// map_files is the mapped file itself even when the JDK was
		// replaced on disk or lives in another mount namespace.
		p := fmt.Sprintf("/proc/%d/map_files/%s", pid, f[0])
		if _, err := os.Stat(p); err != nil {
			p = fmt.Sprintf("/proc/%d/root%s", pid, path)
		}
		return libjvm{path: p, bias: base}, nil
	}
	return libjvm{}, fmt.Errorf("process %d: %w (no libjvm.so mapped)", pid, ErrNotHotSpot)
}

// symbols resolves the named dynamic symbols of libjvm to addresses in
// the target, and keeps the file for reading constant strings.
type elfImage struct {
	f     *elf.File
	file  *os.File
	bias  uint64
	segs  []*elf.Prog
	cache map[*elf.Prog][]byte // read-only segments, read once
}

func openELF(lib libjvm) (*elfImage, error) {
	file, err := os.Open(lib.path)
	if err != nil {
		return nil, fmt.Errorf("opening libjvm.so: %w", err)
	}
	f, err := elf.NewFile(file)
	if err != nil {
		file.Close()
		return nil, fmt.Errorf("reading libjvm.so: %w", err)
	}
	img := &elfImage{f: f, file: file, cache: map[*elf.Prog][]byte{}}
	// The mapping with file offset 0 holds the first PT_LOAD segment.
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			img.bias = lib.bias - (p.Vaddr &^ (p.Align - 1))
			break
		}
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			img.segs = append(img.segs, p)
		}
	}
	return img, nil
}

func (img *elfImage) close() { img.file.Close() }

func (img *elfImage) symbols(names ...string) (map[string]uint64, error) {
	syms, err := img.f.DynamicSymbols()
	if err != nil {
		return nil, fmt.Errorf("reading the dynamic symbols of libjvm.so: %w", err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[string]uint64{}
	for _, s := range syms {
		if want[s.Name] && s.Value != 0 {
			out[s.Name] = img.bias + s.Value
		}
	}
	for _, n := range names {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("libjvm.so has no symbol %s (a JVM without serviceability tables?)", n)
		}
	}
	return out, nil
}

// cString reads a NUL-terminated string at target address addr from the
// file when it lies in a read-only segment (the tables' names do), which
// costs the target nothing.
func (img *elfImage) cString(addr uint64) (string, bool) {
	v := addr - img.bias
	for _, p := range img.segs {
		if p.Flags&elf.PF_W != 0 || v < p.Vaddr || v >= p.Vaddr+p.Filesz {
			continue
		}
		data, ok := img.cache[p]
		if !ok {
			data = make([]byte, p.Filesz)
			if _, err := p.ReadAt(data, 0); err != nil {
				data = nil
			}
			img.cache[p] = data
		}
		if data == nil {
			return "", false
		}
		rest := data[v-p.Vaddr:]
		if i := bytes.IndexByte(rest, 0); i >= 0 {
			return string(rest[:i]), true
		}
		return "", false
	}
	return "", false
}

// vmField is an entry of gHotSpotVMStructs.
type vmField struct {
	typeString string
	static     bool
	offset     uint64 // instance fields
	addr       uint64 // static fields
}

// vmType is an entry of gHotSpotVMTypes.
type vmType struct {
	super string
	size  uint64
}

// tables are HotSpot's serviceability tables (what the serviceability
// agent reads): C++ field offsets and static addresses, type sizes and
// hierarchy, and constants.
type tables struct {
	fields map[string]map[string]vmField
	types  map[string]vmType
	ints   map[string]int64
	longs  map[string]int64
}

var tableSymbols = []string{
	"gHotSpotVMStructs", "gHotSpotVMStructEntryArrayStride",
	"gHotSpotVMStructEntryTypeNameOffset", "gHotSpotVMStructEntryFieldNameOffset",
	"gHotSpotVMStructEntryTypeStringOffset", "gHotSpotVMStructEntryIsStaticOffset",
	"gHotSpotVMStructEntryOffsetOffset", "gHotSpotVMStructEntryAddressOffset",
	"gHotSpotVMTypes", "gHotSpotVMTypeEntryArrayStride",
	"gHotSpotVMTypeEntryTypeNameOffset", "gHotSpotVMTypeEntrySuperclassNameOffset",
	"gHotSpotVMTypeEntrySizeOffset",
	"gHotSpotVMIntConstants", "gHotSpotVMIntConstantEntryArrayStride",
	"gHotSpotVMIntConstantEntryNameOffset", "gHotSpotVMIntConstantEntryValueOffset",
	"gHotSpotVMLongConstants", "gHotSpotVMLongConstantEntryArrayStride",
	"gHotSpotVMLongConstantEntryNameOffset", "gHotSpotVMLongConstantEntryValueOffset",
}

// readTables reads HotSpot's serviceability tables from the target.
func readTables(m *mem, img *elfImage) (*tables, error) {
	vals, err := readTableSymbols(m, img)
	if err != nil {
		return nil, err
	}
	t := &tables{fields: map[string]map[string]vmField{}, types: map[string]vmType{},
		ints: map[string]int64{}, longs: map[string]int64{}}
	tr := &tableReader{m: m, img: img, vals: vals, t: t}
	if err := tr.readStructs(); err != nil {
		return nil, err
	}
	if err := tr.readTypes(); err != nil {
		return nil, err
	}
	if err := tr.readConstants(); err != nil {
		return nil, err
	}
	return t, nil
}

// readTableSymbols reads the values of the tables' symbols: the tables'
// addresses, their strides and their entries' field offsets.
func readTableSymbols(m *mem, img *elfImage) (map[string]uint64, error) {
	syms, err := img.symbols(tableSymbols...)
	if err != nil {
		return nil, err
	}
	// Every symbol is a 64-bit variable: read them all in one batch.
	vals := map[string]uint64{}
	rs := make([]region, len(tableSymbols))
	for i, n := range tableSymbols {
		rs[i] = region{addr: syms[n], buf: make([]byte, 8)}
	}
	m.readv(rs)
	for i, n := range tableSymbols {
		if !rs[i].ok {
			return nil, fmt.Errorf("reading %s: %w", n, errFault)
		}
		vals[n] = u64(rs[i].buf, 0)
	}
	for _, n := range []string{"gHotSpotVMStructEntryArrayStride", "gHotSpotVMTypeEntryArrayStride",
		"gHotSpotVMIntConstantEntryArrayStride", "gHotSpotVMLongConstantEntryArrayStride"} {
		if vals[n] == 0 {
			return nil, ErrNotReady
		}
	}
	return vals, nil
}

// tableReader fills tables from the target's tables, located by vals.
type tableReader struct {
	m    *mem
	img  *elfImage
	vals map[string]uint64
	t    *tables
}

// str reads the string an entry's field at off points to; false when the
// pointer is NULL.
func (tr *tableReader) str(e []byte, off uint64) (string, bool, error) {
	p := u64(e, off)
	if p == 0 {
		return "", false, nil
	}
	if s, ok := tr.img.cString(p); ok {
		return s, true, nil
	}
	s, err := readCString(tr.m, p)
	return s, true, err
}

// readStructs reads gHotSpotVMStructs into t.fields.
func (tr *tableReader) readStructs() error {
	vals, t := tr.vals, tr.t
	err := walkTable(tr.m, vals["gHotSpotVMStructs"], vals["gHotSpotVMStructEntryArrayStride"], func(e []byte) (bool, error) {
		typ, ok, err := tr.str(e, vals["gHotSpotVMStructEntryTypeNameOffset"])
		if !ok || err != nil {
			return false, err
		}
		name, _, err := tr.str(e, vals["gHotSpotVMStructEntryFieldNameOffset"])
		if err != nil {
			return false, err
		}
		ts, _, err := tr.str(e, vals["gHotSpotVMStructEntryTypeStringOffset"])
		if err != nil {
			return false, err
		}
		f := vmField{
			typeString: ts,
			static:     u32(e, vals["gHotSpotVMStructEntryIsStaticOffset"]) != 0,
			offset:     u64(e, vals["gHotSpotVMStructEntryOffsetOffset"]),
			addr:       u64(e, vals["gHotSpotVMStructEntryAddressOffset"]),
		}
		if t.fields[typ] == nil {
			t.fields[typ] = map[string]vmField{}
		}
		t.fields[typ][name] = f
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("reading gHotSpotVMStructs: %w", err)
	}
	return nil
}

// readTypes reads gHotSpotVMTypes into t.types.
func (tr *tableReader) readTypes() error {
	vals, t := tr.vals, tr.t
	err := walkTable(tr.m, vals["gHotSpotVMTypes"], vals["gHotSpotVMTypeEntryArrayStride"], func(e []byte) (bool, error) {
		name, ok, err := tr.str(e, vals["gHotSpotVMTypeEntryTypeNameOffset"])
		if !ok || err != nil {
			return false, err
		}
		super, _, err := tr.str(e, vals["gHotSpotVMTypeEntrySuperclassNameOffset"])
		if err != nil {
			return false, err
		}
		t.types[name] = vmType{super: super, size: u64(e, vals["gHotSpotVMTypeEntrySizeOffset"])}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("reading gHotSpotVMTypes: %w", err)
	}
	return nil
}

// readConstants reads the int and long constant tables into t.ints and
// t.longs.
func (tr *tableReader) readConstants() error {
	vals, t := tr.vals, tr.t
	for _, c := range []struct {
		table, stride, name, value string
		into                       map[string]int64
		wide                       bool
	}{
		{"gHotSpotVMIntConstants", "gHotSpotVMIntConstantEntryArrayStride", "gHotSpotVMIntConstantEntryNameOffset", "gHotSpotVMIntConstantEntryValueOffset", t.ints, false},
		{"gHotSpotVMLongConstants", "gHotSpotVMLongConstantEntryArrayStride", "gHotSpotVMLongConstantEntryNameOffset", "gHotSpotVMLongConstantEntryValueOffset", t.longs, true},
	} {
		err := walkTable(tr.m, vals[c.table], vals[c.stride], func(e []byte) (bool, error) {
			name, ok, err := tr.str(e, vals[c.name])
			if !ok || err != nil {
				return false, err
			}
			if c.wide {
				c.into[name] = int64(u64(e, vals[c.value]))
			} else {
				c.into[name] = int64(int32(u32(e, vals[c.value])))
			}
			return true, nil
		})
		if err != nil {
			return fmt.Errorf("reading %s: %w", c.table, err)
		}
	}
	return nil
}

// walkTable calls fn on each entry of a table at addr until fn says stop
// (the entry with a NULL name ends every table), reading 64 KiB at a time.
func walkTable(m *mem, addr, stride uint64, fn func(e []byte) (bool, error)) error {
	if addr == 0 || stride == 0 || stride > 4096 {
		return fmt.Errorf("implausible table at %#x, stride %d", addr, stride)
	}
	per := (64 << 10) / stride
	buf := make([]byte, per*stride)
	for n := 0; n < 100000; n += int(per) {
		if err := m.read(addr, buf); err != nil {
			return err
		}
		for i := uint64(0); i < per; i++ {
			more, err := fn(buf[i*stride : (i+1)*stride])
			if err != nil {
				return err
			}
			if !more {
				return nil
			}
		}
		addr += per * stride
	}
	return errors.New("table has no end")
}

func readCString(m *mem, addr uint64) (string, error) {
	var out []byte
	buf := make([]byte, 64)
	for len(out) < 4096 {
		if err := m.read(addr, buf); err != nil {
			return "", err
		}
		if i := bytes.IndexByte(buf, 0); i >= 0 {
			return string(append(out, buf[:i]...)), nil
		}
		out = append(out, buf...)
		addr += uint64(len(buf))
	}
	return "", errors.New("string too long")
}

// field finds typ::name, looking along the C++ type hierarchy (fields
// move between Thread and JavaThread across releases).
func (t *tables) field(typ, name string) (vmField, bool) {
	for i := 0; typ != "" && i < 32; i++ {
		if f, ok := t.fields[typ][name]; ok {
			return f, true
		}
		typ = t.types[typ].super
	}
	return vmField{}, false
}
