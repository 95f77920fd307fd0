package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"buildledger/commands/reactors/outbox"
	"buildledger/events"
)

// Outbox keeps the payloads of queued notifications in
// commandstate.outbox and the notifiers' checkpoints in
// commandstate.notifier_checkpoints. It implements outbox.Store and
// outbox.Checkpoints.
type Outbox struct {
	pool *pgxpool.Pool
}

var (
	_ outbox.Store       = (*Outbox)(nil)
	_ outbox.Checkpoints = (*Outbox)(nil)
)

// NewOutbox returns the outbox of the database pool connects to.
func NewOutbox(pool *pgxpool.Pool) *Outbox { return &Outbox{pool: pool} }

// Put implements outbox.Store.
func (o *Outbox) Put(ctx context.Context, key, subject string, payload []byte, due time.Time) error {
	_, err := o.pool.Exec(ctx, `insert into `+CommandStateSchema+`.outbox (key, subject, payload, due) values ($1, $2, $3, $4)
		on conflict (key) do nothing`, key, subject, payload, due)
	if err != nil {
		return fmt.Errorf("keep notification payload: %w", err)
	}
	return nil
}

// Claim implements outbox.Store. Rows are taken with skip locked, so two
// workers claiming at once take different rows; a row waits while an
// earlier one of its subject is kept (settled rows are removed).
func (o *Outbox) Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]outbox.Item, error) {
	rows, err := o.pool.Query(ctx, `update `+CommandStateSchema+`.outbox o set claimed_until = $2
		where o.key in (select key from `+CommandStateSchema+`.outbox
			where due <= $1 and (claimed_until is null or claimed_until <= $1)
				and not exists (select 1 from `+CommandStateSchema+`.outbox e where e.subject = outbox.subject and e.seq < outbox.seq)
			order by due, seq limit $3 for update skip locked)
		returning o.key, o.payload, o.queued_at`, now, now.Add(lease), limit)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	items, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (outbox.Item, error) {
		var it outbox.Item
		err := r.Scan(&it.Key, &it.Payload, &it.Queued)
		return it, err
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	return items, nil
}

// Reschedule implements outbox.Store.
func (o *Outbox) Reschedule(ctx context.Context, key string, due time.Time) error {
	if _, err := o.pool.Exec(ctx, `update `+CommandStateSchema+`.outbox set due = $2, claimed_until = null where key = $1`,
		key, due); err != nil {
		return fmt.Errorf("reschedule notification %s: %w", key, err)
	}
	return nil
}

// Remove implements outbox.Store.
func (o *Outbox) Remove(ctx context.Context, key string) error {
	if _, err := o.pool.Exec(ctx, `delete from `+CommandStateSchema+`.outbox where key = $1`, key); err != nil {
		return fmt.Errorf("forget notification %s: %w", key, err)
	}
	return nil
}

// LoadCheckpoint implements outbox.Checkpoints.
func (o *Outbox) LoadCheckpoint(ctx context.Context, name string) (events.Position, bool, error) {
	var commit, prepare int64
	err := o.pool.QueryRow(ctx, `select position_commit, position_prepare from `+CommandStateSchema+`.notifier_checkpoints
		where name = $1`, name).Scan(&commit, &prepare)
	if errors.Is(err, pgx.ErrNoRows) {
		return events.Position{}, false, nil
	}
	if err != nil {
		return events.Position{}, false, fmt.Errorf("read checkpoint of %s: %w", name, err)
	}
	return events.Position{Commit: uint64(commit), Prepare: uint64(prepare)}, true, nil
}

// SaveCheckpoint implements outbox.Checkpoints.
func (o *Outbox) SaveCheckpoint(ctx context.Context, name string, pos events.Position) error {
	_, err := o.pool.Exec(ctx, `insert into `+CommandStateSchema+`.notifier_checkpoints (name, position_commit, position_prepare)
		values ($1, $2, $3) on conflict (name) do update set position_commit = excluded.position_commit,
		position_prepare = excluded.position_prepare, saved_at = now()`, name, int64(pos.Commit), int64(pos.Prepare))
	if err != nil {
		return fmt.Errorf("save checkpoint of %s: %w", name, err)
	}
	return nil
}
