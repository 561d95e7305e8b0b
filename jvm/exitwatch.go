package jvm

import (
	"golang.org/x/sys/unix"
)

// ExitWatch tells when a process has ended. A pidfd (Linux 5.3+) becomes
// readable when the whole process is gone: checking it is one poll(2),
// where reading /proc/PID/stat walks every thread of a JVM in the kernel
// (a fifth of the tracer's CPU when it was checked after every drain).
type ExitWatch struct {
	pid int
	fd  int // -1: no pidfd, /proc is read instead
}

// WatchExit starts watching pid.
func WatchExit(pid int) *ExitWatch {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		fd = -1
	}
	return &ExitWatch{pid: pid, fd: fd}
}

// Exited tells whether the process has ended (or is a zombie).
func (w *ExitWatch) Exited() bool {
	if w.fd < 0 {
		return !Alive(w.pid)
	}
	fds := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
	n, err := unix.Poll(fds, 0)
	if err != nil {
		return !Alive(w.pid)
	}
	return n > 0
}

// Close releases the pidfd.
func (w *ExitWatch) Close() {
	if w.fd >= 0 {
		unix.Close(w.fd)
		w.fd = -1
	}
}
