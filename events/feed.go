package events

import (
	"context"
	"fmt"
	"sync"
)

// Feed is a Subscription fed by one goroutine: store adapters start it
// with StartFeed and deliver events with Send. It closes its channel when
// the goroutine returns, and Err reports the error the goroutine ended
// with (nil when it ended because the feed was closed or ctx ended).
type Feed struct {
	ch     chan Recorded
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	err    error
}

var _ Subscription = (*Feed)(nil)

// StartFeed runs produce in a goroutine with a context that Close
// cancels, buffering up to buffer events.
func StartFeed(ctx context.Context, buffer int, produce func(ctx context.Context, f *Feed) error) *Feed {
	ctx, cancel := context.WithCancel(ctx)
	f := &Feed{ch: make(chan Recorded, buffer), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(f.done)
		defer close(f.ch)
		if err := produce(ctx, f); err != nil && ctx.Err() == nil {
			f.mu.Lock()
			f.err = fmt.Errorf("subscription: %w", err)
			f.mu.Unlock()
		}
	}()
	return f
}

// Send delivers r, waiting for room; it returns false when ctx ended
// first.
func (f *Feed) Send(ctx context.Context, r Recorded) bool {
	select {
	case f.ch <- r:
		return true
	case <-ctx.Done():
		return false
	}
}

// Events implements Subscription.
func (f *Feed) Events() <-chan Recorded { return f.ch }

// Err implements Subscription.
func (f *Feed) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Close implements Subscription: it stops the producer and waits for it.
func (f *Feed) Close() error {
	f.cancel()
	<-f.done
	return nil
}
