package evaluator

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/commands/evaluation"
)

// Checks keeps the evaluator's checks that found a jobset's inputs
// unchanged, in schema commandstate (written by the command side, outside
// the log and the read models). It implements evaluation.Checks.
type Checks struct {
	Pool *pgxpool.Pool
}

var _ evaluation.Checks = (*Checks)(nil)

// RecordCheck implements evaluation.Checks.
func (c *Checks) RecordCheck(ctx context.Context, jobsetID, at int64) error {
	_, err := c.Pool.Exec(ctx, `insert into commandstate.jobset_checks (jobset_id, last_checked, unchanged_checks)
		values ($1, $2, 1)
		on conflict (jobset_id) do update set last_checked = greatest(jobset_checks.last_checked, excluded.last_checked),
			unchanged_checks = jobset_checks.unchanged_checks + 1`, jobsetID, at)
	if err != nil {
		return fmt.Errorf("record check of jobset %d: %w", jobsetID, err)
	}
	return nil
}

// LastChecks implements evaluation.Checks.
func (c *Checks) LastChecks(ctx context.Context) (map[int64]int64, error) {
	rows, err := c.Pool.Query(ctx, `select jobset_id, last_checked from commandstate.jobset_checks`)
	if err != nil {
		return nil, fmt.Errorf("read jobset checks: %w", err)
	}
	defer rows.Close()
	out := map[int64]int64{}
	for rows.Next() {
		var id, at int64
		if err := rows.Scan(&id, &at); err != nil {
			return nil, fmt.Errorf("read jobset checks: %w", err)
		}
		out[id] = at
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read jobset checks: %w", err)
	}
	return out, nil
}
