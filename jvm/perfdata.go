package jvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// HotSpot publishes its performance counters (the ones `jcmd PerfCounter.print`
// and jstat show) in a memory-mapped file, /tmp/hsperfdata_<user>/<pid>, unless
// started with -XX:-UsePerfData. Reading it needs no attach and costs the
// JVM nothing. jschedlat reads two counters from it: how many safepoints the
// JVM took and how long they kept it stopped, to know what each thread dump
// cost the application (the dump's own wall time also counts the socket and
// our side).

// Layout of the file (HotSpot perfMemory.hpp): a PerfDataPrologue, then
// PerfDataEntry records.
const (
	perfMagic        = 0xcafec0c0 // stored big-endian whatever the byte order
	perfPrologueSize = 32
	perfEntryHdrSize = 20
	perfMaxFile      = 64 << 20 // far above any real file (32 KiB by default)
)

// PerfCounters are the named 64-bit scalar counters of an hsperfdata file,
// and its strings (byte vectors, such as the JVM's system properties).
type PerfCounters struct {
	order   binary.ByteOrder
	offsets map[string]int64 // counter name -> file offset of its value
	strings map[string]string
}

// ParsePerfData reads the layout of an hsperfdata file. It keeps only 64-bit
// scalars (type 'J'), where all time and count counters live.
func ParsePerfData(b []byte) (*PerfCounters, error) {
	if len(b) < perfPrologueSize {
		return nil, errors.New("hsperfdata: file too short")
	}
	if binary.BigEndian.Uint32(b[0:4]) != perfMagic {
		return nil, errors.New("hsperfdata: bad magic")
	}
	var order binary.ByteOrder
	switch b[4] {
	case 0:
		order = binary.BigEndian
	case 1:
		order = binary.LittleEndian
	default:
		return nil, fmt.Errorf("hsperfdata: unknown byte order %d", b[4])
	}
	if b[5] != 2 {
		return nil, fmt.Errorf("hsperfdata: unsupported version %d.%d", b[5], b[6])
	}
	used := int64(order.Uint32(b[8:12]))
	off := int64(order.Uint32(b[24:28]))
	n := int64(order.Uint32(b[28:32]))
	end := min(int64(len(b)), used)
	if used <= 0 {
		end = int64(len(b))
	}
	c := &PerfCounters{order: order, offsets: map[string]int64{}, strings: map[string]string{}}
	for i := int64(0); i < n; i++ {
		if off < perfPrologueSize || off+perfEntryHdrSize > end {
			return nil, fmt.Errorf("hsperfdata: entry %d out of bounds", i)
		}
		e := b[off:]
		length := int64(order.Uint32(e[0:4]))
		nameOff := int64(order.Uint32(e[4:8]))
		vecLen := order.Uint32(e[8:12])
		typ := e[12]
		dataOff := int64(order.Uint32(e[16:20]))
		if length < perfEntryHdrSize || off+length > end || nameOff >= length || dataOff > length {
			return nil, fmt.Errorf("hsperfdata: entry %d malformed", i)
		}
		name := e[nameOff:length]
		if j := bytes.IndexByte(name, 0); j >= 0 {
			name = name[:j]
		}
		switch {
		case typ == 'J' && vecLen == 0 && dataOff+8 <= length:
			c.offsets[string(name)] = off + dataOff
		case typ == 'B' && vecLen > 0 && dataOff+int64(vecLen) <= length:
			v := e[dataOff : dataOff+int64(vecLen)]
			if j := bytes.IndexByte(v, 0); j >= 0 {
				v = v[:j]
			}
			c.strings[string(name)] = string(v)
		}
		off += length
	}
	if len(c.offsets) == 0 {
		return nil, errors.New("hsperfdata: no counters")
	}
	return c, nil
}

// Value reads counter name from b (the file's current contents).
func (c *PerfCounters) Value(b []byte, name string) (int64, bool) {
	off, ok := c.offsets[name]
	if !ok || off+8 > int64(len(b)) {
		return 0, false
	}
	return int64(c.order.Uint64(b[off : off+8])), true
}

// String returns the string counter name (as of when the file was parsed).
func (c *PerfCounters) String(name string) (string, bool) {
	v, ok := c.strings[name]
	return v, ok
}

// Len returns how many counters were found.
func (c *PerfCounters) Len() int { return len(c.offsets) }

// SafepointMeter reads a live JVM's safepoint counters.
type SafepointMeter struct {
	f        *os.File
	c        *PerfCounters
	freq     int64 // ticks per second of the time counters
	timeOff  int64
	syncOff  int64 // -1: time already includes the time to reach safepoints
	countOff int64
	buf      [8]byte
	Path     string // the hsperfdata file, as seen from the host
}

// Safepoints is a reading of a SafepointMeter.
type Safepoints struct {
	Count   int64         // safepoints since the JVM started
	Stopped time.Duration // total time spent in them
}

// OpenSafepointMeter finds the hsperfdata file of pid (in the JVM's own /tmp,
// which may be another mount namespace, under the JVM's own PID) and checks
// that it holds the safepoint counters. Files are opened without following
// links and must be regular files owned by the JVM's user: /tmp is shared.
func OpenSafepointMeter(pid int) (*SafepointMeter, error) {
	st, err := readStatus(pid)
	if err != nil {
		return nil, err
	}
	nspid := pid
	if v, ok := statusLastField(st, "NSpid:"); ok {
		nspid = v
	}
	uid, ok := statusField(st, "Uid:", 1)
	if !ok {
		return nil, fmt.Errorf("pid %d: no Uid in status", pid)
	}
	pattern := filepath.Join(procPath(pid, "root"), "tmp", "hsperfdata_*", strconv.Itoa(nspid))
	paths, _ := filepath.Glob(pattern)
	var lastErr error = fmt.Errorf("no hsperfdata file for pid %d (JVM started with -XX:-UsePerfData?)", pid)
	for _, p := range paths {
		m, err := openMeter(p, uint32(uid))
		if err == nil {
			return m, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func openMeter(path string, uid uint32) (*SafepointMeter, error) {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	f := os.NewFile(uintptr(fd), path)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Uid != uid || st.Size < perfPrologueSize || st.Size > perfMaxFile {
		f.Close()
		return nil, fmt.Errorf("%s: not an hsperfdata file of the JVM's user", path)
	}
	b := make([]byte, st.Size)
	if _, err := io.ReadFull(f, b); err != nil {
		f.Close()
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	c, err := ParsePerfData(b)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	m := &SafepointMeter{f: f, c: c, Path: path}
	var ok1, ok2, ok3 bool
	m.freq, ok1 = c.Value(b, "sun.os.hrt.frequency")
	m.timeOff, ok2 = c.offsets["sun.rt.safepointTime"]
	m.countOff, ok3 = c.offsets["sun.rt.safepoints"]
	if !ok1 || !ok2 || !ok3 || m.freq <= 0 {
		f.Close()
		return nil, fmt.Errorf("%s: no safepoint counters", path)
	}
	// Since the safepoint tracing rework of JDK 13, sun.rt.safepointTime
	// counts from all threads stopped to the end (checked against
	// -Xlog:safepoint on JDK 17 and 25) and sun.rt.safepointSyncTime the
	// time to stop them: the JVM was stopped for their sum. Before, both
	// were read off one timer started at the safepoint's begin, so the
	// time alone is the whole.
	m.syncOff = -1
	if legacySafepointTimer(c) {
		return m, nil
	}
	if off, ok := c.offsets["sun.rt.safepointSyncTime"]; ok {
		m.syncOff = off
	}
	return m, nil
}

// legacySafepointTimer tells a JVM older than 13.
func legacySafepointTimer(c *PerfCounters) bool {
	v, ok := c.Feature()
	return ok && v < 13
}

// Feature returns the JVM's feature release from its specification
// version: 8 for "1.8", 17 for "17".
func (c *PerfCounters) Feature() (int, bool) {
	v, ok := c.String("java.property.java.vm.specification.version")
	if !ok {
		return 0, false
	}
	v = strings.TrimPrefix(v, "1.")
	n, err := strconv.Atoi(v)
	return n, err == nil
}

func (m *SafepointMeter) read(off int64) (int64, error) {
	if _, err := m.f.ReadAt(m.buf[:], off); err != nil {
		return 0, err
	}
	return int64(m.c.order.Uint64(m.buf[:])), nil
}

// Read returns the counters now: two 8-byte reads of the shared file.
func (m *SafepointMeter) Read() (Safepoints, error) {
	n, err := m.read(m.countOff)
	if err != nil {
		return Safepoints{}, err
	}
	t, err := m.read(m.timeOff)
	if err != nil {
		return Safepoints{}, err
	}
	if m.syncOff >= 0 {
		sync, err := m.read(m.syncOff)
		if err != nil {
			return Safepoints{}, err
		}
		t += sync
	}
	// ticks -> ns without overflow for any realistic total
	sec, rem := t/m.freq, t%m.freq
	return Safepoints{Count: n, Stopped: time.Duration(sec)*time.Second + time.Duration(rem*int64(time.Second)/m.freq)}, nil
}

// Close releases the file.
func (m *SafepointMeter) Close() error { return m.f.Close() }

// Feature is the JVM's feature release (see PerfCounters.Feature); false
// for a nil meter.
func (m *SafepointMeter) Feature() (int, bool) {
	if m == nil {
		return 0, false
	}
	return m.c.Feature()
}
