package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand"
	"strings"
	"testing"

	"github.com/jschedlat/jschedlat/internal/eventgen"
	"github.com/jschedlat/jschedlat/sched"
)

// checkDecode requires the event decoder to read line exactly as
// encoding/json does: the same sched.Event or the same error, with or without
// skipping. It returns whether the hand parser took the line.
func checkDecode(t testing.TB, line []byte) bool {
	t.Helper()
	want, werr := decodeEventJSON(line)
	var d eventDecoder
	var got sched.Event
	res := d.fast(line, &got, nil)
	if res == fastDecoded {
		if werr != nil {
			t.Fatalf("%q: hand parser took a line encoding/json rejects: %v", line, werr)
		}
		if got != want {
			t.Fatalf("%q:\nhand parser %+v\nencoding/json %+v", line, got, want)
		}
	}
	var sk sched.Event
	sres := d.fast(line, &sk, func(sched.Kind) bool { return true })
	if (res == fastDecoded) != (sres == fastSkipped) {
		t.Fatalf("%q: decoded %v, but skipping gives %v", line, res, sres)
	}
	if sres == fastSkipped && sk.Kind != want.Kind {
		t.Fatalf("%q: skipped as kind %v, encoding/json reads %v", line, sk.Kind, want.Kind)
	}
	// With the fallback, always what encoding/json gives.
	for _, skip := range []func(sched.Kind) bool{nil, func(k sched.Kind) bool { return !k.Wait() }} {
		var ev sched.Event
		skipped, err := d.decode(line, &ev, skip)
		if (err == nil) != (werr == nil) || err != nil && err.Error() != werr.Error() {
			t.Fatalf("%q: error %v, encoding/json %v", line, err, werr)
		}
		if err == nil && !skipped && ev != want {
			t.Fatalf("%q:\ndecoder %+v\nencoding/json %+v", line, ev, want)
		}
		if skipped && (skip == nil || !skip(want.Kind)) {
			t.Fatalf("%q: skipped kind %v", line, want.Kind)
		}
	}
	return res == fastDecoded
}

func writeLine(t testing.TB, e *sched.Event) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(e); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	_, line, _ := bytes.Cut(buf.Bytes(), []byte("\n"))
	return line
}

// Lines as the writer makes them: the hand parser takes every one whose
// strings are valid UTF-8, with the same result as encoding/json.
func TestDecodeWrittenLines(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	fast, lines := 0, 0
	for i := 0; i < 20000; i++ {
		e := sched.Event{
			KTime: eventgen.Uint(rng, math.MaxUint64), Latency: eventgen.Uint(rng, math.MaxUint64),
			Kind: sched.Kind(1 + rng.Intn(int(sched.KindThreadName))), CPU: uint32(eventgen.Uint(rng, math.MaxUint32)),
			QueuedCPU: uint32(eventgen.Uint(rng, math.MaxUint32)), Pid: uint32(eventgen.Uint(rng, math.MaxUint32)),
			Tid: uint32(eventgen.Uint(rng, math.MaxUint32)), Comm: eventgen.String(rng),
			PrevPid: uint32(eventgen.Uint(rng, math.MaxUint32)), PrevTid: uint32(eventgen.Uint(rng, math.MaxUint32)),
			PrevComm: eventgen.String(rng), OffCPU: eventgen.Uint(rng, math.MaxUint64),
			VThread: eventgen.Uint(rng, math.MaxUint64),
		}
		switch rng.Intn(4) {
		case 0:
			e.Time = math.MinInt64
		case 1:
			e.Time = math.MaxInt64
		default:
			e.Time = rng.Int63() - rng.Int63()
		}
		if e.Kind.HasName() {
			e.Name = eventgen.String(rng)
			e.NameCut = rng.Intn(2) == 0
		}
		line := writeLine(t, &e)
		lines++
		valid := utf8Valid(e.Comm) && utf8Valid(e.PrevComm) && utf8Valid(e.Name)
		took := checkDecode(t, line)
		if took {
			fast++
		}
		if valid && !took {
			t.Fatalf("%q: a line as written, not taken by the hand parser", line)
		}
		if took {
			// And without its newline: the last line of a file.
			checkDecode(t, bytes.TrimSuffix(line, []byte("\n")))
		}
	}
	// Invalid UTF-8 (which encoding/json replaces) goes the slow way.
	if fast < lines/4 {
		t.Errorf("hand parser took %d of %d lines", fast, lines)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

const goodLine = `{"ktime":259200000675140,"time":1795608000000675140,"kind":"preempt","latency":5331156,"cpu":6,"queued_cpu":0,"pid":4242,"tid":4376,"comm":"batch-worker-2","prev_pid":4242,"prev_tid":4283,"prev_comm":"http-nio-8080-e","off_cpu":5331156}` + "\n"

const nameLine = `{"ktime":1,"time":-5,"kind":"thread_start","latency":14,"cpu":0,"queued_cpu":0,"pid":7,"tid":8,"comm":"java","prev_pid":0,"prev_tid":0,"prev_comm":"","name":"pool-1-thread-1","name_cut":true}` + "\n"

// editCases are lines the writer does not make: hand edits, other
// writers, damage. Each must read as encoding/json reads it.
var editCases = []string{
	goodLine, nameLine,
	strings.TrimSuffix(goodLine, "\n"),
	strings.Replace(goodLine, "\n", "\r\n", 1),
	strings.Replace(goodLine, "\n", " \n", 1),
	strings.Replace(goodLine, "\n", "\n\n", 1),
	strings.Replace(goodLine, "}\n", "}x\n", 1),
	" " + goodLine,
	strings.Replace(goodLine, `"kind":"preempt"`, `"kind": "preempt"`, 1),
	strings.Replace(goodLine, `"kind":"preempt"`, `"kind":"sleep"`, 1),
	strings.Replace(goodLine, `"kind":"preempt"`, `"kind":"pre\u0065mpt"`, 1),
	strings.Replace(goodLine, `"kind":"preempt"`, `"kind":""`, 1),
	strings.Replace(goodLine, `"kind":"preempt"`, `"kind":7`, 1),
	strings.Replace(goodLine, `"kind":"preempt",`, ``, 1),
	strings.Replace(goodLine, `"ktime"`, `"KTime"`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140,`, ``, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":0259200000675140`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":-259200000675140`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":18446744073709551615`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":18446744073709551616`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":99999999999999999999999`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":2.5`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":25e3`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":null`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":0`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":00`, 1),
	strings.Replace(goodLine, `"ktime":259200000675140`, `"ktime":`, 1),
	strings.Replace(goodLine, `"time":1795608000000675140`, `"time":-1795608000000675140`, 1),
	strings.Replace(goodLine, `"time":1795608000000675140`, `"time":-0`, 1),
	strings.Replace(goodLine, `"time":1795608000000675140`, `"time":-`, 1),
	strings.Replace(goodLine, `"time":1795608000000675140`, `"time":--1`, 1),
	strings.Replace(goodLine, `"time":1795608000000675140`, `"time":9223372036854775807`, 1),
	strings.Replace(goodLine, `"time":1795608000000675140`, `"time":9223372036854775808`, 1),
	strings.Replace(goodLine, `"time":1795608000000675140`, `"time":-9223372036854775808`, 1),
	strings.Replace(goodLine, `"time":1795608000000675140`, `"time":-9223372036854775809`, 1),
	strings.Replace(goodLine, `"cpu":6`, `"cpu":4294967295`, 1),
	strings.Replace(goodLine, `"cpu":6`, `"cpu":4294967296`, 1),
	strings.Replace(goodLine, `"cpu":6`, `"cpu":"6"`, 1),
	strings.Replace(goodLine, `"pid":4242`, `"pid":-1`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"batch\"worker\\2\/\b\f\n\r\t"`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"\u0041\u00e9\u65e5\uFFFD"`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"\ud83d\ude00"`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"\ud83d"`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"\ude00x"`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"\u12"`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"\u12g4"`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"\x"`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"tab	raw"`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, "\"comm\":\"bad\xffutf8\"", 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, "\"comm\":\"esc\\n then bad\xff\"", 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, "\"comm\":\"\xe6\x97\xa5\xe6\x9c\xac \\\" \xf0\x9f\x98\x80\"", 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"unterminated`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":null`, 1),
	strings.Replace(goodLine, `"comm":"batch-worker-2"`, `"comm":"a\\"`, 1),
	strings.Replace(goodLine, `,"off_cpu":5331156`, ``, 1),
	strings.Replace(goodLine, `,"off_cpu":5331156`, `,"off_cpu":0`, 1),
	strings.Replace(goodLine, `,"off_cpu":5331156`, `,"off_cpu":5331156,"extra":1`, 1),
	strings.Replace(goodLine, `,"off_cpu":5331156`, `,"off_cpu":5331156,"name":"x","extra":[1,{"a":"b"}]`, 1),
	strings.Replace(goodLine, `,"off_cpu":5331156`, `,"off_cpu":5331156,"off_cpu":1`, 1),
	strings.Replace(goodLine, `,"off_cpu":5331156`, `,"name":"n"`, 1),
	strings.Replace(goodLine, `,"off_cpu":5331156`, `,"name_cut":true`, 1),
	strings.Replace(nameLine, `"name_cut":true`, `"name_cut":false`, 1),
	strings.Replace(nameLine, `"name_cut":true`, `"name_cut":1`, 1),
	strings.Replace(nameLine, `"name_cut":true`, `"name_cut":tru`, 1),
	strings.Replace(nameLine, `,"name_cut":true`, ``, 1),
	strings.Replace(nameLine, `"name":"pool-1-thread-1"`, `"name":"pool\u00a01\u2028"`, 1),
	strings.Replace(nameLine, `"name":"pool-1-thread-1"`, `"name":""`, 1),
	strings.Replace(nameLine, `"prev_comm":""`, `"prev_comm":"\"\""`, 1),
	`{}`, `{"kind":"wakeup"}`, `[]`, `null`, ``, "\n", `{"ktime":1`, `{"ktime":1,"time":2,"kind":"wakeup"`,
}

func TestDecodeEdgeCases(t *testing.T) {
	took := 0
	for _, c := range editCases {
		if checkDecode(t, []byte(c)) {
			took++
		}
	}
	// The cases in the writer's form, and those with escapes it reads.
	if took < 15 {
		t.Errorf("hand parser took only %d of %d cases", took, len(editCases))
	}
}

// Skipped lines fail as read ones do: a pass that skips waits reports a
// damaged wait line as the full read does.
func TestReadEventLogKindsSkips(t *testing.T) {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Pid: 9})
	if err != nil {
		t.Fatal(err)
	}
	evs := []sched.Event{
		{KTime: 1, Kind: sched.KindWakeup, Tid: 1, Comm: "a"},
		{KTime: 2, Kind: sched.KindBirth, Tid: 2, Comm: "b"},
		{KTime: 3, Kind: sched.KindThreadStart, Tid: 2, Comm: "b", Name: strings.Repeat("long ", 100_000)},
		{KTime: 4, Kind: sched.KindPreempt, Tid: 3, Comm: `q"x`},
	}
	for i := range evs {
		if err := w.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	read := func(log []byte, skip func(sched.Kind) bool) ([]sched.Event, error) {
		var out []sched.Event
		_, err := ReadKinds(context.Background(), bytes.NewReader(log), skip, func(e *sched.Event) error { out = append(out, *e); return nil })
		return out, err
	}
	waits := func(k sched.Kind) bool { return k.Wait() }
	got, err := read(buf.Bytes(), waits)
	if err != nil || len(got) != 2 || got[0] != evs[1] || got[1] != evs[2] {
		t.Fatalf("skipping waits: %v, %+v", err, got)
	}
	all, err := read(buf.Bytes(), nil)
	if err != nil || len(all) != len(evs) {
		t.Fatalf("reading all: %v, %d events", err, len(all))
	}
	for i := range evs {
		if all[i] != evs[i] {
			t.Fatalf("event %d: %+v, want %+v", i, all[i], evs[i])
		}
	}
	// Damage the last wait: skipping it still reports it, as reading does.
	bad := bytes.Replace(buf.Bytes(), []byte(`"tid":3,`), []byte(`"tid":3x,`), 1)
	_, err1 := read(bad, waits)
	_, err2 := read(bad, nil)
	if err1 == nil || err2 == nil || err1.Error() != err2.Error() || !strings.HasPrefix(err1.Error(), "line 5: ") {
		t.Fatalf("damaged wait line: skipping %v, reading %v", err1, err2)
	}
}

// Every line of a log as attach writes it takes the hand parser (else
// replay is as slow as before without a test noticing).
func TestWrittenLogTakesFastPath(t *testing.T) {
	rng := rand.New(rand.NewSource(2))
	var d eventDecoder
	for i := 0; i < 1000; i++ {
		e := sched.Event{KTime: rng.Uint64(), Time: rng.Int63(), Kind: sched.Kind(1 + i%int(sched.KindThreadName)),
			Latency: uint64(rng.Intn(1e7)), CPU: uint32(rng.Intn(64)), Pid: 4242, Tid: uint32(rng.Intn(1 << 22)),
			Comm: fmt.Sprint("worker-", i%50), PrevComm: "swapper/1", OffCPU: uint64(rng.Intn(3))}
		if e.Kind.HasName() {
			e.Name = fmt.Sprint("pool-", i, "-thread-ü")
		}
		var got sched.Event
		if line := writeLine(t, &e); d.fast(line, &got, nil) != fastDecoded || got != e {
			t.Fatalf("%q: not read by the hand parser as written (%+v)", line, got)
		}
	}
}

func FuzzDecodeEventLine(f *testing.F) {
	for _, c := range editCases {
		f.Add([]byte(c))
	}
	rng := rand.New(rand.NewSource(3))
	for i := 0; i < 50; i++ {
		e := sched.Event{KTime: rng.Uint64(), Time: rng.Int63() - rng.Int63(), Kind: sched.Kind(1 + i%int(sched.KindThreadName)),
			Comm: eventgen.String(rng), PrevComm: eventgen.String(rng), OffCPU: uint64(i % 2)}
		if e.Kind.HasName() {
			e.Name, e.NameCut = eventgen.String(rng), i%3 == 0
		}
		f.Add(writeLine(f, &e))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		checkDecode(t, line)
	})
}
