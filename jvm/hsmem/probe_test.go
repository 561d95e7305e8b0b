package hsmem

import (
	"bufio"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
)

// classes is where TestMain compiled testdata/HsProbe.java ("" without
// javac).
var classes string

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if javac, err := exec.LookPath("javac"); err == nil && !testing.Short() {
			dir, err := os.MkdirTemp("", "hsmem-probe")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			// Java 8 class files: every JDK the tests find runs them.
			out, err := exec.Command(javac, "--release", "8", "-encoding", "UTF-8", "-d", dir, "testdata/HsProbe.java").CombinedOutput()
			if err != nil {
				fmt.Fprintf(os.Stderr, "javac: %v\n%s", err, out)
				return 1
			}
			classes = dir
		}
		return m.Run()
	}()
	os.Exit(code)
}

// jdk is a java launcher the tests run.
type jdk struct {
	name, java string
	major      int
}

// testJDKsEnv lists more java launchers to test (colon-separated paths to
// bin/java), besides the ones found on their own: the java on PATH, and
// /usr/lib/jvm/*/bin/java and /opt/jdk*/bin/java (where
// scripts/fetch-test-jdks.sh puts JDK 8, 11, 21 and 25).
const testJDKsEnv = "JSCHEDLAT_TEST_JDKS"

var found struct {
	once sync.Once
	jdks []jdk
	errs []string
}

// jdks are the JVMs present: the java on PATH and those in testJDKsEnv,
// then those found under /usr/lib/jvm and /opt for each feature release
// not listed yet; each once (by its real path). A launcher that is there
// but does not tell its version is an error, not a skip.
func jdks(t testing.TB) []jdk {
	t.Helper()
	testenv.RequireJava(t)
	if classes == "" {
		t.Skip("SKIPPED: HsProbe was not compiled")
	}
	found.once.Do(func() { found.jdks, found.errs = findJDKs() })
	for _, e := range found.errs {
		t.Error(e)
	}
	var names []string
	for _, j := range found.jdks {
		names = append(names, fmt.Sprintf("%s (%d)", j.name, j.major))
	}
	t.Logf("JDKs: %s", strings.Join(names, ", "))
	return found.jdks
}

// findJDKs finds the java launchers and asks each its version.
func findJDKs() ([]jdk, []string) {
	type cand struct {
		name, java string
		explicit   bool // on PATH or in testJDKsEnv: kept even if its release is there already
		major      int
		err        error
	}
	var cands []*cand
	seen := map[string]bool{}
	add := func(name, java string, explicit bool) {
		real, err := filepath.EvalSymlinks(java)
		if err != nil {
			real = java
		}
		if !seen[real] {
			seen[real] = true
			cands = append(cands, &cand{name: name, java: java, explicit: explicit})
		}
	}
	if p, err := exec.LookPath("java"); err == nil {
		add("path", p, true)
	}
	for _, j := range filepath.SplitList(os.Getenv(testJDKsEnv)) {
		if j != "" {
			add(filepath.Base(filepath.Dir(filepath.Dir(j))), j, true)
		}
	}
	for _, pat := range []string{"/usr/lib/jvm/*/bin/java", "/opt/jdk*/bin/java"} {
		m, _ := filepath.Glob(pat)
		for _, j := range m {
			add(filepath.Base(filepath.Dir(filepath.Dir(j))), j, false)
		}
	}
	var wg sync.WaitGroup
	for _, c := range cands {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.major, c.err = javaMajor(c.java)
		}()
	}
	wg.Wait()
	var out []jdk
	var bad []string
	releases := map[int]bool{}
	for _, c := range cands {
		switch {
		case c.err != nil:
			bad = append(bad, fmt.Sprintf("%s: %v", c.java, c.err))
		case c.explicit || !releases[c.major]:
			releases[c.major] = true
			out = append(out, jdk{name: c.name, java: c.java, major: c.major})
		}
	}
	return out, bad
}

// javaMajor is the feature release java -version reports ("1.8.0_x" is 8).
func javaMajor(java string) (int, error) {
	out, err := exec.Command(java, "-version").CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("java -version: %v: %s", err, out)
	}
	m := versionRE.FindStringSubmatch(string(out))
	if m == nil {
		return 0, fmt.Errorf("no version in %q", out)
	}
	f := strings.Split(m[1], ".")
	if f[0] == "1" && len(f) > 1 {
		f = f[1:]
	}
	return strconv.Atoi(f[0])
}

var versionRE = regexp.MustCompile(`version "([0-9][0-9.]*)`)

// probe is a running HsProbe and what its threads said about themselves.
type probe struct {
	pid int
	mu  sync.Mutex
	tid map[int]string // T: TID -> name
	seq map[int64]int  // C: churn thread number -> TID
	vt  map[int]int64  // V: carrier TID -> virtual thread id
	gcs int            // G: collections so far (--garbage)
	out []string       // unparsed lines
}

func startProbe(t testing.TB, java string, jvmArgs []string, args ...string) *probe {
	t.Helper()
	cmdArgs := append(append(append([]string{}, jvmArgs...), "-cp", classes, "HsProbe"), args...)
	cmd := exec.Command(java, cmdArgs...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", java, err)
	}
	p := &probe{pid: cmd.Process.Pid, tid: map[int]string{}, seq: map[int64]int{}, vt: map[int]int64{}}
	ready, exited := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.line(sc.Text(), ready)
		}
	}()
	t.Cleanup(func() {
		stdin.Close() // the probe exits when stdin closes
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	select {
	case <-ready:
	case <-exited:
		t.Fatalf("HsProbe %v exited before it was ready; output: %q", args, p.lines())
	case <-time.After(60 * time.Second):
		t.Fatalf("HsProbe %v did not get ready; output: %q", args, p.lines())
	}
	return p
}

func (p *probe) line(l string, ready chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := strings.Fields(l)
	switch {
	case l == "READY":
		close(ready)
	case len(f) == 3 && f[0] == "T":
		name, err1 := hex.DecodeString(f[1])
		tid, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil {
			p.tid[tid] = string(name)
			return
		}
	case len(f) == 3 && f[0] == "C":
		n, err1 := strconv.ParseInt(f[1], 10, 64)
		tid, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil {
			p.seq[n] = tid
			return
		}
	case len(f) == 2 && f[0] == "G":
		if n, err := strconv.Atoi(f[1]); err == nil {
			p.gcs = n
			return
		}
	case len(f) == 3 && f[0] == "V":
		id, err1 := strconv.ParseInt(f[1], 10, 64)
		tid, err2 := strconv.Atoi(f[2])
		if err1 == nil && err2 == nil {
			p.vt[tid] = id
			return
		}
	}
	p.out = append(p.out, l)
}

func (p *probe) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string{}, p.out...)
}

func (p *probe) selfReported() map[int]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[int]string, len(p.tid))
	for k, v := range p.tid {
		m[k] = v
	}
	return m
}

// openVM opens the probe's JVM, waiting while it is still initialising.
func openVM(t testing.TB, pid int) *VM {
	t.Helper()
	var vm *VM
	var err error
	testenv.WaitFor(t, 30*time.Second, "the JVM's serviceability tables", func() bool {
		vm, err = Open(pid)
		return !errors.Is(err, ErrNotReady)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	return vm
}

// checkAgainstSelf requires every thread that reported itself to be in
// the scan under its TID with the name it reported, and no TID twice.
func checkAgainstSelf(t *testing.T, s Scan, self map[int]string) {
	t.Helper()
	byTID := map[int]Thread{}
	ids := map[int64]bool{}
	for _, th := range s.Threads {
		if _, dup := byTID[th.TID]; dup {
			t.Errorf("TID %d twice in the scan", th.TID)
		}
		if ids[th.JavaID] {
			t.Errorf("Java id %d twice in the scan", th.JavaID)
		}
		byTID[th.TID], ids[th.JavaID] = th, true
	}
	right := 0
	for tid, name := range self {
		th, ok := byTID[tid]
		switch {
		case !ok:
			t.Errorf("TID %d (%q) missing from the scan; unvalidated: %+v", tid, name, s.Unvalidated)
		case th.Name != name:
			t.Errorf("TID %d: name %q from memory, %q self-reported", tid, th.Name, name)
		default:
			right++
		}
	}
	t.Logf("%d names right of %d self-reported; %d threads read, %d unvalidated, %d retries, %d syscalls",
		right, len(self), len(s.Threads), len(s.Unvalidated), s.Retries, s.Syscalls)
}

func tempFIFO(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "pin")
	if err := mkfifo(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// collections is the JVM's collection count as it last said (--garbage).
func (p *probe) collections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.gcs
}
