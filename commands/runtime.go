package commands

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"buildledger/events"
)

// ErrContention means a stream changed under every attempt of a command;
// the error also wraps events.ErrWrongRevision.
var ErrContention = errors.New("stream contended: gave up retrying")

// Default retry settings.
const (
	DefaultMaxAttempts = 10
	DefaultBackoff     = 2 * time.Millisecond
	maxBackoff         = 250 * time.Millisecond
	readPage           = 1000
)

// Options tune a Runtime. The zero value is ready to use.
type Options struct {
	// Clock stamps decisions and event ids. Default SystemClock.
	Clock Clock
	// Host is recorded in the metadata of every event written through the
	// runtime when the caller leaves Metadata.Host empty.
	Host string
	// MaxAttempts bounds the tries of one command under conflicts.
	// Default DefaultMaxAttempts.
	MaxAttempts int
	// Backoff is the base of the jittered exponential wait between tries.
	// Default DefaultBackoff.
	Backoff time.Duration
	// Logger receives retry and skip notices. Default slog.Default().
	Logger *slog.Logger
	// Snapshots, if set, keeps snapshots of the aggregates that take
	// them (Aggregate.SnapshotKey), so that loading a long stream folds
	// only its tail.
	Snapshots SnapshotStore
	// SnapshotEvery is how many events a stream gains between two
	// snapshots. Default DefaultSnapshotEvery.
	SnapshotEvery int
	// DynamicRunCommand is hydra.conf's dynamicruncommand enable: without
	// it, no project or jobset may enable dynamic RunCommand hooks.
	DynamicRunCommand bool
}

// Runtime loads aggregates from an events.Store and appends their
// decisions with optimistic concurrency. It is safe for concurrent use.
type Runtime struct {
	store       events.Store
	codec       *events.Codec
	clock       Clock
	host        string
	maxAttempts int
	backoff     time.Duration
	log         *slog.Logger

	snapshots     SnapshotStore
	snapshotEvery int

	dynamicRunCommand bool
}

// NewRuntime returns a Runtime over store that decodes with codec.
func NewRuntime(store events.Store, codec *events.Codec, opts Options) *Runtime {
	rt := &Runtime{store: store, codec: codec, clock: opts.Clock, host: opts.Host, dynamicRunCommand: opts.DynamicRunCommand,
		maxAttempts: opts.MaxAttempts, backoff: opts.Backoff, log: opts.Logger,
		snapshots: opts.Snapshots, snapshotEvery: opts.SnapshotEvery}
	if rt.clock == nil {
		rt.clock = SystemClock{}
	}
	if rt.maxAttempts <= 0 {
		rt.maxAttempts = DefaultMaxAttempts
	}
	if rt.backoff <= 0 {
		rt.backoff = DefaultBackoff
	}
	if rt.log == nil {
		rt.log = slog.Default()
	}
	if rt.snapshotEvery <= 0 {
		rt.snapshotEvery = DefaultSnapshotEvery
	}
	return rt
}

// Clock returns the runtime's clock.
func (rt *Runtime) Clock() Clock { return rt.clock }

// Codec returns the runtime's codec.
func (rt *Runtime) Codec() *events.Codec { return rt.codec }

// Store returns the runtime's event store.
func (rt *Runtime) Store() events.Store { return rt.store }

// Aggregate tells the runtime how to fold a stream into a state S.
type Aggregate[S any] struct {
	// Name names the aggregate in errors and logs ("project").
	Name string
	// Evolve folds one decoded payload into the state.
	Evolve func(S, events.Payload) S
	// EvolveAt, if not nil, is used instead of Evolve and also gets the
	// event's log position.
	EvolveAt func(S, events.Payload, events.Position) S
	// SnapshotKey, if set, names the aggregate's snapshots: S must then
	// survive a JSON round trip unchanged. Change it (a version suffix)
	// whenever S or the fold changes, so that older snapshots are not
	// used. Snapshots suit aggregates whose streams grow without bound.
	SnapshotKey string
}

func (a Aggregate[S]) apply(s S, p events.Payload, pos events.Position) S {
	if a.EvolveAt != nil {
		return a.EvolveAt(s, p, pos)
	}
	return a.Evolve(s, p)
}

// Loaded is an aggregate's state with where its stream stands.
type Loaded[S any] struct {
	// State is the fold of the stream's events.
	State S
	// Exists is false for a stream without events.
	Exists bool
	// Revision is the revision of the stream's last event (when Exists).
	Revision uint64
}

// Expected returns the revision an append decided on this state must
// expect: events.Exact(Revision), or events.NoStream for an empty stream.
func (l Loaded[S]) Expected() events.Revision {
	if !l.Exists {
		return events.NoStream
	}
	return events.Exact(l.Revision)
}

// Load folds stream into an aggregate state: from the beginning, or from
// its latest snapshot when the aggregate takes snapshots.
func Load[S any](ctx context.Context, rt *Runtime, stream string, agg Aggregate[S]) (Loaded[S], error) {
	return load(ctx, rt, stream, agg)
}

// CatchUp folds the events of stream recorded after l into l. Events of
// types this binary does not know are skipped (and logged).
func CatchUp[S any](ctx context.Context, rt *Runtime, stream string, agg Aggregate[S], l Loaded[S]) (Loaded[S], error) {
	from := uint64(0)
	if l.Exists {
		from = l.Revision + 1
	}
	for {
		recs, err := rt.store.ReadStream(ctx, stream, from, readPage)
		if errors.Is(err, events.ErrStreamNotFound) {
			return l, nil
		}
		if err != nil {
			return l, fmt.Errorf("load %s %s: %w", agg.Name, stream, err)
		}
		for _, r := range recs {
			p, err := rt.codec.Decode(r)
			switch {
			case errors.Is(err, events.ErrUnknownType):
				rt.log.WarnContext(ctx, "skipping event of unknown type", "stream", stream, "revision", r.Revision, "type", r.Type)
			case err != nil:
				return l, fmt.Errorf("load %s %s: %w", agg.Name, stream, err)
			default:
				l.State = agg.apply(l.State, p, r.Position)
			}
			l.Exists, l.Revision = true, r.Revision
			from = r.Revision + 1
		}
		if len(recs) < readPage {
			return l, nil
		}
	}
}

// Result tells what a command appended.
type Result struct {
	// Stream is where the events went.
	Stream string
	// Events are the appended events, empty when the decision was to do
	// nothing.
	Events []events.Event
	// NextRevision is the revision of the stream's last event after the
	// command (when the stream exists).
	NextRevision uint64
	// Position is the log position of the last appended event.
	Position events.Position
	// Attempts counts the decisions made (1 without conflicts).
	Attempts int
}

// Execute runs one command against stream: it loads the aggregate, calls
// decide with its state, and appends the decided payloads with md at the
// loaded revision. On events.ErrWrongRevision it waits a little (jittered
// exponential backoff), reloads and decides again, up to the runtime's
// MaxAttempts; then it returns an error wrapping ErrContention and
// events.ErrWrongRevision. decide may be called several times and may read
// other streams; errors it returns are returned unwrapped. A decision of
// no events appends nothing.
func Execute[S any](ctx context.Context, rt *Runtime, stream string, agg Aggregate[S],
	decide func(S) ([]events.Payload, error), md events.Metadata) (Result, error) {
	res, _, err := execute(ctx, rt, stream, agg, Loaded[S]{}, decide, md)
	return res, err
}

// execute is Execute starting from a known state l of the stream; it also
// returns the state after the command.
func execute[S any](ctx context.Context, rt *Runtime, stream string, agg Aggregate[S], l Loaded[S],
	decide func(S) ([]events.Payload, error), md events.Metadata) (Result, Loaded[S], error) {
	md, err := rt.complete(md)
	if err != nil {
		return Result{}, l, fmt.Errorf("%s %s: %w", agg.Name, stream, err)
	}
	for attempt := 1; ; attempt++ {
		if !l.Exists {
			l, err = load(ctx, rt, stream, agg)
		} else {
			l, err = CatchUp(ctx, rt, stream, agg, l)
		}
		if err != nil {
			return Result{}, l, err
		}
		payloads, err := decide(l.State)
		if err != nil {
			return Result{}, l, err
		}
		res := Result{Stream: stream, NextRevision: l.Revision, Attempts: attempt}
		if len(payloads) == 0 {
			return res, l, nil
		}
		now := rt.clock.Now()
		evs := make([]events.Event, len(payloads))
		for i, p := range payloads {
			if evs[i], err = rt.codec.Encode(p, md, now); err != nil {
				return Result{}, l, fmt.Errorf("%s %s: %w", agg.Name, stream, err)
			}
		}
		ar, err := rt.store.Append(ctx, stream, l.Expected(), evs...)
		if err == nil {
			res.Events, res.NextRevision, res.Position = evs, ar.NextRevision, ar.Position
			for _, p := range payloads {
				l.State = agg.apply(l.State, p, ar.Position)
			}
			l.Exists, l.Revision = true, ar.NextRevision
			return res, l, nil
		}
		if !errors.Is(err, events.ErrWrongRevision) {
			return Result{}, l, fmt.Errorf("append to %s: %w", stream, err)
		}
		if attempt >= rt.maxAttempts {
			return Result{}, l, fmt.Errorf("append to %s after %d attempts: %w: %w", stream, attempt, ErrContention, err)
		}
		rt.log.DebugContext(ctx, "append conflict, retrying", "stream", stream, "attempt", attempt)
		if err := rt.sleep(ctx, attempt); err != nil {
			return Result{}, l, fmt.Errorf("append to %s: %w", stream, err)
		}
	}
}

// sleep waits a random time below backoff·2^(attempt-1), capped.
func (rt *Runtime) sleep(ctx context.Context, attempt int) error {
	d := min(rt.backoff<<min(attempt-1, 16), maxBackoff)
	t := time.NewTimer(rand.N(d) + 1)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
