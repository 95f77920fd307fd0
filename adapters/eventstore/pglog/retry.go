package pglog

import (
	"context"
	"time"

	"buildledger/events"
)

// DefaultRetryFor is how long a call of the store rides out a database
// that is unreachable or restarting (Options.Retry.MaxElapsed) before it
// returns the error: a restart takes seconds, and a caller that answers a
// person should not wait much longer.
const DefaultRetryFor = time.Minute

// retry runs fn through the store's retry loop: transient database errors
// are tried again with backoff (postgres.Retry, postgres.IsTransient).
func retry[T any](ctx context.Context, s *Store, what string, fn func(context.Context) (T, error)) (T, error) {
	var out T
	err := s.opts.Retry.Do(ctx, what, func(ctx context.Context) error {
		var err error
		out, err = fn(ctx)
		return err
	})
	return out, err
}

// ReadStream implements events.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, limit int) ([]events.Recorded, error) {
	return retry(ctx, s, "read stream "+stream, func(ctx context.Context) ([]events.Recorded, error) {
		return s.readStream(ctx, stream, from, limit)
	})
}

// Head implements events.Store.
func (s *Store) Head(ctx context.Context) (events.Position, error) {
	return retry(ctx, s, "read the log head", s.head)
}
