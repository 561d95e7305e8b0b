package bpf

import (
	"runtime"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// asyncSignals are the signals another process or the Go runtime may send
// while programs load. The kernel stops verifying a program when a signal
// is pending on the loading thread and cilium/ebpf starts it again from
// the beginning, so a signal arriving faster than the verifier finishes
// (a SIGHUP every millisecond: SIGHUP goes to the main thread, which may
// be the one loading) kept the load from ever ending.
var asyncSignals = []unix.Signal{
	unix.SIGHUP, unix.SIGINT, unix.SIGTERM, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2,
	unix.SIGPIPE, unix.SIGALRM, unix.SIGCHLD, unix.SIGWINCH, unix.SIGURG, unix.SIGPROF,
	unix.SIGIO, unix.SIGXCPU, unix.SIGXFSZ, unix.SIGVTALRM, unix.SIGTSTP, unix.SIGTTIN, unix.SIGTTOU,
}

// newCollection loads spec with the asynchronous signals blocked on the
// loading thread: the kernel hands a signal sent to the process to another
// thread, and one sent to this thread waits until the load is done.
func newCollection(spec *ebpf.CollectionSpec, opts ebpf.CollectionOptions) (*ebpf.Collection, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var set, old unix.Sigset_t
	w := uint(8 * unsafe.Sizeof(set.Val[0])) // 64 or 32 bits a word
	for _, s := range asyncSignals {
		n := uint(s - 1)
		set.Val[n/w] |= 1 << (n % w)
	}
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, &set, &old); err != nil {
		return ebpf.NewCollectionWithOptions(spec, opts)
	}
	defer unix.PthreadSigmask(unix.SIG_SETMASK, &old, nil)
	return ebpf.NewCollectionWithOptions(spec, opts)
}
