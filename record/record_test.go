package record

import (
	"bytes"
	"compress/gzip"
	"strings"
	"testing"
)

func sampleRecord() Record {
	return Record{
		Time: 1795623292049732581, KTime: 554706668389, CPU: 1, QueuedCPU: 0, Kind: "preempt",
		LatencyNs: 1234567, Pid: 100, Tid: 101, Comm: "quote\"inside",
		JavaThread: "quote\"inside, with comma\nand newline\tand tab 日本語", NameSource: SourceDump,
		PrevPid: 100, PrevTid: 102, PrevComm: "GC Thread#0", PrevJavaThread: "GC Thread#0",
	}
}

func TestRecordRoundTrip(t *testing.T) {
	for _, format := range Formats {
		var buf bytes.Buffer
		w, err := NewWriter(&buf, format)
		if err != nil {
			t.Fatal(err)
		}
		in := sampleRecord()
		if err := w.Write(&in); err != nil {
			t.Fatal(err)
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		var out []Record
		if err := ReadRecords(&buf, func(r *Record) error { out = append(out, *r); return nil }); err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		in.TimeText = FormatTime(in.Time)
		if len(out) != 1 || out[0] != in {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", format, out, in)
		}
	}
}

func TestCSVHeaderAndTime(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, "csv")
	r := sampleRecord()
	r.Time = 1795623292000000000 // whole second: the fraction keeps nine digits
	_ = w.Write(&r)
	_ = w.Flush()
	lines := strings.SplitN(buf.String(), "\n", 2)
	if lines[0] != strings.Join(Columns, ",") {
		t.Errorf("header %q", lines[0])
	}
	for _, c := range []string{"time", "cpu", "queued_cpu", "kind", "latency_ns", "pid", "tid", "comm", "java_thread", "name_source", "prev_tid", "prev_comm", "prev_java_thread"} {
		if !strings.Contains(","+lines[0]+",", ","+c+",") {
			t.Errorf("header lacks %s", c)
		}
	}
	if !strings.HasPrefix(lines[1], "2026-11-25T") || !strings.Contains(lines[1], ".000000000Z,") {
		t.Errorf("time not RFC 3339 UTC with nine fraction digits: %q", lines[1])
	}
}

// Compressed files (rotated, archived) read like plain ones, in both
// formats, and a truncated one is an error, not a silent short read.
func TestRecordsGzip(t *testing.T) {
	for _, format := range Formats {
		var plain bytes.Buffer
		w, err := NewWriter(&plain, format)
		if err != nil {
			t.Fatal(err)
		}
		in := sampleRecord()
		for i := 0; i < 1000; i++ {
			in.Tid = uint32(1000 + i)
			if err := w.Write(&in); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(plain.Bytes())
		zw.Close()
		n := 0
		if err := ReadRecords(bytes.NewReader(gz.Bytes()), func(r *Record) error {
			if r.Tid != uint32(1000+n) {
				t.Fatalf("%s: record %d has tid %d", format, n, r.Tid)
			}
			n++
			return nil
		}); err != nil || n != 1000 {
			t.Fatalf("%s: read %d of 1000 records from gzip, err %v", format, n, err)
		}
		err = ReadRecords(bytes.NewReader(gz.Bytes()[:gz.Len()/2]), func(*Record) error { return nil })
		if err == nil {
			t.Errorf("%s: truncated gzip read without error", format)
		}
	}
}

// FuzzReadRecords: any input gives rows, row errors or an error, never a
// panic; a row given to fn has its time parsed, and every bad row is
// reported with a line number.
func FuzzReadRecords(f *testing.F) {
	var csvBuf, jsonBuf bytes.Buffer
	for _, p := range []struct {
		b      *bytes.Buffer
		format string
	}{{&csvBuf, "csv"}, {&jsonBuf, "jsonl"}} {
		w, err := NewWriter(p.b, p.format)
		if err != nil {
			f.Fatal(err)
		}
		r := sampleRecord()
		_ = w.Write(&r)
		r.Time++
		_ = w.Write(&r)
		_ = w.Flush()
		f.Add(p.b.Bytes())
	}
	good := csvBuf.String()
	f.Add([]byte(good + "1,2\n"))                                             // short row
	f.Add([]byte(good + "x" + good[strings.IndexByte(good, '\n'):]))          // bad time
	f.Add([]byte(strings.Replace(good, ",1,0,preempt,", ",x,0,preempt,", 1))) // bad number
	f.Add([]byte(good + "\"unclosed\n"))
	f.Add([]byte("time,cpu\n"))
	f.Add([]byte("{\"time\":\"bad\"}\n"))
	f.Add([]byte{0x1f, 0x8b, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_ = ReadRecordsLenient(bytes.NewReader(b), func(r *Record) error {
			if r.TimeText == "" {
				t.Errorf("row without a time: %+v", r)
			}
			return nil
		}, func(e *RowError) error {
			if e.Line <= 0 || e.Err == nil {
				t.Errorf("row error %+v", e)
			}
			return nil
		})
	})
}
