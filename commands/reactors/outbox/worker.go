package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"buildledger/commands"
	"buildledger/domain/domainerr"
	"buildledger/domain/notification"
	"buildledger/events"
)

// WorkerOptions tune a Worker. The zero value is ready to use.
type WorkerOptions struct {
	// Interval is how often Run looks for due payloads. Default 1 s.
	Interval time.Duration
	// Timeout bounds one attempt, unless its Sender is a Timeouter.
	// Default 30 s.
	Timeout time.Duration
	// Lease is how long a claim holds a payload from other workers;
	// longer than Timeout. Default 2 minutes.
	Lease time.Duration
	// Orphan is how long a payload no stream names is kept (its
	// NotificationQueued may still come). Default 1 hour.
	Orphan time.Duration
	Logger *slog.Logger
}

// Timeouter is a Sender whose attempts have their own time limit (a
// RunCommand command's), used instead of WorkerOptions.Timeout; the
// worker's Lease must be longer.
type Timeouter interface {
	Timeout() time.Duration
}

// Worker delivers queued notifications through the Sender of their
// plugin and records every attempt.
type Worker struct {
	h       *commands.Handlers
	store   Store
	senders map[string]Sender
	clock   commands.Clock
	opts    WorkerOptions
	md      events.Metadata
	wake    chan struct{}
}

// NewWorker returns a Worker recording through rt, with one Sender per
// plugin name. A notification of a plugin without a Sender waits (this
// process was started without that notifier's configuration).
func NewWorker(rt *commands.Runtime, store Store, senders map[string]Sender, opts WorkerOptions) *Worker {
	if opts.Interval <= 0 {
		opts.Interval = time.Second
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Lease <= opts.Timeout {
		opts.Lease = max(2*time.Minute, 2*opts.Timeout)
	}
	if opts.Orphan <= 0 {
		opts.Orphan = time.Hour
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Worker{h: commands.NewHandlers(rt, nil, nil), store: store, senders: senders, clock: rt.Clock(), opts: opts,
		md: events.Metadata{Actor: commands.ComponentActor("notify")}, wake: make(chan struct{}, 1)}
}

// Wake asks Run to look for due payloads soon.
func (w *Worker) Wake() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// Run delivers due notifications every Interval and when woken, until
// ctx ends.
func (w *Worker) Run(ctx context.Context) error {
	t := time.NewTicker(w.opts.Interval)
	defer t.Stop()
	for {
		if _, err := w.DeliverDue(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		case <-w.wake:
		}
	}
}

// batch is how many payloads one claim takes.
const batch = 50

// DeliverDue makes one attempt at each notification due now, those a
// delivery in this call lets through included, and returns how many
// attempts it recorded. Errors of single attempts are recorded as
// NotificationFailed; an error of the store or the log is returned.
func (w *Worker) DeliverDue(ctx context.Context) (int, error) {
	n := 0
	for {
		items, err := w.store.Claim(ctx, w.clock.Now(), w.opts.Lease, batch)
		if err != nil {
			return n, fmt.Errorf("notify: claim: %w", err)
		}
		for _, it := range items {
			done, err := w.attempt(ctx, it)
			if err != nil {
				return n, err
			}
			if done {
				n++
			}
		}
		// Each item claimed is removed or made due later, so the
		// loop ends; a removed one may have let its successor through.
		if len(items) == 0 {
			return n, nil
		}
	}
}

// attempt sends one payload and records the attempt. It reports whether
// an attempt was recorded.
func (w *Worker) attempt(ctx context.Context, it Item) (bool, error) {
	st, err := w.h.Notification(ctx, it.Key)
	if err != nil {
		return false, fmt.Errorf("notify: load %s: %w", it.Key, err)
	}
	now := w.clock.Now()
	switch {
	case !st.Queued:
		if now.Sub(it.Queued) > w.opts.Orphan {
			return false, w.store.Remove(ctx, it.Key)
		}
		return false, w.store.Reschedule(ctx, it.Key, now.Add(w.opts.Interval))
	case st.Settled():
		// Delivered (or given up) before a crash let the worker forget it.
		return false, w.store.Remove(ctx, it.Key)
	case st.RetryAt > now.Unix():
		return false, w.store.Reschedule(ctx, it.Key, time.Unix(st.RetryAt, 0))
	}
	sender := w.senders[st.Plugin]
	if sender == nil {
		w.opts.Logger.Warn("notify: no sender configured for the plugin; the notification waits", "plugin", st.Plugin, "key", it.Key)
		return false, w.store.Reschedule(ctx, it.Key, now.Add(time.Duration(notification.Backoff(10))*time.Second))
	}
	var response string
	if notification.Digest(it.Payload) != st.Digest {
		err = ErrDigest
	} else {
		timeout := w.opts.Timeout
		if t, ok := sender.(Timeouter); ok {
			timeout = t.Timeout()
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		response, err = sender.Send(actx, it.Key, it.Payload)
		cancel()
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
	}
	after, rerr := w.h.RecordNotificationAttempt(ctx, w.md, it.Key, st.Attempts+1, response, err)
	switch {
	case errors.Is(rerr, domainerr.ErrConflict):
		// Another worker recorded this attempt.
		return false, nil
	case rerr != nil:
		return false, fmt.Errorf("notify: record attempt of %s: %w", it.Key, rerr)
	}
	if err != nil {
		w.opts.Logger.Warn("notify: attempt failed", "plugin", st.Plugin, "key", it.Key, "attempt", st.Attempts+1, "err", err)
	}
	if after.Settled() {
		return true, w.store.Remove(ctx, it.Key)
	}
	return true, w.store.Reschedule(ctx, it.Key, time.Unix(after.RetryAt, 0))
}
