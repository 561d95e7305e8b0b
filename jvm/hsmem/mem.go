package hsmem

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// mem reads another process's memory. process_vm_readv takes many
// iovecs per syscall, which keeps a scan of thousands of threads to a
// handful of syscalls; /proc/PID/mem is the fallback when it is refused
// (seccomp profiles of some containers) and the permission check at Open.
type mem struct {
	pid     int
	f       *os.File
	noVM    bool // process_vm_readv refused: pread only
	Syscall int  // syscalls made so far, for measurements
}

// iovMax is the kernel's limit on iovecs per process_vm_readv.
const iovMax = 1024

func openMem(pid int) (*mem, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/mem", pid))
	if err != nil {
		cause := err
		var pe *os.PathError
		if errors.As(err, &pe) {
			cause = pe.Err
		}
		switch {
		case errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("process %d: no such process", pid)
		case errors.Is(err, os.ErrPermission):
			return nil, fmt.Errorf("cannot open /proc/%d/mem: %v (run as the JVM's user, or with CAP_SYS_PTRACE and CAP_DAC_READ_SEARCH)", pid, cause)
		}
		return nil, fmt.Errorf("cannot open /proc/%d/mem: %v", pid, cause)
	}
	return &mem{pid: pid, f: f}, nil
}

func (m *mem) close() error { return m.f.Close() }

// read fills b from address addr, entirely or not at all.
func (m *mem) read(addr uint64, b []byte) error {
	r := []region{{addr: addr, buf: b}}
	m.readv(r)
	if !r[0].ok {
		return fmt.Errorf("reading %d bytes at %#x in process %d: %w", len(b), addr, m.pid, errFault)
	}
	return nil
}

var errFault = errors.New("address not readable")

// region is one piece of a batched read.
type region struct {
	addr uint64
	buf  []byte
	ok   bool // set by readv: buf holds the whole region
}

// readv reads every region, marking which ones were readable. A region
// that faults ends a process_vm_readv batch; the next batch starts after
// it.
func (m *mem) readv(rs []region) {
	for i := range rs {
		rs[i].ok = false
	}
	if !m.noVM {
		if m.readvVM(rs) {
			return
		}
		m.noVM = true
	}
	for i := range rs {
		r := &rs[i]
		if r.addr == 0 || r.addr >= 1<<63 {
			continue
		}
		m.Syscall++
		n, err := m.f.ReadAt(r.buf, int64(r.addr))
		r.ok = err == nil && n == len(r.buf)
	}
}

// readvVM returns false when process_vm_readv itself is not allowed.
func (m *mem) readvVM(rs []region) bool {
	local := make([]unix.Iovec, 0, iovMax)
	remote := make([]unix.RemoteIovec, 0, iovMax)
	for start := 0; start < len(rs); {
		local, remote = local[:0], remote[:0]
		idx := make([]int, 0, iovMax)
		for j := start; j < len(rs) && len(remote) < iovMax; j++ {
			r := &rs[j]
			if len(r.buf) == 0 {
				r.ok = true
				continue
			}
			if r.addr == 0 || r.addr >= 1<<63 { // never mapped in user space
				continue
			}
			local = append(local, unix.Iovec{Base: &r.buf[0], Len: uint64(len(r.buf))})
			remote = append(remote, unix.RemoteIovec{Base: uintptr(r.addr), Len: len(r.buf)})
			idx = append(idx, j)
		}
		if len(remote) == 0 {
			return true
		}
		m.Syscall++
		n, err := unix.ProcessVMReadv(m.pid, local, remote, 0)
		if err != nil {
			if errors.Is(err, syscall.EFAULT) {
				// The first iovec faulted: skip it.
				start = idx[0] + 1
				continue
			}
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.ENOSYS) {
				return false
			}
			// ESRCH and the like: nothing more will be read.
			return true
		}
		// n bytes were copied in order: whole iovecs, then maybe part of
		// the one that faulted.
		k := 0
		for ; k < len(idx); k++ {
			l := len(rs[idx[k]].buf)
			if n < l {
				break
			}
			n -= l
			rs[idx[k]].ok = true
		}
		if k == len(idx) {
			start = idx[len(idx)-1] + 1
		} else {
			start = idx[k] + 1 // the faulting region stays !ok
		}
	}
	return true
}

// Little-endian helpers for buffers read from the target (x86-64 and
// arm64 Linux are little-endian).
func u64(b []byte, off uint64) uint64 { return binary.LittleEndian.Uint64(b[off:]) }
func u32(b []byte, off uint64) uint32 { return binary.LittleEndian.Uint32(b[off:]) }
func u16(b []byte, off uint64) uint16 { return binary.LittleEndian.Uint16(b[off:]) }
