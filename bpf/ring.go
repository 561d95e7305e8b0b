package bpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ring reads the kernel's BPF ring buffer in place and waits for it in Go's
// network poller.
//
// Why not cilium/ebpf's ringbuf.Reader: it waits in a blocking epoll_wait
// of its own and makes a system call at the start and end of every drain.
// Every system call wakes the Go runtime's sysmon thread from its deep
// sleep, which then polls every 20 µs until the process idles again, and a
// blocking one hands the P to another thread: 40-60 context switches a
// second for four drains (a 2-CPU VM, GOMAXPROCS=1), each one on the host
// being measured. Waiting in the network poller, the reading thread parks
// with nothing to hand over, and reading the mapping needs no system call.
// Records are handed to the caller in place, without a copy.
type ring struct {
	mu        sync.Mutex // held while the mapping is read; Close unmaps under it
	cons      []byte     // consumer page (read-write)
	prod      []byte     // producer page, then the data pages mapped twice
	data      []byte     // the data pages, twice: a record never wraps
	consPos   *uintptr
	prodPos   *uintptr
	mask      uintptr
	f         *os.File // a duplicate of the map's fd, non-blocking, in the poller
	rc        syscall.RawConn
	closed    atomic.Bool
	closeOnce sync.Once
	closeErr  error
}

// Ring-buffer record header (include/uapi/linux/bpf.h): a 32-bit length
// with two flag bits, then the page offset the kernel uses.
const (
	ringHdrSize    = 8
	ringBusyBit    = 1 << 31
	ringDiscardBit = 1 << 30
)

// errRingBusy: the next record is reserved but not yet committed.
var errRingBusy = errors.New("ring-buffer record not committed yet")

func openRing(m *ebpf.Map) (_ *ring, err error) {
	if m.Type() != ebpf.RingBuf {
		return nil, fmt.Errorf("map %v is not a ring buffer", m)
	}
	size := int(m.MaxEntries())
	page := os.Getpagesize()
	fd, err := unix.FcntlInt(uintptr(m.FD()), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicating the ring buffer's fd: %w", err)
	}
	r := &ring{}
	defer func() {
		if err != nil {
			r.unmap()
			if r.f != nil {
				r.f.Close()
			} else {
				unix.Close(fd)
			}
		}
	}()
	if r.cons, err = unix.Mmap(fd, 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("mapping the ring buffer's consumer page: %w", err)
	}
	if r.prod, err = unix.Mmap(fd, int64(page), page+2*size, unix.PROT_READ, unix.MAP_SHARED); err != nil {
		return nil, fmt.Errorf("mapping the ring buffer's data: %w", err)
	}
	r.consPos = (*uintptr)(unsafe.Pointer(&r.cons[0]))
	r.prodPos = (*uintptr)(unsafe.Pointer(&r.prod[0]))
	r.data = r.prod[page:]
	r.mask = uintptr(size - 1)
	// The flag is on the open file, shared with the map's own fd; no BPF
	// command or mapping depends on it.
	if err = unix.SetNonblock(fd, true); err != nil {
		return nil, fmt.Errorf("ring buffer fd: %w", err)
	}
	r.f = os.NewFile(uintptr(fd), "ringbuf")
	if r.rc, err = r.f.SyscallConn(); err != nil {
		return nil, fmt.Errorf("ring buffer fd: %w", err)
	}
	// Fails when the poller did not take the fd (it would then block).
	if err = r.f.SetReadDeadline(time.Time{}); err != nil {
		return nil, fmt.Errorf("ring buffer fd cannot be polled: %w", err)
	}
	return r, nil
}

func (r *ring) avail() bool {
	return atomic.LoadUintptr(r.prodPos) != atomic.LoadUintptr(r.consPos)
}

// wait returns when a record is available, at deadline, or once ctx is
// done (the caller wakes it with interrupt); os.ErrClosed after Close.
// Records submitted without a wakeup wait for the deadline.
func (r *ring) wait(ctx context.Context, deadline time.Time) error {
	if err := r.f.SetReadDeadline(deadline); err != nil {
		return r.waitErr(err)
	}
	// interrupt may have run before the deadline above replaced its own.
	if ctx.Err() != nil {
		return nil
	}
	err := r.rc.Read(func(uintptr) bool { return r.avail() })
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return r.waitErr(err)
}

func (r *ring) waitErr(err error) error {
	// A file closed under a raw read says "use of closed file", not
	// os.ErrClosed.
	if r.closed.Load() || errors.Is(err, os.ErrClosed) {
		return os.ErrClosed
	}
	return fmt.Errorf("waiting for the ring buffer: %w", err)
}

// interrupt ends a wait now.
func (r *ring) interrupt() { _ = r.f.SetReadDeadline(time.Now()) }

// read hands each committed record to fn, in place (fn must not keep it),
// until the ring is empty (nil), the next record is still being written
// (errRingBusy), fn fails (its error; the record counts as read) or the
// ring is closed (os.ErrClosed).
func (r *ring) read(fn func([]byte) error) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.data == nil {
		return os.ErrClosed
	}
	cons := atomic.LoadUintptr(r.consPos)
	for {
		prod := atomic.LoadUintptr(r.prodPos)
		if cons == prod {
			return nil
		}
		off := cons & r.mask
		// The length is committed by the kernel's xchg: load it
		// atomically so that the data it covers is seen written.
		hdr := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[off])))
		if hdr&ringBusyBit != 0 {
			return errRingBusy
		}
		n := uintptr(hdr &^ (ringBusyBit | ringDiscardBit))
		next := cons + ringHdrSize + (n+7)&^7
		if next-cons > prod-cons || n > r.mask+1 {
			return fmt.Errorf("ring-buffer record of %d bytes overruns the %d bytes written", n, prod-cons)
		}
		var err error
		if hdr&ringDiscardBit == 0 {
			start := off + ringHdrSize
			err = fn(r.data[start : start+n : start+n])
		}
		cons = next
		atomic.StoreUintptr(r.consPos, cons)
		if err != nil {
			return err
		}
	}
}

func (r *ring) unmap() {
	if r.prod != nil {
		_ = unix.Munmap(r.prod)
	}
	if r.cons != nil {
		_ = unix.Munmap(r.cons)
	}
	r.prod, r.cons, r.data = nil, nil, nil
}

// Close ends a wait in progress and unmaps the ring once no read runs.
func (r *ring) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		// Returns once no wait is inside the poller any more.
		r.closeErr = r.f.Close()
		r.mu.Lock()
		r.unmap()
		r.mu.Unlock()
	})
	return r.closeErr
}
