package hydraimport

import (
	"context"
	"encoding/json"
	"fmt"
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

// batch collects the events of many streams and appends them at once.
type batch struct {
	log         Log
	correlation string
	appends     []events.StreamAppend
	byStream    map[string]int
	n           int
	// appended counts the events appended, skipped those found recorded.
	appended, skipped int
}

func newBatch(log Log, correlation string) *batch {
	return &batch{log: log, correlation: correlation, byStream: map[string]int{}}
}

// add encodes p as an event of stream from the Hydra row source (table
// and key), that happened at Unix time at (0: unknown).
func (b *batch) add(stream, source string, at int64, p events.Payload) error {
	data, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode %s of %s: %w", p.EventType(), source, err)
	}
	id, _ := events.NameID(namespace, source+"/"+p.EventType())
	md := events.Metadata{Actor: Actor, CorrelationID: b.correlation, ImportedFrom: "hydra", Source: source}
	if at > 0 {
		md.OccurredAt = time.Unix(at, 0).UTC().Format(time.RFC3339)
	}
	ev := events.Event{ID: id, Type: p.EventType(), Version: 1, Data: data, Metadata: md}
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

// flush appends what was added, leaving out the events the log holds.
func (b *batch) flush(ctx context.Context) error {
	if b.n == 0 {
		return nil
	}
	ids := make([]string, 0, b.n)
	for _, a := range b.appends {
		for _, ev := range a.Events {
			ids = append(ids, ev.ID)
		}
	}
	known, err := b.log.Recorded(ctx, ids)
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
		if _, err := b.log.AppendMulti(ctx, todo); err != nil {
			return err
		}
	}
	b.appended += b.n - len(known)
	b.skipped += len(known)
	b.appends, b.n = b.appends[:0], 0
	clear(b.byStream)
	return nil
}
