package bpf

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"

	"github.com/jschedlat/jschedlat/internal/testenv"
)

// ringWriter is a socket-filter program that, run with BPF_PROG_TEST_RUN,
// sends one record of size bytes (the words 1, 2, ... little-endian) to the
// ring buffer m, or with discard reserves one and discards it.
func ringWriter(t *testing.T, m *ebpf.Map, size int32, flags int64, discard bool) *ebpf.Program {
	t.Helper()
	var ins asm.Instructions
	for i := int16(0); i < 8; i++ { // little-endian words: low half, then 0
		ins = append(ins, asm.StoreImm(asm.RFP, -64+8*i, int64(i+1), asm.Word),
			asm.StoreImm(asm.RFP, -60+8*i, 0, asm.Word))
	}
	if discard {
		ins = append(ins,
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Imm(asm.R2, size),
			asm.Mov.Imm(asm.R3, 0),
			asm.FnRingbufReserve.Call(),
			asm.JEq.Imm(asm.R0, 0, "out"),
			asm.Mov.Reg(asm.R1, asm.R0),
			asm.Mov.Imm(asm.R2, 0),
			asm.FnRingbufDiscard.Call(),
			asm.Mov.Imm(asm.R0, 0).WithSymbol("out"),
			asm.Return(),
		)
	} else {
		ins = append(ins,
			asm.LoadMapPtr(asm.R1, m.FD()),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, -64),
			asm.Mov.Imm(asm.R3, size),
			asm.LoadImm(asm.R4, flags, asm.DWord),
			asm.FnRingbufOutput.Call(),
			asm.Return(),
		)
	}
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.SocketFilter, License: "GPL", Instructions: ins})
	if err != nil {
		t.Fatalf("loading the ring writer: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func runWriter(t *testing.T, p *ebpf.Program) {
	t.Helper()
	ret, err := p.Run(&ebpf.RunOptions{Data: make([]byte, 64)})
	if err != nil || ret != 0 {
		t.Fatalf("running the ring writer: ret %d, %v", int32(ret), err)
	}
}

func wantRecord(size int) []byte {
	b := make([]byte, 64)
	for i := 0; i < 8; i++ {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(i+1))
	}
	return b[:size]
}

func newTestRing(t *testing.T, size uint32) (*ebpf.Map, *ring) {
	t.Helper()
	testenv.RequireRoot(t)
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.RingBuf, MaxEntries: size})
	if err != nil {
		t.Fatalf("creating a ring buffer: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	r, err := openRing(m)
	if err != nil {
		t.Fatalf("openRing: %v", err)
	}
	t.Cleanup(func() { r.Close() })
	return m, r
}

// readAll returns copies of the records read (read hands them in place).
func readAll(t *testing.T, r *ring) [][]byte {
	t.Helper()
	var got [][]byte
	if err := r.read(func(b []byte) error {
		got = append(got, bytes.Clone(b))
		return nil
	}); err != nil {
		t.Fatalf("read: %v", err)
	}
	return got
}

// Records of every length up to 64 bytes (padding to 8), a record discarded
// between them, and enough of them to wrap around a one-page ring many times.
func TestRingRecords(t *testing.T) {
	m, r := newTestRing(t, 4096)
	writers := map[int32]*ebpf.Program{}
	for size := int32(1); size <= 64; size++ {
		writers[size] = ringWriter(t, m, size, 0, false)
	}
	discard := ringWriter(t, m, 40, 0, true)
	total := 0
	for round := 0; round < 40; round++ {
		var want [][]byte
		for i := 0; i < 20; i++ {
			size := 1 + (round*20+i)%64
			runWriter(t, writers[int32(size)])
			want = append(want, wantRecord(size))
			if i == 7 {
				runWriter(t, discard)
			}
		}
		got := readAll(t, r)
		if len(got) != len(want) {
			t.Fatalf("round %d: %d records read, want %d", round, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("round %d, record %d: got %x, want %x", round, i, got[i], want[i])
			}
		}
		total += len(got)
	}
	// 800 records of 8-72 bytes with their headers: over 15 times round.
	if r.avail() || total != 800 {
		t.Fatalf("%d records read, ring not empty: %v", total, r.avail())
	}
	// An error from fn stops the read after that record.
	runWriter(t, writers[8])
	runWriter(t, writers[16])
	stop := errors.New("stop")
	n := 0
	if err := r.read(func([]byte) error { n++; return stop }); err != stop || n != 1 {
		t.Fatalf("read with a failing fn: %v after %d records, want stop after 1", err, n)
	}
	if got := readAll(t, r); len(got) != 1 || len(got[0]) != 16 {
		t.Fatalf("after the failed record: %d records, want the one of 16 bytes", len(got))
	}
}

// wait returns at its deadline with nothing written, early on a wakeup, at
// once when interrupted, and os.ErrClosed once the ring is closed.
func TestRingWait(t *testing.T) {
	m, r := newTestRing(t, 1<<16)
	ctx := context.Background()

	t0 := time.Now()
	if err := r.wait(ctx, t0.Add(50*time.Millisecond)); err != nil {
		t.Fatalf("wait until a deadline: %v", err)
	}
	if d := time.Since(t0); d < 50*time.Millisecond {
		t.Fatalf("wait returned after %v, before its 50ms deadline", d)
	}

	// Without BPF_RB_NO_WAKEUP the kernel wakes a reader that has caught up.
	wake := ringWriter(t, m, 24, 0, false)
	wrote := make(chan error, 1)
	go func() {
		time.Sleep(20 * time.Millisecond)
		_, err := wake.Run(&ebpf.RunOptions{Data: make([]byte, 64)})
		wrote <- err
	}()
	t0 = time.Now()
	if err := r.wait(ctx, t0.Add(time.Minute)); err != nil {
		t.Fatalf("wait for a wakeup: %v", err)
	}
	if d := time.Since(t0); d > 30*time.Second || !r.avail() {
		t.Fatalf("woken after %v with data %v", d, r.avail())
	}
	if err := <-wrote; err != nil {
		t.Fatalf("running the ring writer: %v", err)
	}
	readAll(t, r)

	// Data already there: no waiting at all.
	runWriter(t, ringWriter(t, m, 8, 1 /* BPF_RB_NO_WAKEUP */, false))
	t0 = time.Now()
	if err := r.wait(ctx, t0.Add(time.Minute)); err != nil || time.Since(t0) > 30*time.Second {
		t.Fatalf("wait with a record pending: %v after %v", err, time.Since(t0))
	}
	readAll(t, r)

	cctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(cctx, r.interrupt)
	defer stop()
	go func() {
		time.Sleep(20 * time.Millisecond)
		cancel()
	}()
	if err := r.wait(cctx, time.Now().Add(time.Minute)); err != nil || cctx.Err() == nil {
		t.Fatalf("interrupted wait: %v, context %v", err, cctx.Err())
	}
	// Cancelled before the wait: it does not block.
	if err := r.wait(cctx, time.Now().Add(time.Minute)); err != nil {
		t.Fatalf("wait after cancellation: %v", err)
	}

	done := make(chan error, 1)
	go func() { done <- r.wait(ctx, time.Now().Add(time.Minute)) }()
	time.Sleep(20 * time.Millisecond)
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("wait across Close: %v, want os.ErrClosed", err)
	}
	if err := r.read(func([]byte) error { return nil }); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("read after Close: %v, want os.ErrClosed", err)
	}
}
