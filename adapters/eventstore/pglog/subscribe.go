package pglog

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"buildledger/events"
)

// SubscribeAll implements events.Store. The subscription reads the log in
// batches after its cursor; when caught up it waits for a NOTIFY from an
// append or for the poll interval, whichever comes first.
func (s *Store) SubscribeAll(ctx context.Context, after events.Position, filter events.Filter) (events.Subscription, error) {
	ctx, cancel := context.WithCancel(ctx)
	sub := &subscription{ch: make(chan events.Recorded, s.opts.BatchSize), cancel: cancel, done: make(chan struct{})}
	wake := make(chan struct{}, 1)
	go s.listen(ctx, wake)
	go sub.run(ctx, s, after, filter, wake)
	return sub, nil
}

type subscription struct {
	ch     chan events.Recorded
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

func (sub *subscription) Events() <-chan events.Recorded { return sub.ch }

func (sub *subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

func (sub *subscription) Close() error {
	sub.cancel()
	<-sub.done
	return nil
}

func (sub *subscription) run(ctx context.Context, s *Store, cursor events.Position, filter events.Filter, wake <-chan struct{}) {
	defer close(sub.done)
	defer close(sub.ch)
	for {
		batch, err := s.ReadAll(ctx, cursor, s.opts.BatchSize)
		if err != nil {
			if ctx.Err() == nil {
				sub.setErr(err)
			}
			return
		}
		for _, r := range batch {
			cursor = r.Position
			if !filter.Match(r) {
				continue
			}
			select {
			case sub.ch <- r:
			case <-ctx.Done():
				return
			}
		}
		if len(batch) == s.opts.BatchSize {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-wake:
		case <-time.After(s.opts.PollInterval):
		}
	}
}

func (sub *subscription) setErr(err error) {
	sub.mu.Lock()
	sub.err = fmt.Errorf("subscription: %w", err)
	sub.mu.Unlock()
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
