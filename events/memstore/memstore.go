// Package memstore is an events.Store kept in memory. It passes the same
// contract as the Postgres log (events/storetest), so tests of the write
// side whose subject is not the database run without one. Nothing is
// persisted and nothing is ever dropped: it is for tests and short runs.
package memstore

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"buildledger/events"
)

// Store is an events.Store in memory, safe for concurrent use. Positions
// are events.At(n) for the nth event of the log, as in the Postgres log.
type Store struct {
	mu      sync.Mutex
	log     []events.Recorded
	streams map[string][]int // log indexes of each stream's events
	ids     map[string]int   // log index of each event id
	// grown is closed, and replaced, whenever the log grows.
	grown chan struct{}
}

var _ events.Store = (*Store)(nil)

// New returns an empty Store.
func New() *Store {
	return &Store{streams: map[string][]int{}, ids: map[string]int{}, grown: make(chan struct{})}
}

// Append implements events.Store.
func (s *Store) Append(ctx context.Context, stream string, expect events.Revision, evs ...events.Event) (events.AppendResult, error) {
	if err := ctx.Err(); err != nil {
		return events.AppendResult{}, err
	}
	if err := validate(stream, evs); err != nil {
		return events.AppendResult{}, fmt.Errorf("append %s: %w", stream, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if res, done, err := s.recorded(stream, evs); done || err != nil {
		return res, err
	}
	idx := s.streams[stream]
	last, exists := uint64(len(idx))-1, len(idx) > 0
	if !expect.Accepts(last, exists) {
		return events.AppendResult{}, fmt.Errorf("append %s: expected %s, stream at %d (exists %t): %w",
			stream, expect, last, exists, events.ErrWrongRevision)
	}
	first, prev := uint64(0), ""
	if exists {
		first, prev = last+1, s.log[idx[len(idx)-1]].Metadata.Hash
	}
	now := time.Now()
	for i, ev := range events.SealChain(evs, stream, first, prev) {
		n := len(s.log)
		s.log = append(s.log, events.Recorded{ID: ev.ID, Type: ev.Type, Version: ev.Version, Stream: stream,
			Revision: first + uint64(i), Position: events.At(uint64(n + 1)), RecordedAt: now,
			Data: slices.Clone(ev.Data), Metadata: ev.Metadata})
		s.streams[stream] = append(s.streams[stream], n)
		s.ids[ev.ID] = n
	}
	close(s.grown)
	s.grown = make(chan struct{})
	end := s.log[len(s.log)-1]
	return events.AppendResult{NextRevision: end.Revision, Position: end.Position}, nil
}

// validate checks an append before it takes the lock.
func validate(stream string, evs []events.Event) error {
	if err := events.ValidateStreamName(stream); err != nil {
		return err
	}
	if len(evs) == 0 {
		return fmt.Errorf("%w: no events", events.ErrInvalidEvent)
	}
	seen := make(map[string]bool, len(evs))
	for _, ev := range evs {
		if err := events.ValidateEvent(ev); err != nil {
			return err
		}
		if !json.Valid(ev.Data) {
			return fmt.Errorf("%w %s: data is not valid JSON", events.ErrInvalidEvent, ev.ID)
		}
		if seen[ev.ID] {
			return fmt.Errorf("%w: id %s twice in one append", events.ErrInvalidEvent, ev.ID)
		}
		seen[ev.ID] = true
	}
	return nil
}

// recorded handles an append of ids already recorded: the same events at
// the end of the same stream, appended again, return the first result
// (done); any other use of a recorded id is an error.
func (s *Store) recorded(stream string, evs []events.Event) (events.AppendResult, bool, error) {
	at, ok := s.ids[evs[0].ID]
	if !ok {
		for _, ev := range evs[1:] {
			if _, ok := s.ids[ev.ID]; ok {
				return events.AppendResult{}, false, fmt.Errorf("%w: event %s already recorded", events.ErrInvalidEvent, ev.ID)
			}
		}
		return events.AppendResult{}, false, nil
	}
	for i, ev := range evs {
		n := at + i
		if n >= len(s.log) || s.log[n].ID != ev.ID || s.log[n].Stream != stream {
			return events.AppendResult{}, false, fmt.Errorf("%w: event %s already recorded in %s@%d",
				events.ErrInvalidEvent, evs[0].ID, s.log[at].Stream, s.log[at].Revision)
		}
	}
	end := s.log[at+len(evs)-1]
	return events.AppendResult{NextRevision: end.Revision, Position: end.Position}, true, nil
}

// ReadStream implements events.Store; a limit of 0 or less reads to the
// end.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]events.Recorded, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	idx, ok := s.streams[stream]
	if !ok {
		return nil, fmt.Errorf("read %s: %w", stream, events.ErrStreamNotFound)
	}
	if from >= uint64(len(idx)) {
		return []events.Recorded{}, nil
	}
	idx = idx[from:]
	if limit > 0 && len(idx) > limit {
		idx = idx[:limit]
	}
	out := make([]events.Recorded, len(idx))
	for i, n := range idx {
		out[i] = s.log[n]
	}
	return out, nil
}

// ReadAll implements events.Store; a limit of 0 or less reads to the end.
func (s *Store) ReadAll(ctx context.Context, after events.Position, limit int) ([]events.Recorded, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.after(after, limit), nil
}

// after returns up to limit events after position p; s.mu is held.
func (s *Store) after(p events.Position, limit int) []events.Recorded {
	i := sort.Search(len(s.log), func(i int) bool { return p.Less(s.log[i].Position) })
	rest := s.log[i:]
	if limit > 0 && len(rest) > limit {
		rest = rest[:limit]
	}
	return slices.Clone(rest)
}

// Head implements events.Store.
func (s *Store) Head(ctx context.Context) (events.Position, error) {
	if err := ctx.Err(); err != nil {
		return events.Start, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.log) == 0 {
		return events.Start, nil
	}
	return s.log[len(s.log)-1].Position, nil
}

// SubscribeAll implements events.Store: it delivers what the log holds
// after position after, then each event as it is appended.
func (s *Store) SubscribeAll(ctx context.Context, after events.Position, filter events.Filter) (events.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	sub := &subscription{ch: make(chan events.Recorded), cancel: cancel, done: make(chan struct{})}
	go sub.run(ctx, s, after, filter)
	return sub, nil
}

type subscription struct {
	ch     chan events.Recorded
	cancel context.CancelFunc
	done   chan struct{}
}

// run sends the events after pos that pass filter until ctx ends.
func (sub *subscription) run(ctx context.Context, s *Store, pos events.Position, filter events.Filter) {
	defer close(sub.done)
	defer close(sub.ch)
	for {
		s.mu.Lock()
		batch, grown := s.after(pos, 0), s.grown
		s.mu.Unlock()
		for _, r := range batch {
			pos = r.Position
			if !filter.Match(r) {
				continue
			}
			select {
			case sub.ch <- r:
			case <-ctx.Done():
				return
			}
		}
		if len(batch) > 0 {
			continue
		}
		select {
		case <-grown:
		case <-ctx.Done():
			return
		}
	}
}

func (sub *subscription) Events() <-chan events.Recorded { return sub.ch }

// Err returns nil: a subscription in memory fails in no way; it ends when
// closed or when its context ends.
func (sub *subscription) Err() error { return nil }

func (sub *subscription) Close() error {
	sub.cancel()
	<-sub.done
	return nil
}
