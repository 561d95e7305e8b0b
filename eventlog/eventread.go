package eventlog

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/jschedlat/jschedlat/sched"
)

// The event lines after the header are decoded on all CPUs: replay reads
// logs of millions of lines twice, and decoding is most of its work. Each
// worker reads the next chunk of whole lines (one at a time, in file
// order) and decodes it while the bytes are still in its CPU's cache; the
// caller's goroutine takes the chunks in file order and calls fn, so that
// fn sees what a line-by-line reader gives it, up to the first error,
// with the same line number. Memory is bounded by the chunks in flight.

// eventChunkSize is the size of a chunk (a var for tests).
var eventChunkSize = 512 << 10

type eventChunk struct {
	data []byte // whole lines; at the end of input, the last may lack '\n'
	// rerr is the read error that ended the input after data (not EOF).
	rerr error
	last bool // nothing follows
	// Decoded by a worker:
	events []sched.Event // the lines' events that fn gets
	lines  int           // lines in data
	bad    int           // the line (0-based) that failed to decode, if err
	err    error
	done   chan struct{}
}

// chunkReader cuts the input into chunks; workers take turns with it.
type chunkReader struct {
	mu    sync.Mutex
	r     io.Reader
	carry []byte // the start of a line that the last chunk cut
	ended bool   // the last chunk was handed out
	// inOrder gets each chunk as it is read, so in file order.
	inOrder chan *eventChunk
}

// readEvents reads the lines after the header as ReadKinds says.
func readEvents(ctx context.Context, r io.Reader, skip func(sched.Kind) bool, fn func(*sched.Event) error) error {
	// More workers than a few would wait for fn, holding memory.
	workers := min(4, max(1, runtime.GOMAXPROCS(0)))
	// Chunks being read, decoded, waiting their turn or passed to fn.
	free := make(chan *eventChunk, workers+2)
	for range cap(free) {
		free <- &eventChunk{done: make(chan struct{}, 1)}
	}
	cr := &chunkReader{r: r, inOrder: make(chan *eventChunk, cap(free))}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var d eventDecoder
			for {
				select {
				case <-stop:
					return
				default:
				}
				var c *eventChunk
				select {
				case c = <-free:
				case <-stop:
					return
				}
				if !cr.next(c) {
					return
				}
				d.decodeChunk(c, skip)
				c.done <- struct{}{}
			}
		}()
	}
	// Stop the workers before returning: the caller may seek r next.
	defer func() {
		close(stop)
		wg.Wait()
	}()
	n := 2 // line number of the chunk's first line: the header is line 1
	for c := range cr.inOrder {
		<-c.done
		if err := ctx.Err(); err != nil {
			return err
		}
		for i := range c.events {
			if err := fn(&c.events[i]); err != nil {
				return err
			}
		}
		if c.err != nil {
			return fmt.Errorf("line %d: %w", n+c.bad, c.err)
		}
		n += c.lines
		if c.rerr != nil {
			return fmt.Errorf("line %d: %w", n, c.rerr)
		}
		if c.last {
			return nil
		}
		free <- c
	}
	return nil // not reached: the last chunk returns
}

// next fills c with the next whole lines and queues it in order; false
// when the input was all handed out.
func (cr *chunkReader) next(c *eventChunk) bool {
	cr.mu.Lock()
	defer cr.mu.Unlock()
	if cr.ended {
		return false
	}
	b := append(c.data[:0], cr.carry...)
	if cap(b) < eventChunkSize {
		b = make([]byte, len(cr.carry), eventChunkSize+len(cr.carry))
		copy(b, cr.carry)
	}
	c.rerr, c.last = nil, false
	for {
		// Fill the buffer; a line longer than it grows it.
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := cr.r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			c.data, c.last = b, true
			break
		}
		if err != nil {
			// Whole lines first, then the error, as a line reader
			// meets it.
			end := bytes.LastIndexByte(b, '\n') + 1
			c.data, c.rerr, c.last = b[:end], err, true
			break
		}
		if len(b) < cap(b) {
			continue
		}
		if end := bytes.LastIndexByte(b, '\n') + 1; end > 0 {
			cr.carry = append(cr.carry[:0], b[end:]...)
			c.data = b[:end]
			break
		}
	}
	cr.ended = c.last
	cr.inOrder <- c // never blocks: it has room for every chunk
	if c.last {
		close(cr.inOrder)
	}
	return true
}

// decodeChunk decodes c's lines, up to the first that fails.
func (d *eventDecoder) decodeChunk(c *eventChunk, skip func(sched.Kind) bool) {
	c.events, c.lines, c.bad, c.err = c.events[:0], 0, 0, nil
	data := c.data
	var ev sched.Event
	for len(data) > 0 {
		var line []byte
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i+1], data[i+1:]
		} else {
			line, data = data, nil
		}
		if c.err == nil {
			skipped, err := d.decode(line, &ev, skip)
			if err != nil {
				c.bad, c.err = c.lines, err
			} else if !skipped && (skip == nil || !skip(ev.Kind)) {
				c.events = append(c.events, ev)
			}
		}
		c.lines++
	}
}
