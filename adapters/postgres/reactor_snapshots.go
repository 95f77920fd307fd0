package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/commands/reactors"
)

// ReactorSnapshots keeps the reactors' snapshots in
// commandstate.reactor_snapshots. It implements reactors.SnapshotStore.
type ReactorSnapshots struct {
	pool *pgxpool.Pool
}

var _ reactors.SnapshotStore = (*ReactorSnapshots)(nil)

// NewReactorSnapshots returns the reactor snapshots of the database pool
// connects to.
func NewReactorSnapshots(pool *pgxpool.Pool) *ReactorSnapshots { return &ReactorSnapshots{pool: pool} }

// LoadSnapshot implements reactors.SnapshotStore.
func (s *ReactorSnapshots) LoadSnapshot(ctx context.Context, name string) (reactors.Snapshot, error) {
	var snap reactors.Snapshot
	var commit, prepare, rev int64
	err := s.pool.QueryRow(ctx, `select version, position_commit, position_prepare, stream, revision, event_id, state
		from `+CommandStateSchema+`.reactor_snapshots where name = $1`, name).
		Scan(&snap.Version, &commit, &prepare, &snap.Stream, &rev, &snap.EventID, &snap.State)
	if errors.Is(err, pgx.ErrNoRows) {
		return snap, fmt.Errorf("snapshot of %s: %w", name, reactors.ErrNoSnapshot)
	}
	if err != nil {
		return snap, fmt.Errorf("read snapshot of %s: %w", name, err)
	}
	snap.Position.Commit, snap.Position.Prepare, snap.Revision = uint64(commit), uint64(prepare), uint64(rev)
	return snap, nil
}

// SaveSnapshot implements reactors.SnapshotStore.
func (s *ReactorSnapshots) SaveSnapshot(ctx context.Context, name string, snap reactors.Snapshot) error {
	_, err := s.pool.Exec(ctx, `insert into `+CommandStateSchema+`.reactor_snapshots
		(name, version, position_commit, position_prepare, stream, revision, event_id, state)
		values ($1, $2, $3, $4, $5, $6, $7, $8)
		on conflict (name) do update set version = excluded.version, position_commit = excluded.position_commit,
			position_prepare = excluded.position_prepare, stream = excluded.stream, revision = excluded.revision,
			event_id = excluded.event_id, state = excluded.state, saved_at = now()`,
		name, snap.Version, int64(snap.Position.Commit), int64(snap.Position.Prepare), snap.Stream, int64(snap.Revision),
		snap.EventID, snap.State)
	if err != nil {
		return fmt.Errorf("save snapshot of %s: %w", name, err)
	}
	return nil
}
