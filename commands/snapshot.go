package commands

import (
	"context"
	"encoding/json"
	"errors"
)

// DefaultSnapshotEvery is how many events a stream gains between two
// snapshots of an aggregate by default.
const DefaultSnapshotEvery = 500

// ErrNoSnapshot is returned by a SnapshotStore that has no snapshot of
// the asked stream and aggregate.
var ErrNoSnapshot = errors.New("no snapshot")

// Snapshot is an aggregate's state folded from a stream up to Revision
// (the revision of the last event it covers), encoded as JSON.
type Snapshot struct {
	Revision uint64
	State    []byte
}

// SnapshotStore keeps aggregate snapshots. It is a cache: a lost or
// unreadable snapshot only makes a load fold more of the stream, and the
// runtime never decides on a snapshot it could not decode.
type SnapshotStore interface {
	// LoadSnapshot returns the snapshot of stream kept under key, or an
	// error wrapping ErrNoSnapshot.
	LoadSnapshot(ctx context.Context, stream, key string) (Snapshot, error)
	// SaveSnapshot keeps s as the snapshot of stream under key, unless
	// one of a later revision is kept (one of the same is replaced).
	SaveSnapshot(ctx context.Context, stream, key string, s Snapshot) error
}

// load folds stream into a state: from its snapshot when the aggregate
// takes snapshots and one is kept, else from the start. It saves a new
// snapshot when the stream has grown by the runtime's SnapshotEvery
// events since the one it started from. Failures to read, decode or save
// a snapshot are logged and cost only time.
func load[S any](ctx context.Context, rt *Runtime, stream string, agg Aggregate[S]) (Loaded[S], error) {
	if rt.snapshots == nil || agg.SnapshotKey == "" {
		return CatchUp(ctx, rt, stream, agg, Loaded[S]{})
	}
	var l Loaded[S]
	covered := uint64(0) // events the snapshot covers
	snap, err := rt.snapshots.LoadSnapshot(ctx, stream, agg.SnapshotKey)
	switch {
	case errors.Is(err, ErrNoSnapshot):
	case err != nil:
		rt.log.WarnContext(ctx, "snapshot not read; folding the whole stream", "stream", stream, "aggregate", agg.Name, "err", err)
	default:
		var s S
		if err := json.Unmarshal(snap.State, &s); err != nil {
			rt.log.WarnContext(ctx, "snapshot not decoded; folding the whole stream", "stream", stream, "aggregate", agg.Name, "err", err)
			break
		}
		l, covered = Loaded[S]{State: s, Exists: true, Revision: snap.Revision}, snap.Revision+1
	}
	if l, err = CatchUp(ctx, rt, stream, agg, l); err != nil {
		return l, err
	}
	if l.Exists && l.Revision+1 >= covered+uint64(rt.snapshotEvery) {
		b, err := json.Marshal(l.State)
		if err == nil {
			err = rt.snapshots.SaveSnapshot(ctx, stream, agg.SnapshotKey, Snapshot{Revision: l.Revision, State: b})
		}
		if err != nil {
			rt.log.WarnContext(ctx, "snapshot not saved", "stream", stream, "aggregate", agg.Name, "err", err)
		}
	}
	return l, nil
}
