package jvm

import (
	"os"
	"strings"
	"testing"
)

func TestParseCgroup(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	for _, c := range []struct{ in, cgroup, container string }{
		{"0::/system.slice/app.service\n", "/system.slice/app.service", ""},
		{"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e.slice/cri-containerd-" + id + ".scope\n",
			"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1f2e.slice/cri-containerd-" + id + ".scope", id},
		{"12:memory:/docker/" + id + "\n4:cpu,cpuacct:/docker/" + id + "\n1:name=systemd:/docker/" + id + "\n", "/docker/" + id, id},
		{"0::/system.slice/docker-" + id + ".scope\n", "/system.slice/docker-" + id + ".scope", id},
		{"0::/user.slice/" + id[:63] + "\n", "/user.slice/" + id[:63], ""},    // 63 digits: not an ID
		{"0::/x/" + id + "0\n", "/x/" + id + "0", ""},                         // 65 digits: not one either
		{"0::/crio-" + id + ".scope/x-1\n", "/crio-" + id + ".scope/x-1", id}, // nested below it
		{"garbage", "", ""},
		// Hybrid: the unified path is the root, a v1 controller says more.
		{"4:memory:/process_api/4c61\n1:cpu:/\n0::/\n", "/process_api/4c61", ""},
		{"4:memory:/m\n1:cpu,cpuacct:/c\n0::/\n", "/c", ""},
		{"1:cpu:/\n0::/\n", "/", ""},
	} {
		cg := parseCgroup([]byte(c.in))
		if cg != c.cgroup || ContainerID(cg) != c.container {
			t.Errorf("%q: got %q %q, want %q %q", c.in, cg, ContainerID(cg), c.cgroup, c.container)
		}
	}
}

func TestCgroupCacheSelf(t *testing.T) {
	var c CgroupCache
	cg, _ := c.Lookup(uint32(os.Getpid()))
	want, err := CgroupOf(os.Getpid())
	if err != nil || cg != want || cg == "" {
		t.Fatalf("own cgroup %q, want %q (%v)", cg, want, err)
	}
	if cg, ct := c.Lookup(0); cg != "" || ct != "" {
		t.Error("pid 0 has a cgroup")
	}
}
