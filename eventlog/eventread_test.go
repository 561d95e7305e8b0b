package eventlog

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"strings"
	"testing"

	"github.com/jschedlat/jschedlat/internal/eventgen"
	"github.com/jschedlat/jschedlat/sched"
)

// refReadEventLog is Read as it was: line by line, encoding/json.
func refReadEventLog(r io.Reader, fn func(*sched.Event) error) (Header, error) {
	var h Header
	br := bufio.NewReaderSize(r, 256<<10)
	line, err := br.ReadBytes('\n')
	if err != nil && (err != io.EOF || len(line) == 0) {
		return h, fmt.Errorf("reading header: %w", err)
	}
	if err := json.Unmarshal(line, &h); err != nil || h.Format != eventLogFormat {
		return h, errors.New("line 1: not a jschedlat events file (written by attach --save-events)")
	}
	for n := 2; ; n++ {
		line, err := br.ReadBytes('\n')
		if len(line) == 0 && err == io.EOF {
			return h, nil
		}
		if err != nil && err != io.EOF {
			return h, fmt.Errorf("line %d: %w", n, err)
		}
		ev, jerr := decodeEventJSON(line)
		if jerr != nil {
			return h, fmt.Errorf("line %d: %w", n, jerr)
		}
		if err := fn(&ev); err != nil {
			return h, err
		}
		if err == io.EOF {
			return h, nil
		}
	}
}

// failingReader returns its data, then err.
type failingReader struct {
	data []byte
	err  error
	max  int // most bytes per Read
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p[:min(len(p), f.max)], f.data)
	f.data = f.data[n:]
	return n, nil
}

func randLog(rng *rand.Rand) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Header{Pid: 7, Cgroup: "/a"})
	if err != nil {
		panic(err)
	}
	for i := rng.Intn(400); i > 0; i-- {
		e := sched.Event{KTime: rng.Uint64(), Time: rng.Int63(), Kind: sched.Kind(1 + rng.Intn(int(sched.KindThreadName))),
			Latency: uint64(rng.Intn(1e7)), CPU: uint32(rng.Intn(8)), Pid: 7, Tid: uint32(rng.Intn(100)),
			Comm: eventgen.String(rng), PrevComm: eventgen.String(rng), OffCPU: uint64(rng.Intn(2))}
		if e.Kind.HasName() {
			e.Name = eventgen.String(rng)
			if rng.Intn(20) == 0 {
				e.Name = strings.Repeat("a very long name ", 50+rng.Intn(200)) // longer than a chunk
			}
		}
		if err := w.Write(&e); err != nil {
			panic(err)
		}
	}
	if err := w.Flush(); err != nil {
		panic(err)
	}
	b := buf.Bytes()
	lines := bytes.SplitAfter(b, []byte("\n"))
	// Damage: a hand edit, a bad line, an empty line, a cut last line.
	switch rng.Intn(8) {
	case 0:
		if len(lines) > 2 {
			i := 1 + rng.Intn(len(lines)-1)
			lines[i] = bytes.Replace(lines[i], []byte(`":`), []byte(`": `), -1)
		}
	case 1:
		if len(lines) > 2 {
			i := 1 + rng.Intn(len(lines)-1)
			if len(lines[i]) > 10 {
				lines[i] = append(append([]byte{}, lines[i][:len(lines[i])/2]...), '\n')
			}
		}
	case 2:
		if len(lines) > 2 {
			i := 1 + rng.Intn(len(lines)-1)
			lines[i] = []byte("\n")
		}
	case 3:
		if n := len(b); n > 10 {
			return b[:n-1-rng.Intn(10)]
		}
	case 4:
		if len(lines) > 2 {
			i := 1 + rng.Intn(len(lines)-1)
			lines[i] = bytes.Replace(lines[i], []byte(`"kind":"`), []byte(`"kind":"x`), 1)
		}
	}
	return bytes.Join(lines, nil)
}

// The parallel reader gives fn what the line-by-line reader gave, and
// fails at the same line with the same error, whatever the chunk size.
func TestReadEventLogMatchesLineReader(t *testing.T) {
	defer func(n int) { eventChunkSize = n }(eventChunkSize)
	for seed := int64(1); seed <= 400; seed++ {
		rng := rand.New(rand.NewSource(seed))
		log := randLog(rng)
		eventChunkSize = []int{16, 100, 1000, 4096, 512 << 10}[rng.Intn(5)]
		readErr := io.EOF
		if rng.Intn(5) == 0 {
			readErr = errors.New("disk on fire")
		}
		maxRead := []int{1, 7, 300, 1 << 20}[rng.Intn(4)]
		stopAt := -1
		if rng.Intn(5) == 0 {
			stopAt = rng.Intn(200)
		}
		var skip func(sched.Kind) bool
		switch rng.Intn(3) {
		case 1:
			skip = sched.Kind.Wait
		case 2:
			skip = func(k sched.Kind) bool { return !k.Wait() }
		}
		collect := func(read func(io.Reader, func(*sched.Event) error) (Header, error)) ([]sched.Event, Header, error) {
			var out []sched.Event
			h, err := read(&failingReader{data: log, err: readErr, max: maxRead}, func(e *sched.Event) error {
				if skip != nil && skip(e.Kind) {
					return nil
				}
				if len(out) == stopAt {
					return errors.New("stop")
				}
				out = append(out, *e)
				return nil
			})
			return out, h, err
		}
		want, wh, werr := collect(refReadEventLog)
		got, gh, err := collect(func(r io.Reader, fn func(*sched.Event) error) (Header, error) {
			return ReadKinds(context.Background(), r, skip, fn)
		})
		if fmt.Sprint(err) != fmt.Sprint(werr) || gh != wh {
			t.Fatalf("seed %d: error %v, want %v (header %+v, want %+v)", seed, err, werr, gh, wh)
		}
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d events, want %d (%v)", seed, len(got), len(want), err)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("seed %d: event %d: %+v, want %+v", seed, i, got[i], want[i])
			}
		}
	}
}
