package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/commands/reactors/email"
	"buildledger/events"
	"buildledger/projections"
	"buildledger/projections/hydra"
)

// NotifyLookup answers the e-mail notifier from the live read models. It
// implements email.Lookup.
type NotifyLookup struct {
	pool *pgxpool.Pool
	// Poll is how often Wait looks at Hydra's projection; MaxWait how
	// long it waits in all.
	Poll, MaxWait time.Duration
}

var _ email.Lookup = (*NotifyLookup)(nil)

// NewNotifyLookup returns the lookup of the database pool connects to.
func NewNotifyLookup(pool *pgxpool.Pool) *NotifyLookup {
	return &NotifyLookup{pool: pool, Poll: 100 * time.Millisecond, MaxWait: time.Minute}
}

// ErrReadModelsBehind is returned by Wait when Hydra's tables did not
// reach the asked position in time.
var ErrReadModelsBehind = errors.New("the read models are behind the notifier")

// Wait implements email.Lookup: it waits for the checkpoint of Hydra's
// projection to reach pos.
func (l *NotifyLookup) Wait(ctx context.Context, pos events.Position) error {
	deadline := time.Now().Add(l.MaxWait)
	for {
		var commit, prepare int64
		err := l.pool.QueryRow(ctx, `select position_commit, position_prepare from projection_checkpoints where name = $1`,
			projections.CheckpointName(hydra.Projection{})).
			Scan(&commit, &prepare)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("read the read models' position: %w", err)
		}
		if err == nil && !(events.Position{Commit: uint64(commit), Prepare: uint64(prepare)}).Less(pos) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: waiting for %v", ErrReadModelsBehind, pos)
		}
		t := time.NewTimer(l.Poll)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// PreviousBuild implements email.Lookup.
func (l *NotifyLookup) PreviousBuild(ctx context.Context, jobsetID int64, job, system string, before int64) (int64, int, bool, error) {
	var (
		id int64
		st int
	)
	err := l.pool.QueryRow(ctx, `select id, buildStatus from Builds where jobset_id = $1 and job = $2 and system = $3
		and finished = 1 and id < $4 and buildStatus not in (3, 4) order by id desc limit 1`, jobsetID, job, system, before).Scan(&id, &st)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("previous build of %s: %w", job, err)
	}
	return id, st, true, nil
}

// EvalsOf implements forgestatus.Members: the evaluations that hold
// build, oldest first.
func (l *NotifyLookup) EvalsOf(ctx context.Context, build int64) ([]int64, error) {
	rows, err := l.pool.Query(ctx, `select eval from JobsetEvalMembers where build = $1 order by eval`, build)
	if err != nil {
		return nil, fmt.Errorf("evaluations of build %d: %w", build, err)
	}
	evals, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("evaluations of build %d: %w", build, err)
	}
	return evals, nil
}

// Owner implements email.Lookup.
func (l *NotifyLookup) Owner(ctx context.Context, project string) (string, bool, error) {
	var addr string
	var onError int
	err := l.pool.QueryRow(ctx, `select u.emailAddress, u.emailOnError from Projects p join Users u on u.userName = p.owner
		where p.name = $1`, project).Scan(&addr, &onError)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("owner of %s: %w", project, err)
	}
	return addr, onError != 0, nil
}
