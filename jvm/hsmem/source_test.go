package hsmem

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/jvm"
)

// TestRenderParses: a memory scan saved as a dump (replay) reads back to
// the same threads, whatever their names hold.
func TestRenderParses(t *testing.T) {
	names := []string{
		"main", "http-nio-8080-exec-12", `quote " inside`, `"quoted"`, "comma, and tab\there",
		"日本語スレッド", "emoji 🚀 name", "trailing space ", " leading", "#7 [99] looks like a header",
		"nid=0x10 runnable", "", "two\nlines",
	}
	d := jvm.Dump{Time: time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC), VM: memoryVM, Pid: 4242}
	for i, n := range names {
		th := jvm.Thread{Name: n, JavaID: int64(i + 1), Tid: 1000 + i, Carrying: -1}
		if i == 3 {
			th.Carrying = 77
		}
		d.Threads = append(d.Threads, th)
	}
	got, err := jvm.ParseDumps(bytes.NewReader(Render(d)), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Fatalf("%d dumps parsed, want 1", len(got))
	}
	g := got[0]
	if g.Pid != d.Pid || !g.Time.Equal(d.Time) || g.VM != d.VM {
		t.Errorf("dump pid %d time %v vm %q, want %d %v %q", g.Pid, g.Time, g.VM, d.Pid, d.Time, d.VM)
	}
	if len(g.Threads) != len(d.Threads) {
		t.Fatalf("%d threads parsed, want %d:\n%s", len(g.Threads), len(d.Threads), Render(d))
	}
	for i, w := range d.Threads {
		p := g.Threads[i]
		have := jvm.Thread{Name: p.Name, JavaID: p.JavaID, Tid: p.Tid, Carrying: p.Carrying}
		if !reflect.DeepEqual(have, w) {
			t.Errorf("thread %d: parsed %+v, want %+v", i, have, w)
		}
	}
}
