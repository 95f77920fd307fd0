package evaluation

import (
	"context"
	"fmt"
	"sync"

	"buildledger/events"
)

// streamWriter appends to a stream this evaluation owns, at the revision
// of its previous append.
type streamWriter struct {
	stream string
	expect events.Revision
}

// eventOverhead approximates what an event adds to its data in an append
// (id, type, metadata).
const eventOverhead = 512

// encode turns payloads into events with md.
func (s *Service) encode(md events.Metadata, ps []events.Payload) ([]events.Event, error) {
	now := s.rt.Clock().Now()
	evs := make([]events.Event, len(ps))
	for i, p := range ps {
		ev, err := s.codec.Encode(p, md, now)
		if err != nil {
			return nil, err
		}
		evs[i] = ev
	}
	return evs, nil
}

// appendChunked appends ps to w's stream in as few appends as keep each
// below MaxAppendBytes.
func (s *Service) appendChunked(ctx context.Context, w *streamWriter, md events.Metadata, ps ...events.Payload) error {
	evs, err := s.encode(md, ps)
	if err != nil {
		return fmt.Errorf("append to %s: %w", w.stream, err)
	}
	for len(evs) > 0 {
		n, size := 0, 0
		for n < len(evs) {
			sz := len(evs[n].Data) + eventOverhead
			if n > 0 && size+sz > s.opts.MaxAppendBytes {
				break
			}
			size += sz
			n++
		}
		res, err := s.rt.Store().Append(ctx, w.stream, w.expect, evs[:n]...)
		if err != nil {
			return fmt.Errorf("append %d events to %s: %w", n, w.stream, err)
		}
		w.expect = events.Exact(res.NextRevision)
		evs = evs[n:]
	}
	return nil
}

// streamBatch is what goes to one stream in appendEach.
type streamBatch struct {
	stream   string
	expect   events.Revision
	payloads []events.Payload
}

// appendEach appends each batch to its stream, AppendWorkers streams at a
// time, and returns the first error.
func (s *Service) appendEach(ctx context.Context, md events.Metadata, batches []streamBatch) error {
	if len(batches) == 0 {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	work := make(chan streamBatch)
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(s.opts.AppendWorkers, len(batches)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				w := &streamWriter{stream: b.stream, expect: b.expect}
				if err := s.appendChunked(ctx, w, md, b.payloads...); err != nil {
					once.Do(func() { first = err; cancel() })
				}
			}
		}()
	}
feed:
	for _, b := range batches {
		select {
		case work <- b:
		case <-ctx.Done():
			break feed
		}
	}
	close(work)
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}
