package bpf

import (
	"context"
	"os"
	"runtime"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/jvm/hsmem"
)

// TestMountedFromFakeJVM checks the kernel side's read of a mounted
// virtual thread against memory this test lays out the way HotSpot does
// (a JavaThread with two OopHandles, their slots, two Thread objects) in
// its own process, on one of its own threads that sleeps again and again.
// Mounted: its waits carry the virtual thread's id. Not mounted (_vthread
// holds the carrier's own object): none. The carrier object's tid not the
// registered one (a JavaThread freed and reused): none. Unregistered: none.
func TestMountedFromFakeJVM(t *testing.T) {
	testenv.RequireRoot(t)
	for _, raw := range []bool{false, true} {
		t.Run(map[bool]string{false: "tp_btf", true: "raw_tp"}[raw], func(t *testing.T) { mountedFromFakeJVM(t, raw) })
	}
}

func mountedFromFakeJVM(t *testing.T, raw bool) {
	const carrierID, vtID = 41, 4242
	// Offsets as on JDK 25: _threadObj, then _vthread; Thread.tid at 24.
	jt := make([]uint64, 64)
	slotT, slotV := make([]uint64, 1), make([]uint64, 1)
	objT, objV := make([]int64, 8), make([]int64, 8)
	addr := func(p unsafe.Pointer) uint64 { return uint64(uintptr(p)) }
	jt[40], jt[41] = addr(unsafe.Pointer(&slotT[0])), addr(unsafe.Pointer(&slotV[0]))
	slotT[0], slotV[0] = addr(unsafe.Pointer(&objT[0])), addr(unsafe.Pointer(&objV[0]))
	objT[3], objV[3] = carrierID, vtID
	lay := hsmem.BPFLayout{ThreadObj: 40 * 8, VThread: 41 * 8, HandleIndirect: true, ThreadTID: 24}

	// Our own process is the target: the tracer must not exclude itself.
	tr, err := New(Config{Pid: uint32(os.Getpid()), SelfPid: 1, VirtualThreads: true, ForceRawTP: raw})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.SetCarriers(uint32(os.Getpid()), nil); err == nil {
		t.Error("carriers set without a layout")
	}
	if err := tr.SetVThreadLayout(uint32(os.Getpid()), hsmem.BPFLayout{ThreadObj: 8, ThreadTID: 24, HandleIndirect: true}); err == nil {
		t.Error("a layout without _vthread accepted")
	}
	if err := tr.SetVThreadLayout(uint32(os.Getpid()), lay); err != nil {
		t.Fatal(err)
	}
	var events []Event
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- tr.Run(ctx, RunOptions{Event: func(e *Event) {
			if e.Kind.Wait() {
				events = append(events, *e)
			}
		}})
	}()

	// Phases, each bounded by CLOCK_MONOTONIC reads around the change:
	// a switch-in between from and to ends a wait whose switch-out was
	// after the change (the worker changes its state itself, then sleeps).
	type phase struct {
		name     string
		from, to uint64
		want     uint64
	}
	phases := []*phase{{name: "unregistered"}, {name: "mounted", want: vtID}, {name: "unmounted"}, {name: "carrier object not the registered one"}, {name: "mounted again", want: vtID}, {name: "removed"}}
	var tid int
	workerErr := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tid = unix.Gettid()
		c := Carrier{TID: uint32(tid), JavaThread: addr(unsafe.Pointer(&jt[0])), JavaID: carrierID}
		for i, p := range phases {
			switch i {
			case 1:
				if ok, err := tr.AddCarrier(uint32(os.Getpid()), c); !ok || err != nil {
					workerErr <- err
					return
				}
			case 2:
				slotV[0] = slotT[0]
			case 3:
				slotV[0] = addr(unsafe.Pointer(&objV[0]))
				objT[3] = carrierID + 1
			case 4:
				objT[3] = carrierID
			case 5:
				if err := tr.RemoveCarrier(uint32(tid)); err != nil {
					workerErr <- err
					return
				}
			}
			p.from = MonotonicNow()
			for k := 0; k < 50; k++ {
				unix.Nanosleep(&unix.Timespec{Nsec: 500_000}, nil)
			}
			p.to = MonotonicNow()
		}
		workerErr <- nil
	}()
	if err := <-workerErr; err != nil {
		t.Fatalf("registering: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	runtime.KeepAlive(jt)
	runtime.KeepAlive(slotT)
	runtime.KeepAlive(slotV)
	runtime.KeepAlive(objT)
	runtime.KeepAlive(objV)
	for _, p := range phases {
		n, right := 0, 0
		for _, e := range events {
			if e.Tid != uint32(tid) || e.Time <= p.from || e.Time >= p.to {
				continue
			}
			n++
			switch e.VThread {
			case p.want:
				right++
			case 0:
			default:
				t.Errorf("%s: wait carries #%d, want %d", p.name, e.VThread, p.want)
			}
		}
		t.Logf("%s: %d of %d waits carry %d", p.name, right, n, p.want)
		// Each sleep is a wait; a switch the kernel did not deliver
		// loses one.
		if n < 25 || right < n*9/10 {
			t.Errorf("%s: %d of %d waits carry %d", p.name, right, n, p.want)
		}
	}
}
