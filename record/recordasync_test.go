package record

import (
	"errors"
	"testing"
)

type failWriter struct {
	got     []uint32
	failAt  int
	flushes int
}

func (f *failWriter) Write(r *Record) error {
	if len(f.got) == f.failAt {
		return errors.New("disk full")
	}
	f.got = append(f.got, r.Tid)
	return nil
}

func (f *failWriter) Flush() error {
	f.flushes++
	if f.failAt >= 0 && len(f.got) >= f.failAt {
		return errors.New("disk full")
	}
	return nil
}

// The Writer behind gets the records in order, none after its first
// error, and the error comes back.
func TestBackgroundWriter(t *testing.T) {
	for _, failAt := range []int{-1, 0, 1, 511, 512, 513, 3000, 9999} {
		fw := &failWriter{failAt: failAt}
		b := NewBackgroundWriter(fw)
		var werr error
		for i := range 10000 {
			r := Record{Tid: uint32(i)}
			if werr = b.Write(&r); werr != nil {
				break
			}
			if i == 700 {
				if err := b.Flush(); (err != nil) != (failAt >= 0 && failAt <= 700) {
					t.Fatalf("fail at %d: Flush at 700: %v", failAt, err)
				}
			}
		}
		cerr := b.Close()
		want := failAt
		if failAt < 0 {
			want = 10000
		}
		if len(fw.got) != want {
			t.Fatalf("fail at %d: %d records written", failAt, len(fw.got))
		}
		for i, tid := range fw.got {
			if tid != uint32(i) {
				t.Fatalf("fail at %d: record %d is %d", failAt, i, tid)
			}
		}
		if failAt < 0 && (werr != nil || cerr != nil || fw.flushes != 2) {
			t.Fatalf("no failure: %v, %v, %d flushes", werr, cerr, fw.flushes)
		}
		if failAt >= 0 && cerr == nil {
			t.Fatalf("fail at %d: Close gave no error (Write: %v)", failAt, werr)
		}
	}
}
