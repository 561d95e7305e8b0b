// Package sighup catches SIGHUP as early as a Go program can: in a package
// init that needs nothing but os/signal, so it runs long before main's
// dependencies (BPF, metrics, reports) are initialized. Until then
// SIGHUP's default action would end the process; logrotate and init
// systems send it at any moment.
package sighup

import (
	"os"
	"os/signal"
	"syscall"
)

// C receives every SIGHUP from the moment this package is initialized;
// never stopped, so SIGHUP is caught until the process exits.
var C = make(chan os.Signal, 1)

func init() { signal.Notify(C, syscall.SIGHUP) }
