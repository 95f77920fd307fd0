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
	return s.appendEvents(ctx, w, evs)
}

// appendEvents appends evs to w's stream in as few appends as keep each
// below MaxAppendBytes.
func (s *Service) appendEvents(ctx context.Context, w *streamWriter, evs []events.Event) error {
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
	// encoded, when set, are the payloads already encoded: a retry
	// appends the same event ids, which the store takes as a no-op if
	// they landed.
	encoded []events.Event
}

// appendEach appends each batch to its stream, AppendWorkers streams at a
// time, and returns the first error.
func (s *Service) appendEach(ctx context.Context, md events.Metadata, batches []streamBatch) error {
	if len(batches) == 0 {
		return nil
	}
	if multi, ok := s.rt.Store().(events.MultiAppender); ok {
		var err error
		if batches, err = s.appendMulti(ctx, multi, md, batches); err != nil {
			return err
		}
		if len(batches) == 0 {
			return nil
		}
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
				var err error
				if b.encoded != nil {
					err = s.appendEvents(ctx, w, b.encoded)
				} else {
					err = s.appendChunked(ctx, w, md, b.payloads...)
				}
				if err != nil {
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

// multiAppendBytes bounds one AppendMulti; multiAppendStreams the streams
// in it.
const (
	multiAppendBytes   = 4 << 20
	multiAppendStreams = 500
)

// appendMulti appends the batches that fit in one append each through
// the store's multi-stream append, in groups. It returns the batches left
// for appendEach's one-by-one path: those too large for one append, and
// those of a group the store refused (a conflict shows there which stream
// it was; the events keep their ids, so a group that did land is a no-op).
// The next group is encoded while the store appends the previous one.
func (s *Service) appendMulti(ctx context.Context, multi events.MultiAppender, md events.Metadata, batches []streamBatch) ([]streamBatch, error) {
	type group struct {
		appends []events.StreamAppend
		batches []streamBatch
	}
	var (
		rest    []streamBatch // too large for one append; the encoder's
		refused []streamBatch // groups the store refused; the sender's
	)
	groups := make(chan group, 1)
	sent := make(chan error, 1)
	go func() {
		var err error
		for g := range groups {
			if err != nil {
				continue
			}
			if _, aerr := multi.AppendMulti(ctx, g.appends); aerr != nil {
				if ctx.Err() != nil {
					err = ctx.Err()
					continue
				}
				s.log.Debug("evaluation: multi-stream append refused; appending one by one", "streams", len(g.appends), "err", aerr)
				refused = append(refused, g.batches...)
			}
		}
		sent <- err
	}()
	var (
		cur  group
		size int
		err  error
	)
	for _, b := range batches {
		var evs []events.Event
		if evs, err = s.encode(md, b.payloads); err != nil {
			err = fmt.Errorf("append to %s: %w", b.stream, err)
			break
		}
		n := 0
		for _, ev := range evs {
			n += len(ev.Data) + eventOverhead
		}
		if n > s.opts.MaxAppendBytes {
			rest = append(rest, b)
			continue
		}
		if size+n > multiAppendBytes || len(cur.appends) == multiAppendStreams {
			groups <- cur
			cur, size = group{}, 0
		}
		cur.appends = append(cur.appends, events.StreamAppend{Stream: b.stream, Expect: b.expect, Events: evs})
		cur.batches = append(cur.batches, streamBatch{stream: b.stream, expect: b.expect, payloads: b.payloads, encoded: evs})
		size += n
	}
	if err == nil && len(cur.appends) > 0 {
		groups <- cur
	}
	close(groups)
	if serr := <-sent; err == nil {
		err = serr
	}
	if err != nil {
		return nil, err
	}
	return append(rest, refused...), nil
}
