package correlate

import (
	"reflect"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
	"github.com/jschedlat/jschedlat/sched"
)

// Annotate sets each field of the record it reuses: none keeps a value of
// the row before (a field added to record.Record must be set there too).
func TestAnnotateSetsEveryField(t *testing.T) {
	n := NewNamer(time.Second)
	n.AddDump(10*sec, 10*sec+1, dump(th(101, 12, "http-nio-8080-exec-12")), nil)
	for _, j := range []*Joiner{{}, {Pid: 100, Namer: n}, {Pid: 100, Namer: n, Cgroup: func(uint32) (string, string) { return "", "" }}} {
		for _, e := range []sched.Event{
			{Time: 11 * sec, Kind: sched.KindWakeup, Pid: 100, Tid: 101, Comm: "http-nio-8080-e", PrevPid: 100, PrevTid: 101, PrevComm: "http-nio-8080-e"},
			{Time: 11 * sec, Kind: sched.KindPreempt, Pid: 7, Tid: 8, Comm: "x"},
			{},
		} {
			var want, got record.Record
			j.Annotate(&e, &want)
			v := reflect.ValueOf(&got).Elem()
			for i := range v.NumField() {
				switch f := v.Field(i); f.Kind() {
				case reflect.String:
					f.SetString("stale")
				case reflect.Int64:
					f.SetInt(-5)
				case reflect.Uint32, reflect.Uint64:
					f.SetUint(5)
				default:
					t.Fatalf("field %s of kind %s: set it here", v.Type().Field(i).Name, f.Kind())
				}
			}
			j.Annotate(&e, &got)
			if got != want {
				t.Errorf("Annotate over a used record:\n%+v\nwant\n%+v", got, want)
			}
		}
	}
}
