package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"

	"buildledger/commands"
	"buildledger/domain/notification"
	"buildledger/events"
)

// Store keeps the payloads of queued notifications until they settle:
// command-side state outside the log, so that tokens and personal data
// (mail recipients) never enter it.
type Store interface {
	// Put keeps payload under key, due at due. A key already kept is
	// left as it is. Payloads of one subject are claimed in the order
	// they were put, each once the ones before it are removed.
	Put(ctx context.Context, key, subject string, payload []byte, due time.Time) error
	// Claim returns up to limit payloads due at now that no worker holds
	// and no earlier payload of their subject precedes, and holds them
	// until now+lease.
	Claim(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]Item, error)
	// Reschedule makes key due at due and releases its hold.
	Reschedule(ctx context.Context, key string, due time.Time) error
	// Remove forgets key.
	Remove(ctx context.Context, key string) error
}

// Item is one kept payload.
type Item struct {
	Key     string
	Payload []byte
	// Queued is when it was kept.
	Queued time.Time
}

// Sender delivers the payloads of one plugin. Response is what the
// receiver answered, kept in NotificationDelivered.
type Sender interface {
	Send(ctx context.Context, key string, payload []byte) (response string, err error)
}

// Outbox queues notifications: it keeps the payload, then records
// NotificationQueued.
type Outbox struct {
	h     *commands.Handlers
	store Store
	clock commands.Clock
	// wake, if set, is told that something was queued.
	wake func()
}

// New returns an Outbox writing through h and keeping payloads in store.
// wake (may be nil) is called after each queueing, to start a Worker of
// the same process at once.
func New(rt *commands.Runtime, store Store, wake func()) *Outbox {
	return &Outbox{h: commands.NewHandlers(rt, nil, nil), store: store, clock: rt.Clock(), wake: wake}
}

// Queue keeps payload and records q (its Key, Digest and QueuedAt are
// filled in from the payload when empty). A notification queued before
// is left as it is. Notifications of one plugin and target are delivered
// in the order they were queued.
func (o *Outbox) Queue(ctx context.Context, md events.Metadata, q events.NotificationQueued, payload []byte) error {
	if q.Key == "" {
		q.Key = notification.Key(q.Cause, q.Plugin, q.Target)
	}
	q.Digest = notification.Digest(payload)
	now := o.clock.Now()
	if q.QueuedAt == 0 {
		q.QueuedAt = now.Unix()
	}
	// The payload first: a crash after it leaves a payload no stream
	// names, which the worker skips, never a queued notification
	// without its payload.
	if err := o.store.Put(ctx, q.Key, q.Plugin+" "+q.Target, payload, now); err != nil {
		return fmt.Errorf("queue %s notification: %w", q.Plugin, err)
	}
	if _, err := o.h.QueueNotification(ctx, md, q); err != nil {
		return fmt.Errorf("queue %s notification: %w", q.Plugin, err)
	}
	if o.wake != nil {
		o.wake()
	}
	return nil
}

// ErrDigest is the error of an attempt whose kept payload does not match
// the digest its NotificationQueued recorded.
var ErrDigest = errors.New("payload does not match the queued digest")
