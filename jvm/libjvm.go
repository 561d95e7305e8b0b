package jvm

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"
)

// LibJVM returns a path, usable from this process, to the libjvm.so that
// process pid has mapped (for its USDT probes). It prefers
// /proc/PID/map_files/RANGE, which is the mapped file itself even when the
// JVM lives in another mount namespace or its JDK was replaced on disk
// since; it falls back to the path under /proc/PID/root.
func LibJVM(pid int) (string, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return "", fmt.Errorf("reading the mappings of process %d: %w", pid, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		// address perms offset dev inode path
		fields := bytes.Fields(line)
		if len(fields) < 6 {
			continue
		}
		path := string(bytes.Join(fields[5:], []byte(" ")))
		deleted := strings.HasSuffix(path, " (deleted)")
		path = strings.TrimSuffix(path, " (deleted)")
		if !strings.HasSuffix(path, "/libjvm.so") {
			continue
		}
		mf := fmt.Sprintf("/proc/%d/map_files/%s", pid, fields[0])
		if _, err := os.Stat(mf); err == nil {
			return mf, nil
		}
		if deleted {
			return "", fmt.Errorf("process %d maps %s, since deleted, and /proc/%d/map_files is not readable", pid, path, pid)
		}
		return fmt.Sprintf("/proc/%d/root%s", pid, path), nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("reading the mappings of process %d: %w", pid, err)
	}
	return "", fmt.Errorf("process %d has no libjvm.so mapped: not a HotSpot JVM", pid)
}
