package events

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
)

// Store is the port every event store implements. One contract test suite,
// package storetest, runs against each implementation.
type Store interface {
	// Append writes evs to the end of stream if the stream is at expect.
	// A mismatch returns an error wrapping ErrWrongRevision. Appending events
	// whose IDs are already recorded at the same place in the same stream is
	// a no-op that returns the original result.
	Append(ctx context.Context, stream string, expect Revision, evs ...Event) (AppendResult, error)
	// ReadStream returns up to limit events of stream with revision >= from,
	// in revision order. A stream that does not exist returns ErrStreamNotFound.
	ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]Recorded, error)
	// ReadAll returns up to limit events of the whole log after position
	// after (from the first event when after is Start), in log order.
	ReadAll(ctx context.Context, after Position, limit int) ([]Recorded, error)
	// SubscribeAll delivers every event after position after that passes
	// filter, in log order, first catching up and then live.
	SubscribeAll(ctx context.Context, after Position, filter Filter) (Subscription, error)
	// Head returns the position of the last event in the log, or Start.
	Head(ctx context.Context) (Position, error)
}

// ReadFilter narrows a read of the whole log (FilteredReader).
type ReadFilter struct {
	// Types, when not nil, are the only event types read: events of other
	// types are neither sent nor decoded. An empty, non-nil list reads
	// none.
	Types []string
	// NoMetadata leaves the Metadata of every event read empty, for
	// readers that use none of it: it is about half of a row of the
	// Postgres log.
	NoMetadata bool
}

// FilteredReader is implemented by a Store that can filter a read of the
// whole log where the events are kept, so that the events filtered out are
// neither sent nor decoded.
type FilteredReader interface {
	// ReadAllFiltered returns, in log order, up to limit events after
	// position after that pass f, and the position the read covered: the
	// last event returned when there are limit of them, else a position
	// (at most the head) before which no other event passes f.
	ReadAllFiltered(ctx context.Context, after Position, f ReadFilter, limit int) ([]Recorded, Position, error)
}

// AppendResult tells where an append landed.
type AppendResult struct {
	// NextRevision is the revision of the last event now in the stream.
	NextRevision uint64
	// Position is the log position of the last event appended.
	Position Position
}

// Subscription is a live feed of recorded events.
type Subscription interface {
	// Events delivers events in log order. It is closed when the
	// subscription ends; Err then tells why.
	Events() <-chan Recorded
	// Err returns the error that ended the subscription, or nil.
	Err() error
	// Close ends the subscription and releases its resources.
	Close() error
}

// Filter selects events in a subscription. The zero Filter passes every
// event that is not a store-internal system event.
type Filter struct {
	// StreamPrefixes, if not empty, passes only streams with one of these prefixes.
	StreamPrefixes []string
	// Types, if not empty, passes only these event types.
	Types []string
}

// Match reports whether r passes the filter.
func (f Filter) Match(r Recorded) bool {
	if strings.HasPrefix(r.Stream, "$") || strings.HasPrefix(r.Type, "$") {
		return false
	}
	if len(f.StreamPrefixes) > 0 {
		ok := false
		for _, p := range f.StreamPrefixes {
			if strings.HasPrefix(r.Stream, p) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if len(f.Types) > 0 {
		for _, t := range f.Types {
			if r.Type == t {
				return true
			}
		}
		return false
	}
	return true
}

// Errors every Store returns, wrapped with context. Test with errors.Is.
var (
	// ErrWrongRevision means the stream was not at the expected revision.
	ErrWrongRevision = errors.New("wrong expected revision")
	// ErrStreamNotFound means the stream has no events.
	ErrStreamNotFound = errors.New("stream not found")
	// ErrInvalidStream means a stream name is not acceptable.
	ErrInvalidStream = errors.New("invalid stream name")
	// ErrInvalidEvent means an event to append is malformed.
	ErrInvalidEvent = errors.New("invalid event")
)

// MaxStreamNameLen is the longest stream name a store accepts.
const MaxStreamNameLen = 200

// ValidateStreamName checks that name can be used as a stream: non-empty,
// at most MaxStreamNameLen bytes, valid UTF-8 printable characters without
// spaces, and not starting with "$" (reserved for system streams).
func ValidateStreamName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidStream)
	case len(name) > MaxStreamNameLen:
		return fmt.Errorf("%w: %d bytes, at most %d", ErrInvalidStream, len(name), MaxStreamNameLen)
	case strings.HasPrefix(name, "$"):
		return fmt.Errorf("%w: %q: names starting with $ are reserved", ErrInvalidStream, name)
	}
	for i, r := range name {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: %q: character %q at byte %d", ErrInvalidStream, name, r, i)
		}
	}
	return nil
}

// ValidateEvent checks that ev can be appended.
func ValidateEvent(ev Event) error {
	switch {
	case !IsUUID(ev.ID):
		return fmt.Errorf("%w: id %q is not a UUID", ErrInvalidEvent, ev.ID)
	case ev.Type == "":
		return fmt.Errorf("%w %s: empty type", ErrInvalidEvent, ev.ID)
	case ev.Version < 1:
		return fmt.Errorf("%w %s: version %d, want >= 1", ErrInvalidEvent, ev.ID, ev.Version)
	case len(ev.Data) == 0:
		return fmt.Errorf("%w %s: no data", ErrInvalidEvent, ev.ID)
	}
	return nil
}

// StreamAppend is one stream's part of an AppendMulti.
type StreamAppend struct {
	Stream string
	Expect Revision
	Events []Event
}

// MultiAppender is a Store that can append to many streams at once, all or
// nothing, in one round trip (the Postgres log runs them in one
// transaction). An evaluation that queues thousands of builds uses it when
// the store offers it; EventStoreDB has no multi-stream append, so callers
// fall back to Append.
type MultiAppender interface {
	AppendMulti(ctx context.Context, appends []StreamAppend) ([]AppendResult, error)
}
