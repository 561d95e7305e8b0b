package record

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"math/rand"
	"strconv"
	"strings"
	"testing"

	"github.com/jschedlat/jschedlat/internal/eventgen"
)

// The writers as they were: encoding/csv and json.Encoder.
type stdCSVWriter struct {
	w   *csv.Writer
	row []string
}

// Write writes what encoding/csv writes of the fields made valid UTF-8:
// converting to runes turns each byte of an invalid sequence into U+FFFD.
func (c *stdCSVWriter) Write(r *Record) error {
	v := func(s string) string { return string([]rune(s)) }
	return c.w.Write([]string{FormatTime(r.Time), u32(r.CPU), u32(r.QueuedCPU), v(r.Kind), fmt.Sprint(r.LatencyNs),
		u32(r.Pid), u32(r.Tid), v(r.Comm), v(r.JavaThread), v(r.NameSource), u32(r.PrevPid), u32(r.PrevTid), v(r.PrevComm),
		v(r.PrevJavaThread), fmt.Sprint(r.KTime), v(r.VirtualThread), v(r.Cgroup), v(r.Container)})
}

func (c *stdCSVWriter) Flush() error { c.w.Flush(); return c.w.Error() }

func u32(v uint32) string { return fmt.Sprint(v) }

type stdJSONWriter struct {
	bw  *bufio.Writer
	enc *json.Encoder
}

func (j *stdJSONWriter) Write(r *Record) error {
	r.TimeText = FormatTime(r.Time)
	return j.enc.Encode(r)
}

func (j *stdJSONWriter) Flush() error { return j.bw.Flush() }

func newStdWriter(w *writeLog, format string, header bool) Writer {
	if format == "csv" {
		cw := csv.NewWriter(w)
		if header {
			_ = cw.Write(Columns)
		}
		return &stdCSVWriter{w: cw}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	return &stdJSONWriter{bw: bw, enc: json.NewEncoder(bw)}
}

// writeLog keeps what reaches the file, and in which writes: rotation
// by size looks at the file between records. Like the output file, it
// has no WriteString.
type writeLog struct {
	buf   bytes.Buffer
	sizes []int
}

func (w *writeLog) Write(p []byte) (int, error) {
	w.sizes = append(w.sizes, len(p))
	return w.buf.Write(p)
}

var oddFields = []string{
	"", " ", "a", `\.`, `\.x`, "x,y", `q"q`, "\"", "\r", "\n", "a\r\nb", "\t", "\v", "\f", " lead", "\u00a0nbsp",
	"\u0085nel", "\u2003em", "\u3000ideo", "x\u00a0", "<>&", "\u2028\u2029", "\xff", "\xe2\x80", "日本",
	"😀", "\x00\x1f\x7f", "VirtualThread[#31,name]", strings.Repeat("long-name ", 500),
}

func randField(rng *rand.Rand) string {
	if rng.Intn(2) == 0 {
		return oddFields[rng.Intn(len(oddFields))]
	}
	return eventgen.String(rng)
}

func randRecord(rng *rand.Rand) Record {
	r := Record{
		KTime: eventgen.Uint(rng, math.MaxUint64), CPU: uint32(eventgen.Uint(rng, math.MaxUint32)),
		QueuedCPU: uint32(eventgen.Uint(rng, math.MaxUint32)), Kind: randField(rng), LatencyNs: eventgen.Uint(rng, math.MaxUint64),
		Pid: uint32(eventgen.Uint(rng, math.MaxUint32)), Tid: uint32(eventgen.Uint(rng, math.MaxUint32)), Comm: randField(rng),
		JavaThread: randField(rng), NameSource: randField(rng), PrevPid: uint32(rng.Uint32()), PrevTid: uint32(rng.Uint32()),
		PrevComm: randField(rng), PrevJavaThread: randField(rng), VirtualThread: randField(rng),
		Cgroup: randField(rng), Container: randField(rng),
	}
	switch rng.Intn(5) {
	case 0:
		r.Time = math.MinInt64 + rng.Int63n(1e12)
	case 1:
		r.Time = math.MaxInt64 - rng.Int63n(1e12)
	case 2:
		r.Time = -rng.Int63n(3e18)
	default:
		// Mostly in order, as replay writes them, with ties.
		r.Time = 1795608000000000000 + rng.Int63n(5e9)
	}
	return r
}

func compareWriters(t testing.TB, recs []Record, format string, continuing bool) {
	t.Helper()
	var want, got writeLog
	sw := newStdWriter(&want, format, !continuing)
	var w Writer
	var err error
	if continuing {
		w, err = NewContinuingWriter(&got, format)
	} else {
		w, err = NewWriter(&got, format)
	}
	if err != nil {
		t.Fatal(err)
	}
	for i := range recs {
		a, b := recs[i], recs[i]
		if err := sw.Write(&a); err != nil {
			t.Fatal(err)
		}
		if err := w.Write(&b); err != nil {
			t.Fatal(err)
		}
		// The writers format the time from Time: the record given
		// stays as it was.
		if b != recs[i] {
			t.Fatalf("%s: record after writing: %+v, was %+v", format, b, recs[i])
		}
		// The file as rotation sees it between records.
		if fmt.Sprint(want.sizes) != fmt.Sprint(got.sizes) {
			t.Fatalf("%s: record %d: writes %v, were %v", format, i, got.sizes, want.sizes)
		}
	}
	if err := sw.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(want.buf.Bytes(), got.buf.Bytes()) {
		wl, gl := strings.Split(want.buf.String(), "\n"), strings.Split(got.buf.String(), "\n")
		for i := range min(len(wl), len(gl)) {
			if wl[i] != gl[i] {
				t.Fatalf("%s: line %d:\n got %q\nwant %q", format, i+1, gl[i], wl[i])
			}
		}
		t.Fatalf("%s: %d bytes, want %d", format, got.buf.Len(), want.buf.Len())
	}
}

// The hand-made rows are byte for byte those of encoding/csv and
// encoding/json, written to the file in the same pieces.
func TestWritersMatchStandard(t *testing.T) {
	rng := rand.New(rand.NewSource(4))
	var recs []Record
	for range 5000 {
		recs = append(recs, randRecord(rng))
	}
	for _, format := range []string{"csv", "jsonl"} {
		compareWriters(t, recs, format, false)
		compareWriters(t, recs[:100], format, true)
		compareWriters(t, nil, format, false)
	}
}

// An Encoder appends what a continuing Writer writes, and says after each
// row how much of it that Writer has passed on to its file, also with rows
// larger than the Writer's buffer and a Flush now and then.
func TestEncoderMatchesWriter(t *testing.T) {
	rng := rand.New(rand.NewSource(8))
	var random []Record
	for i := range 3000 {
		r := randRecord(rng)
		if i%500 == 7 {
			r.JavaThread = strings.Repeat("x", 140<<10+rng.Intn(10))
		}
		random = append(random, r)
	}
	for _, format := range Formats {
		// Rows that fill the Writer's buffer exactly, or go one byte over.
		size := csvBufSize
		if format == "jsonl" {
			size = jsonBufSize
		}
		rowOf := func(n int) Record {
			r := Record{Time: 1795608000000000000, Kind: "wakeup", Comm: "c"}
			e, _ := NewEncoder(format)
			b, _ := e.Append(nil, &r)
			r.JavaThread = strings.Repeat("y", n-len(b))
			return r
		}
		recs := []Record{rowOf(size / 2), rowOf(size / 2), rowOf(size / 2), rowOf(size), rowOf(size / 4), rowOf(size/4*3 + 1),
			rowOf(size), rowOf(size), rowOf(2 * size), rowOf(400)}
		recs = append(recs, random...)
		var log writeLog
		w, err := NewContinuingWriter(&log, format)
		if err != nil {
			t.Fatal(err)
		}
		e, err := NewEncoder(format)
		if err != nil {
			t.Fatal(err)
		}
		var b []byte
		passed := 0
		for i := range recs {
			if err := w.Write(&recs[i]); err != nil {
				t.Fatal(err)
			}
			var n int
			b, n = e.Append(b, &recs[i])
			passed += n
			if passed != log.buf.Len() {
				t.Fatalf("%s: record %d: passed %d bytes, the writer %d", format, i, passed, log.buf.Len())
			}
			if rng.Intn(200) == 0 {
				if err := w.Flush(); err != nil {
					t.Fatal(err)
				}
				e.Flush()
				passed = len(b)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, log.buf.Bytes()) {
			t.Fatalf("%s: the encoder's %d bytes differ from the writer's %d", format, len(b), log.buf.Len())
		}
	}
}

// Rows of one JVM: the PIDs repeat, the kernel times share their seconds,
// the same strings come back (the writers keep the digits of the numbers and
// which strings need no quoting or escaping), with odd ones between:
// strings that share their bytes' address but not their length, and some
// that need quotes or escapes.
func TestWritersRepeated(t *testing.T) {
	rng := rand.New(rand.NewSource(6))
	pids := []uint32{4242, 4242, 4242, 0, 1, 99999, math.MaxUint32}
	base := "pool-1-thread-12,x\"q<b>&\xff\u2028"
	strs := []string{base, base[:8], base[:13], base[:14], base[:16], base[:18], base[:20], base[1:], base[9:],
		"http-nio-8080-exec-1", "needs,quotes-here", "tab\tinside-name", "naïve-thread-1", "/process_api/d5521333c83f2b3a"}
	k := uint64(999_999_000)
	var recs []Record
	for range 5000 {
		r := randRecord(rng)
		r.Pid, r.PrevPid = pids[rng.Intn(len(pids))], pids[rng.Intn(len(pids))]
		for _, f := range []*string{&r.Comm, &r.JavaThread, &r.PrevJavaThread, &r.Cgroup} {
			if rng.Intn(4) > 0 {
				*f = strs[rng.Intn(len(strs))]
			}
		}
		switch rng.Intn(50) {
		case 0:
			k = uint64(rng.Int63n(2e9)) // back, and below 1e9
		case 1:
			k = math.MaxUint64 - uint64(rng.Int63n(3e9))
		default:
			k += uint64(rng.Int63n(2e8))
		}
		r.KTime = k
		recs = append(recs, r)
	}
	for _, format := range []string{"csv", "jsonl"} {
		compareWriters(t, recs, format, false)
	}
}

func TestAppendUint(t *testing.T) {
	check := func(v uint64) {
		if got, want := string(appendUint([]byte("x"), v)), "x"+strconv.FormatUint(v, 10); got != want {
			t.Fatalf("appendUint(%d) = %s, want %s", v, got, want)
		}
		if v < 1e9 {
			if got, want := string(append9(nil, uint32(v))), fmt.Sprintf("%09d", v); got != want {
				t.Fatalf("append9(%d) = %s, want %s", v, got, want)
			}
		}
	}
	for p := uint64(1); p < math.MaxUint64/10; p *= 10 {
		for _, v := range []uint64{p - 1, p, p + 1, 2*p - 1, 9 * p, 10*p - 1} {
			check(v)
		}
	}
	check(math.MaxUint64)
	rng := rand.New(rand.NewSource(7))
	for range 100000 {
		check(rng.Uint64() >> rng.Intn(64))
	}
}

// jsonPlainASCII is true exactly when every byte is ASCII from 0x20 that
// JSON with HTML escaping writes as it is, whatever the byte's place in
// the words it reads.
func TestJSONPlainASCII(t *testing.T) {
	for n := 0; n <= 17; n++ {
		for pos := 0; pos < max(n, 1); pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				if n > 0 {
					b[pos] = byte(c)
				}
				want := n == 0 || c >= 0x20 && c < 0x80 && !strings.ContainsRune(`"\<>&`, rune(c))
				if got := jsonPlainASCII(string(b)); got != want {
					t.Fatalf("jsonPlainASCII(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

// csvPlainASCII is true exactly when a field is ASCII that encoding/csv
// writes without quotes, whatever the byte's place in the words it reads.
func TestCSVPlainASCII(t *testing.T) {
	for n := 0; n <= 17; n++ {
		for pos := 0; pos < max(n, 1); pos++ {
			for c := 0; c < 256; c++ {
				b := []byte(strings.Repeat("a", n))
				if n > 0 {
					b[pos] = byte(c)
				}
				want := n == 0 || c < 0x80 && !csvNeedsQuotes(string(b))
				if got := csvPlainASCII(string(b)); got != want {
					t.Fatalf("csvPlainASCII(%q) = %v, want %v", b, got, want)
				}
			}
		}
	}
}

func TestTimeTextMatchesFormatTime(t *testing.T) {
	rng := rand.New(rand.NewSource(5))
	var c timeText
	check := func(ns int64) {
		if got, want := string(c.append(nil, ns)), FormatTime(ns); got != want {
			t.Fatalf("%d: %s, want %s", ns, got, want)
		}
	}
	for _, ns := range []int64{0, -1, 1, 1e9 - 1, 1e9, -1e9, -1e9 - 1, -1e9 + 1, math.MinInt64, math.MaxInt64,
		951782400e9 - 1, 951868800e9, 4107542400e9} { // around leap days
		check(ns)
	}
	for range 100000 {
		switch rng.Intn(3) {
		case 0:
			check(rng.Int63() - rng.Int63())
		case 1:
			check(1795608000000000000 + rng.Int63n(1e10))
		default:
			check(-rng.Int63n(1e10))
		}
	}
}

func FuzzRecordWriters(f *testing.F) {
	for _, s := range oddFields {
		f.Add(s, int64(1795608000000000000))
	}
	f.Add("", int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, s string, ns int64) {
		r := Record{Time: ns, Kind: s, Comm: s, JavaThread: s + "," + s, NameSource: s, PrevComm: s,
			PrevJavaThread: " " + s, VirtualThread: s, Cgroup: s, Container: s}
		for _, format := range []string{"csv", "jsonl"} {
			compareWriters(t, []Record{r, r}, format, false)
		}
	})
}
