package commands

import (
	"context"

	"buildledger/domain/notification"
	"buildledger/domain/streams"
	"buildledger/events"
)

// NotificationAggregate folds a notification-<key> stream.
var NotificationAggregate = Aggregate[notification.State]{Name: "notification", Evolve: notification.Evolve}

// QueueNotification appends NotificationQueued to notification-<key>, or
// nothing when that notification is already queued.
func (h *Handlers) QueueNotification(ctx context.Context, md events.Metadata, q events.NotificationQueued) (Result, error) {
	return Execute(ctx, h.rt, streams.Notification(q.Key), NotificationAggregate, func(s notification.State) ([]events.Payload, error) {
		return notification.Decide(s, notification.Queue{NotificationQueued: q})
	}, md)
}

// RecordNotificationAttempt appends NotificationDelivered (err nil) or
// NotificationFailed for attempt of the notification key, and returns the
// notification's state after it.
func (h *Handlers) RecordNotificationAttempt(ctx context.Context, md events.Metadata, key string, attempt int, response string, sendErr error) (notification.State, error) {
	now := h.rt.clock.Now().Unix()
	var cmd notification.Command = notification.Deliver{Attempt: attempt, Response: response, Now: now}
	if sendErr != nil {
		cmd = notification.Fail{Attempt: attempt, Error: sendErr.Error(), Now: now}
	}
	_, l, err := execute(ctx, h.rt, streams.Notification(key), NotificationAggregate, Loaded[notification.State]{},
		func(s notification.State) ([]events.Payload, error) { return notification.Decide(s, cmd) }, md)
	return l.State, err
}

// Notification loads the state of the notification key.
func (h *Handlers) Notification(ctx context.Context, key string) (notification.State, error) {
	l, err := Load(ctx, h.rt, streams.Notification(key), NotificationAggregate)
	return l.State, err
}
