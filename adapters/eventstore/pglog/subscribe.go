package pglog

import (
	"context"
	"log/slog"
	"time"

	"buildledger/adapters/postgres"
	"buildledger/events"
)

// SubscribeAll implements events.Store. The subscription reads the log in
// batches after its cursor; when caught up it waits for a NOTIFY from an
// append or for the poll interval, whichever comes first. It outlives a
// restart of the database: transient errors are retried for as long as
// the subscription lasts, so its consumer never sees them.
func (s *Store) SubscribeAll(ctx context.Context, after events.Position, filter events.Filter) (events.Subscription, error) {
	forever := s.opts.Retry
	forever.MaxElapsed = 0
	return events.StartFeed(ctx, s.opts.BatchSize, func(ctx context.Context, f *events.Feed) error {
		wake := make(chan struct{}, 1)
		go s.listen(ctx, wake, forever)
		cursor := after
		for {
			var batch []events.Recorded
			err := forever.Do(ctx, "subscription read", func(ctx context.Context) (err error) {
				batch, _, err = s.readAllFiltered(ctx, cursor, events.ReadFilter{}, s.opts.BatchSize)
				return err
			})
			if err != nil {
				return err
			}
			for _, r := range batch {
				cursor = r.Position
				if filter.Match(r) && !f.Send(ctx, r) {
					return nil
				}
			}
			if len(batch) == s.opts.BatchSize {
				continue
			}
			select {
			case <-ctx.Done():
				return nil
			case <-wake:
			case <-time.After(s.opts.PollInterval):
			}
		}
	}), nil
}

// listen turns NOTIFYs into wake-ups, listening again on a new
// connection after a restart of the database. It is only a hint: if it
// fails for good, the subscription still polls.
func (s *Store) listen(ctx context.Context, wake chan<- struct{}, forever postgres.Retry) {
	err := postgres.Listen(ctx, s.pool, notifyChannel, wake, forever)
	if err != nil && ctx.Err() == nil {
		slog.Warn("pglog: no wake-ups from appends, polling", "err", err)
	}
}
