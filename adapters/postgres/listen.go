package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Listen turns each NOTIFY on channel into a wake-up on wake (dropped if
// one is already pending) until ctx ends, listening again on a new
// connection after a restart of the database. It returns the error that
// ended it for good. A wake-up is only a hint: callers still poll, for the
// notifications sent while no connection listened.
func Listen(ctx context.Context, pool *pgxpool.Pool, channel string, wake chan<- struct{}, forever Retry) error {
	return forever.Do(ctx, "listen on "+channel, func(ctx context.Context) error {
		conn, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		// The connection carries a LISTEN: it never goes back to the pool.
		pc := conn.Hijack()
		defer pc.Close(context.Background())
		if _, err := pc.Exec(ctx, "listen "+pgx.Identifier{channel}.Sanitize()); err != nil {
			return fmt.Errorf("listen on %s: %w", channel, err)
		}
		for {
			if _, err := pc.WaitForNotification(ctx); err != nil {
				return err
			}
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
}
