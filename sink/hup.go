package sink

import (
	"os"
	"sync/atomic"
)

// hup is the file a SIGHUP reopens (nil: none, SIGHUP is ignored).
var hup atomic.Pointer[File]

// ReopenOnHUP passes every signal on c to the file of the moment (OnHUP).
func ReopenOnHUP(c <-chan os.Signal) {
	for range c {
		if s := hup.Load(); s != nil {
			s.Reopen()
		}
	}
}

// OnHUP makes s the file a SIGHUP reopens, until the function returned is
// called.
func (s *File) OnHUP() (stop func()) {
	hup.Store(s)
	return func() { hup.CompareAndSwap(s, nil) }
}
