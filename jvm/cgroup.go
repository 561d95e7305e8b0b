package jvm

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// CgroupOf reads process pid's cgroup: the unified (v2) path, else (on a
// hybrid or v1 host, where the unified path is just "/") the v1 cpu
// controller's, else the first other path below the root.
func CgroupOf(pid int) (string, error) {
	b, err := os.ReadFile(procPath(pid, "cgroup"))
	if err != nil {
		return "", err
	}
	return parseCgroup(b), nil
}

func parseCgroup(b []byte) string {
	var unified, cpu, other, root string
	for _, l := range bytes.Split(b, []byte("\n")) {
		// hierarchy-ID:controllers:path
		f := strings.SplitN(string(l), ":", 3)
		if len(f) != 3 || f[2] == "" {
			continue
		}
		if f[2] == "/" {
			root = "/"
			continue
		}
		switch {
		case f[0] == "0" && f[1] == "":
			unified = f[2]
		case slices.Contains(strings.Split(f[1], ","), "cpu"):
			cpu = f[2]
		case other == "":
			other = f[2]
		}
	}
	for _, p := range []string{unified, cpu, other} {
		if p != "" {
			return p
		}
	}
	return root
}

// ContainerID finds a container runtime's ID in a cgroup path: the last
// run of 64 hex digits in it (docker-<id>.scope, cri-containerd-<id>.scope,
// crio-<id>.scope, libpod-<id>.scope, /docker/<id>, kubepods .../<id>).
func ContainerID(cgroup string) string {
	for end := len(cgroup); end >= 64; {
		// Scan back for a hex run.
		i := end - 1
		for i >= 0 && isHex(cgroup[i]) {
			i--
		}
		if run := end - (i + 1); run == 64 {
			return cgroup[i+1 : end]
		}
		end = i
		for end > 0 && !isHex(cgroup[end-1]) {
			end--
		}
	}
	return ""
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f'
}

// CgroupCache remembers processes' cgroups for a while: records are
// written at up to hundreds of thousands per second, a process rarely
// moves, and a PID reused meanwhile is read again once its entry expires.
type CgroupCache struct {
	TTL time.Duration // 0: 10 s
	mu  sync.Mutex
	m   map[uint32]cgroupEntry
}

type cgroupEntry struct {
	cgroup, container string
	at                time.Time
}

// Lookup returns pid's cgroup and container ID ("" when unknown).
func (c *CgroupCache) Lookup(pid uint32) (string, string) {
	if pid == 0 {
		return "", ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[uint32]cgroupEntry{}
	}
	ttl := c.TTL
	if ttl == 0 {
		ttl = 10 * time.Second
	}
	now := time.Now()
	if e, ok := c.m[pid]; ok && now.Sub(e.at) < ttl {
		return e.cgroup, e.container
	}
	if len(c.m) >= 8192 {
		clear(c.m) // bounded: --all sees every process of the host
	}
	cg, _ := CgroupOf(int(pid))
	e := cgroupEntry{cgroup: cg, container: ContainerID(cg), at: now}
	c.m[pid] = e
	return e.cgroup, e.container
}
