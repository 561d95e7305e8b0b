package jvm

import (
	"bytes"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Scanner finds the host's JVMs, again and again (follow mode), without
// inspecting every process each time: a verdict is remembered per process
// image (PID, start time, executable), so an exec(2) (a wrapper script
// that execs java) is looked at again.
type Scanner struct {
	// Recheck is how long a process found not to be a JVM is looked at
	// again: a java launcher maps libjvm.so within milliseconds of its
	// start, but a scan may come first.
	Recheck time.Duration
	Self    int // never reported, nor its children (jcmd run by us)
	seen    map[int]*scanned
}

type scanned struct {
	start     string // field 22 of stat: identifies the process image
	exe       string
	jvm       bool
	firstSeen time.Time
	args      []string
}

// Found is a JVM found by a scan.
type Found struct {
	Pid  int
	Args []string // its command line
}

// Scan returns the JVMs running now whose command line match accepts,
// by PID.
func (s *Scanner) Scan(match func(args []string) bool) []Found {
	if s.seen == nil {
		s.seen = map[int]*scanned{}
	}
	if s.Recheck == 0 {
		s.Recheck = 5 * time.Second
	}
	if s.Self == 0 {
		s.Self = os.Getpid()
	}
	d, err := os.Open("/proc")
	if err != nil {
		return nil
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	now := time.Now()
	alive := make(map[int]bool, len(names))
	var out []Found
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil || pid == s.Self {
			continue
		}
		alive[pid] = true
		st, err := os.ReadFile(procPath(pid, "stat"))
		if err != nil {
			continue
		}
		start, ppid, ok := statStartPpid(st)
		if !ok || ppid == s.Self {
			continue
		}
		exe, _ := os.Readlink(procPath(pid, "exe"))
		e := s.seen[pid]
		if e == nil || e.start != start || e.exe != exe {
			e = &scanned{start: start, exe: exe, firstSeen: now}
			s.seen[pid] = e
			e.jvm = s.check(pid, e)
		} else if !e.jvm && now.Sub(e.firstSeen) < s.Recheck {
			e.jvm = s.check(pid, e)
		}
		if e.jvm && (match == nil || match(e.args)) {
			out = append(out, Found{Pid: pid, Args: e.args})
		}
	}
	for pid := range s.seen {
		if !alive[pid] {
			delete(s.seen, pid)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out
}

func (s *Scanner) check(pid int, e *scanned) bool {
	ok, err := IsJVM(pid)
	if err != nil || !ok || !Alive(pid) {
		return false
	}
	args, err := Cmdline(pid)
	if err != nil || len(args) == 0 || args[0] == "" {
		return false // a zombie or a kernel thread
	}
	e.args = args
	return true
}

// statStartPpid reads the parent PID (field 4) and start time (field 22)
// of a stat line; the command name before them may hold anything.
func statStartPpid(st []byte) (start string, ppid int, ok bool) {
	i := bytes.LastIndexByte(st, ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(st[i+1:]))
	// After the name: state(3) ppid(4) ... starttime(22).
	if len(f) < 20 {
		return "", 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return "", 0, false
	}
	return f[19], ppid, true
}

// MatchCmdline returns a Scan match function: pattern is a regular
// expression found anywhere in the command line (arguments joined by
// spaces), which holds the main class or jar.
func MatchCmdline(pattern string) (func([]string) bool, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, err
	}
	return func(args []string) bool { return re.MatchString(strings.Join(args, " ")) }, nil
}
