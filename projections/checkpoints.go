package projections

import (
	"context"
	"errors"
	"fmt"

	"buildledger/events"
)

// A projection's checkpoint is a row of projection_checkpoints, read and
// moved in the transaction that applies its events, so that a crash
// neither loses nor repeats any.

// CheckpointName is the key of a projection's checkpoint row: its name
// and version, so a new version starts from the beginning.
func CheckpointName(p Projection) string { return fmt.Sprintf("%s.v%d", p.Name(), p.Version()) }

// checkpoints reads the checkpoints of the runner's projections (creating
// the missing ones) without locking them.
func (r *Runner) checkpoints(ctx context.Context) ([]events.Position, error) {
	var cps []events.Position
	err := r.db.InTx(ctx, func(tx Tx) error {
		if err := ensureCheckpoints(ctx, tx, r.projections); err != nil {
			return err
		}
		var err error
		cps, err = readCheckpoints(ctx, tx, r.projections, false)
		return err
	})
	if err == nil {
		r.mu.Lock()
		r.cps = cps
		r.mu.Unlock()
	}
	return cps, err
}

// lockCheckpoints reads and locks the checkpoints of ps, which must exist
// (ensureCheckpoints).
func lockCheckpoints(ctx context.Context, tx Tx, ps []Projection) ([]events.Position, error) {
	return readCheckpoints(ctx, tx, ps, true)
}

// ensureCheckpoints creates the missing checkpoints of ps, at the start of
// the log.
func ensureCheckpoints(ctx context.Context, tx Tx, ps []Projection) error {
	names := checkpointNames(ps)
	if err := tx.Exec(ctx, `insert into projection_checkpoints (name, position_commit, position_prepare)
		select unnest($1::text[]), 0, 0 on conflict (name) do nothing`, names); err != nil {
		return fmt.Errorf("checkpoints %v: %w", names, err)
	}
	return nil
}

func checkpointNames(ps []Projection) []string {
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = CheckpointName(p)
	}
	return names
}

// readCheckpoints reads the checkpoints of ps in one statement, locking
// them if lock is set.
func readCheckpoints(ctx context.Context, tx Tx, ps []Projection, lock bool) ([]events.Position, error) {
	if len(ps) == 0 {
		return nil, errors.New("no projections")
	}
	names := checkpointNames(ps)
	query := `select name, position_commit, position_prepare from projection_checkpoints where name = any($1) order by name`
	if lock {
		query += ` for update`
	}
	rows, err := tx.Query(ctx, query, names)
	if err != nil {
		return nil, fmt.Errorf("checkpoints %v: %w", names, err)
	}
	defer rows.Close()
	found := map[string]events.Position{}
	for rows.Next() {
		var (
			name  string
			c, pr int64
		)
		if err := rows.Scan(&name, &c, &pr); err != nil {
			return nil, fmt.Errorf("checkpoints %v: %w", names, err)
		}
		found[name] = events.Position{Commit: uint64(c), Prepare: uint64(pr)}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("checkpoints %v: %w", names, err)
	}
	out := make([]events.Position, len(ps))
	for i, name := range names {
		pos, ok := found[name]
		if !ok {
			return nil, fmt.Errorf("checkpoint %s: no row", name)
		}
		out[i] = pos
	}
	return out, nil
}

// saveCheckpoints moves the named checkpoints to pos in one statement;
// applied[i] events were applied under names[i].
func saveCheckpoints(ctx context.Context, tx Tx, names []string, applied []int64, pos events.Position) error {
	if len(names) == 0 {
		return nil
	}
	err := tx.Exec(ctx, `update projection_checkpoints c set position_commit = $2, position_prepare = $3, updated_at = now(),
			events_applied = c.events_applied + u.n
		from unnest($1::text[], $4::bigint[]) as u(name, n) where c.name = u.name`,
		names, int64(pos.Commit), int64(pos.Prepare), applied)
	if err != nil {
		return fmt.Errorf("checkpoints %v: %w", names, err)
	}
	return nil
}

// Checkpoints reads the stored position of every projection.
func Checkpoints(ctx context.Context, db DB, ps []Projection) (map[string]events.Position, error) {
	out := map[string]events.Position{}
	err := db.InTx(ctx, func(tx Tx) error {
		for _, p := range ps {
			var c, pr int64
			err := tx.QueryRow(ctx, `select position_commit, position_prepare from projection_checkpoints where name = $1`, CheckpointName(p)).Scan(&c, &pr)
			if err != nil {
				continue // no row yet: the projection has not started
			}
			out[p.Name()] = events.Position{Commit: uint64(c), Prepare: uint64(pr)}
		}
		return nil
	})
	return out, err
}
