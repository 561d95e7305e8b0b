package bpf

import (
	"os"
	"os/signal"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"golang.org/x/sys/unix"
)

// TestLoadUnderSignals: signals sent to the loading thread faster than the
// verifier finishes (as a SIGHUP every millisecond comes to the main thread)
// must not keep the programs from loading. Each used to restart the
// verification: the load never ended while they came.
func TestLoadUnderSignals(t *testing.T) {
	testenv.RequireRoot(t)
	c := make(chan os.Signal, 1)
	signal.Notify(c, syscall.SIGHUP) // caught, as jschedlat does
	defer signal.Stop(c)
	go func() {
		for range c {
		}
	}()
	runtime.LockOSThread() // New loads on this thread
	defer runtime.UnlockOSThread()
	pid, tid := os.Getpid(), unix.Gettid()
	done := make(chan struct{})
	sent := make(chan int, 1)
	const limit = 2 * time.Minute // a livelock's bound, not a speed target
	go func() {
		n := 0
		for end := time.Now().Add(limit); time.Now().Before(end); n++ {
			select {
			case <-done:
				sent <- n
				return
			default:
			}
			_ = unix.Tgkill(pid, tid, unix.SIGHUP)
			time.Sleep(200 * time.Microsecond)
		}
		sent <- -n
	}()
	tr, err := New(Config{Set: true})
	close(done)
	n := <-sent
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if n < 0 {
		t.Fatalf("the programs loaded only once the SIGHUPs stopped (%d sent in %v to the loading thread)", -n, limit)
	}
	t.Logf("loaded while %d SIGHUPs were sent to the loading thread", n)
}
