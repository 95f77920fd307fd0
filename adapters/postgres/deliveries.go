package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DeliveryWindow is how long a webhook delivery is remembered: GitHub and
// Gitea redeliver within it, and a capture replayed later requests at
// most an evaluation that checking the jobset again would.
const DeliveryWindow = 24 * time.Hour

// Deliveries remembers the webhook deliveries handled in the last
// DeliveryWindow, in vault.webhook_deliveries: state of the command side
// that survives restarts and replays and never enters the log. It
// implements web.WebhookDeliveries.
type Deliveries struct {
	pool *pgxpool.Pool
}

// NewDeliveries returns the delivery record of the database pool
// connects to.
func NewDeliveries(pool *pgxpool.Pool) *Deliveries { return &Deliveries{pool: pool} }

// Claim records the keys of a delivery from source and reports whether
// none of them was seen within the window (false: a redelivery, and
// nothing is recorded). It forgets the deliveries older than the window.
func (d *Deliveries) Claim(ctx context.Context, source string, keys []string) (bool, error) {
	err := Transact(ctx, d.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `delete from vault.webhook_deliveries where received_at < now() - $1 * interval '1 second'`,
			int64(DeliveryWindow.Seconds())); err != nil {
			return err
		}
		var fresh int
		if err := tx.QueryRow(ctx, `with claimed as (
				insert into vault.webhook_deliveries (source, key) select $1, k from unnest($2::text[]) k
				on conflict (source, key) do nothing
				returning 1)
			select count(*) from claimed`, source, keys).Scan(&fresh); err != nil {
			return err
		}
		if fresh < len(keys) {
			return errSeen // roll back the keys that were new
		}
		return nil
	})
	if errors.Is(err, errSeen) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("record %s webhook delivery: %w", source, err)
	}
	return true, nil
}

var errSeen = errors.New("delivery seen")

// Release forgets a delivery's keys, so that a redelivery of one that
// could not be handled is.
func (d *Deliveries) Release(ctx context.Context, source string, keys []string) error {
	if _, err := d.pool.Exec(ctx, `delete from vault.webhook_deliveries where source = $1 and key = any($2)`, source, keys); err != nil {
		return fmt.Errorf("forget %s webhook delivery: %w", source, err)
	}
	return nil
}
