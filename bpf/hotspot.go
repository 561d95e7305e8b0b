package bpf

import (
	"debug/elf"
	"errors"
	"fmt"
	"strings"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// HotSpotProbes are the USDT probes of a JVM's libjvm.so that the tracer
// can use (HotSpot builds with DTrace support carry them, without
// semaphores: Debian's and Temurin's do).
type HotSpotProbes struct {
	Path string // the library as seen from here (e.g. /proc/PID/map_files/...)
	// hotspot:vmops__begin / vmops__end: every VM operation, with its
	// name (sched.KindVMOpBegin/End).
	VMOpBegin, VMOpEnd []Probe
	// hotspot:thread__start: a Java thread starting, on itself, with its
	// Java name (sched.KindThreadStart).
	ThreadStart []Probe
	// SetName is the file offset of os::set_native_thread_name (from the
	// library's symbol table; 0 when stripped): a thread naming itself,
	// with its full name (sched.KindThreadName).
	SetName uint64
	// Skipped says which probes were found but cannot be used, and why.
	Skipped []string
}

// argLoc is where a probe argument is, as the BPF program reads it.
type argLoc struct {
	reg  uint32 // byte offset of the register in pt_regs
	mem  bool
	disp int64
	size int
}

func locate(a ProbeArg) (argLoc, error) {
	off, ok := a.Reg.PtRegsOffset()
	if a.Reg == RegNone || !ok {
		return argLoc{}, errors.New("not a register or memory operand")
	}
	return argLoc{reg: off, mem: a.Mem, disp: a.Disp, size: a.Size}, nil
}

// family checks that a probe is present, has no semaphore, and that all its
// sites keep the arguments it needs in the same place (one BPF program
// serves every site).
func family(sites []Probe, args ...int) ([]argLoc, error) {
	if len(sites) == 0 {
		return nil, errors.New("absent")
	}
	var locs []argLoc
	for _, i := range args {
		for k, p := range sites {
			if p.Semaphore != 0 {
				return nil, errors.New("has a semaphore (not supported)")
			}
			if i >= len(p.Args) {
				return nil, fmt.Errorf("argument %d missing in %q", i, p.ArgSpec)
			}
			l, err := locate(p.Args[i])
			if err != nil {
				return nil, fmt.Errorf("argument %d of %q: %v", i, p.ArgSpec, err)
			}
			if k == 0 {
				locs = append(locs, l)
			} else if l != locs[len(locs)-1] {
				return nil, fmt.Errorf("sites disagree on argument %d (%q, %q)", i, p.ArgSpec, sites[0].ArgSpec)
			}
		}
	}
	return locs, nil
}

// FindHotSpotProbes reads the usable USDT probes of the libjvm.so at path;
// it fails only when none is usable.
func FindHotSpotProbes(path string) (*HotSpotProbes, error) {
	probes, err := ReadProbes(path)
	if err != nil {
		return nil, err
	}
	h := &HotSpotProbes{Path: path}
	begin, end := FindProbes(probes, "hotspot", "vmops__begin"), FindProbes(probes, "hotspot", "vmops__end")
	_, err1 := family(begin, 0)
	_, err2 := family(end, 0)
	if err := errors.Join(err1, err2); err == nil {
		h.VMOpBegin, h.VMOpEnd = begin, end
	} else {
		h.Skipped = append(h.Skipped, "hotspot:vmops__begin/end: "+err.Error())
	}
	ts := FindProbes(probes, "hotspot", "thread__start")
	if _, err := family(ts, 0, 1); err == nil {
		h.ThreadStart = ts
	} else {
		h.Skipped = append(h.Skipped, "hotspot:thread__start: "+err.Error())
	}
	if off, err := symbolOffset(path, setNameSymbol); err == nil {
		h.SetName = off
	} else {
		h.Skipped = append(h.Skipped, "os::set_native_thread_name: "+err.Error())
	}
	if h.VMOpBegin == nil && h.ThreadStart == nil && h.SetName == 0 {
		return nil, fmt.Errorf("%s: no usable HotSpot probes (%s)", path, strings.Join(h.Skipped, "; "))
	}
	return h, nil
}

func setVars(spec *ebpf.CollectionSpec, vars map[string]any) error {
	for name, v := range vars {
		vs, ok := spec.Variables[name]
		if !ok {
			return fmt.Errorf("BPF object has no variable %s", name)
		}
		if err := vs.Set(v); err != nil {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	return nil
}

func b2u(b bool) uint32 {
	if b {
		return 1
	}
	return 0
}

// setNameSymbol is HotSpot's os::set_native_thread_name(const char*),
// mangled: a local symbol, in .symtab only.
const setNameSymbol = "_ZN2os22set_native_thread_nameEPKc"

// symbolOffset returns the file offset of a function in an ELF file's
// symbol table (see funcSymbols).
func symbolOffset(path, name string) (uint64, error) {
	f, err := elf.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	offs, found, err := funcSymbols(f, name)
	if err != nil {
		return 0, fmt.Errorf("no symbol table (stripped): %w", err)
	}
	if !found[0] {
		return 0, fmt.Errorf("%s not in the symbol table", name)
	}
	return offs[0], nil
}

// configureHotSpot tells the uprobe programs where their arguments are.
func configureHotSpot(spec *ebpf.CollectionSpec, h *HotSpotProbes) error {
	if h == nil {
		return nil
	}
	if h.VMOpBegin != nil {
		b, _ := family(h.VMOpBegin, 0)
		e, _ := family(h.VMOpEnd, 0)
		if err := setVars(spec, map[string]any{
			runqlatVarVmopBeginReg: b[0].reg, runqlatVarVmopBeginMem: b2u(b[0].mem), runqlatVarVmopBeginDisp: b[0].disp,
			runqlatVarVmopEndReg: e[0].reg, runqlatVarVmopEndMem: b2u(e[0].mem), runqlatVarVmopEndDisp: e[0].disp,
		}); err != nil {
			return err
		}
	}
	if h.ThreadStart != nil {
		l, _ := family(h.ThreadStart, 0, 1)
		if err := setVars(spec, map[string]any{
			runqlatVarTsNameReg: l[0].reg, runqlatVarTsNameMem: b2u(l[0].mem), runqlatVarTsNameDisp: l[0].disp,
			runqlatVarTsLenReg: l[1].reg, runqlatVarTsLenMem: b2u(l[1].mem), runqlatVarTsLenDisp: l[1].disp,
			runqlatVarTsLenSize: uint32(l[1].size),
		}); err != nil {
			return err
		}
	}
	return nil
}

// dropUnusedHotSpot removes the uprobe programs that will not be attached,
// so that they are not loaded.
func dropUnusedHotSpot(spec *ebpf.CollectionSpec, h *HotSpotProbes) {
	if h == nil || h.VMOpBegin == nil {
		delete(spec.Programs, runqlatProgRunqVmopBegin)
		delete(spec.Programs, runqlatProgRunqVmopEnd)
	}
	if h == nil || h.ThreadStart == nil {
		delete(spec.Programs, runqlatProgRunqThreadStart)
	}
	if h == nil || h.SetName == 0 {
		delete(spec.Programs, runqlatProgRunqThreadName)
	}
}

// hotspotState is what attaching the HotSpot probes gave.
type hotspotState struct {
	vmops, threadStart, setName bool
	err                         error
}

// attachHotSpot puts uprobes on every site of the usable probes, for the
// target process only. What fails is reported by HotSpotErr.
func (t *Tracer) attachHotSpot(cfg Config) {
	if cfg.Pid == 0 {
		t.hotspot.err = errors.New("HotSpot probes need a target process")
		return
	}
	links, progs, st := attachUprobes(t.coll, cfg.Pid, cfg.HotSpot)
	t.links = append(t.links, links...)
	t.progs = append(t.progs, progs...)
	t.hotspot = st
}

// attachUprobes attaches coll's uprobe programs to the sites of h, for
// process pid only.
func attachUprobes(coll *ebpf.Collection, pid uint32, h *HotSpotProbes) (links []link.Link, progs []string, st hotspotState) {
	var errs []error
	for _, s := range h.Skipped {
		errs = append(errs, errors.New(s))
	}
	ex, err := link.OpenExecutable(h.Path)
	if err != nil {
		st.err = fmt.Errorf("HotSpot probes: %w", err)
		return nil, nil, st
	}
	attach := func(prog string, sites []Probe) error {
		for _, p := range sites {
			l, err := ex.Uprobe(p.Provider+":"+p.Name, coll.Programs[prog], &link.UprobeOptions{Address: p.Offset, PID: int(pid)})
			if err != nil {
				return fmt.Errorf("attaching a uprobe to %s:%s in %s: %w", p.Provider, p.Name, h.Path, err)
			}
			links = append(links, l)
			progs = append(progs, prog)
		}
		return nil
	}
	if h.VMOpBegin != nil {
		err := errors.Join(attach(runqlatProgRunqVmopBegin, h.VMOpBegin), attach(runqlatProgRunqVmopEnd, h.VMOpEnd))
		st.vmops = err == nil
		errs = append(errs, err)
	}
	if h.ThreadStart != nil {
		err := attach(runqlatProgRunqThreadStart, h.ThreadStart)
		st.threadStart = err == nil
		errs = append(errs, err)
	}
	if h.SetName != 0 {
		err := attach(runqlatProgRunqThreadName, []Probe{{Provider: "libjvm", Name: "os::set_native_thread_name", Offset: h.SetName}})
		st.setName = err == nil
		errs = append(errs, err)
	}
	st.err = errors.Join(errs...)
	return links, progs, st
}

// QuietBirths tells whether thread births wait for the next drain instead of
// waking the reader at once: new threads report their names themselves
// (thread__start), so no dump has to catch them before they end.
func (t *Tracer) QuietBirths() bool { return t.quietBirths }

// HotSpotErr tells which of the HotSpot probes asked for in Config.HotSpot
// are not in use, and why (nil when all are, or none was asked for).
func (t *Tracer) HotSpotErr() error { return t.hotspot.err }

// ThreadStarts tells whether new Java threads are reported with their
// names (sched.KindThreadStart).
func (t *Tracer) ThreadStarts() bool { return t.hotspot.threadStart }

// ThreadNames tells whether threads naming themselves are reported with
// their full names (sched.KindThreadName).
func (t *Tracer) ThreadNames() bool { return t.hotspot.setName }

// VMOps tells whether VM operations are reported (sched.KindVMOpBegin/End).
func (t *Tracer) VMOps() bool { return t.hotspot.vmops }
