package record

// BackgroundWriter passes records to a Writer in a goroutine of its own,
// in batches, so that formatting and writing them runs on another CPU
// than the join (replay). The records reach the Writer in order; after
// its first error it gets no more, and that error is returned by the
// next Write or Flush, so that the output holds what a direct writer
// would have left.
type BackgroundWriter struct {
	batch []Record
	work  chan backgroundJob
	free  chan []Record
	err   chan error // the Writer's first error, once
	seen  error
	done  chan struct{}
}

// backgroundJob is a batch to write, or (reply set) a flush.
type backgroundJob struct {
	recs  []Record
	reply chan error
}

const backgroundBatch = 512

// NewBackgroundWriter starts writing to w; Close ends it.
func NewBackgroundWriter(w Writer) *BackgroundWriter {
	b := &BackgroundWriter{
		work: make(chan backgroundJob, 4),
		free: make(chan []Record, 6), // bounds the records held
		err:  make(chan error, 1),
		done: make(chan struct{}),
	}
	for range cap(b.free) {
		b.free <- make([]Record, 0, backgroundBatch)
	}
	b.batch = <-b.free
	go b.run(w)
	return b
}

func (b *BackgroundWriter) run(w Writer) {
	defer close(b.done)
	var failed error
	for job := range b.work {
		if job.reply != nil {
			if failed == nil {
				failed = w.Flush()
				if failed != nil {
					b.err <- failed
				}
			}
			job.reply <- failed
			continue
		}
		for i := range job.recs {
			if failed != nil {
				break
			}
			if failed = w.Write(&job.recs[i]); failed != nil {
				b.err <- failed
			}
		}
		clear(job.recs) // drop the strings
		b.free <- job.recs[:0]
	}
}

// Write queues a copy of r.
func (b *BackgroundWriter) Write(r *Record) error {
	if err := b.failed(); err != nil {
		return err
	}
	b.batch = append(b.batch, *r)
	if len(b.batch) == cap(b.batch) {
		b.work <- backgroundJob{recs: b.batch}
		b.batch = <-b.free
	}
	return nil
}

func (b *BackgroundWriter) failed() error {
	if b.seen == nil {
		select {
		case b.seen = <-b.err:
		default:
		}
	}
	return b.seen
}

// Flush writes every queued record and flushes the Writer.
func (b *BackgroundWriter) Flush() error {
	if err := b.failed(); err != nil {
		return err
	}
	if len(b.batch) > 0 {
		b.work <- backgroundJob{recs: b.batch}
		b.batch = <-b.free
	}
	reply := make(chan error, 1)
	b.work <- backgroundJob{reply: reply}
	err := <-reply
	if err != nil {
		b.failed()
	}
	return err
}

// Close flushes and stops the goroutine.
func (b *BackgroundWriter) Close() error {
	err := b.Flush()
	close(b.work)
	<-b.done
	return err
}
