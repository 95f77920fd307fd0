package reactors

import (
	"context"
	"errors"

	"buildledger/events"
)

// ErrNoSnapshot is returned by a SnapshotStore that keeps no snapshot
// under the asked name.
var ErrNoSnapshot = errors.New("no reactor snapshot")

// Snapshot is a reactor's in-memory state folded from the log up to
// Position, encoded by the reactor in its format Version. Stream,
// Revision and EventID name the event at Position, so that a snapshot
// of another log (another event store, a restored database) is told
// apart from one of this log: the reactor reads that event back before
// it trusts the snapshot.
type Snapshot struct {
	Version  int
	Position events.Position
	Stream   string
	Revision uint64
	EventID  string
	State    []byte
}

// SnapshotStore keeps the latest snapshot of each reactor, by name. It
// is a cache: a reactor that finds none, or one it cannot use, folds the
// whole log instead.
type SnapshotStore interface {
	// LoadSnapshot returns the snapshot kept under name, or an error
	// wrapping ErrNoSnapshot.
	LoadSnapshot(ctx context.Context, name string) (Snapshot, error)
	// SaveSnapshot keeps s under name, replacing the one kept, whatever
	// its position: a reactor saves only what it folded from the log it
	// reads, and must be able to replace a snapshot of another log.
	SaveSnapshot(ctx context.Context, name string, s Snapshot) error
}
