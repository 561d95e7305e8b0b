package correlate

import (
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
	"github.com/jschedlat/jschedlat/record"
)

const sec = int64(time.Second)

func dump(ths ...jvm.Thread) *jvm.Dump { return &jvm.Dump{Threads: ths} }

func th(tid int, id int64, name string) jvm.Thread {
	return jvm.Thread{Tid: tid, JavaID: id, Name: name, Carrying: -1}
}

type query struct {
	what       string
	tid        uint32
	t          int64
	comm       string
	wantName   string
	wantSource string
}

func check(t *testing.T, n *Namer, qs []query) {
	t.Helper()
	for _, q := range qs {
		name, src := n.Name(q.tid, q.t, q.comm)
		if name != q.wantName || src != q.wantSource {
			t.Errorf("%s: Name(%d, %d, %q) = %q, %s; want %q, %s", q.what, q.tid, q.t, q.comm, name, src, q.wantName, q.wantSource)
		}
	}
}

func TestNamerLongNamesAndNewThreads(t *testing.T) {
	n := NewNamer(2 * time.Second)
	n.AddDump(10*sec, 10*sec+1, dump(th(100, 1, "main"), th(101, 12, "http-nio-8080-exec-12"), th(102, 13, "http-nio-8080-exec-1")), nil)
	check(t, n, []query{
		{"main thread runs as java", 100, 11 * sec, "java", "main", record.SourceDump},
		{"same 15-byte prefix, exact name", 101, 11 * sec, "http-nio-8080-e", "http-nio-8080-exec-12", record.SourceDump},
		{"other thread with that prefix", 102, 11 * sec, "http-nio-8080-e", "http-nio-8080-exec-1", record.SourceDump},
		{"event before the dump, within horizon", 101, 9 * sec, "http-nio-8080-e", "http-nio-8080-exec-12", record.SourceDump},
		{"event before the dump, beyond horizon", 101, 7 * sec, "http-nio-8080-e", "", record.SourceComm},
		{"new thread before HotSpot named it", 102, 9 * sec, "java", "http-nio-8080-exec-1", record.SourceDump},
		{"unknown thread", 999, 11 * sec, "pool-1-thread-1", "", record.SourceComm},
	})
}

func TestNamerSelfRename(t *testing.T) {
	n := NewNamer(2 * time.Second)
	n.AddDump(10*sec, 10*sec+1, dump(th(200, 5, "settlement-batch-before-1")), nil)
	n.AddDump(20*sec, 20*sec+1, dump(th(200, 5, "settlement-batch-after-rename-1")), nil)
	check(t, n, []query{
		{"before rename", 200, 12 * sec, "settlement-batc", "settlement-batch-before-1", record.SourceDump},
		// Same 15-byte prefix: comm cannot tell, the last dump wins.
		{"after rename, same prefix", 200, 15 * sec, "settlement-batc", "settlement-batch-before-1", record.SourceDump},
	})
	n2 := NewNamer(2 * time.Second)
	n2.AddDump(10*sec, 10*sec+1, dump(th(201, 6, "alpha-worker")), nil)
	n2.AddDump(16*sec, 16*sec+1, dump(th(201, 6, "beta-worker")), nil)
	check(t, n2, []query{
		{"before self-rename", 201, 15 * sec, "alpha-worker", "alpha-worker", record.SourceDump},
		{"after self-rename, comm changed", 201, 15 * sec, "beta-worker", "beta-worker", record.SourceDump},
		{"renamed to a name no dump saw", 201, 25 * sec, "gamma-worker", "", record.SourceComm},
	})
}

func TestNamerRenamedByAnotherThread(t *testing.T) {
	// HotSpot keeps the old comm when another thread renames a thread.
	n := NewNamer(2 * time.Second)
	n.AddDump(10*sec, 10*sec+1, dump(th(300, 7, "pool-1-thread-1")), nil)
	n.AddDump(20*sec, 20*sec+1, dump(th(300, 7, "order-router")), nil)
	check(t, n, []query{
		{"before", 300, 15 * sec, "pool-1-thread-1", "pool-1-thread-1", record.SourceDump},
		{"after the second dump", 300, 25 * sec, "pool-1-thread-1", "order-router", record.SourceDumpRenamed},
	})
}

func TestNamerTidReuse(t *testing.T) {
	n := NewNamer(2 * time.Second)
	n.AddDump(10*sec, 10*sec+1, dump(th(400, 8, "old-thread")), nil)
	n.AddExit(400, 12*sec)
	n.AddBirth(400, 13*sec-1000)
	n.AddDump(14*sec, 14*sec+1, dump(th(400, 9, "new-thread")), nil)
	check(t, n, []query{
		{"old life", 400, 11 * sec, "old-thread", "old-thread", record.SourceDump},
		{"old life just before exit, new dump within horizon", 400, 12*sec - 1, "old-thread", "old-thread", record.SourceDump},
		{"old life preempted after its exit record", 400, 12*sec + 1_000_000, "old-thread", "old-thread", record.SourceDump},
		{"new life, unnamed yet", 400, 13 * sec, "java", "new-thread", record.SourceDump},
		{"new life", 400, 15 * sec, "new-thread", "new-thread", record.SourceDump},
	})
	// A dump taken across an exit and the TID's next birth may have seen
	// either thread.
	n2 := NewNamer(2 * time.Second)
	n2.AddDump(10*sec, 12*sec, dump(th(401, 8, "which-one")), nil)
	n2.AddExit(401, 11*sec)
	n2.AddBirth(401, 11*sec+500_000_000)
	check(t, n2, []query{
		{"ambiguous dump, old life", 401, 10 * sec, "java", "", record.SourceComm},
		{"ambiguous dump, old life ending", 401, 11*sec + 1, "java", "", record.SourceComm},
		{"ambiguous dump, new life", 401, 11*sec + 600_000_000, "java", "", record.SourceComm},
	})
	// Across an exit with no birth before the dump ended, only the
	// ending thread can have held the TID: a short-lived thread whose only
	// dump finished just after it ended is still named.
	n4 := NewNamer(2 * time.Second)
	n4.AddBirth(403, 9*sec)
	n4.AddDump(10*sec, 12*sec, dump(th(403, 8, "short-lived")), nil)
	n4.AddExit(403, 11*sec)
	n4.AddBirth(403, 13*sec)
	check(t, n4, []query{
		{"ending thread, dump across its exit", 403, 10 * sec, "short-lived", "short-lived", record.SourceDump},
		{"after the exit", 403, 11*sec + 1, "short-lived", "short-lived", record.SourceDump},
		{"the next thread under the TID", 403, 13*sec + 1, "java", "", record.SourceComm},
	})
	// A dump begun after the exit cannot have seen the ending thread.
	n5 := NewNamer(2 * time.Second)
	n5.AddBirth(404, 9*sec)
	n5.AddExit(404, 10*sec)
	n5.AddDump(10*sec+1, 10*sec+2, dump(th(404, 8, "someone-else")), nil)
	check(t, n5, []query{
		{"dump after the exit", 404, 9*sec + 1, "java", "", record.SourceComm},
	})
	// Without a birth record (lost, or taken before tracing), a TID seen
	// long after an exit is another thread: the old dump does not name it.
	n3 := NewNamer(2 * time.Second)
	n3.AddDump(10*sec, 10*sec+1, dump(th(402, 8, "old-thread")), nil)
	n3.AddExit(402, 12*sec)
	check(t, n3, []query{
		{"ending thread", 402, 12*sec + 5_000_000, "old-thread", "old-thread", record.SourceDump},
		{"another thread, seconds later", 402, 15 * sec, "old-thread", "", record.SourceComm},
	})
}

func TestNamerHorizonIsCausal(t *testing.T) {
	// A dump that ends after t+horizon must not be used for t, whatever is
	// known later: the live output had to decide without it.
	n := NewNamer(2 * time.Second)
	n.AddDump(11*sec, 13*sec, dump(th(500, 1, "late-dump")), nil)
	check(t, n, []query{
		{"dump ends after horizon", 500, 10 * sec, "late-dump", "", record.SourceComm},
		{"dump ends within horizon", 500, 11 * sec, "late-dump", "late-dump", record.SourceDump},
	})
}

func TestKernelComm(t *testing.T) {
	for name, want := range map[string]string{
		"main":                  "main",
		"http-nio-8080-exec-12": "http-nio-8080-e",
		"日本語スレッド":               "日本語スレ",
		"aé-and-more-text":      "aé-and-more-te",
		"abcdefghijklmné":       "abcdefghijklmn\uFFFD",
	} {
		if got := KernelComm(name); got != want {
			t.Errorf("KernelComm(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestNamerRenameRecords(t *testing.T) {
	// A self-rename keeping the same first 15 bytes is invisible in comm,
	// but the kernel's rename record splits the thread's epochs.
	n := NewNamer(2 * time.Second)
	n.AddDump(10*sec, 10*sec+1, dump(th(600, 5, "settlement-batch-before-1")), nil)
	n.AddRename(600, 12*sec, "settlement-batc")
	n.AddDump(13*sec, 13*sec+1, dump(th(600, 5, "settlement-batch-after-rename-1")), nil)
	check(t, n, []query{
		{"before the rename", 600, 11 * sec, "settlement-batc", "settlement-batch-before-1", record.SourceDump},
		{"after the rename", 600, 12*sec + 1, "settlement-batc", "settlement-batch-after-rename-1", record.SourceDump},
	})
	// Without a dump after the rename, the old name must not be reused.
	n2 := NewNamer(2 * time.Second)
	n2.AddDump(10*sec, 10*sec+1, dump(th(601, 5, "settlement-batch-before-1")), nil)
	n2.AddRename(601, 12*sec, "settlement-batc")
	check(t, n2, []query{
		{"after a rename no dump saw", 601, 12*sec + 1, "settlement-batc", "", record.SourceComm},
	})
	if n2.Known(601, "settlement-batc", 12*sec+1) {
		t.Error("Known after a rename with no later dump: want false (a dump must be requested)")
	}
}

func TestNamerBirthNaming(t *testing.T) {
	// A new thread runs under its creator's kernel name until HotSpot names
	// it; that first rename is not a change of Java name.
	n := NewNamer(2 * time.Second)
	n.AddBirth(700, 10*sec)
	n.AddRename(700, 10*sec+5_000_000, "order-matcher-w")
	n.AddDump(10*sec+50_000_000, 10*sec+60_000_000, dump(th(700, 40, "order-matcher-worker-7")), nil)
	check(t, n, []query{
		{"before HotSpot named it, creator's comm", 700, 10*sec + 1_000_000, "pool-1-thread-1", "order-matcher-worker-7", record.SourceDump},
		{"after naming", 700, 10*sec + 20_000_000, "order-matcher-w", "order-matcher-worker-7", record.SourceDump},
	})
	// A TID reused after an exit is a new thread: the old dump does not apply.
	n.AddExit(700, 20*sec)
	n.AddBirth(700, 21*sec)
	check(t, n, []query{
		{"reused TID, no dump yet", 700, 21*sec + 1, "order-matcher-w", "", record.SourceComm},
	})
}

func TestNamerKnownEndedThread(t *testing.T) {
	// A thread that has exited cannot be named by any new dump: asking for
	// one (its last switch-out comes after its exit record) only costs.
	n := NewNamer(2 * time.Second)
	n.AddBirth(800, 10*sec)
	n.AddExit(800, 11*sec)
	if !n.Known(800, "payment-callbac", 11*sec+1) {
		t.Error("Known for an ended thread: want true (no dump request)")
	}
	if n.Known(800, "payment-callbac", 10*sec+1) {
		t.Error("Known for a live thread no dump saw: want false")
	}
}

func BenchmarkNameLongRun(b *testing.B) {
	// An hour of dumps every 0.7 s: naming must not scan them all.
	n := NewNamer(2 * time.Second)
	const dumps = 5000
	for i := 0; i < dumps; i++ {
		s := int64(i) * 700_000_000
		n.AddDump(s, s+30_000_000, dump(th(900, 1, "order-matcher-worker-1"), th(901, 2, "main")), nil)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t := int64(i%dumps) * 700_000_000
		if name, _ := n.Name(900, t+1, "order-matcher-w"); name == "" {
			b.Fatal("unnamed")
		}
	}
}

func TestNamerNaming(t *testing.T) {
	n := NewNamer(0)
	n.AddBirth(900, 10)
	n.AddRename(900, 20, "order-matcher-w")
	n.AddRename(900, 30, "order-matcher-w")
	if !n.Naming(900, 20) {
		t.Error("first rename after a birth: want HotSpot's naming")
	}
	if n.Naming(900, 30) {
		t.Error("second rename: want a real rename")
	}
	if n.Naming(901, 5) {
		t.Error("unknown thread: want false")
	}
}

// A name read from the JVM's memory says so; a dump's says dump.
func TestNameSourceMemory(t *testing.T) {
	n := NewNamer(0)
	mem := dump(th(300, 5, "order-matcher-3"))
	mem.VM = jvm.MemoryVM
	n.AddDump(10*sec, 10*sec+1, mem, nil)
	if name, src := n.Name(300, 11*sec, "order-matcher-3"); name != "order-matcher-3" || src != record.SourceMemory {
		t.Errorf("from memory: %q %q", name, src)
	}
	d := dump(th(301, 6, "order-matcher-4"))
	n.AddDump(12*sec, 12*sec+1, d, nil)
	if name, src := n.Name(301, 13*sec, "order-matcher-4"); name != "order-matcher-4" || src != record.SourceDump {
		t.Errorf("from a dump: %q %q", name, src)
	}
}
