package hydraimport

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"buildledger/events"
)

// Log is what the importer needs of the event store: a multi-stream
// append, and which ids it already holds (pglog.Store).
type Log interface {
	events.MultiAppender
	Recorded(ctx context.Context, ids []string) (map[string]bool, error)
}

// namespace is the UUID namespace of imported event ids.
const namespace = "5c0b2f1e-8d0a-4b8e-9a4e-6879647261aa"

// Actor is the actor of every imported event.
const Actor = "component:hydra-import"

// eventID is the id of the event of type typ made from the Hydra row
// source: the same on every run. A row keyed by a number first (builds,
// steps, evaluations and their members) gets an id ordered by that
// number, so the millions of events of a large import fill the log's id
// index in order rather than at random (events.OrderedNameID).
func eventID(source, typ string) string {
	if n, ok := leadingNumber(source); ok {
		if id, ok := events.OrderedNameID(namespace, n, source+"/"+typ); ok {
			return id
		}
	}
	id, _ := events.NameID(namespace, source+"/"+typ)
	return id
}

// leadingNumber returns the number right after the table name of a row
// source such as "buildsteps:12/3" (12).
func leadingNumber(source string) (uint64, bool) {
	_, key, ok := strings.Cut(source, ":")
	if !ok {
		return 0, false
	}
	end := strings.IndexFunc(key, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(key)
	}
	n, err := strconv.ParseUint(key[:end], 10, 64)
	return n, err == nil
}

// batch collects the events of many streams, to be appended at once.
type batch struct {
	correlation string
	appends     []events.StreamAppend
	byStream    map[string]int
	n           int
	// fresh says that the log holds none of the batch's events (they
	// come after the point an earlier run reached), so the writer need
	// not ask.
	fresh bool
}

func newBatch(correlation string) *batch {
	return &batch{correlation: correlation, byStream: map[string]int{}}
}

// add encodes p as an event of stream from the Hydra row source (table
// and key), that happened at Unix time at (0: unknown).
func (b *batch) add(stream, source string, at int64, p events.Payload) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode %s of %s: %w", p.EventType(), source, err)
	}
	md := events.Metadata{Actor: Actor, CorrelationID: b.correlation, ImportedFrom: "hydra", Source: source}
	if at > 0 {
		md.OccurredAt = time.Unix(at, 0).UTC().Format(time.RFC3339)
	}
	ev := events.Event{ID: eventID(source, p.EventType()), Type: p.EventType(), Version: 1, Data: data, Metadata: md}
	i, ok := b.byStream[stream]
	if !ok {
		i = len(b.appends)
		b.byStream[stream] = i
		b.appends = append(b.appends, events.StreamAppend{Stream: stream, Expect: events.Any})
	}
	b.appends[i].Events = append(b.appends[i].Events, ev)
	b.n++
	return nil
}

// writer appends batches and counts what it appended.
type writer struct {
	log Log
	// appended counts the events appended, skipped those found recorded.
	appended, skipped int
}

// write appends b, leaving out the events the log holds. A fresh batch
// is appended without asking; should the log refuse it (an event was
// recorded after all), it is appended again the careful way.
func (w *writer) write(ctx context.Context, b *batch) error {
	if b.n == 0 {
		return nil
	}
	if b.fresh {
		if _, err := w.log.AppendMulti(ctx, b.appends); err == nil {
			w.appended += b.n
			return nil
		} else if ctx.Err() != nil {
			return err
		}
	}
	ids := make([]string, 0, b.n)
	for _, a := range b.appends {
		for _, ev := range a.Events {
			ids = append(ids, ev.ID)
		}
	}
	known, err := w.log.Recorded(ctx, ids)
	if err != nil {
		return err
	}
	todo := b.appends[:0]
	for _, a := range b.appends {
		kept := a.Events[:0]
		for _, ev := range a.Events {
			if !known[ev.ID] {
				kept = append(kept, ev)
			}
		}
		if len(kept) > 0 {
			a.Events = kept
			todo = append(todo, a)
		}
	}
	if len(todo) > 0 {
		if _, err := w.log.AppendMulti(ctx, todo); err != nil {
			return err
		}
	}
	w.appended += b.n - len(known)
	w.skipped += len(known)
	return nil
}

// pipeline runs produce, which reads and encodes batches, beside the
// writer, which appends them in the order they come: reading Hydra and
// appending to the log use a core each. A few batches wait at most. The
// writer's error, if any, is the one returned: the reader then only
// stopped because of it.
func (w *writer) pipeline(ctx context.Context, produce func(ctx context.Context, emit func(*batch) error) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	ch := make(chan *batch, 2)
	produced := make(chan error, 1)
	go func() {
		defer close(ch)
		produced <- produce(ctx, func(b *batch) error {
			select {
			case ch <- b:
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
	}()
	var err error
	for b := range ch {
		if err == nil {
			if err = w.write(ctx, b); err != nil {
				cancel(err)
			}
		}
	}
	if err != nil {
		return err
	}
	return <-produced
}
