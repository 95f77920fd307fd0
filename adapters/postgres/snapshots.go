package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/commands"
)

// Snapshots keeps aggregate snapshots in commandstate.snapshots. It
// implements commands.SnapshotStore.
type Snapshots struct {
	pool *pgxpool.Pool
}

var _ commands.SnapshotStore = (*Snapshots)(nil)

// NewSnapshots returns the snapshots of the database pool connects to.
func NewSnapshots(pool *pgxpool.Pool) *Snapshots { return &Snapshots{pool: pool} }

// LoadSnapshot implements commands.SnapshotStore.
func (s *Snapshots) LoadSnapshot(ctx context.Context, stream, key string) (commands.Snapshot, error) {
	var snap commands.Snapshot
	var rev int64
	err := s.pool.QueryRow(ctx, `select revision, state from `+CommandStateSchema+`.snapshots where stream = $1 and key = $2`,
		stream, key).Scan(&rev, &snap.State)
	if errors.Is(err, pgx.ErrNoRows) {
		return snap, fmt.Errorf("%s of %s: %w", key, stream, commands.ErrNoSnapshot)
	}
	if err != nil {
		return snap, fmt.Errorf("read snapshot %s of %s: %w", key, stream, err)
	}
	snap.Revision = uint64(rev)
	return snap, nil
}

// SaveSnapshot implements commands.SnapshotStore. A snapshot of the same
// revision is replaced: the kept one may be unreadable.
func (s *Snapshots) SaveSnapshot(ctx context.Context, stream, key string, snap commands.Snapshot) error {
	_, err := s.pool.Exec(ctx, `insert into `+CommandStateSchema+`.snapshots (stream, key, revision, state) values ($1, $2, $3, $4)
		on conflict (stream, key) do update set revision = excluded.revision, state = excluded.state, updated_at = now()
		where snapshots.revision <= excluded.revision`, stream, key, int64(snap.Revision), snap.State)
	if err != nil {
		return fmt.Errorf("save snapshot %s of %s: %w", key, stream, err)
	}
	return nil
}
