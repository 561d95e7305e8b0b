package correlate

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jschedlat/jschedlat/record"
)

func gunzipFile(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestReplayEqualsLive replays a real run's saved events and dumps: the
// rows must be the bytes the run wrote live.
func TestReplayEqualsLive(t *testing.T) {
	const run = "../testdata/runs/workload-4s/"
	events := gunzipFile(t, run+"events.jsonl.gz")
	live := gunzipFile(t, run+"live.csv.gz")
	var out bytes.Buffer
	st, err := Replay(context.Background(), ReplayConfig{
		Events: bytes.NewReader(events), EventsName: "events.jsonl",
		Dumps: []string{run + "dumps"}, Load: LoadOptions{Loc: time.UTC},
		Format: "csv",
		Create: func() (io.Writer, error) { return &out, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rows := uint64(bytes.Count(live, []byte("\n")) - 1); st.Records != rows || st.Dumps != 1 {
		t.Errorf("stats %+v, want %d records from 1 dump", st, rows)
	}
	if !bytes.Equal(out.Bytes(), live) {
		got, want := strings.Split(out.String(), "\n"), strings.Split(string(live), "\n")
		for i := 0; i < min(len(got), len(want)); i++ {
			if got[i] != want[i] {
				t.Fatalf("replay differs from live at line %d:\n got %s\nwant %s", i+1, got[i], want[i])
			}
		}
		t.Fatalf("replay wrote %d lines, live %d", len(got), len(want))
	}
	named := 0
	if err := record.ReadRecords(bytes.NewReader(live), func(r *record.Record) error {
		if r.JavaThread != "" {
			named++
		}
		return nil
	}); err != nil || named == 0 {
		t.Fatalf("the run names no thread (%d, err %v): not a test of the join", named, err)
	}
}

// TestReplayBadEvents: an events file that cannot be read is an error naming
// it, and the output is not opened.
func TestReplayBadEvents(t *testing.T) {
	created := false
	_, err := Replay(context.Background(), ReplayConfig{
		Events: strings.NewReader("time,cpu\n"), EventsName: "x.csv", Format: "csv",
		Create: func() (io.Writer, error) { created = true; return io.Discard, nil },
	})
	if err == nil || !strings.HasPrefix(err.Error(), "x.csv: ") || !strings.Contains(err.Error(), "not a jschedlat events file") {
		t.Errorf("err %v", err)
	}
	if created {
		t.Error("output opened for a bad events file")
	}
}

// TestReplayInterrupted: a cancelled replay says so.
func TestReplayInterrupted(t *testing.T) {
	events := gunzipFile(t, "../testdata/runs/workload-4s/events.jsonl.gz")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Replay(ctx, ReplayConfig{
		Events: bytes.NewReader(events), EventsName: "e", Format: "csv",
		Create: func() (io.Writer, error) { return io.Discard, nil },
	})
	if err == nil || !strings.HasPrefix(err.Error(), "e: ") || (!errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "interrupted")) {
		t.Errorf("err %v, want one naming the file and the interruption", err)
	}
}
