package bpf

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/internal/testenv"
	"github.com/jschedlat/jschedlat/jvm/hsmem"
	"github.com/jschedlat/jschedlat/sched"
)

const temurin25 = "/usr/lib/jvm/temurin-25-jdk-amd64/bin/java"

// vcarrier is a running testdata/VCarrier.java.
type vcarrier struct {
	cmd   *exec.Cmd
	stdin interface{ Write([]byte) (int, error) }
	out   *bufio.Scanner
	truth string
}

func startVCarrier(t testing.TB, java string, jvmArgs []string, args ...string) *vcarrier {
	t.Helper()
	javac := filepath.Join(filepath.Dir(java), "javac")
	dir := t.TempDir()
	if out, err := exec.Command(javac, "-d", dir, "testdata/VCarrier.java").CombinedOutput(); err != nil {
		t.Fatalf("javac: %v\n%s", err, out)
	}
	v := &vcarrier{truth: filepath.Join(dir, "truth.txt")}
	all := append(append(append([]string{}, jvmArgs...), "-cp", dir, "VCarrier", "--truth", v.truth), args...)
	v.cmd = exec.Command(java, all...)
	v.cmd.Stderr = os.Stderr
	v.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := v.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := v.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := v.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	v.stdin, v.out = stdin, bufio.NewScanner(stdout)
	t.Cleanup(func() {
		stdin.Close()
		v.cmd.Process.Kill()
		v.cmd.Wait()
	})
	v.expect(t, "ready")
	return v
}

// expect reads the workload's output up to the line want.
func (v *vcarrier) expect(t testing.TB, want string) {
	t.Helper()
	for v.out.Scan() {
		if strings.TrimSpace(v.out.Text()) == want {
			return
		}
	}
	t.Fatalf("the workload ended before printing %q: %v", want, v.out.Err())
}

type span struct {
	from, to int64
	vt       uint64
}

// truthOf reads the workload's spans per carrier TID (sorted by start) and
// its platform threads' TIDs.
func (v *vcarrier) truthOf(t *testing.T) (map[uint32][]span, map[uint32]bool) {
	t.Helper()
	b, err := os.ReadFile(v.truth)
	if err != nil {
		t.Fatal(err)
	}
	spans := map[uint32][]span{}
	platform := map[uint32]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 5 && f[0] == "span":
			from, _ := strconv.ParseInt(f[1], 10, 64)
			to, _ := strconv.ParseInt(f[2], 10, 64)
			vt, _ := strconv.ParseUint(f[3], 10, 64)
			tid, _ := strconv.ParseUint(f[4], 10, 32)
			spans[uint32(tid)] = append(spans[uint32(tid)], span{from, to, vt})
		case len(f) == 2 && f[0] == "platform":
			tid, _ := strconv.ParseUint(f[1], 10, 32)
			platform[uint32(tid)] = true
		}
	}
	for _, l := range spans {
		sort.Slice(l, func(i, j int) bool { return l[i].from < l[j].from })
	}
	return spans, platform
}

// within returns the span of list that holds [from, to] with margin to
// spare on both sides, if any.
func within(list []span, from, to, margin int64) (span, bool) {
	i := sort.Search(len(list), func(i int) bool { return list[i].from > from-margin }) - 1
	if i >= 0 && list[i].from+margin <= from && to+margin <= list[i].to {
		return list[i], true
	}
	return span{}, false
}

// vtRecording traces pid with virtual threads on, and keeps its carriers
// registered from hsmem scans: again whenever a thread is born.
type vtRecording struct {
	tr     *Tracer
	cancel context.CancelFunc
	done   chan error
	events []Event

	mu         sync.Mutex
	registered map[uint32]uint64 // TID -> CLOCK_MONOTONIC ns of its first registration
	names      map[uint32]string
	collisions int
	scanErr    error
	stopScans  chan struct{}
	scansDone  chan struct{}
}

func recordVThreads(t testing.TB, pid uint32, vm *hsmem.VM, only func(hsmem.Thread) bool) *vtRecording {
	t.Helper()
	tr, err := New(Config{Pid: pid, VirtualThreads: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	if err := tr.SetVThreadLayout(pid, vm.BPF()); err != nil {
		t.Fatal(err)
	}
	r := &vtRecording{tr: tr, done: make(chan error, 1), registered: map[uint32]uint64{},
		names: map[uint32]string{}, stopScans: make(chan struct{}), scansDone: make(chan struct{})}
	born := make(chan struct{}, 1)
	scan := func() {
		s, err := vm.Threads()
		if err != nil {
			r.mu.Lock()
			r.scanErr = err
			r.mu.Unlock()
			return
		}
		cs := make([]Carrier, 0, len(s.Threads))
		for _, th := range s.Threads {
			if only != nil && !only(th) {
				continue
			}
			cs = append(cs, Carrier{TID: uint32(th.TID), JavaThread: th.JavaThread, JavaID: th.JavaID})
		}
		st, err := tr.SetCarriers(pid, cs)
		now := MonotonicNow()
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.scanErr = err
		}
		r.collisions = st.Collisions
		for _, th := range s.Threads {
			if _, ok := r.registered[uint32(th.TID)]; !ok {
				r.registered[uint32(th.TID)] = now
			}
			r.names[uint32(th.TID)] = th.Name
		}
	}
	scan()
	go func() {
		defer close(r.scansDone)
		// A carrier starts on demand: scan when a thread is born, and now
		// and then for one that had not named itself yet.
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.stopScans:
				return
			case <-born:
			case <-tick.C:
			}
			scan()
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.done <- tr.Run(ctx, RunOptions{Event: func(e *Event) {
			if e.Kind == sched.KindBirth || e.Kind == sched.KindThreadStart {
				select {
				case born <- struct{}{}:
				default:
				}
			}
			r.events = append(r.events, *e)
		}})
	}()
	return r
}

func (r *vtRecording) carriers(prefix string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, name := range r.names {
		if strings.HasPrefix(name, prefix) {
			n++
		}
	}
	return n
}

func (r *vtRecording) stop(t testing.TB) []Event {
	t.Helper()
	close(r.stopScans)
	<-r.scansDone
	r.cancel()
	if err := <-r.done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if r.scanErr != nil {
		t.Errorf("registering carriers: %v", r.scanErr)
	}
	return r.events
}

// TestVirtualThreadOfWaits: a carrier's wait carries the virtual thread it
// had mounted when it left the CPU, as the virtual threads themselves say
// (Temurin 25, testdata/VCarrier.java, more runnable threads than CPUs).
// Every carrier wait that lies inside a span where virtual thread V ran on
// that carrier must carry V (99% at least: a switch the kernel did not
// deliver to BPF loses it), and no wait may carry another id than the one
// the workload says was mounted when the carrier left the CPU; platform
// threads' waits carry none.
func TestVirtualThreadOfWaits(t *testing.T) {
	testenv.RequireRoot(t)
	if _, err := os.Stat(temurin25); err != nil {
		t.Skipf("SKIPPED: no JDK 21+ at %s; this test runs virtual threads", temurin25)
	}
	const parallelism = 4
	v := startVCarrier(t, temurin25, []string{"-Xmx128m", "-Djdk.virtualThreadScheduler.parallelism=" + strconv.Itoa(parallelism)},
		"--busy", "3", "--vts", "8", "--seconds", "5")
	pid := uint32(v.cmd.Process.Pid)
	vm, err := hsmem.Open(int(pid))
	if err != nil {
		t.Fatal(err)
	}
	defer vm.Close()
	r := recordVThreads(t, pid, vm, nil)
	testenv.WaitFor(t, 60*time.Second, "the carriers to be registered", func() bool {
		return r.carriers("ForkJoinPool-") >= parallelism
	})
	v.stdin.Write([]byte("go\n"))
	v.expect(t, "done")
	events := r.stop(t)
	spans, platform := v.truthOf(t)

	const margin = 50_000 // ns: the run-queue clock against CLOCK_MONOTONIC
	var right, wrong, none, unregistered, platformWaits, carrierWaits, outside, outChecked int
	vts := map[uint64]bool{}
	for _, l := range spans {
		for _, s := range l {
			vts[s.vt] = true
		}
	}
	for i := range events {
		e := &events[i]
		if !e.Kind.Wait() || e.Pid != pid {
			continue
		}
		if platform[e.Tid] {
			platformWaits++
			if e.VThread != 0 {
				wrong++
				t.Errorf("platform thread %d: wait carries virtual thread #%d", e.Tid, e.VThread)
			}
			continue
		}
		list := spans[e.Tid]
		if len(list) == 0 {
			if e.VThread != 0 && !vts[e.VThread] {
				wrong++
				t.Errorf("thread %d %q: wait carries #%d, not a virtual thread of the workload", e.Tid, r.names[e.Tid], e.VThread)
			}
			continue
		}
		carrierWaits++
		end := int64(e.Time)
		// The switch-out that began it, when known: what was mounted then
		// is the answer.
		if e.OffCPU != 0 {
			out := end - int64(e.OffCPU)
			s, ok := within(list, out, out, margin)
			if ok && e.VThread != 0 {
				outChecked++
			}
			if ok && e.VThread != 0 && e.VThread != s.vt {
				wrong++
				t.Errorf("carrier %d: wait at %d carries #%d; #%d was mounted when it left the CPU", e.Tid, end, e.VThread, s.vt)
			}
		}
		if e.VThread != 0 && !vts[e.VThread] {
			wrong++
			t.Errorf("carrier %d: wait carries #%d, not a virtual thread of the workload", e.Tid, e.VThread)
		}
		from := end - int64(e.Latency)
		s, ok := within(list, from, end, margin)
		if !ok {
			outside++
			continue
		}
		if reg, ok := r.registered[e.Tid]; !ok || int64(reg)+margin > from-int64(e.OffCPU) {
			unregistered++
			continue
		}
		switch e.VThread {
		case s.vt:
			right++
		case 0:
			none++
		default:
			wrong++
			t.Errorf("carrier %d: wait [%d, %d] inside a span of #%d carries #%d", e.Tid, from, end, s.vt, e.VThread)
		}
	}
	c, _ := r.tr.Counters()
	t.Logf("carrier waits inside a span: %d named right, %d wrong, %d none (%d before the carrier was registered, %d outside every span; %d carrier waits in all; %d named ones checked at their switch-out); %d platform waits; %d JavaThreads registered, %d slot collisions; counters %+v",
		right, wrong, none, unregistered, outside, carrierWaits, outChecked, platformWaits, r.tr.Carriers(), r.collisions, c)
	checked := right + none + wrong
	if checked < 200 {
		t.Fatalf("only %d carrier waits inside spans: the workload did not contend", checked)
	}
	if float64(right) < 0.99*float64(checked) {
		t.Errorf("%d of %d carrier waits carry the mounted virtual thread, want >= 99%%", right, checked)
	}
	if platformWaits == 0 {
		t.Error("no waits of platform threads: the check that they carry none did not run")
	}
}

// TestVirtualThreadsJDK17: with the feature on, a JVM without virtual
// threads is refused a layout and loads and traces as before, every wait
// carrying none.
func TestVirtualThreadsJDK17(t *testing.T) {
	testenv.RequireRoot(t)
	testenv.RequireJava(t)
	cmd := startWorkload(t, "--seconds", "60")
	pid := uint32(cmd.Process.Pid)
	var vm *hsmem.VM
	var openErr error
	testenv.WaitFor(t, 120*time.Second, "the JVM to initialise", func() bool {
		vm, openErr = hsmem.Open(int(pid))
		return openErr == nil
	})
	defer vm.Close()
	if vm.Major >= 21 {
		t.Skipf("SKIPPED: java on PATH is JDK %d; this test needs one without virtual threads", vm.Major)
	}
	r := record(t, Config{Pid: pid, VirtualThreads: true})
	if err := r.tr.SetVThreadLayout(pid, vm.BPF()); err == nil {
		t.Errorf("JDK %d: a virtual-thread layout was accepted: %+v", vm.Major, vm.BPF())
	}
	s, err := vm.Threads()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.tr.SetCarriers(pid, []Carrier{{TID: uint32(s.Threads[0].TID), JavaThread: s.Threads[0].JavaThread}}); err == nil {
		t.Error("carriers registered without a layout")
	}
	time.Sleep(2 * time.Second) // the window traced
	events := r.stop(t)
	waits := 0
	for _, e := range events {
		if e.Kind.Wait() {
			waits++
		}
		if e.VThread != 0 {
			t.Errorf("event carries virtual thread #%d: %+v", e.VThread, e)
		}
	}
	if waits == 0 {
		t.Fatal("no waits traced")
	}
	t.Logf("JDK %d: %d waits, none carrying a virtual thread", vm.Major, waits)
}

// BenchmarkVThreadSwitchCost measures what reading the mounted virtual
// thread adds to the sched_switch program (the kernel's run_time_ns and
// run_cnt of the program, as bpftool prog show reports them), on the
// workload of TestVirtualThreadOfWaits, by variant: off (the code is not
// loaded), on with no thread registered, on with the carriers
// (ForkJoinPool workers) registered, on with every JavaThread registered.
// The variants alternate, in reverse order every other repetition.
// Run it alone: go test -run '^$' -bench VThreadSwitchCost -benchtime 1x ./bpf/
// VT_BENCH_REPS sets the repetitions; VT_BENCH_PID measures a VCarrier
// JVM already running (to interleave with another build's measurements),
// VT_BENCH_VARIANTS a space-separated subset of the variants.
func BenchmarkVThreadSwitchCost(b *testing.B) {
	testenv.RequireRoot(b)
	if _, err := os.Stat(temurin25); err != nil {
		b.Skipf("SKIPPED: no JDK 21+ at %s", temurin25)
	}
	reps, window := 3, 4*time.Second
	if n, err := strconv.Atoi(os.Getenv("VT_BENCH_REPS")); err == nil && n > 0 {
		reps = n
	}
	setSysctl(b, "kernel.bpf_stats_enabled", "1")
	var pid uint32
	if p, err := strconv.Atoi(os.Getenv("VT_BENCH_PID")); err == nil {
		pid = uint32(p)
	} else {
		v := startVCarrier(b, temurin25, []string{"-Xmx128m", "-Djdk.virtualThreadScheduler.parallelism=4"},
			"--busy", "3", "--vts", "8")
		pid = uint32(v.cmd.Process.Pid)
	}
	var vm *hsmem.VM
	testenv.WaitFor(b, 120*time.Second, "the JVM to initialise", func() bool {
		var err error
		vm, err = hsmem.Open(int(pid))
		return err == nil
	})
	defer vm.Close()
	carriersOnly := func(th hsmem.Thread) bool { return strings.HasPrefix(th.Name, "ForkJoinPool-") }
	variants := []string{"off", "on-none", "on-carriers", "on-all"}
	if f := strings.Fields(os.Getenv("VT_BENCH_VARIANTS")); len(f) > 0 {
		variants = f
	}
	measure := func(variant string) (nsPerCall float64, calls uint64, registered int) {
		var tr *Tracer
		var stop func()
		switch variant {
		case "off":
			var err error
			if tr, err = New(Config{Pid: pid}); err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() { done <- tr.Run(ctx, RunOptions{}) }()
			stop = func() { cancel(); <-done; tr.Close() }
		default:
			only := carriersOnly
			switch variant {
			case "on-none":
				only = func(hsmem.Thread) bool { return false }
			case "on-all":
				only = nil
			}
			r := recordVThreads(b, pid, vm, only)
			tr = r.tr
			registered = tr.Carriers()
			stop = func() { r.stop(b); tr.Close() }
		}
		defer stop()
		time.Sleep(time.Second) // settle: loading and registering done
		s0, err := tr.ProgStats()
		if err != nil {
			b.Fatal(err)
		}
		time.Sleep(window)
		s1, err := tr.ProgStats()
		if err != nil {
			b.Fatal(err)
		}
		a, z := s0[runqlatProgRunqBtfSwitch], s1[runqlatProgRunqBtfSwitch]
		if z.RunCount <= a.RunCount {
			b.Fatalf("%s: sched_switch did not run", variant)
		}
		calls = z.RunCount - a.RunCount
		return float64(z.RunTimeNs-a.RunTimeNs) / float64(calls), calls, registered
	}
	res := map[string][]float64{}
	for rep := 0; rep < reps; rep++ {
		order := append([]string{}, variants...)
		if rep%2 == 1 {
			for i, j := 0, len(order)-1; i < j; i, j = i+1, j-1 {
				order[i], order[j] = order[j], order[i]
			}
		}
		for _, vr := range order {
			ns, calls, reg := measure(vr)
			b.Logf("rep %d %-12s sched_switch %7.1f ns/call, %6.0f calls/s, %d threads registered", rep, vr, ns, float64(calls)/window.Seconds(), reg)
			res[vr] = append(res[vr], ns)
		}
	}
	for _, vr := range variants {
		l := res[vr]
		sort.Float64s(l)
		b.ReportMetric(l[len(l)/2], vr+"-ns/switch")
	}
}
