package pglog

import (
	"context"
	"errors"
	"time"

	"buildledger/events"
)

// SubscribeAll implements events.Store. The subscription reads the log in
// batches after its cursor; when caught up it waits for a NOTIFY from an
// append or for the poll interval, whichever comes first.
func (s *Store) SubscribeAll(ctx context.Context, after events.Position, filter events.Filter) (events.Subscription, error) {
	return events.StartFeed(ctx, s.opts.BatchSize, func(ctx context.Context, f *events.Feed) error {
		wake := make(chan struct{}, 1)
		go s.listen(ctx, wake)
		cursor := after
		for {
			batch, err := s.ReadAll(ctx, cursor, s.opts.BatchSize)
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

// listen turns NOTIFYs into wake-ups. It is only a hint: if it fails, the
// subscription still polls.
func (s *Store) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		err := s.listenOnce(ctx, wake)
		if err == nil || errors.Is(err, context.Canceled) {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Second):
		}
	}
}

func (s *Store) listenOnce(ctx context.Context, wake chan<- struct{}) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection carries a LISTEN: it never goes back to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "listen "+notifyChannel); err != nil {
		return err
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
}
