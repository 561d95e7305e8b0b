package bpf

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/sched"
)

// TestHotSpotProbes attaches to a real JVM's USDT probes. New threads are
// reported with the names they gave themselves (hotspot:thread__start).
// Printing its threads (SIGQUIT runs the same VM operation as a thread
// dump) reports the operation's begin and end (hotspot:vmops__begin/end)
// with its name, from a thread of that JVM, in order. Waits carry how long
// the thread was off the CPU, never less than the wait itself.
func TestHotSpotProbes(t *testing.T) {
	testenv.RequireRoot(t)
	truthPath := filepath.Join(t.TempDir(), "truth.txt")
	// Its two self-renaming threads rename themselves half-way (10 s):
	// after the tracer attached even on a loaded host.
	cmd := startWorkload(t, "--seconds", "20", "--truth", truthPath, "--short-every-ms", "100", "--short-life-ms", "50")
	pid := cmd.Process.Pid
	// JVM start-up: SIGQUIT must find its handler, the workload run.
	testenv.WaitFor(t, 120*time.Second, "the JVM to catch SIGQUIT and start its threads", func() bool {
		b, _ := os.ReadFile(truthPath)
		return sigQuitCaught(pid) && strings.Contains(string(b), "start ")
	})
	lib, err := jvm.LibJVM(pid)
	if err != nil {
		t.Fatal(err)
	}
	probes, err := FindHotSpotProbes(lib)
	if err != nil {
		t.Fatal(err)
	}
	r := record(t, Config{Pid: uint32(pid), HotSpot: probes})
	tracedWall := time.Now().UnixNano()
	if err := r.tr.HotSpotErr(); err != nil || !r.tr.VMOps() || !r.tr.ThreadStarts() || !r.tr.ThreadNames() {
		t.Fatalf("probes not attached: %v", err)
	}
	// New threads name themselves: births need not wake the reader.
	if !r.tr.QuietBirths() {
		t.Error("thread starts are probed, yet births still wake the reader")
	}
	time.Sleep(200 * time.Millisecond)
	const dumps = 3
	for i := 0; i < dumps; i++ {
		if err := syscall.Kill(pid, syscall.SIGQUIT); err != nil {
			t.Fatal(err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Wait for the states the checks below need: both self-renames and
	// threads started while traced, as the workload's own lines say.
	testenv.WaitFor(t, 120*time.Second, "both self-renames and 10 thread starts while traced", func() bool {
		b, _ := os.ReadFile(truthPath)
		renames, starts := 0, 0
		for _, line := range strings.Split(string(b), "\n") {
			f := strings.SplitN(line, " ", 3)
			if len(f) < 3 {
				continue
			}
			switch at, _ := strconv.ParseInt(f[1], 10, 64); f[0] {
			case "rename":
				renames++
			case "start":
				if at > tracedWall {
					starts++
				}
			}
		}
		return renames == 2 && starts >= 10
	})
	stopAt, stopWall := MonotonicNow(), time.Now().UnixNano()
	events := r.stop(t)

	starts := map[uint32]string{}
	selfNames := map[uint32][]string{}
	births := map[uint32]uint64{}
	for i := range events {
		switch e := &events[i]; e.Kind {
		case sched.KindThreadStart:
			starts[e.Tid] = e.Name
		case sched.KindThreadName:
			selfNames[e.Tid] = append(selfNames[e.Tid], e.Name)
		case sched.KindBirth:
			births[e.Tid] = e.Time
		}
	}
	// Every thread the workload started while traced was reported,
	// under the name it gave itself (ground truth: its own line).
	truth, err := os.ReadFile(truthPath)
	if err != nil {
		t.Fatal(err)
	}
	named, renamed := 0, 0
	for _, line := range strings.Split(string(truth), "\n") {
		if r := strings.SplitN(line, " ", 5); len(r) == 5 && r[0] == "rename" {
			// The full new name, as the thread set it.
			tid, _ := strconv.Atoi(r[3])
			if !slices.Contains(selfNames[uint32(tid)], r[4]) {
				t.Errorf("thread %d renamed itself %q: reported %q", tid, r[4], selfNames[uint32(tid)])
			}
			renamed++
			continue
		}
		f := strings.SplitN(line, " ", 4)
		if len(f) != 4 || f[0] != "start" {
			continue
		}
		tid, _ := strconv.Atoi(f[2])
		said, _ := strconv.ParseInt(f[1], 10, 64)
		// Born while traced, and started before the tracer stopped: the
		// thread writes its line after HotSpot fires thread__start, so
		// a line written before stopWall proves the probe fired in time.
		// (A thread cloned just before the stop may wait in the run
		// queue and start only after it.)
		if at, born := births[uint32(tid)]; !born || at > stopAt || said >= stopWall {
			continue
		}
		if got, ok := starts[uint32(tid)]; !ok {
			t.Errorf("thread %d %q: no thread start reported (born %d ns before the stop, said %d ns before)", tid, f[3], stopAt-births[uint32(tid)], stopWall-said)
		} else if got != f[3] {
			t.Errorf("thread %d: started as %q, says it is %q", tid, got, f[3])
		} else {
			named++
		}
	}
	if named < 10 {
		t.Errorf("only %d threads checked by their start", named)
	}
	if renamed != 2 {
		t.Errorf("%d self-renames in the ground truth, want 2: the tracer stopped too early", renamed)
	}
	var open *Event
	prints, waits, withOff := 0, 0, 0
	for i := range events {
		e := &events[i]
		switch {
		case e.Kind.VMOp():
			if e.Pid != uint32(pid) {
				t.Errorf("VM operation event of pid %d: %+v", e.Pid, e)
			}
			if _, err := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "task", strconv.Itoa(int(e.Tid)))); err != nil {
				t.Errorf("VM operation event from tid %d, not a thread of the JVM", e.Tid)
			}
			name := sched.CommString(e.Comm)
			if e.Kind == sched.KindVMOpBegin {
				if open != nil {
					t.Errorf("%s began while %s had not ended", name, sched.CommString(open.Comm))
				}
				open = e
				continue
			}
			if open == nil || sched.CommString(open.Comm) != name || e.Time < open.Time {
				t.Errorf("end of %s without its begin", name)
			} else if name == "PrintThreads" {
				prints++
			}
			open = nil
		case e.Kind.Wait():
			waits++
			if e.OffCPU != 0 {
				withOff++
				if e.OffCPU < e.Latency {
					t.Errorf("off the CPU %d ns, less than its wait %d ns: %+v", e.OffCPU, e.Latency, e)
				}
			}
		}
	}
	if prints != dumps {
		t.Errorf("%d PrintThreads operations seen, want %d", prints, dumps)
	}
	// Only waits begun before attaching, or after a switch-out the
	// kernel did not report, lack it.
	if waits == 0 || float64(withOff) < 0.9*float64(waits) {
		t.Errorf("%d of %d waits know how long their thread was off the CPU", withOff, waits)
	}
	t.Logf("%d PrintThreads operations; %d of %d waits with off-CPU time; %d threads named at start", prints, withOff, waits, named)
	if strings.TrimSpace(lib) == "" {
		t.Error("empty libjvm path")
	}
}

// sigQuitCaught says whether process pid catches SIGQUIT (HotSpot installs
// its handler during start-up; before, SIGQUIT would kill it).
func sigQuitCaught(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "SigCgt:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
			return err == nil && m&(1<<(syscall.SIGQUIT-1)) != 0
		}
	}
	return false
}

// symbolOffsetDecoded is symbolOffset as it was, through File.Symbols: the
// answer funcSymbols must give, and the cost it replaces.
func symbolOffsetDecoded(path, name string) (uint64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	syms, err := f.Symbols()
	if err != nil {
		return 0, fmt.Errorf("no symbol table (stripped): %w", err)
	}
	for _, s := range syms {
		if s.Name == name && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
			if off, ok := fileOffset(f, s.Value); ok {
				return off, nil
			}
		}
	}
	return 0, fmt.Errorf("%s not in the symbol table", name)
}

// decodedAnswers is what File.Symbols says about names: the file offset
// of the first function of each name (as symbolOffsetDecoded), absent
// from the map when there is none.
func decodedAnswers(t testing.TB, f *elf.File, names []string) map[string]uint64 {
	t.Helper()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]uint64{}
	for _, s := range syms {
		if _, done := want[s.Name]; done || elf.ST_TYPE(s.Info) != elf.STT_FUNC || s.Value == 0 || !slices.Contains(names, s.Name) {
			continue
		}
		if off, ok := fileOffset(f, s.Value); ok {
			want[s.Name] = off
		}
	}
	return want
}

// checkFuncSymbols compares the symbol scan with File.Symbols for names,
// all looked up in one call, reading chunk bytes at a time (and as
// funcSymbols does), and says how many of names are functions there.
func checkFuncSymbols(t *testing.T, f *elf.File, what string, names []string, chunks ...int) int {
	t.Helper()
	want := decodedAnswers(t, f, names)
	check := func(how string, offs []uint64, found []bool, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s, %s: %v", what, how, err)
		}
		for i, name := range names {
			w, ok := want[name]
			if found[i] != ok || offs[i] != w {
				t.Errorf("%s, %s: %q: found %v at %#x; File.Symbols: %v at %#x", what, how, name, found[i], offs[i], ok, w)
			}
		}
	}
	offs, found, err := funcSymbols(f, names...)
	check("funcSymbols", offs, found, err)
	for _, c := range chunks {
		offs, found, err := scanFuncSymbols(f, names, c)
		check(fmt.Sprintf("%d-byte chunks", c), offs, found, err)
	}
	return len(want)
}

// libJVMs are the libjvm.so of the JDKs on this machine: the java on PATH
// and those under /usr/lib/jvm.
func libJVMs(t testing.TB) []string {
	var libs []string
	add := func(p string) {
		if p, err := filepath.EvalSymlinks(p); err == nil && !slices.Contains(libs, p) {
			libs = append(libs, p)
		}
	}
	if java, err := exec.LookPath("java"); err == nil {
		if java, err = filepath.EvalSymlinks(java); err == nil {
			add(filepath.Join(filepath.Dir(java), "..", "lib", "server", "libjvm.so"))
		}
	}
	glob, _ := filepath.Glob("/usr/lib/jvm/*/lib/server/libjvm.so")
	for _, p := range glob {
		add(p)
	}
	if len(libs) == 0 {
		t.Skip("SKIPPED: no libjvm.so on this machine (no java on PATH, none under /usr/lib/jvm)")
	}
	return libs
}

// The symbol scan answers as File.Symbols on the JDKs' own libjvm.so: for
// the function the tracer probes, and for a sample of the table's names
// (locals and globals, functions and not, names that are prefixes of
// others).
func TestFuncSymbolsLibJVM(t *testing.T) {
	for _, lib := range libJVMs(t) {
		got, err := symbolOffset(lib, setNameSymbol)
		want, werr := symbolOffsetDecoded(lib, setNameSymbol)
		if err != nil || werr != nil || got != want || got == 0 {
			t.Errorf("%s: %s at %#x (%v); File.Symbols: %#x (%v)", lib, setNameSymbol, got, err, want, werr)
		}
		f, err := elf.Open(lib)
		if err != nil {
			t.Fatal(err)
		}
		syms, err := f.Symbols()
		if err != nil {
			t.Fatal(err)
		}
		names := []string{setNameSymbol, "_ZN2os22set_native_thread_name", setNameSymbol + "x", "JVM_", "no such function"}
		for i := 0; i < len(syms); i += len(syms)/150 + 1 {
			if n := syms[i].Name; len(n) > 1 && !slices.Contains(names, n) {
				names = append(names, n, n[:len(n)/2])
			}
		}
		// Small chunks: names across their ends.
		funcs := checkFuncSymbols(t, f, lib, names, 4093)
		t.Logf("%s: %d symbols; %d names compared, %d of them functions; %s at %#x", lib, len(syms), len(names), funcs, setNameSymbol, got)
		f.Close()
	}
}

// synSym is a symbol of a synthetic ELF file: its name is at strOff in the
// string table.
type synSym struct {
	strOff uint32
	info   byte
	value  uint64
}

// writeSynthetic writes an ELF shared object with an executable segment
// at address 0 (file offset 0: a function at 0 would be in it) and a data segment at 0x600000, and, when
// syms is not nil, a symbol table of syms (after the null symbol; empty
// when syms is) with the string table strs.
func writeSynthetic(t *testing.T, class elf.Class, bo binary.ByteOrder, syms []synSym, strs []byte) string {
	t.Helper()
	is64 := class == elf.ELFCLASS64
	var ehsize, phentsize, shentsize, symsize = 52, 32, 40, 16
	if is64 {
		ehsize, phentsize, shentsize, symsize = 64, 56, 64, 24
	}
	shstr := []byte("\x00.symtab\x00.strtab\x00.shstrtab\x00")
	var symtab bytes.Buffer
	if len(syms) > 0 {
		symtab.Write(make([]byte, symsize)) // the null symbol
	}
	for _, s := range syms {
		if is64 {
			binary.Write(&symtab, bo, elf.Sym64{Name: s.strOff, Info: s.info, Shndx: 1, Value: s.value, Size: 16})
		} else {
			binary.Write(&symtab, bo, elf.Sym32{Name: s.strOff, Info: s.info, Shndx: 1, Value: uint32(s.value), Size: 16})
		}
	}
	type sec struct {
		name, typ, link uint32
		data            []byte
		off             int
	}
	var secs []sec
	if syms != nil {
		secs = append(secs, sec{name: 1, typ: uint32(elf.SHT_SYMTAB), link: 2, data: symtab.Bytes()}, sec{name: 9, typ: uint32(elf.SHT_STRTAB), data: strs})
	}
	secs = append(secs, sec{name: 17, typ: uint32(elf.SHT_STRTAB), data: shstr})
	off := ehsize + 2*phentsize
	for i := range secs {
		off = (off + 7) &^ 7
		secs[i].off = off
		off += len(secs[i].data)
	}
	shoff := (off + 7) &^ 7

	var out bytes.Buffer
	ident := [elf.EI_NIDENT]byte{0x7f, 'E', 'L', 'F', byte(class), 0, byte(elf.EV_CURRENT)}
	ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	if bo == binary.BigEndian {
		ident[elf.EI_DATA] = byte(elf.ELFDATA2MSB)
	}
	shnum, shstrndx := uint16(len(secs)+1), uint16(len(secs))
	type seg struct{ flags, vaddr uint64 }
	segs := []seg{{uint64(elf.PF_R | elf.PF_X), 0}, {uint64(elf.PF_R | elf.PF_W), 0x600000}}
	if is64 {
		binary.Write(&out, bo, elf.Header64{Ident: ident, Type: uint16(elf.ET_DYN), Machine: uint16(elf.EM_X86_64), Version: uint32(elf.EV_CURRENT),
			Phoff: uint64(ehsize), Shoff: uint64(shoff), Ehsize: uint16(ehsize), Phentsize: uint16(phentsize), Phnum: 2,
			Shentsize: uint16(shentsize), Shnum: shnum, Shstrndx: shstrndx})
		for _, s := range segs {
			binary.Write(&out, bo, elf.Prog64{Type: uint32(elf.PT_LOAD), Flags: uint32(s.flags), Vaddr: s.vaddr, Paddr: s.vaddr, Filesz: uint64(ehsize), Memsz: 0x2000, Align: 0x1000})
		}
	} else {
		binary.Write(&out, bo, elf.Header32{Ident: ident, Type: uint16(elf.ET_DYN), Machine: uint16(elf.EM_386), Version: uint32(elf.EV_CURRENT),
			Phoff: uint32(ehsize), Shoff: uint32(shoff), Ehsize: uint16(ehsize), Phentsize: uint16(phentsize), Phnum: 2,
			Shentsize: uint16(shentsize), Shnum: shnum, Shstrndx: shstrndx})
		for _, s := range segs {
			binary.Write(&out, bo, elf.Prog32{Type: uint32(elf.PT_LOAD), Flags: uint32(s.flags), Vaddr: uint32(s.vaddr), Paddr: uint32(s.vaddr), Filesz: uint32(ehsize), Memsz: 0x2000, Align: 0x1000})
		}
	}
	for _, s := range secs {
		out.Write(make([]byte, s.off-out.Len()))
		out.Write(s.data)
	}
	out.Write(make([]byte, shoff-out.Len()))
	out.Write(make([]byte, shentsize)) // the null section
	for _, s := range secs {
		entsize := 0
		if s.typ == uint32(elf.SHT_SYMTAB) {
			entsize = symsize
		}
		if is64 {
			binary.Write(&out, bo, elf.Section64{Name: s.name, Type: s.typ, Off: uint64(s.off), Size: uint64(len(s.data)), Link: s.link, Addralign: 1, Entsize: uint64(entsize)})
		} else {
			binary.Write(&out, bo, elf.Section32{Name: s.name, Type: s.typ, Off: uint32(s.off), Size: uint32(len(s.data)), Link: s.link, Addralign: 1, Entsize: uint32(entsize)})
		}
	}
	path := filepath.Join(t.TempDir(), "lib.so")
	if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// The symbol scan on small files made for its edge cases, as ELF64 (both
// byte orders) and ELF32 (which File.Symbols serves): names that are
// prefixes or tails of others, symbols that are not functions, have no
// address or are outside the executable segment, duplicates (the first
// wins), names out of the string table or not terminated, absent names,
// and files without a symbol table.
func TestFuncSymbolsSynthetic(t *testing.T) {
	// 1 foo_bar, 9 foo, 10 oo (the tail of foo), 13 baz (not terminated).
	strs := []byte("\x00foo_bar\x00foo\x00baz")
	global := func(typ elf.SymType) byte { return elf.ST_INFO(elf.STB_GLOBAL, typ) }
	syms := []synSym{
		{1, global(elf.STT_FUNC), 0x1000},                     // foo_bar
		{9, global(elf.STT_OBJECT), 0x1010},                   // foo, not a function
		{9, elf.ST_INFO(elf.STB_LOCAL, elf.STT_FUNC), 0},      // foo, no address
		{9, global(elf.STT_FUNC), 0x600010},                   // foo, in the data segment
		{9, elf.ST_INFO(elf.STB_LOCAL, elf.STT_FUNC), 0x1020}, // foo: this one
		{9, global(elf.STT_FUNC), 0x1030},                     // foo again
		{10, global(elf.STT_FUNC), 0x1040},                    // oo
		{13, global(elf.STT_FUNC), 0x1050},                    // baz: no NUL after it, so no name
		{500, global(elf.STT_FUNC), 0x1060},                   // name out of the table: no name
	}
	names := []string{"oo", "foo", "foo_bar", "o", "fo", "foo_ba", "foo_bar_", "baz", "nope", ""}
	expect := map[string]uint64{"foo_bar": 0x1000, "foo": 0x1020, "oo": 0x1040, "": 0x1050}
	for _, c := range []struct {
		what  string
		class elf.Class
		bo    binary.ByteOrder
	}{
		{"ELF64 little-endian", elf.ELFCLASS64, binary.LittleEndian},
		{"ELF64 big-endian", elf.ELFCLASS64, binary.BigEndian},
		{"ELF32 little-endian", elf.ELFCLASS32, binary.LittleEndian},
	} {
		path := writeSynthetic(t, c.class, c.bo, syms, strs)
		f, err := elf.Open(path)
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		// All at once, read in chunks ending everywhere; the empty
		// name alone (it takes File.Symbols).
		var chunks []int
		for c := 1; c <= 40; c++ {
			chunks = append(chunks, c)
		}
		checkFuncSymbols(t, f, c.what, names[:len(names)-1], chunks...)
		checkFuncSymbols(t, f, c.what, names[len(names)-1:])
		for _, name := range names[:len(names)-1] {
			checkFuncSymbols(t, f, c.what, []string{name}, chunks...)
		}
		// Each name alone, as symbolOffset looks it up: the same
		// answer and the same error as through File.Symbols.
		for _, name := range names {
			if name == "" {
				continue
			}
			got, err := symbolOffset(path, name)
			want, werr := symbolOffsetDecoded(path, name)
			if got != want || fmt.Sprint(err) != fmt.Sprint(werr) {
				t.Errorf("%s: %q: %#x (%v); File.Symbols: %#x (%v)", c.what, name, got, err, want, werr)
			}
			if w, ok := expect[name]; got != w || (err == nil) != ok {
				t.Errorf("%s: %q: %#x (%v), want %#x", c.what, name, got, err, w)
			}
		}
		f.Close()

		// Stripped, and a symbol table with no symbol (not even the
		// null one): elf.ErrNoSymbols, as from File.Symbols.
		for _, stripped := range []string{writeSynthetic(t, c.class, c.bo, nil, nil), writeSynthetic(t, c.class, c.bo, []synSym{}, []byte{0})} {
			f, err := elf.Open(stripped)
			if err != nil {
				t.Fatalf("%s: %v", c.what, err)
			}
			if _, _, err := funcSymbols(f, "foo"); !errors.Is(err, elf.ErrNoSymbols) {
				t.Errorf("%s, stripped: %v, want %v", c.what, err, elf.ErrNoSymbols)
			}
			f.Close()
			_, err = symbolOffset(stripped, "foo")
			_, werr := symbolOffsetDecoded(stripped, "foo")
			if err == nil || err.Error() != werr.Error() || !errors.Is(err, elf.ErrNoSymbols) {
				t.Errorf("%s, stripped: %v; File.Symbols: %v", c.what, err, werr)
			}
		}
	}
}

// lib17 is the libjvm.so of JDK 17 (the java on PATH, when it is one).
func lib17(b *testing.B) string {
	for _, lib := range libJVMs(b) {
		if strings.Contains(lib, "-17-") {
			return lib
		}
	}
	b.Skip("SKIPPED: no JDK 17 libjvm.so")
	return ""
}

// processCPU is the CPU time this process has used, all its threads (the
// garbage collector's too).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkFindHotSpotProbes reads the probes of JDK 17's libjvm.so, as
// every attach does. cpu-ns/op is the process's CPU time per call: on a
// shared machine, steadier than the time it took.
func BenchmarkFindHotSpotProbes(b *testing.B) {
	lib := lib17(b)
	b.ReportAllocs()
	cpu := processCPU()
	for b.Loop() {
		h, err := FindHotSpotProbes(lib)
		if err != nil || h.SetName == 0 {
			b.Fatal(h, err)
		}
	}
	b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
}

// BenchmarkSymbolOffset looks up os::set_native_thread_name in JDK 17's
// libjvm.so: by the scan, and through File.Symbols.
func BenchmarkSymbolOffset(b *testing.B) {
	lib := lib17(b)
	for _, c := range []struct {
		name string
		fn   func(string, string) (uint64, error)
	}{{"scan", symbolOffset}, {"decoded", symbolOffsetDecoded}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := processCPU()
			for b.Loop() {
				if _, err := c.fn(lib, setNameSymbol); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(processCPU()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}
